"""Delivery status from the carriers, end to end over real HTTP: the fake GHN and GHTK
(tests/fakes/ghn.py, ghtk.py) call the service as their docs say, retries included; WooCommerce
orders reach it through its signed webhook; what the shop owner and the customer would notice is
asserted (the order's notes and status changes queued for WooCommerce, the customer's messages,
the parcel's row, the calls kept)."""
from __future__ import annotations

import json
import time

import pytest

from bridge import reasons, shipments
from bridge.providers.ghn.jobs import verify
from tests.conftest import wait_until, woo_settings
from tests.fakes.ghn import FakeGhn
from tests.fakes.ghtk import FakeGhtk
from tests.orders import order_body

GHN_TOKEN, GHTK_HASH = "test-ghn-webhook-token", "test-ghtk-webhook-hash"
T0 = time.time() - 3 * 86400          # the parcel's story starts three days ago


@pytest.fixture
def ghn():
    with FakeGhn() as fake:
        yield fake


@pytest.fixture
def ghtk():
    return FakeGhtk()


@pytest.fixture
def svc(service_factory):
    return service_factory(ghn_webhook_token=GHN_TOKEN, ghtk_webhook_hash=GHTK_HASH)


def order(svc, oid: int, method: str = "cod", status: str = "processing", total: int = 513000,
          meta: list | None = None, refunds: list | None = None, number: str | None = None, edit: int = 0) -> None:
    """The shop tells the service about an order (its signed webhook); `edit`: its n-th change."""
    body = json.loads(order_body(oid, status=status, total=total))
    body.update(payment_method=method, payment_method_title="Thanh toán khi nhận hàng" if method == "cod" else "x",
                meta_data=meta or [], refunds=refunds or [], number=number or str(oid),
                date_modified_gmt=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + oid % 1000 + edit)))
    r = svc.post_json(json.dumps(body).encode())
    assert r.status_code == 200, r.text


def ghn_url(svc, token: str = GHN_TOKEN) -> str:
    return f"{svc.url}/inbound/ghn?token={token}"


def ghtk_url(svc, hash_: str = GHTK_HASH) -> str:
    return f"{svc.url}/inbound/ghtk?hash={hash_}"


def notes(svc, oid: int) -> list[str]:
    return [json.loads(m["payload"])["note"] for m in svc.messages(order_id=oid, kind="order_update")
            if json.loads(m["payload"])["action"] == "note" and m["rule"] == "shipment"]


def status_changes(svc, oid: int) -> list[dict]:
    return [json.loads(m["payload"]) for m in svc.messages(order_id=oid, kind="order_update")
            if json.loads(m["payload"])["action"] == "set_status"]


def told(svc, oid: int) -> list[str]:
    return [m["rule"] for m in svc.messages(order_id=oid, kind="message") if m["event"] == "shipment.status"]


def parcel(svc, carrier: str, tracking: str):
    return svc.db.one("SELECT * FROM shipments WHERE carrier=? AND tracking=?", (carrier, tracking))


def calls(svc, tracking: str) -> list[tuple[str, str]]:
    return [(r["carrier_status"], r["state"]) for r in
            svc.db.query("SELECT * FROM shipment_events WHERE tracking=? ORDER BY id", (tracking,))]


# -- a parcel's life ---------------------------------------------------------------------------
def test_a_ghn_parcel_from_pickup_to_delivery_notes_the_order_tells_the_customer_and_completes_it(svc, ghn):
    order(svc, 1201)
    steps = [("ready_to_pick", "create"), ("picking", "switch_status"), ("picked", "switch_status"),
             ("storing", "switch_status"), ("delivering", "switch_status"), ("delivered", "switch_status")]
    for i, (status, kind) in enumerate(steps):
        body = ghn.event("GAHBX701", status, kind, client_order_code="1201", cod=513000, at=T0 + i * 3600)
        assert ghn.push(ghn_url(svc), body) == [200]
    p = parcel(svc, "ghn", "GAHBX701")
    assert (p["order_id"], p["status"], p["carrier_status"], p["cod_mismatch"], p["flag"]) == \
        (1201, "delivered", "delivered", 0, "")
    assert [n.split(": ", 2)[2] for n in notes(svc, 1201)] == [
        "đã tạo vận đơn (ready_to_pick).", "đang lấy hàng (picking).", "đã lấy hàng (picked).",
        "đang vận chuyển (storing).", "đang giao (delivering).", "đã giao (delivered)."]
    assert notes(svc, 1201)[0].startswith("woo-bridge: GHN GAHBX701: ")
    assert told(svc, 1201) == ["shipment-delivering"]        # "đã giao" is off by default: order-completed says it
    [message] = svc.messages(order_id=1201, rule="shipment-delivering")
    assert "dang giao (GHN GAHBX701)" in message["text"] and "513.000" in message["text"]
    assert status_changes(svc, 1201) == [{"order_id": 1201, "action": "set_status", "status": "completed",
                                          "from": ["processing", "on-hold"]}]
    assert {s for _, s in calls(svc, "GAHBX701")} == {"applied"}


def test_the_same_call_again_and_a_lost_answer_change_nothing(svc, ghn):
    order(svc, 1202)
    body = ghn.event("GAHBX702", "delivering", client_order_code="1202", cod=513000, at=T0)
    assert ghn.push(ghn_url(svc), body) == [200]
    assert ghn.push(ghn_url(svc), body) == [200]          # GHN sends it again
    assert json.loads(ghn.attempts[-1][1]) == {"ok": True, "duplicate": True, "event": 1, "state": "applied"}
    ghn.lose_answers = 1                                   # our 200 never reaches GHN: it sends the call again
    failed = ghn.event("GAHBX702", "delivery_fail", client_order_code="1202", cod=513000, at=T0 + 60,
                       reason="Khách không nghe máy")
    assert ghn.push(ghn_url(svc), failed) == [None, 200]
    assert told(svc, 1202) == ["shipment-delivering", "shipment-delivery-failed"]
    assert len(notes(svc, 1202)) == 2 and notes(svc, 1202)[1].endswith("Lý do: Khách không nghe máy.")
    assert calls(svc, "GAHBX702") == [("delivering", "applied"), ("delivery_fail", "applied")]


def test_late_and_out_of_order_calls_never_move_the_parcel_back(svc, ghn):
    order(svc, 1203)
    push = lambda status, at: ghn.push(ghn_url(svc), ghn.event("GAHBX703", status, client_order_code="1203",  # noqa
                                                                cod=513000, at=at))
    push("delivering", T0 + 100)
    push("picked", T0 + 50)                    # older than what is applied: recorded, not applied
    push("delivery_fail", T0 + 200)
    push("delivering", T0 + 300)               # the second attempt: no second note, no second message
    push("delivered", T0 + 400)
    push("delivering", T0 + 500)               # after a final status, even with a later time
    push("return", T0 + 600)
    assert parcel(svc, "ghn", "GAHBX703")["status"] == "delivered"
    assert [s for _, s in calls(svc, "GAHBX703")] == ["applied", "stale", "applied", "applied", "applied", "stale",
                                                       "stale"]
    assert told(svc, 1203) == ["shipment-delivering", "shipment-delivery-failed"]
    assert [n.split(": ", 2)[2] for n in notes(svc, 1203)] == [
        "đang giao (delivering).", "giao không thành công (delivery_fail).", "đã giao (delivered)."]
    stale = svc.db.one("SELECT reason FROM shipment_events WHERE tracking='GAHBX703' AND carrier_status='return'")
    assert "the parcel is delivered to the customer already, a final status" in reasons.english(stale["reason"])


def test_a_returned_parcel_flags_its_order_and_never_completes_it(svc, ghtk):
    order(svc, 1204)
    for i, status_id in enumerate((2, 3, 4, 9, 20, 21)):
        assert ghtk.push(ghtk_url(svc), ghtk.update("S1.A1.1204", status_id, partner_id="1204", at=T0 + i * 60,
                                                    pick_money=513000)) == [200]
    p = parcel(svc, "ghtk", "S1.A1.1204")
    assert (p["status"], p["flag"]) == ("returned", "returned")
    assert status_changes(svc, 1204) == []
    assert told(svc, 1204) == ["shipment-delivering", "shipment-delivery-failed"]
    from bridge.store import shipments as store
    assert [r["tracking"] for r in store.needing_attention(svc.db)] == ["S1.A1.1204"]


def test_a_delivered_parcel_leaves_an_order_the_shop_cancelled_or_refunded_alone(service_factory, ghn):
    svc = service_factory(ghn_webhook_token=GHN_TOKEN, shipment_returned_flag=False)
    order(svc, 1205, status="cancelled")
    order(svc, 1206, status="refunded")
    for oid in (1205, 1206):
        ghn.push(ghn_url(svc), ghn.event(f"GAHBX{oid}", "delivered", client_order_code=str(oid), cod=513000, at=T0))
        assert parcel(svc, "ghn", f"GAHBX{oid}")["status"] == "delivered" and status_changes(svc, oid) == []
    ghn.push(ghn_url(svc), ghn.event("GAHBX1205R", "returned", client_order_code="1205", cod=513000, at=T0))
    assert parcel(svc, "ghn", "GAHBX1205R")["flag"] == ""           # SHIPMENT_RETURNED_FLAG=false


def test_an_empty_delivered_status_setting_leaves_the_order(service_factory, ghn):
    svc = service_factory(ghn_webhook_token=GHN_TOKEN, shipment_delivered_status="")
    order(svc, 1207)
    ghn.push(ghn_url(svc), ghn.event("GAHBX707", "delivered", client_order_code="1207", cod=513000, at=T0))
    assert parcel(svc, "ghn", "GAHBX707")["status"] == "delivered" and status_changes(svc, 1207) == []


# -- finding the order -------------------------------------------------------------------------
def test_the_shops_code_with_its_prefix_or_a_tracking_code_on_the_order_finds_it(svc, ghn, ghtk):
    order(svc, 1301, number="A-1301")
    order(svc, 1302, meta=[{"id": 1, "key": "_wc_shipment_tracking_items", "value": [
        {"tracking_provider": "ghn", "tracking_number": "gahbx302", "date_shipped": "1764000000"}]}])
    order(svc, 1303, meta=[{"id": 2, "key": "ghtk_label_id", "value": "S1.A1.1303"},
                           {"id": 3, "key": "_shipping_hash", "value": "9d4568c009d203ab10e33ea9953a0264"}])
    ghn.push(ghn_url(svc), ghn.event("GAHBX301", "picking", client_order_code="DHA-1301", at=T0))
    ghn.push(ghn_url(svc), ghn.event("GAHBX302", "picking", at=T0))      # ClientOrderCode "": its tracking code
    ghtk.push(ghtk_url(svc), ghtk.update("S1.A1.1303", 12, partner_id="", at=T0))
    assert [parcel(svc, c, t)["order_id"] for c, t in (("ghn", "GAHBX301"), ("ghn", "GAHBX302"),
                                                        ("ghtk", "S1.A1.1303"))] == [1301, 1302, 1303]


def test_a_call_before_its_order_waits_and_is_applied_when_the_order_arrives(svc, ghn, ghtk):
    ghn.push(ghn_url(svc), ghn.event("GAHBX401", "picked", client_order_code="1401", cod=513000, at=T0))
    ghn.push(ghn_url(svc), ghn.event("GAHBX401", "delivering", client_order_code="1401", cod=513000, at=T0 + 60))
    ghtk.push(ghtk_url(svc), ghtk.update("S1.A1.1402", 4, at=T0, pick_money=513000))
    assert [s for _, s in calls(svc, "GAHBX401")] == ["unmatched", "unmatched"]
    from bridge.store import shipments as store
    assert {r["tracking"] for r in store.unmatched(svc.db)} == {"GAHBX401", "S1.A1.1402"}
    why = reasons.english(store.unmatched(svc.db)[0]["reason"])
    assert "no order with the code - or the tracking code S1.A1.1402 yet" == why
    assert shipments.run(svc.bridge) == 0                  # no order yet: nothing is decided, no API asked
    order(svc, 1401)
    order(svc, 1402, meta=[{"id": 9, "key": "_ghtk_tracking_code", "value": "S1.A1.1402"}])
    assert shipments.run(svc.bridge) == 3
    assert [s for _, s in calls(svc, "GAHBX401")] == ["applied", "applied"]
    assert parcel(svc, "ghn", "GAHBX401")["status"] == "delivering"
    assert parcel(svc, "ghtk", "S1.A1.1402")["order_id"] == 1402
    assert told(svc, 1401) == ["shipment-delivering"] and told(svc, 1402) == ["shipment-delivering"]
    assert store.unmatched(svc.db) == []


def test_a_tracking_code_on_two_orders_is_left_to_a_person(svc, ghn):
    meta = [{"id": 1, "key": "tracking_number", "value": "GAHBX500"}]
    order(svc, 1501, meta=meta)
    order(svc, 1502, meta=meta)
    ghn.push(ghn_url(svc), ghn.event("GAHBX500", "picking", at=T0))
    row = svc.db.one("SELECT * FROM shipment_events WHERE tracking='GAHBX500'")
    assert row["state"] == "unmatched" and "more than one order" in reasons.english(row["reason"])


# -- what is not applied -------------------------------------------------------------------------
def test_unknown_statuses_and_updates_without_a_status_are_kept_with_the_carriers_word(svc, ghn, ghtk):
    order(svc, 1601)
    ghn.push(ghn_url(svc), ghn.event("GAHBX601", "delivering", client_order_code="1601", cod=513000, at=T0))
    ghn.push(ghn_url(svc), ghn.event("GAHBX601", "exception", client_order_code="1601", cod=513000, at=T0 + 60))
    ghn.push(ghn_url(svc), ghn.event("GAHBX601", "delivering", "update_fee", client_order_code="1601", cod=513000,
                                     at=T0 + 120, fee=45000))
    ghtk.push(ghtk_url(svc), ghtk.update("S1.A1.1601", 10, partner_id="1601", at=T0, pick_money=513000))
    rows = svc.db.query("SELECT * FROM shipment_events WHERE order_id=1601 ORDER BY id")
    assert [(r["carrier_status"], r["state"]) for r in rows] == [("delivering", "applied"), ("exception", "ignored"),
                                                                  ("delivering", "ignored"), ("10", "ignored")]
    assert [reasons.english(r["reason"]) for r in rows[1:]] == [
        "GHN status exception is not one we know: recorded, not applied", "GHN update_fee: no status change",
        "GHTK status 10 is not one we know: recorded, not applied"]
    assert rows[3]["carrier_reason"] == "Delay giao hàng"
    assert parcel(svc, "ghn", "GAHBX601")["status"] == "delivering" and len(notes(svc, 1601)) == 1


def test_a_wrong_or_missing_secret_is_refused_and_recorded_without_it(svc, ghn, ghtk):
    body = ghn.event("GAHBX701", "delivered", client_order_code="1", at=T0)
    assert ghn.push(ghn_url(svc, "guessed-token-1234"), body) == [403] * 11     # GHN tries 11 times
    assert ghn.push(f"{svc.url}/inbound/ghn", body)[0] == 401
    assert ghtk.push(ghtk_url(svc, "guessed-hash-1234"), ghtk.update("S1", 5)) == [403, 403]
    assert json.loads(ghtk.attempts[-1][1]) == {"ok": False, "error": "hash does not match GHTK_WEBHOOK_HASH"}
    rows = svc.db.query("SELECT * FROM rejections ORDER BY id")
    assert [(r["endpoint"], r["http_status"]) for r in rows] == [("/inbound/ghn", 403), ("/inbound/ghn", 401),
                                                                  ("/inbound/ghtk", 403)]
    assert rows[0]["count"] == 11
    for r in rows:
        kept = bytes(r["body_excerpt"]) + r["headers"].encode()
        assert b"guessed" not in kept and GHN_TOKEN.encode() not in kept and GHTK_HASH.encode() not in kept
    assert b"hash=[redacted]" in bytes(rows[2]["body_excerpt"])
    assert svc.db.scalar("SELECT COUNT(*) FROM shipment_events") == 0


def test_an_unreadable_body_is_refused_with_the_reason_and_loses_nothing_stored(svc, ghn, ghtk):
    order(svc, 1701)
    assert ghn.push(ghn_url(svc), ghn.event("GAHBX711", "picking", client_order_code="1701", cod=513000,
                                            at=T0)) == [200]
    assert ghn.push(ghn_url(svc), b"{not json")[0] == 400
    assert ghn.push(ghn_url(svc), {"Status": "delivered"})[0] == 400
    assert ghtk.push(ghtk_url(svc), b"label_id=S1.A1.9&status_id=giao")[0] == 400
    assert json.loads(ghtk.attempts[-1][1])["error"] == "status_id 'giao' is not a number"
    reasons_kept = [r["reason"] for r in svc.db.query("SELECT reason FROM rejections ORDER BY id")]
    assert reasons_kept[0].startswith("body is not valid JSON") and "OrderCode" in reasons_kept[1]
    assert calls(svc, "GAHBX711") == [("picking", "applied")]


# -- the COD the carrier collects ----------------------------------------------------------------
def test_a_cod_the_order_does_not_collect_is_flagged_and_noted_once(svc, ghn):
    order(svc, 1801, total=513000, refunds=[{"id": 1, "reason": "", "total": "-13000"}])
    order(svc, 1802, method="bacs", status="processing")
    ghn.push(ghn_url(svc), ghn.event("GAHBX801", "picked", client_order_code="DH1801", cod=513000, at=T0))
    assert parcel(svc, "ghn", "GAHBX801")["cod_mismatch"] == 1          # 500.000 after the refund
    ghn.push(ghn_url(svc), ghn.event("GAHBX801", "storing", client_order_code="1801", cod=513000, at=T0 + 60))
    cod_notes = [n for n in notes(svc, 1801) if "thu hộ" in n]
    assert cod_notes == ["woo-bridge: GHN GAHBX801 sẽ thu hộ (COD) 513.000đ, nhưng đơn cần thu 500.000đ. "
                         "Kiểm tra lại với hãng vận chuyển."]
    ghn.push(ghn_url(svc), ghn.event("GAHBX801", "storing", "update_cod", client_order_code="1801", cod=500000,
                                     at=T0 + 120))
    p = parcel(svc, "ghn", "GAHBX801")
    assert (p["cod_amount"], p["cod_mismatch"], p["status"]) == (500000, 0, "in_transit")
    ghn.push(ghn_url(svc), ghn.event("GAHBX802", "picked", client_order_code="DH1802", cod=513000, at=T0))
    assert parcel(svc, "ghn", "GAHBX802")["cod_mismatch"] == 1          # paid already: the carrier collects nothing
    ghn.push(ghn_url(svc), ghn.event("GAHBX803", "picked", client_order_code="DH1802", cod=0, at=T0))
    assert parcel(svc, "ghn", "GAHBX803")["cod_mismatch"] == 0


# -- GHN's order detail -------------------------------------------------------------------------
@pytest.fixture
def keyed(service_factory, ghn):
    return service_factory(ghn_webhook_token=GHN_TOKEN, ghn_token=ghn.token, ghn_shop_id=ghn.shop_id,
                           ghn_api_url=ghn.url, ghn_timeout=2.0)


def test_with_api_keys_ghns_order_detail_decides_and_a_forged_call_is_not_applied(keyed, ghn):
    svc = keyed
    order(svc, 1901)
    ghn.push(ghn_url(svc), ghn.event("GAHBX901", "delivering", client_order_code="1901", cod=513000, at=T0))
    assert parcel(svc, "ghn", "GAHBX901")["status"] == "delivering" and len(ghn.detail_calls) == 1
    # someone who learned the URL claims it delivered: GHN's own record says delivering
    forged = {**ghn.event("GAHBX901", "delivering", client_order_code="1901", cod=513000, at=T0),
              "Status": "delivered", "Time": "2099-01-01T00:00:00.000Z"}
    assert ghn.push(ghn_url(svc), forged) == [200]
    row = svc.db.one("SELECT * FROM shipment_events WHERE carrier_status='delivered'")
    assert row["state"] == "contradicted"
    assert reasons.english(row["reason"]) == ("GHN's own records say otherwise (GHN's order detail shows delivering, "
                                              "never delivered): recorded, not applied")
    assert parcel(svc, "ghn", "GAHBX901")["status"] == "delivering" and status_changes(svc, 1901) == []
    # GHN's record disagrees with a call about a parcel it has: its own status is applied
    ghn.says["GAHBX901"] = "delivery_fail"
    ghn.push(ghn_url(svc), ghn.event("GAHBX901", "delivering", client_order_code="1901", cod=513000, at=T0 + 60))
    ghn.orders["GAHBX901"]["log"][-1]["updated_date"] = ghn.orders["GAHBX901"]["updated_date"]
    assert parcel(svc, "ghn", "GAHBX901")["status"] == "delivery_failed"
    assert told(svc, 1901) == ["shipment-delivering", "shipment-delivery-failed"]


def test_ghn_down_the_call_is_kept_answered_200_and_confirmed_later(keyed, ghn):
    svc = keyed
    order(svc, 1902)
    ghn.down = True
    assert ghn.push(ghn_url(svc), ghn.event("GAHBX902", "delivered", client_order_code="1902", cod=513000,
                                            at=T0)) == [200]
    assert calls(svc, "GAHBX902") == [("delivered", "unverified")]
    assert parcel(svc, "ghn", "GAHBX902") is None and notes(svc, 1902) == []
    assert verify(svc.bridge) == 0                     # still down
    ghn.down = False
    assert verify(svc.bridge) == 1
    assert calls(svc, "GAHBX902") == [("delivered", "applied")]
    assert parcel(svc, "ghn", "GAHBX902")["status"] == "delivered" and len(status_changes(svc, 1902)) == 1
    ghn.push(ghn_url(svc), ghn.event("GAHBX902", "delivered", client_order_code="1902", cod=513000, at=T0))
    assert len(notes(svc, 1902)) == 1


def test_the_verify_job_runs_when_keys_are_configured(keyed):
    assert "ghn_verify" in {j.id for j in __import__("bridge.providers", fromlist=["jobs"]).jobs()
                            if j.when(keyed.settings)}


# -- GHTK's formats ---------------------------------------------------------------------------
def test_ghtk_form_and_json_calls_and_a_lost_answer(svc, ghtk):
    order(svc, 2001, number="2001")
    assert ghtk.push(ghtk_url(svc), ghtk.update("S1.A1.2001", 12, partner_id="DH2001", at=T0,
                                                pick_money=513000)) == [200]
    assert ghtk.push(ghtk_url(svc), ghtk.update("S1.A1.2001", 4, partner_id="DH2001", at=T0 + 60,
                                                pick_money=513000), as_json=True) == [200]
    ghtk.lose_answers = 1
    assert ghtk.push(ghtk_url(svc), ghtk.update("S1.A1.2001", 5, partner_id="DH2001", at=T0 + 120,
                                                pick_money=513000)) == [None, 200]
    assert json.loads(ghtk.attempts[-1][1])["duplicate"] is True
    assert calls(svc, "S1.A1.2001") == [("12", "applied"), ("4", "applied"), ("5", "applied")]
    assert told(svc, 2001) == ["shipment-delivering"] and len(status_changes(svc, 2001)) == 1
    ghtk.push(ghtk_url(svc), ghtk.update("S1.A1.2001", 6, partner_id="DH2001", at=T0 + 180, pick_money=513000))
    assert calls(svc, "S1.A1.2001")[-1] == ("6", "duplicate") and len(notes(svc, 2001)) == 3


# -- the notes and the status reach WooCommerce ----------------------------------------------------
def test_the_notes_and_the_completed_status_reach_the_shop_once(service_factory, woo, ghn):
    svc = service_factory(start_scheduler=True, ghn_webhook_token=GHN_TOKEN, **woo_settings(woo))
    woo.add_order(2101, 513000, status="processing", payment_method="cod")
    order(svc, 2101)
    body = ghn.event("GAHBX2101", "delivered", client_order_code="2101", cod=513000, at=T0)
    ghn.push(ghn_url(svc), body)
    wait_until(lambda: woo.orders[2101]["status"] == "completed", what="the order completed in the shop")
    wait_until(lambda: any("GAHBX2101" in n["note"] for n in woo.notes[2101]), what="the carrier's note")
    ghn.push(ghn_url(svc), body)
    ghn.push(ghn_url(svc), ghn.event("GAHBX2101", "delivering", client_order_code="2101", cod=513000, at=T0 - 60))
    wait_until(lambda: all(m["status"] in ("delivered", "sent", "failed", "dry-run")
                           for m in svc.messages(order_id=2101, kind="order_update")), what="the outbox drained")
    assert sum("GAHBX2101" in n["note"] for n in woo.notes[2101]) == 1


def test_a_call_stored_but_never_decided_is_decided_once_by_the_next_decider_pass(svc, ghn):
    """The service stopped between storing a call and deciding it (GHN may have heard our 200 or
    not): the next pass of the decider (a restart, the leader's sweep, any other answer) decides
    it, and GHN's retry of it is a repeat; nothing is lost or done twice."""
    from bridge.providers.ghn.webhook import from_webhook
    from bridge.store import shipments as store
    order(svc, 2201)
    stranded = []
    for i, status in enumerate(("picked", "delivering")):
        body = ghn.event(f"GAHBX22{i}", status, client_order_code="2201", cod=513000, at=T0 + i)
        ev = from_webhook(body, json.dumps(body))
        with svc.db.tx() as c:
            store.insert_event(c, {"received_at": svc.clock(), "carrier": "ghn", "tracking": ev.tracking,
                                   "order_ref": ev.order_ref, "carrier_status": ev.carrier_status,
                                   "status": ev.status, "event_at": ev.event_at, "cod_amount": ev.cod_amount,
                                   "state": "received", "reason": "", "dedupe_key": ev.dedupe_key,
                                   "raw": json.dumps(body), "kind": ev.kind, "carrier_reason": ""})
        stranded.append(body)
    assert ghn.push(ghn_url(svc), stranded[0]) == [200]             # GHN's retry of the first wakes the decider
    assert json.loads(ghn.attempts[-1][1])["duplicate"] is True
    assert calls(svc, "GAHBX220") == [("picked", "applied")]
    assert calls(svc, "GAHBX221") == [("delivering", "applied")] and told(svc, 2201) == ["shipment-delivering"]
    svc.clock.advance(shipments.EVERY + 1)
    assert shipments.run(svc.bridge) == 0                           # nothing left for the periodic pass


# -- review of issue 16: what a parcel does to a cancelled order, what the owner saw, whose word counts
@pytest.fixture
def owner(service_factory):
    """The service with the admin signed in: what the shop owner sees and does."""
    from tests.test_admin import PASSWORD, Admin
    svc = service_factory(ghn_webhook_token=GHN_TOKEN, ghtk_webhook_hash=GHTK_HASH, admin_password=PASSWORD,
                          cod_confirmed_status="confirmed")
    admin = Admin(svc)
    assert admin.sign_in().status_code == 302
    return svc, admin


def test_a_parcel_moving_for_an_order_cancelled_in_the_shop_or_by_its_customer_is_flagged_once(svc, ghn, ghtk):
    from bridge.store import cod as cod_store
    order(svc, 3001, status="cancelled")
    order(svc, 3002)
    with svc.db.tx() as c:      # the customer cancelled when asked to confirm (their answer is area A's to test)
        cod_store.ask(c, 3002, "cod-confirm", "+84912345678", svc.clock() - 3600)
        cod_store.decide(c, 3002, "cancelled", "cancel", "sms", "", svc.clock() - 600)
    order(svc, 3003)
    for i, status in enumerate(("ready_to_pick", "picking", "picked")):
        ghn.push(ghn_url(svc), ghn.event("GAHBX3001", status, client_order_code="DH3001", cod=513000, at=T0 + i))
    ghtk.push(ghtk_url(svc), ghtk.update("S1.A1.3002", 12, partner_id="DH3002", at=T0, pick_money=513000))
    ghtk.push(ghtk_url(svc), ghtk.update("S1.A1.3003", 12, partner_id="DH3003", at=T0, pick_money=513000))
    assert [parcel(svc, c, t)["flag"] for c, t in (("ghn", "GAHBX3001"), ("ghtk", "S1.A1.3002"),
                                                   ("ghtk", "S1.A1.3003"))] == ["order_cancelled"] * 2 + [""]
    assert [n for n in notes(svc, 3001) if "đã bị hủy" in n] == [
        "woo-bridge: GHN GAHBX3001: đã tạo vận đơn, nhưng đơn đã bị hủy (trong cửa hàng). Báo hãng vận chuyển hủy "
        "vận đơn hoặc chặn giao để khỏi mất phí giao và phí hoàn."]
    assert any("khách đã hủy khi xác nhận COD" in n for n in notes(svc, 3002))
    row = svc.db.one("SELECT reason FROM shipment_events WHERE tracking='S1.A1.3002'")
    assert reasons.english(row["reason"]).endswith("the order is cancelled (by the customer): the parcel is flagged")
    # the owner has seen it: the parcel's next step does not raise it again
    from bridge.store import shipments as store
    store.clear_flag(svc.db, "ghn", "GAHBX3001", svc.clock())
    ghn.push(ghn_url(svc), ghn.event("GAHBX3001", "storing", client_order_code="DH3001", cod=513000, at=T0 + 9))
    assert parcel(svc, "ghn", "GAHBX3001")["flag"] == ""


def test_delivered_completes_an_order_the_customer_confirmed_into_cod_confirmed_status(owner, ghn):
    svc, _ = owner
    order(svc, 3101, status="confirmed")
    ghn.push(ghn_url(svc), ghn.event("GAHBX3101", "delivered", client_order_code="DH3101", cod=513000, at=T0))
    assert status_changes(svc, 3101) == [{"order_id": 3101, "action": "set_status", "status": "completed",
                                          "from": ["processing", "on-hold", "confirmed"]}]


def test_a_cod_mismatch_the_owner_saw_stays_seen_until_the_amount_changes(owner, ghn):
    svc, admin = owner
    order(svc, 3201, total=513000)
    ghn.push(ghn_url(svc), ghn.event("GAHBX3201", "picked", client_order_code="DH3201", cod=600000, at=T0))
    assert 'id="cod-parcels"' in admin.get("/admin/").text
    r = admin.post("/admin/shipments/seen", {"carrier": "ghn", "tracking": "GAHBX3201"}, follow_redirects=True)
    assert 'id="cod-parcels"' not in r.text
    for i, status in enumerate(("storing", "delivering")):      # every GHN call repeats the amount
        ghn.push(ghn_url(svc), ghn.event("GAHBX3201", status, client_order_code="DH3201", cod=600000, at=T0 + 60 + i))
    assert parcel(svc, "ghn", "GAHBX3201")["cod_mismatch"] == 0
    assert 'id="cod-parcels"' not in admin.get("/admin/").text
    ghn.push(ghn_url(svc), ghn.event("GAHBX3201", "delivering", "update_cod", client_order_code="DH3201", cod=650000,
                                     at=T0 + 120))
    assert parcel(svc, "ghn", "GAHBX3201")["cod_mismatch"] == 1
    assert "650.000đ" in admin.get("/admin/").text.split('id="cod-parcels"', 1)[1]


def test_the_ghtk_shippers_own_claim_of_delivery_decides_nothing(svc, ghtk):
    order(svc, 3301)
    order(svc, 3302)
    for i, status_id in enumerate((4, 45, 9, 20, 21)):       # the shipper said delivered; the customer refused
        ghtk.push(ghtk_url(svc), ghtk.update("S1.A1.3301", status_id, partner_id="DH3301", at=T0 + i * 60,
                                             pick_money=513000))
    p = parcel(svc, "ghtk", "S1.A1.3301")
    assert (p["status"], p["flag"]) == ("returned", "returned") and status_changes(svc, 3301) == []
    assert calls(svc, "S1.A1.3301")[1] == ("45", "ignored")
    for i, status_id in enumerate((4, 45, 5)):                # GHTK's own 5 delivers
        ghtk.push(ghtk_url(svc), ghtk.update("S1.A1.3302", status_id, partner_id="DH3302", at=T0 + i * 60,
                                             pick_money=513000))
    assert parcel(svc, "ghtk", "S1.A1.3302")["status"] == "delivered" and len(status_changes(svc, 3302)) == 1


def test_a_bare_number_is_taken_only_when_the_cod_agrees_and_the_order_is_recent(owner, ghn, ghtk):
    svc, admin = owner
    order(svc, 3401, total=513000)
    order(svc, 3402, method="bacs", total=700000)
    # a Shopee order shipped through the same account, numbered like a shop order, another COD
    ghtk.push(ghtk_url(svc), ghtk.update("S1.A1.9001", 4, partner_id="3401", at=T0, pick_money=289000))
    ghn.push(ghn_url(svc), ghn.event("GAHBX9002", "picked", client_order_code="3401", at=T0))      # no COD given
    ghn.push(ghn_url(svc), ghn.event("GAHBX9003", "picked", client_order_code="3402", cod=700000, at=T0))  # prepaid
    for tracking in ("S1.A1.9001", "GAHBX9002", "GAHBX9003"):
        assert calls(svc, tracking)[0][1] == "unmatched" and parcel(svc, "ghn", tracking) is None
    assert notes(svc, 3401) == [] and told(svc, 3401) == [] and notes(svc, 3402) == []
    why = reasons.english(svc.db.one("SELECT reason FROM shipment_events WHERE tracking='S1.A1.9001'")["reason"])
    assert why == ("the code 3401 looks like order 3401, but the carrier collects 289.000đ and that order 513.000đ: "
                   "not taken. Give the carrier the order code with its prefix DH, or store the tracking code on the "
                   "order")
    page = admin.get("/admin/cod/unmatched").text
    assert "3401" in page and "289.000đ" in page and 'class="status status-error"' not in page
    # what the order should collect: taken, and its parcel's next calls follow it
    ghn.push(ghn_url(svc), ghn.event("GAHBX3401", "picked", client_order_code="3401", cod=513000, at=T0))
    ghn.push(ghn_url(svc), ghn.event("GAHBX3401", "delivering", client_order_code="3401", cod=480000, at=T0 + 60))
    assert parcel(svc, "ghn", "GAHBX3401")["status"] == "delivering"
    # an order from long ago is not taken on a bare number, even with its amount
    svc.clock.advance((shipments.BARE_DAYS + 1) * 86400)
    ghn.push(ghn_url(svc), ghn.event("GAHBX3402", "picked", client_order_code="3401", cod=513000, at=T0))
    old = svc.db.one("SELECT * FROM shipment_events WHERE tracking='GAHBX3402'")
    assert old["state"] == "unmatched" and "that order is 61 days old" in reasons.english(old["reason"])


def test_the_waiting_pass_takes_every_waiting_call_however_many(svc):
    """More calls wait for their order than one page holds (a shop that stored its orders late):
    the pass goes through all of them, the last as well as the first."""
    from bridge.providers.ghtk.webhook import from_fields
    from bridge.store import shipments as store
    n = 2 * shipments.PAGE + 101
    with svc.db.tx() as c:
        for i in range(n):
            f = {"label_id": "S1.A1.3501", "partner_id": "DH3501", "status_id": "4" if i < n - 1 else "9",
                 "action_time": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(T0 + i)), "pick_money": "513000",
                 "reason_code": str(i)}
            ev = from_fields(f, json.dumps(f))
            store.insert_event(c, {"received_at": svc.clock() - 3600, "carrier": "ghtk", "tracking": ev.tracking,
                                   "order_ref": ev.order_ref, "carrier_status": ev.carrier_status,
                                   "status": ev.status, "event_at": ev.event_at, "cod_amount": ev.cod_amount,
                                   "state": "unmatched", "reason": "", "dedupe_key": ev.dedupe_key,
                                   "raw": json.dumps(f), "kind": "", "carrier_reason": ""})
    order(svc, 3501)
    assert shipments.run(svc.bridge) == n
    assert parcel(svc, "ghtk", "S1.A1.3501")["status"] == "delivery_failed"
    assert svc.db.scalar("SELECT COUNT(*) FROM shipment_events WHERE state='unmatched'") == 0


def test_a_call_that_fails_is_tried_again_then_shown_to_the_owner(owner, ghn):
    """The database refuses the parcel's row (here a trigger, as a full disk or a broken index
    would): the call is kept and tried again by the periodic pass, a few times; then it is an
    error the owner sees with the calls that found no order."""
    svc, admin = owner
    order(svc, 3601)
    order(svc, 3602)
    with svc.db.tx() as c:
        c.execute("CREATE TRIGGER refuse BEFORE INSERT ON shipments WHEN NEW.tracking LIKE 'GAHBX36%'"
                  " BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
    assert ghn.push(ghn_url(svc), ghn.event("GAHBX3601", "picked", client_order_code="DH3601", cod=513000,
                                            at=T0)) == [200]
    row = svc.db.one("SELECT * FROM shipment_events WHERE tracking='GAHBX3601'")
    assert (row["state"], row["attempts"]) == ("received", 1)
    svc.clock.advance(shipments.EVERY + 1)
    shipments.run(svc.bridge)
    assert svc.db.one("SELECT attempts FROM shipment_events WHERE tracking='GAHBX3601'")["attempts"] == 2
    with svc.db.tx() as c:
        c.execute("DROP TRIGGER refuse")
        c.execute("CREATE TRIGGER refuse BEFORE INSERT ON shipments WHEN NEW.tracking = 'GAHBX3602'"
                  " BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
    ghn.push(ghn_url(svc), ghn.event("GAHBX3602", "picked", client_order_code="DH3602", cod=513000, at=T0))
    for _ in range(shipments.TRIES):
        svc.clock.advance(shipments.EVERY + 1)
        shipments.run(svc.bridge)
    assert calls(svc, "GAHBX3601") == [("picked", "applied")]           # the disk came back
    assert calls(svc, "GAHBX3602") == [("picked", "error")]
    page = admin.get("/admin/cod/unmatched").text
    assert "GAHBX3602" in page and 'class="status status-error"' in page and "disk I/O error" in page


def test_metrics_count_carrier_calls_as_a_gauge(svc, ghn):
    from tests.test_metrics_logs import scrape
    ghn.push(ghn_url(svc), ghn.event("GAHBX3701", "picked", client_order_code="DH3701", cod=513000, at=T0))
    m = scrape(svc.url)
    assert m[("woobridge_shipment_events", (("carrier", "ghn"), ("state", "unmatched")))] == 1
    order(svc, 3701)
    shipments.run(svc.bridge)
    m = scrape(svc.url)     # the waiting call was applied: its former state counts one less
    assert m.get(("woobridge_shipment_events", (("carrier", "ghn"), ("state", "unmatched"))), 0) == 0
    assert m[("woobridge_shipment_events", (("carrier", "ghn"), ("state", "applied")))] == 1


def test_with_api_keys_the_status_applied_is_ghns_and_a_call_naming_another_order_is_contradicted(keyed, ghn):
    svc = keyed
    order(svc, 3801)
    order(svc, 3802)
    ghn.push(ghn_url(svc), ghn.event("GAHBX3801", "picked", client_order_code="DH3801", cod=513000, at=T0))
    ghn.push(ghn_url(svc), ghn.event("GAHBX3801", "delivering", client_order_code="DH3801", cod=513000, at=T0 + 60))
    # a call without Type, claiming a status the parcel had once, with a time far ahead
    forged = {**ghn.event("GAHBX3801", "picked", "", client_order_code="DH3801", cod=513000, at=T0 + 60),
              "Time": "2099-01-01T00:00:00.000Z"}
    ghn.push(ghn_url(svc), forged)
    p = parcel(svc, "ghn", "GAHBX3801")
    assert p["status"] == "delivering" and p["event_at"] == pytest.approx(T0 + 60, abs=0.01)
    # a real parcel's call naming another order
    forged = ghn.event("GAHBX3801", "delivering", client_order_code="DH3802", cod=513000, at=T0 + 70)
    ghn.push(ghn_url(svc), forged)
    row = svc.db.query("SELECT * FROM shipment_events WHERE tracking='GAHBX3801' ORDER BY id")[-1]
    assert row["state"] == "contradicted" and "names the shop's order DH3801, not DH3802" in \
        reasons.english(row["reason"])
    assert svc.db.query("SELECT * FROM shipments WHERE order_id=3802") == [] and notes(svc, 3802) == []


def test_carrier_messages_wait_out_quiet_hours_and_a_stale_one_is_withdrawn(service_factory, ghn):
    from datetime import datetime
    from zoneinfo import ZoneInfo
    local = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh"))
    minute = local.hour * 60 + local.minute
    svc = service_factory(ghn_webhook_token=GHN_TOKEN, timezone="Asia/Ho_Chi_Minh",
                          quiet_hours=((minute - 5) % 1440, (minute + 120) % 1440))
    order(svc, 3901)
    ghn.push(ghn_url(svc), ghn.event("GAHBX3901", "delivering", client_order_code="DH3901", cod=513000, at=T0))
    [waiting] = svc.messages(order_id=3901, rule="shipment-delivering")
    assert waiting["status"] == "scheduled"
    ghn.push(ghn_url(svc), ghn.event("GAHBX3901", "delivery_fail", client_order_code="DH3901", cod=513000,
                                     at=T0 + 60))
    [withdrawn] = svc.messages(order_id=3901, rule="shipment-delivering")
    assert withdrawn["status"] == "cancelled"
    assert reasons.english(withdrawn["reason"]) == "not sent: the parcel is delivery failed now"
    [failed] = svc.messages(order_id=3901, rule="shipment-delivery-failed")
    assert failed["status"] == "scheduled"


def test_the_carriers_story_on_the_order_page_is_in_vietnamese(owner, ghn):
    svc, admin = owner
    order(svc, 4001)
    for i, status in enumerate(("ready_to_pick", "picking", "delivering", "ready_to_pick")):
        ghn.push(ghn_url(svc), ghn.event("GAHBX4001", status, client_order_code="DH4001", cod=513000, at=T0 + i))
    ghn.push(ghn_url(svc), ghn.event("GAHBX4001", "delivered", client_order_code="DH4001", cod=513000, at=T0 + 9))
    ghn.push(ghn_url(svc), ghn.event("GAHBX4001", "return", client_order_code="DH4001", cod=513000, at=T0 + 10))
    story = admin.get("/admin/orders/4001").text.split('id="shipment-events"', 1)[1].split("</table>", 1)[0]
    assert "đang lấy hàng -&gt; đang giao" in story or "đang lấy hàng -> đang giao" in story
    for code in ("ready_to_pick", "picking", "delivering", "delivered", "returning", "created"):
        assert f"-&gt; {code}" not in story and f"{code} -&gt;" not in story and f"({code}" not in story


# -- second review of issue 16 ---------------------------------------------------------------------
def test_a_cod_mismatch_is_raised_when_the_shop_changes_the_total_and_the_carrier_does_not(owner, ghn):
    svc, admin = owner
    order(svc, 5001, total=513000)
    ghn.push(ghn_url(svc), ghn.event("GAHBX5001", "picked", client_order_code="DH5001", cod=513000, at=T0))
    assert parcel(svc, "ghn", "GAHBX5001")["cod_mismatch"] == 0
    order(svc, 5001, total=600000, edit=1)      # the shop adds an item: the shipper would collect 87.000đ too little
    ghn.push(ghn_url(svc), ghn.event("GAHBX5001", "storing", client_order_code="DH5001", cod=513000, at=T0 + 60))
    assert parcel(svc, "ghn", "GAHBX5001")["cod_mismatch"] == 1
    assert [n for n in notes(svc, 5001) if "thu hộ" in n] == [
        "woo-bridge: GHN GAHBX5001 sẽ thu hộ (COD) 513.000đ, nhưng đơn cần thu 600.000đ. Kiểm tra lại với hãng vận "
        "chuyển."]
    admin.post("/admin/shipments/seen", {"carrier": "ghn", "tracking": "GAHBX5001"})
    ghn.push(ghn_url(svc), ghn.event("GAHBX5001", "delivering", client_order_code="DH5001", cod=513000, at=T0 + 120))
    assert parcel(svc, "ghn", "GAHBX5001")["cod_mismatch"] == 0     # the same pair the owner saw: stays seen
    order(svc, 5001, total=650000, edit=2)
    ghn.push(ghn_url(svc), ghn.event("GAHBX5001", "delivering", "update_fee", client_order_code="DH5001", cod=513000,
                                     at=T0 + 180))
    assert parcel(svc, "ghn", "GAHBX5001")["cod_mismatch"] == 1
    assert "650.000đ" in admin.get("/admin/").text.split('id="cod-parcels"', 1)[1]


def _quiet_now(service_factory):
    from datetime import datetime
    from zoneinfo import ZoneInfo
    local = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh"))
    minute = local.hour * 60 + local.minute
    return service_factory(ghn_webhook_token=GHN_TOKEN, timezone="Asia/Ho_Chi_Minh",
                           quiet_hours=((minute - 5) % 1440, (minute + 120) % 1440))


def test_a_parcels_news_never_withdraws_another_parcels_message_of_the_same_order(service_factory, ghn):
    svc = _quiet_now(service_factory)
    order(svc, 5101)
    ghn.push(ghn_url(svc), ghn.event("GAHBX5101A", "delivering", client_order_code="DH5101", cod=0, at=T0))
    ghn.push(ghn_url(svc), ghn.event("GAHBX5101B", "delivering", client_order_code="DH5101", cod=513000, at=T0))
    ghn.push(ghn_url(svc), ghn.event("GAHBX5101B", "delivery_fail", client_order_code="DH5101", cod=513000,
                                     at=T0 + 60))
    msgs = {(m["rule"], "GAHBX5101A" in m["text"]): m["status"] for m in svc.messages(order_id=5101)
            if m["event"] == "shipment.status"}
    # each parcel is told of once per status; B's failure withdraws B's "delivering" only
    assert msgs == {("shipment-delivering", True): "scheduled", ("shipment-delivering", False): "cancelled",
                    ("shipment-delivery-failed", False): "scheduled"}


def test_a_message_whose_sender_died_mid_send_is_not_withdrawn_as_not_sent(service_factory, ghn):
    svc = _quiet_now(service_factory)
    order(svc, 5201)
    ghn.push(ghn_url(svc), ghn.event("GAHBX5201", "delivering", client_order_code="DH5201", cod=513000, at=T0))
    [waiting] = svc.messages(order_id=5201, rule="shipment-delivering")
    with svc.db.tx() as c:      # a worker claimed it and died during the provider's call: its lease ran out
        c.execute("UPDATE messages SET lease_until=?, attempts=1 WHERE id=?", (time.time() - 1, waiting["id"]))
    ghn.push(ghn_url(svc), ghn.event("GAHBX5201", "delivery_fail", client_order_code="DH5201", cod=513000,
                                     at=T0 + 60))
    [kept] = svc.messages(order_id=5201, rule="shipment-delivering")
    assert kept["status"] == "scheduled"        # it may have gone out: the outbox decides (doubt or resend)
    from bridge.outbox import withdraw
    with svc.db.tx() as c:
        assert withdraw(c, waiting["dedupe_key"], "x") is False
        c.execute("UPDATE messages SET lease_until=NULL WHERE id=?", (waiting["id"],))     # recorded: cleared
        assert withdraw(c, waiting["dedupe_key"], "x") is True


def _plans(svc, run) -> list[tuple[str, list[str]]]:
    """Every statement `run` makes on the carrier tables, with its query plan."""
    seen: list[str] = []
    conn = svc.db.conn()
    conn.set_trace_callback(seen.append)
    try:
        run()
    finally:
        conn.set_trace_callback(None)
    return [(sql, [r[3] for r in svc.db.query("EXPLAIN QUERY PLAN " + sql)]) for sql in seen
            if "shipment_events" in sql and sql.lstrip().upper().startswith("SELECT")]


def _unmatched_calls(svc, n: int, since: float) -> None:
    with svc.db.tx() as c:
        c.execute("WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < ?)"
                  " INSERT INTO shipment_events(received_at, carrier, tracking, order_ref, carrier_status, status,"
                  " event_at, cod_amount, state, reason, dedupe_key, raw, kind, carrier_reason, happened)"
                  " SELECT ? + i, 'ghtk', 'S1.X.' || i, '9' || i, '4', 'delivering', ? - i, 289000, 'unmatched', '',"
                  " 'seed:' || i, '{}', '', '', ? - i FROM k", (n, since, since, since))


def test_the_waiting_pass_reads_in_index_order_and_skips_unmatched_calls_while_no_order_changed(svc, ghn):
    _unmatched_calls(svc, 2 * shipments.PAGE + 3, svc.clock() - 86400)
    plans = _plans(svc, lambda: shipments.run(svc.bridge))
    pages = [p for sql, p in plans if "ORDER BY happened" in sql]
    assert len(pages) >= 4 and all("TEMP B-TREE" not in " ".join(p) for p in pages), pages
    assert all(any("idx_shipment_events_state_happened" in x for x in p) for p in pages)
    orders_read: list[str] = []
    conn = svc.db.conn()
    conn.set_trace_callback(lambda sql: orders_read.append(sql) if " orders " in f" {sql} " else None)
    try:
        assert shipments.run(svc.bridge) == 0          # nothing was saved since: no call is matched again
        assert orders_read == []
        order(svc, 5301)                               # an order saved: the waiting calls are tried again
        ghn.push(ghn_url(svc), ghn.event("GAHBX5301", "picked", client_order_code="5301", cod=0, at=T0))
        orders_read.clear()
        shipments.run(svc.bridge)
        assert orders_read != []
        orders_read.clear()
        assert shipments.run(svc.bridge) == 0 and orders_read == []
    finally:
        conn.set_trace_callback(None)
    # the call that arrived before its order's tracking code is taken once the code is saved
    order(svc, 5301, meta=[{"id": 1, "key": "tracking_number", "value": "GAHBX5301"}], edit=1)
    assert shipments.run(svc.bridge) == 1 and parcel(svc, "ghn", "GAHBX5301")["order_id"] == 5301


def test_the_list_of_calls_no_order_took_reads_its_page_from_the_index_and_counts_to_a_cap(owner):
    from bridge.store import cod_report
    svc, admin = owner
    _unmatched_calls(svc, cod_report.COUNT_CAP + 5, svc.clock() - 86400)
    plans = _plans(svc, lambda: admin.get("/admin/cod/unmatched?page=2"))
    assert len(plans) >= 2
    for sql, plan in plans:
        assert "TEMP B-TREE" not in " ".join(plan) and any("idx_shipment_events_not_taken" in p for p in plan), plan
    rows, total = cod_report.unmatched(svc.db, 3, 0)
    assert total == cod_report.COUNT_CAP
    assert [r["tracking"] for r in rows] == [f"S1.X.{cod_report.COUNT_CAP + 4 - i}" for i in range(3)]

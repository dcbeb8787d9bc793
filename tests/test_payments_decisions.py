"""Issue 14, the decisions the anchors leave to the owner, through the real app: bank SMS pushed by
SMSGate (whose `receivedAt` places a transfer in time), the worker writing to the fake WooCommerce
over HTTP, and the admin's review page.

- partial transfers carrying one order's code add up to its total within
  PAYMENT_PARTIAL_WINDOW_HOURS and confirm it once; above the total they are held as overpaid;
- a transfer for an order already paid is `already_paid`, not `overpaid`;
- review items show the orders they may pay, ranked with their reasons; nothing confirms itself.
"""
from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bridge.envparse import bank_accounts as _accounts
from bridge.reasons import english
from tests.conftest import smsgate_settings, woo_settings
from tests.orders import order_body
from tests.test_admin import PASSWORD, Admin

ACCOUNT = "0181003749261"
SEQ = itertools.count(1)


def credit(svc, fake, amount: int, memo: str, hours_ago: float = 0.0) -> dict:
    """A Vietcombank credit SMS (a transfer of its own) made and received `hours_ago`, the bank's
    time printed in the shop's time zone; its transactions row."""
    n = next(SEQ)
    when = datetime.now(timezone.utc) - timedelta(hours=hours_ago, seconds=n)
    printed = when.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%d-%m-%Y %H:%M:%S")
    text = (f"SD TK {ACCOUNT} +{amount:,}VND luc {printed}. SD {5_000_000 + n * 1_000:,}VND. "
            f"Ref MBVCB.{9900 + n}.{memo}.CT tu 1047263815 VO MINH KHANG toi {ACCOUNT} CUA H...")
    r = fake.receive("Vietcombank", text, received_at=when.isoformat())
    assert r.status_code == 200 and r.json()["duplicate"] is False, r.text
    return dict(svc.db.one("SELECT * FROM transactions WHERE inbox_id=?", (r.json()["inbox"],)))


def order(svc, woo, oid: int, total: int, status: str = "on-hold", name: tuple[str, str] = ("Văn An", "Nguyễn"),
          phone: str = "0912 345 678", created_hours_ago: float = 1.0) -> None:
    body = json.loads(order_body(oid, total=total, status=status, phone=phone))
    body["billing"]["first_name"], body["billing"]["last_name"] = name
    created = datetime.now(timezone.utc) - timedelta(hours=created_hours_ago)
    body["date_created_gmt"] = created.strftime("%Y-%m-%dT%H:%M:%S")
    assert svc.post_json(json.dumps(body).encode(), topic="order.created").status_code == 200
    woo.add_order(oid, total, status=status, phone=phone)


def mark_paid_jobs(svc, oid: int) -> list[dict]:
    return svc.messages(rule="payment-mark-paid", order_id=oid)


def queue(svc) -> list[int]:
    from bridge.payments.review import review_queue
    return [r["id"] for r in review_queue(svc.db)]


@pytest.fixture
def shop(service_factory, fake_smsgate, woo):
    def make(**over):
        svc = service_factory(admin_password=PASSWORD, bank_accounts=_accounts(f"Vietcombank:{ACCOUNT}"),
                              **woo_settings(woo), **smsgate_settings(fake_smsgate), **over)
        fake_smsgate.webhook_url = svc.url + "/inbound/smsgate"
        return svc
    return make


def drain(svc) -> None:
    svc.bridge.worker.drain()


# -- partial payments ----------------------------------------------------------------------------
def test_two_transfers_adding_up_confirm_once_and_update_woocommerce_once(shop, fake_smsgate, woo):
    svc = shop()
    order(svc, woo, 30101, 513_000)
    first = credit(svc, fake_smsgate, 200_000, "DH30101 lan 1", hours_ago=5)
    assert first["decision"] == "underpaid" and "313.000" in english(first["reason"])
    assert queue(svc) == [first["id"]]
    second = credit(svc, fake_smsgate, 313_000, "DH30101 lan 2")
    assert second["decision"] == "confirm"
    assert english(second["reason"]).startswith(f"313.000đ completes order 30101 (513.000đ) with #{first['id']}"), second
    # the same SMS delivered again under another gateway id, at once and an hour later: one transfer
    text = svc.db.one("SELECT text FROM transactions WHERE id=?", (second["id"],))["text"]
    assert fake_smsgate.receive("Vietcombank", text).json()["duplicate"] is True
    later = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    r = fake_smsgate.receive("Vietcombank", text, received_at=later)
    assert svc.db.one("SELECT decision FROM transactions WHERE inbox_id=?", (r.json()["inbox"],))["decision"] == \
        "duplicate"
    drain(svc)
    paid = svc.db.one("SELECT paid_at, paid_transaction FROM orders WHERE id=30101")
    assert paid["paid_at"] and paid["paid_transaction"] == second["id"]
    assert len(mark_paid_jobs(svc, 30101)) == 1
    assert [body.get("status") for oid, body in woo.puts if oid == 30101] == ["processing"]   # one WooCommerce write
    earlier = svc.db.one("SELECT review_action, reviewed_by, review_note FROM transactions WHERE id=?", (first["id"],))
    assert (earlier["review_action"], earlier["reviewed_by"]) == ("added_up", "woo-bridge")
    assert f"#{second['id']}" in english(earlier["review_note"])
    assert first["id"] not in queue(svc)
    notes = [n["note"] for n in woo.notes[30101]]
    assert any("thiếu 313.000đ" in n for n in notes)                                     # the partial's own note
    assert any(f"cùng các lần chuyển trước (#{first['id']} 200.000đ)" in n for n in notes)   # the confirmation's


def test_three_partials_add_up(shop, fake_smsgate, woo):
    svc = shop()
    order(svc, woo, 30102, 600_000)
    a = credit(svc, fake_smsgate, 100_000, "DH30102", hours_ago=30)
    b = credit(svc, fake_smsgate, 200_000, "DH30102", hours_ago=2)
    assert (a["decision"], b["decision"]) == ("underpaid", "underpaid")
    assert f"300.000đ with #{a['id']}: 300.000đ short" in english(b["reason"])
    c = credit(svc, fake_smsgate, 300_000, "DH30102")
    assert c["decision"] == "confirm" and f"with #{a['id']}, #{b['id']}:" in english(c["reason"])
    drain(svc)
    assert len(mark_paid_jobs(svc, 30102)) == 1 and len([p for p in woo.puts if p[0] == 30102]) == 1
    assert queue(svc) == []
    assert {r["review_action"] for r in svc.db.query("SELECT review_action FROM transactions WHERE id IN (?,?)",
                                                     (a["id"], b["id"]))} == {"added_up"}


def test_a_sum_above_the_total_is_held_as_overpaid(shop, fake_smsgate, woo):
    svc = shop()
    order(svc, woo, 30103, 513_000)
    a = credit(svc, fake_smsgate, 300_000, "DH30103")
    b = credit(svc, fake_smsgate, 300_000, "DH30103")
    assert b["decision"] == "overpaid" and f"with #{a['id']} makes 600.000đ, 87.000đ more" in english(b["reason"])
    assert "held for the owner" in english(b["reason"])
    # the transfer that would make the total exactly with one of them is not added up: a person chooses
    c = credit(svc, fake_smsgate, 213_000, "DH30103")
    assert c["decision"] == "underpaid" and f"not added up while #{b['id']}" in english(c["reason"])
    drain(svc)
    assert svc.db.one("SELECT paid_at FROM orders WHERE id=30103")["paid_at"] is None
    assert mark_paid_jobs(svc, 30103) == [] and not [p for p in woo.puts if p[0] == 30103]
    assert queue(svc) == [a["id"], b["id"], c["id"]]
    assert any("thừa 87.000đ" in n["note"] and "giữ" in n["note"] for n in woo.notes[30103])


def test_a_sum_above_the_total_confirms_with_a_note_when_the_shop_says_so(shop, fake_smsgate, woo):
    svc = shop(payment_overpaid="confirm")
    order(svc, woo, 30108, 513_000)
    a = credit(svc, fake_smsgate, 300_000, "DH30108")
    b = credit(svc, fake_smsgate, 300_000, "DH30108")
    assert b["decision"] == "overpaid" and "confirmed with a note (PAYMENT_OVERPAID=confirm)" in english(b["reason"])
    drain(svc)
    assert svc.db.one("SELECT paid_transaction FROM orders WHERE id=30108")["paid_transaction"] == b["id"]
    assert queue(svc) == [b["id"]] and len(mark_paid_jobs(svc, 30108)) == 1   # the excess: the owner's to settle
    assert svc.db.one("SELECT review_action FROM transactions WHERE id=?", (a["id"],))["review_action"] == "added_up"
    assert any("thừa 87.000đ" in n["note"] for n in woo.notes[30108])


def test_a_partial_outside_the_window_does_not_add(shop, fake_smsgate, woo):
    svc = shop(payment_partial_window_hours=72.0)
    order(svc, woo, 30104, 513_000, created_hours_ago=200)
    old = credit(svc, fake_smsgate, 200_000, "DH30104", hours_ago=100)
    late = credit(svc, fake_smsgate, 313_000, "DH30104")
    assert (old["decision"], late["decision"]) == ("underpaid", "underpaid")
    assert "with #" not in english(late["reason"])
    inside = credit(svc, fake_smsgate, 200_000, "DH30104", hours_ago=10)   # 10 h from the last, 90 h from the first
    assert inside["decision"] == "confirm" and f"with #{late['id']}:" in english(inside["reason"])
    assert old["id"] in queue(svc)          # the one outside the window still waits for a person


def test_window_zero_never_adds_up(shop, fake_smsgate, woo):
    svc = shop(payment_partial_window_hours=0.0)
    order(svc, woo, 30105, 513_000)
    assert credit(svc, fake_smsgate, 200_000, "DH30105")["decision"] == "underpaid"
    assert credit(svc, fake_smsgate, 313_000, "DH30105")["decision"] == "underpaid"
    assert svc.db.one("SELECT paid_at FROM orders WHERE id=30105")["paid_at"] is None


def test_a_partial_a_person_rejected_does_not_count(shop, fake_smsgate, woo):
    svc = shop()
    admin = Admin(svc)
    assert admin.sign_in().status_code == 302
    order(svc, woo, 30106, 513_000)
    a = credit(svc, fake_smsgate, 200_000, "DH30106")
    assert admin.post(f"/admin/payments/{a['id']}/reject", {"note": "tiền của đơn khác"}).status_code == 302
    assert credit(svc, fake_smsgate, 313_000, "DH30106")["decision"] == "underpaid"
    assert svc.db.one("SELECT paid_at FROM orders WHERE id=30106")["paid_at"] is None


# -- already paid ----------------------------------------------------------------------------------
def test_a_transfer_after_the_order_is_paid_is_already_paid(shop, fake_smsgate, woo):
    svc = shop()
    order(svc, woo, 30107, 513_000)
    paid = credit(svc, fake_smsgate, 513_000, "DH30107")
    assert paid["decision"] == "confirm"
    later = credit(svc, fake_smsgate, 513_000, "DH30107 chuyen lai")
    assert later["decision"] == "already_paid"
    assert english(later["reason"]) == (f"513.000đ for order 30107, which is already paid (transaction #{paid['id']}): "
                               "recorded with a note, not confirmed again")
    small = credit(svc, fake_smsgate, 10_000, "DH30107")
    assert small["decision"] == "already_paid"                     # not "underpaid" either
    drain(svc)
    assert queue(svc) == [later["id"], small["id"]]
    assert len(mark_paid_jobs(svc, 30107)) == 1
    assert sum("cho đơn đã thanh toán" in n["note"] for n in woo.notes[30107]) == 2
    admin = Admin(svc)
    assert admin.sign_in().status_code == 302
    page = admin.get("/admin/payments").text
    assert "already_paid" in page and "overpaid" not in page


# -- suggestions -----------------------------------------------------------------------------------
def test_review_items_show_ranked_suggestions_and_confirm_nothing_by_themselves(shop, fake_smsgate, woo):
    svc = shop()
    order(svc, woo, 30201, 513_000, name=("Minh Khang", "Võ"), created_hours_ago=2)      # amount, name, recent
    order(svc, woo, 30202, 513_000, name=("Thị Lan", "Trần"), created_hours_ago=300)     # amount only
    order(svc, woo, 30203, 420_000, name=("Thị Lan", "Trần"), phone="0987 654 321",
          created_hours_ago=300)                                                           # the phone in the memo
    order(svc, woo, 30204, 420_000, name=("Thị Lan", "Trần"), created_hours_ago=300)     # one digit off "30294"
    order(svc, woo, 30205, 99_000, name=("Thị Lan", "Trần"), created_hours_ago=1)        # recent, nothing else
    order(svc, woo, 30206, 513_000, status="processing", name=("Minh Khang", "Võ"))       # not awaiting payment
    tx = credit(svc, fake_smsgate, 513_000, "chuyen tien don 30294 sdt 0987654321")
    assert tx["decision"] == "no_code"

    from bridge.payments.suggestions import suggest
    got = suggest(svc.db, tx)
    assert [(s.order_id, s.reasons) for s in got] == [
        (30201, ("same_amount", "payer_name", "recent")),
        (30202, ("same_amount",)),
        (30203, ("payer_phone",)),
    ]
    assert [s.score for s in got] == sorted((s.score for s in got), reverse=True) and got[0].total == 513_000
    assert all(s.order_id not in (30205, 30206) for s in suggest(svc.db, tx, limit=10))
    near = next(s for s in suggest(svc.db, tx, limit=10) if s.order_id == 30204)
    assert near.reasons == ("number_near",)

    admin = Admin(svc)
    assert admin.sign_in().status_code == 302
    for page in (admin.get("/admin/payments").text, admin.get(f"/admin/payments/{tx['id']}").text):
        assert "cùng số tiền với khoản chuyển" in page and "tên người chuyển là tên khách" in page
        assert "số điện thoại người chuyển là của khách" in page
        assert page.count('class="confirm-suggested"') == 3 and "Xác nhận cho đơn #30201" in page
    drain(svc)
    assert svc.db.scalar("SELECT COUNT(*) FROM orders WHERE paid_at IS NOT NULL") == 0   # nothing confirmed itself
    assert svc.messages(rule="payment-mark-paid") == []

    # one click: the review's own confirm, with its guards
    assert admin.post(f"/admin/payments/{tx['id']}/confirm", {"order_id": "30201"}).status_code == 302
    assert svc.db.one("SELECT paid_transaction FROM orders WHERE id=30201")["paid_transaction"] == tx["id"]
    assert svc.db.one("SELECT review_action FROM transactions WHERE id=?", (tx["id"],))["review_action"] == "confirmed"
    assert tx["id"] not in queue(svc)


def test_suggestions_for_ambiguous_wrong_account_and_already_paid(shop, fake_smsgate, woo):
    svc = shop()
    from bridge.payments.suggestions import suggest
    order(svc, woo, 30301, 250_000, created_hours_ago=300)
    order(svc, woo, 30302, 250_000, created_hours_ago=300)
    two = credit(svc, fake_smsgate, 250_000, "DH30301 DH30302")
    assert two["decision"] == "ambiguous"
    assert [(s.order_id, s.reasons) for s in suggest(svc.db, two)] == [
        (30302, ("same_amount", "number_in_memo")), (30301, ("same_amount", "number_in_memo"))]
    # a second order of the same customer, paid with the code of the first one
    order(svc, woo, 30303, 180_000, created_hours_ago=300)
    order(svc, woo, 30304, 180_000, created_hours_ago=1)
    assert credit(svc, fake_smsgate, 180_000, "DH30303")["decision"] == "confirm"
    again = credit(svc, fake_smsgate, 180_000, "DH30303")
    assert again["decision"] == "already_paid"
    top = suggest(svc.db, again)[0]
    assert (top.order_id, top.reasons) == (30304, ("same_amount", "number_near", "recent"))   # 30303 -> 30304
    # the shop's other account: the same ranking, still a person's decision
    text = ("SD TK 0999999999999 +250,000VND luc 23-11-2026 10:01:40. SD 9,000,000VND. Ref MBVCB.7.DH30302 "
            "chuyen khoan.CT tu 1047263815 VO MINH KHANG toi 0999999999999 CUA H...")
    r = fake_smsgate.receive("Vietcombank", text)
    wrong = svc.db.one("SELECT * FROM transactions WHERE inbox_id=?", (r.json()["inbox"],))
    assert wrong["decision"] == "wrong_account"
    assert suggest(svc.db, wrong)[0].order_id == 30302
    assert svc.db.scalar("SELECT COUNT(*) FROM orders WHERE paid_at IS NOT NULL") == 1


def test_the_payer_a_source_reports_links_suggestions(shop, fake_smsgate, woo):
    """A transaction reported as fields (Bridge.accept, as every provider's webhook calls it) names
    its payer apart from the memo: name and phone are compared from there too."""
    from bridge.events import BankTransaction
    from bridge.payments.suggestions import suggest
    svc = shop()
    order(svc, woo, 30401, 725_000, name=("Thị Lan", "Trần"), phone="0987 654 321", created_hours_ago=300)
    order(svc, woo, 30402, 725_000, created_hours_ago=300)
    got = svc.decided(svc.bridge.accept(BankTransaction(
        source="bank-feed", external_id="t-1", bank="Vietcombank", account="0999999999999", direction="in",
        amount=725_000, memo="thanh toan tien hang", raw={"id": "t-1"}, payer="TRAN THI LAN 0987654321")))
    assert got["decision"].startswith("wrong_account"), got
    tx = svc.db.one("SELECT * FROM transactions WHERE inbox_id=?", (got["inbox"],))
    assert [(s.order_id, s.reasons) for s in suggest(svc.db, tx)] == [
        (30401, ("same_amount", "payer_phone", "payer_name")), (30402, ("same_amount",))]
    assert svc.db.scalar("SELECT COUNT(*) FROM orders WHERE paid_at IS NOT NULL") == 0


def test_suggestions_look_orders_up_by_index_never_by_scanning(shop, fake_smsgate, woo):
    """What keeps a review page fast with 100,000 orders awaiting payment: every query of the
    orders table that ranking runs is an index search (SQLite's own plan says so)."""
    from bridge.payments.suggestions import suggest
    svc = shop()
    order(svc, woo, 30501, 513_000, phone="0987 654 321")
    tx = credit(svc, fake_smsgate, 513_000, "NGUYEN VAN AN ck don 30510 sdt 0987654321")
    c = svc.db.conn()
    ran: list[str] = []
    c.set_trace_callback(ran.append)
    try:
        assert suggest(svc.db, tx)[0].order_id == 30501
    finally:
        c.set_trace_callback(None)
    queries = [sql for sql in ran if "FROM orders" in sql]
    assert len(queries) >= 4
    for sql in queries:
        plan = " | ".join(r[3] for r in c.execute("EXPLAIN QUERY PLAN " + sql))
        assert "SCAN" not in plan and "USING INDEX" in plan, (sql[:200], plan)


def test_a_delivery_built_before_our_payment_write_back_asks_for_nothing_again(shop, fake_smsgate, woo):
    """WooCommerce builds a delivery when it sends it: an order.updated still saying on-hold, with
    the date_modified we decided the payment from, reaches us after the payment is confirmed (the
    real lab showed it). It predates our write-back: the customer is not asked for the transfer a
    second time, and the echo of our own change tells nobody anything."""
    svc = shop()
    order(svc, woo, 30901, 213_000)
    body = json.loads(order_body(30901, total=213_000, status="on-hold", phone="0912 345 678"))
    body["billing"]["first_name"], body["billing"]["last_name"] = ("Văn An", "Nguyễn")
    paid = credit(svc, fake_smsgate, 213_000, "DH30901 thanh toan")
    assert paid["decision"] == "confirm"
    assert svc.post_json(json.dumps(body).encode(), topic="order.updated").status_code == 200   # built before the PUT
    late = svc.db.one("SELECT state, reason FROM deliveries ORDER BY id DESC LIMIT 1")
    assert late["state"] == "stale" and "before our own change" in english(late["reason"])
    assert svc.db.scalar("SELECT status FROM orders WHERE id=30901") == "processing"
    echo = dict(body, status="processing", date_modified_gmt="2030-01-01T00:00:00")
    assert svc.post_json(json.dumps(echo).encode(), topic="order.updated").status_code == 200   # our PUT, echoed
    rules = [m["rule"] for m in svc.messages(order_id=30901, audience="customer")]
    assert rules.count("order-awaiting-transfer") == 1 and "order-processing" not in rules, rules

"""Payment expiry (PAYMENT_EXPIRE_HOURS) through the real app: orders arrive as signed WooCommerce
webhooks, the fake WooCommerce REST server (tests/fakes/woocommerce.py) is the shop the cancel and
the restore are written to (and echoes them back as webhooks), bank SMS arrive through the FiboSMS
push, and time moves with the service's drivable clock instead of sleeps."""
from __future__ import annotations

import json
import time
import uuid

import pytest
import requests

from bridge.envparse import bank_accounts
from bridge.jobs import make_scheduler
from bridge.payments import expiry, review
from bridge.reasons import english
from tests.conftest import SECRET, wait_until, woo_settings
from tests.test_admin import PASSWORD, Admin

HOUR = 3600.0
ACCOUNT = "0181003749261"
TOTAL = 513_000


def bank_sms(svc, order_number: int | str, amount: int = TOTAL, ref: str = "") -> dict:
    """A Vietcombank credit naming DH<number>, as the shop's phone forwards it (FiboSMS push)."""
    ref = ref or uuid.uuid4().hex[:10].upper()
    balance = 9_000_000 + int(ref, 16) % 1_000_000 * 1000   # each transfer its own balance after it
    text = (f"SD TK {ACCOUNT} +{amount:,}VND luc 30-11-2026 10:12:40. SD {balance:,}VND. Ref MBVCB.{ref}."
            f"DH{order_number}.CT tu 1047263815 VO MINH KHANG toi {ACCOUNT} CUA H...")
    r = requests.get(svc.url + "/inbound/fibo", params={"token": "test-fibo-token", "phone": "Vietcombank",
                                                        "message": text, "guid": uuid.uuid4().hex}, timeout=5)
    assert r.status_code == 200, r.text
    return svc.db.one("SELECT * FROM transactions ORDER BY id DESC LIMIT 1")


def gmt(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))


@pytest.fixture
def shop(service_factory, woo):
    """The service (expiry after 24 h) and the fake shop, which delivers its changes back to it."""
    def make(**changes):
        changes.setdefault("payment_expire_hours", 24.0)
        svc = service_factory(**woo_settings(woo), bank_accounts=bank_accounts(f"Vietcombank:{ACCOUNT}"),
                              admin_password=PASSWORD, **changes)
        woo.webhooks.clear()
        woo.add_webhook(1, svc.url + "/webhooks/woocommerce", secret=SECRET)
        return svc
    return make


def place(svc, woo, oid: int, hours_ago: float = 1.0, status: str = "on-hold", method: str = "bacs",
          total: int = TOTAL) -> dict:
    """An order the shop created `hours_ago`, delivered to the bridge as WooCommerce delivers it."""
    o = woo.add_order(oid, total, status=status, payment_method=method, created=gmt(time.time() - hours_ago * HOUR))
    assert svc.post_json(json.dumps(o).encode(), topic="order.created").status_code == 200
    return o


def drained(svc) -> None:
    wait_until(lambda: svc.bridge.worker.drain() == 0 and not svc.db.scalar(
        "SELECT COUNT(*) FROM messages WHERE kind='order_update' AND status='pending'"), what="the outbox drained")


def told(svc, oid: int, rule: str) -> list[dict]:
    return [m for m in svc.messages(order_id=oid, rule=rule) if m["audience"] == "customer"]


def row(svc, oid: int):
    return svc.db.one("SELECT * FROM orders WHERE id=?", (oid,))


# -- the job ---------------------------------------------------------------------------------
def test_off_by_default_nothing_expires_and_no_job_runs(service_factory, woo):
    svc = service_factory(**woo_settings(woo))
    assert svc.settings.payment_expire_hours == 0
    place(svc, woo, 301, hours_ago=1000)
    svc.clock.advance(10_000 * HOUR)
    assert expiry.run(svc.bridge) == 0
    assert row(svc, 301)["status"] == "on-hold" and not row(svc, 301)["expired_at"]
    assert make_scheduler(svc.bridge).get_job("payment_expiry") is None


def test_the_job_is_scheduled_when_set(shop):
    svc = shop()
    job = make_scheduler(svc.bridge).get_job("payment_expiry")
    assert job is not None and job.trigger.interval.total_seconds() == expiry.EVERY


def test_an_unpaid_transfer_expires_after_the_hours_once_and_only_bank_transfers(shop, woo):
    svc = shop()
    place(svc, woo, 401)                               # bank transfer, on-hold
    place(svc, woo, 402, status="pending")             # bank transfer, pending
    place(svc, woo, 403, method="cod", status="processing")
    place(svc, woo, 404, hours_ago=0.5)                # placed later: expires later
    svc.clock.advance(22 * HOUR)                       # 23 h after the first
    assert expiry.run(svc.bridge) == 0
    svc.clock.advance(HOUR + 60)                       # 24 h 1 min
    assert expiry.run(svc.bridge) == 2
    assert {r["id"] for r in svc.db.query("SELECT id FROM orders WHERE expired_at IS NOT NULL")} == {401, 402}
    assert expiry.run(svc.bridge) == 0                 # once
    drained(svc)
    assert sorted(c for c in woo.status_changes) == [(401, "on-hold", "cancelled"), (402, "pending", "cancelled")]
    note = woo.notes[401][0]
    assert note["customer_note"] is False and "24 giờ" in note["note"] and "PAYMENT_EXPIRE_HOURS" in note["note"]
    # the customer hears it once; WooCommerce's echo of the cancel sends no "cancelled" message
    wait_until(lambda: row(svc, 401)["date_modified_gmt"] > woo.orders[401]["date_created_gmt"], what="the echo")
    for oid in (401, 402):
        assert len(told(svc, oid, "payment-expired")) == 1 and told(svc, oid, "order-cancelled") == []
    text = told(svc, 401, "payment-expired")[0]["text"]
    assert "Don #401 (513.000d) da het han thanh toan sau 24 gio va da bi huy" in text
    svc.clock.advance(HOUR)
    assert expiry.run(svc.bridge) == 1 and row(svc, 404)["expired_at"]
    assert row(svc, 403)["status"] == "processing" and not row(svc, 403)["expired_at"]


def test_the_creation_time_is_read_in_gmt_not_the_shops_local_time(shop, woo):
    """date_created is Vietnam time, 7 h ahead of date_created_gmt: read as UTC it would make
    the order 7 h younger and expire it 7 h late."""
    svc = shop(payment_expire_hours=2.0)
    o = place(svc, woo, 405, hours_ago=0)
    assert o["date_created"] != o["date_created_gmt"]
    svc.clock.advance(2 * HOUR - 60)
    assert expiry.run(svc.bridge) == 0
    svc.clock.advance(120)
    assert expiry.run(svc.bridge) == 1


def test_the_customer_is_told_once_across_a_restart(shop, woo, service_factory):
    svc = shop()
    place(svc, woo, 406)
    svc.clock.advance(25 * HOUR)
    assert expiry.run(svc.bridge) == 1
    db_path = svc.settings.db_path
    svc.close()
    again = shop(db_path=db_path)
    again.clock.advance(30 * HOUR)
    assert expiry.run(again.bridge) == 0
    drained(again)
    assert len(told(again, 406, "payment-expired")) == 1
    assert [c for c in woo.status_changes if c[0] == 406] == [(406, "on-hold", "cancelled")]


# -- never against a payment or the shop -------------------------------------------------------
def test_a_payment_decided_first_wins(shop, woo):
    svc = shop()
    place(svc, woo, 407)
    svc.clock.advance(25 * HOUR)
    assert bank_sms(svc, 407)["decision"] == "confirm"
    assert expiry.run(svc.bridge) == 0
    drained(svc)
    assert woo.orders[407]["status"] == "processing" and told(svc, 407, "payment-expired") == []


def test_an_order_with_a_partial_payment_waits_for_a_person_not_the_deadline(shop, woo):
    svc = shop()
    place(svc, woo, 408)
    assert bank_sms(svc, 408, amount=300_000)["decision"] == "underpaid"
    svc.clock.advance(25 * HOUR)
    assert expiry.run(svc.bridge) == 0 and row(svc, 408)["status"] == "on-hold"


def test_an_order_a_waiting_credit_may_pay_is_not_cancelled_until_a_person_decides(shop, woo):
    """A transfer of exactly the order's total without a code waits for a person: it may be this
    order's payment, so the order is not cancelled under the customer meanwhile."""
    from bridge.payments import review
    svc = shop()
    place(svc, woo, 409)
    tx = bank_sms(svc, "")                       # the customer forgot the code
    assert tx["decision"] == "no_code"
    svc.clock.advance(25 * HOUR)
    assert expiry.run(svc.bridge) == 0 and row(svc, 409)["status"] == "on-hold"
    review.not_a_payment(svc.bridge, tx["id"], "owner", "a refund from a supplier")
    assert expiry.run(svc.bridge) == 1 and row(svc, 409)["expired_at"] is not None


def test_an_order_the_shop_moved_on_unheard_is_not_cancelled(shop, woo):
    """The owner marked it processing in wp-admin and the webhook never came: the pass asks the
    shop first and leaves it alone."""
    svc = shop()
    place(svc, woo, 409)
    woo.change(409, "processing", gmt(time.time()))
    svc.clock.advance(25 * HOUR)
    assert expiry.run(svc.bridge) == 0
    assert row(svc, 409)["status"] == "on-hold" and not row(svc, 409)["expired_at"]
    assert told(svc, 409, "payment-expired") == [] and woo.status_changes == []


def test_a_shop_change_after_the_decision_is_not_overwritten_and_the_owner_is_told(shop, woo):
    """The shop moved the order on between our decision and the cancel job: the job reads the
    order first, writes nothing, fails for good with the reason, and the owner hears of it."""
    svc = shop(owner_phones=("0901 234 567",))
    place(svc, woo, 410)
    svc.clock.advance(25 * HOUR)
    assert expiry.run(svc.bridge) == 1
    woo.change(410, "processing", gmt(time.time()))
    drained(svc)
    job = svc.messages(order_id=410, rule="payment-expiry")[0]
    assert job["status"] == "failed" and "processing in WooCommerce" in job["reason"]
    assert woo.orders[410]["status"] == "processing" and not woo.notes[410]
    from bridge import alerts
    alerts.watch(svc.bridge)
    assert len(svc.messages(rule="alert:expiry")) == 1


def test_a_lost_answer_to_the_cancel_is_retried_without_a_second_note(shop, woo):
    svc = shop(send_backoff_base=0.01, woo_timeout=1.0)
    place(svc, woo, 411)
    svc.clock.advance(25 * HOUR)
    expiry.run(svc.bridge)
    woo.timeout_delay = 1.5
    woo.lose_answer_to("PUT", "/orders/411")
    svc.clock.advance(600)
    wait_until(lambda: svc.bridge.worker.drain() == 0 and svc.messages(order_id=411, rule="payment-expiry")[0][
        "status"] == "delivered", timeout=30, what="the cancel retried")
    job = svc.messages(order_id=411, rule="payment-expiry")[0]
    assert svc.db.scalar("SELECT COUNT(*) FROM attempts WHERE message_id=?", (job["id"],)) == 2
    assert woo.orders[411]["status"] == "cancelled" and len(woo.notes[411]) == 1
    assert [c for c in woo.status_changes if c[0] == 411] == [(411, "on-hold", "cancelled")]


def test_a_payment_and_the_expiry_at_the_same_moment_one_wins_never_both(shop, woo):
    """Ten orders past the deadline, each paid while the expiry pass runs (the pass walks them up,
    the transfers come down, so they meet): each order ends either paid (confirmed, never
    cancelled) or expired (cancelled, its transfer waiting as paid after expiry), never both and
    never neither."""
    from concurrent.futures import ThreadPoolExecutor
    svc = shop()
    ids = list(range(420, 430))
    for oid in ids:
        place(svc, woo, oid)
    svc.clock.advance(25 * HOUR)
    with ThreadPoolExecutor(2) as pool:
        expiring = pool.submit(expiry.run, svc.bridge)
        paying = pool.submit(lambda: [bank_sms(svc, oid) for oid in reversed(ids)])
        expired_now, _ = expiring.result(), paying.result()
    drained(svc)
    assert expired_now == svc.db.scalar("SELECT COUNT(*) FROM orders WHERE expired_at IS NOT NULL")
    for oid in ids:
        decision = svc.db.one("SELECT decision FROM transactions WHERE order_id=?", (oid,))["decision"]
        o = row(svc, oid)
        if decision == "confirm":
            assert o["paid_at"] and not o["expired_at"] and woo.orders[oid]["status"] == "processing"
            assert told(svc, oid, "payment-expired") == [] and len(told(svc, oid, "payment-confirmed")) == 1
        else:
            assert decision == "paid_after_expiry" and o["expired_at"] and not o["paid_at"]
            assert woo.orders[oid]["status"] == "cancelled" and not woo.orders[oid]["date_paid_gmt"]
            assert told(svc, oid, "payment-confirmed") == [] and len(told(svc, oid, "payment-expired")) == 1


def test_a_transfer_while_the_cancel_is_still_queued_is_paid_after_expiry(shop, woo):
    svc = shop()
    place(svc, woo, 431)
    svc.clock.advance(25 * HOUR)
    assert expiry.run(svc.bridge) == 1
    assert woo.orders[431]["status"] == "on-hold"          # the cancel has not reached the shop yet
    assert bank_sms(svc, 431)["decision"] == "paid_after_expiry"
    drained(svc)
    assert woo.orders[431]["status"] == "cancelled" and not woo.orders[431]["date_paid_gmt"]


@pytest.mark.parametrize("value, ok", [("0", 0.0), ("48", 48.0), ("1.5", 1.5), ("-1", None), ("soon", None),
                                       ("inf", None), ("nan", None)])
def test_the_setting_is_read_or_refused_by_name(value, ok):
    from bridge.config import ConfigError, load_settings
    if ok is None:
        with pytest.raises(ConfigError, match="PAYMENT_EXPIRE_HOURS"):
            load_settings(environ={"PAYMENT_EXPIRE_HOURS": value}, env_file=None)
    else:
        assert load_settings(environ={"PAYMENT_EXPIRE_HOURS": value}, env_file=None).payment_expire_hours == ok


# -- a transfer after expiry ------------------------------------------------------------------
def test_a_late_transfer_waits_for_review_and_restore_and_confirm_pays_it(shop, woo):
    svc = shop()
    place(svc, woo, 412)
    svc.clock.advance(25 * HOUR)
    assert expiry.run(svc.bridge) == 1
    drained(svc)
    short = bank_sms(svc, 412, amount=500_000)
    late = bank_sms(svc, 412)
    for tx in (short, late):
        assert tx["decision"] == "paid_after_expiry" and tx["order_id"] == 412
        assert "paid after expiry" in english(tx["reason"]) and "PAYMENT_EXPIRE_HOURS" in english(tx["reason"])
    assert "not its total 513.000đ" in english(short["reason"])
    assert {t["id"] for t in review.review_queue(svc.db)} >= {short["id"], late["id"]}
    drained(svc)
    assert woo.orders[412]["status"] == "cancelled" and not woo.orders[412]["date_paid_gmt"]   # never by itself
    assert any("sau khi đơn đã bị hủy" in n["note"] for n in woo.notes[412])
    # the ordinary confirm refuses a cancelled order; restore refuses an amount that is not the total
    with pytest.raises(review.ReviewError, match="not awaiting payment"):
        review.confirm(svc.bridge, late["id"], 412, who="chủ shop")
    with pytest.raises(review.ReviewError) as refused:
        review.restore_and_confirm(svc.bridge, short["id"], who="chủ shop")
    assert refused.value.kind == "amount_differs"
    review.restore_and_confirm(svc.bridge, late["id"], who="chủ shop", note="khách gọi")
    drained(svc)
    assert woo.orders[412]["status"] == "processing" and woo.orders[412]["date_paid_gmt"]
    assert (412, "cancelled", "processing") in woo.status_changes
    assert any("chủ shop khôi phục đơn" in n["note"] for n in woo.notes[412])
    tx = svc.db.one("SELECT * FROM transactions WHERE id=?", (late["id"],))
    assert (tx["review_action"], tx["reviewed_by"], tx["review_note"]) == ("restored", "chủ shop", "khách gọi")
    assert len(told(svc, 412, "payment-confirmed")) == 1
    wait_until(lambda: row(svc, 412)["date_modified_gmt"] >= woo.orders[412]["date_modified_gmt"], what="the echo")
    assert told(svc, 412, "order-processing") == [] and len(told(svc, 412, "payment-expired")) == 1
    with pytest.raises(review.ReviewError) as again:
        review.restore_and_confirm(svc.bridge, late["id"], who="chủ shop")
    assert again.value.kind == "reviewed"


def test_restore_while_the_shop_is_down_stops_the_cancel_that_never_went_out(shop, woo):
    svc = shop(send_backoff_base=60.0)
    place(svc, woo, 432, hours_ago=25)      # the clock stays: the retry's backoff is on the wall clock
    assert expiry.run(svc.bridge) == 1
    woo.down = True
    svc.bridge.worker.drain()
    job = svc.messages(order_id=432, rule="payment-expiry")[0]
    assert job["status"] == "pending" and job["attempts"] == 1     # retried later
    review.restore_and_confirm(svc.bridge, bank_sms(svc, 432)["id"], who="chủ shop")
    assert svc.messages(order_id=432, rule="payment-expiry")[0]["status"] == "cancelled"
    woo.down = False
    svc.clock.advance(3600)
    drained(svc)
    assert woo.orders[432]["status"] == "processing" and woo.status_changes == [(432, "on-hold", "processing")]
    from bridge import alerts
    alerts.watch(svc.bridge)
    assert svc.messages(rule="alert:expiry") == []


def test_restore_is_refused_when_the_shop_moved_the_order_on(shop, woo):
    svc = shop()
    place(svc, woo, 413)
    svc.clock.advance(25 * HOUR)
    expiry.run(svc.bridge)
    drained(svc)
    late = bank_sms(svc, 413)
    # the owner put it back to on-hold by hand: ordinary confirmation applies again, not restore
    o = woo.change(413, "on-hold", gmt(time.time() + 5))
    assert svc.post_json(json.dumps(o).encode()).status_code == 200
    with pytest.raises(review.ReviewError) as refused:
        review.restore_and_confirm(svc.bridge, late["id"], who="chủ shop")
    assert refused.value.kind == "not_expired"
    review.confirm(svc.bridge, late["id"], 413, who="chủ shop")
    drained(svc)
    assert woo.orders[413]["status"] == "processing"


def test_the_admin_restores_and_confirms_in_one_click(shop, woo):
    svc = shop()
    place(svc, woo, 414)
    svc.clock.advance(25 * HOUR)
    expiry.run(svc.bridge)
    late = bank_sms(svc, 414)
    admin = Admin(svc)
    assert admin.sign_in().status_code == 302
    assert "hết hạn thanh toán" in admin.get("/admin/orders/414").text
    page = admin.get(f"/admin/payments/{late['id']}").text
    assert "Thanh toán sau khi hết hạn" in page and "Khôi phục và xác nhận" in page
    r = admin.post(f"/admin/payments/{late['id']}/restore-confirm", {"note": ""})
    assert r.status_code == 302
    flash = admin.get("/admin/payments").text
    assert "Đã khôi phục và xác nhận" in flash
    tx = svc.db.one("SELECT * FROM transactions WHERE id=?", (late["id"],))
    assert tx["review_action"] == "restored" and tx["reviewed_by"]
    assert row(svc, 414)["paid_at"] and row(svc, 414)["paid_transaction"] == late["id"]
    # a second click is refused with the reason, in Vietnamese
    admin.post(f"/admin/payments/{late['id']}/restore-confirm", {"note": ""})
    assert "đã được xem xét (đã khôi phục và xác nhận" in admin.get(f"/admin/payments/{late['id']}").text


# -- the pay page ------------------------------------------------------------------------------
def test_the_pay_page_says_the_order_expired_and_shows_no_qr(shop, woo):
    svc = shop()
    o = place(svc, woo, 415)
    url = f"{svc.url}/pay/{o['order_key']}"
    assert "<svg" in requests.get(url, timeout=5).text
    svc.clock.advance(25 * HOUR)
    expiry.run(svc.bridge)
    html = requests.get(url, timeout=5).text
    assert "Đơn hàng đã hết hạn thanh toán và đã bị hủy" in html
    assert "<svg" not in html and ACCOUNT not in html and svc.settings.transfer_account not in html
    assert "Vui lòng chuyển" not in html
    status = requests.get(url + "/status", timeout=5).json()
    assert status["expired"] is True and status["awaiting"] is False
    assert "hết hạn thanh toán" in status["status_text"]
    assert requests.get(url + "/qr.png", timeout=5).status_code == 404

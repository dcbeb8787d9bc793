"""Reconcile with the fake WooCommerce REST API over real HTTP: missed webhooks recovered and
notified once whichever way a change arrives, pages read whole even while the shop changes
orders, disabled webhooks re-activated, unpaid bank-transfer orders flagged, WooCommerce down
or unreachable survived."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from bridge import reasons
from bridge.providers.woocommerce import reconcile
from tests.conftest import esms_settings, free_port, wait_until, woo_settings
from tests.orders import order_body


@pytest.fixture
def svc(service_factory, fake_esms, woo):
    return service_factory(start_scheduler=True, owner_phones=("0901 234 567",), **woo_settings(woo),
                           **esms_settings(fake_esms))


def customer_sms(fake_esms, oid: int) -> list[str]:
    return [a["Content"] for a in fake_esms.accepted if a["Phone"] == "0912345678" and f"#{oid}" in a["Content"]]


def outbox_settled(svc) -> bool:
    """Every message recorded as sent or ended, and no drain under way: nothing more can go out."""
    return (svc.db.scalar("SELECT COUNT(*) FROM messages WHERE status IN ('pending','scheduled')") == 0
            and not svc.bridge.worker._drain_lock.locked())


def hours_ago(h: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%S")


def test_a_missed_order_is_recovered_and_notified_once(svc, woo, fake_esms):
    woo.add_order(801, 513000)
    woo.change(801, "on-hold", "2026-11-23T03:00:00")
    s = reconcile.run(svc.bridge, since="2026-11-23T00:00:00")
    assert (s.fetched, s.processed, s.error) == (1, 1, "")
    wait_until(lambda: customer_sms(fake_esms, 801), what="the on-hold SMS")
    again = reconcile.run(svc.bridge)   # nothing new: nothing sent
    assert again.processed == 0 and again.notified == 0
    woo.change(801, "processing", "2026-11-23T04:00:00")
    assert reconcile.run(svc.bridge).notified == 1
    wait_until(lambda: len(customer_sms(fake_esms, 801)) == 2, what="the processing SMS")
    # the webhook for that same change arrives late: no second SMS
    body = json.dumps(woo.orders[801]).encode()
    answer = json.loads(svc.post_json(body, topic="order.updated").text)
    assert svc.db.scalar("SELECT COUNT(*) FROM messages WHERE delivery_ref=?", (answer["delivery"],)) == 0
    assert [m["rule"] for m in svc.messages(order_id=801, audience="owner")] == ["owner-new-order"]
    wait_until(lambda: outbox_settled(svc), what="nothing left to send")
    assert len(customer_sms(fake_esms, 801)) == 2
    assert svc.db.scalar("SELECT COUNT(*) FROM deliveries WHERE webhook_id='reconcile'") == 2


def test_webhook_first_then_reconcile_sends_nothing_more(svc, woo, fake_esms):
    woo.add_order(802, 513000)
    assert svc.post_json(order_body(802), topic="order.created").status_code == 200
    wait_until(lambda: customer_sms(fake_esms, 802), what="the webhook's SMS")
    s = reconcile.run(svc.bridge, since="2026-11-23T00:00:00")
    assert s.fetched == 1 and s.processed == 1 and s.notified == 0
    wait_until(lambda: outbox_settled(svc), what="nothing left to send")
    assert len(customer_sms(fake_esms, 802)) == 1


def test_the_requests_are_the_documented_ones(svc, woo):
    svc.db.kv_set("reconcile.since", "2026-11-22T00:02:00")
    reconcile.run(svc.bridge)
    calls = [(r["method"], r["path"].rsplit("/", 1)[-1], r["args"]) for r in woo.requests_log]
    assert [(m, p) for m, p, _ in calls] == [("GET", "orders"), ("GET", "customers"), ("GET", "webhooks")]
    sent = {k: v for k, v in calls[0][2].items() if not k.startswith("oauth_")}
    assert sent == {"modified_after": "2026-11-22T00:00:00", "dates_are_gmt": "true", "orderby": "modified",
                    "order": "asc", "per_page": "100", "page": "1"}
    assert json.loads(svc.db.kv_get("reconcile.last"))["error"] == ""


def test_many_pages_are_all_read_and_the_mark_moves_forward(svc, woo):
    for i in range(230):
        woo.add_order(1000 + i, 100000)
        woo.change(1000 + i, "completed", f"2026-11-22T{10 + i // 60:02d}:{i % 60:02d}:00")
    s = reconcile.run(svc.bridge, since="2026-11-22T00:00:00", notify=False)
    assert s.fetched == 230 and s.processed == 230 and s.notified == 0 and s.passes == 1
    assert svc.db.kv_get("reconcile.since") == "2026-11-22T13:49:00"
    pages = [r for r in woo.requests_log if r["path"].endswith("/orders")]
    assert len(pages) == 3
    assert reconcile.start_mark(svc.bridge, None) == "2026-11-22T13:47:00"   # 2 minutes of overlap


def test_an_order_changed_while_paging_does_not_hide_another(svc, woo, fake_esms):
    """Offset paging by modified date: an order of page 1 changed before page 2 is read moves to
    the end and shifts the rest, so the first order of page 2 would slip onto page 1 unread."""
    for i in range(150):
        woo.add_order(2000 + i, 100000, status="completed", created=f"2026-11-20T08:{i // 60:02d}:{i % 60:02d}")
    woo.change(2100, "processing", "2026-11-21T00:00:00")   # sorted by modified date, the 101st: first of page 2

    def shop_edits_an_order(page: int) -> None:
        if page == 1:
            woo.after_orders_page = None
            woo.change(2000, "completed", "2026-11-21T01:00:00")
    woo.after_orders_page = shop_edits_an_order
    s = reconcile.run(svc.bridge, since="2026-11-19T00:00:00", notify=False)
    assert s.error == "" and s.passes == 2
    assert svc.db.one("SELECT status FROM orders WHERE id=2100")["status"] == "processing"
    assert svc.db.scalar("SELECT COUNT(*) FROM orders") == 150
    assert svc.db.kv_get("reconcile.since") == "2026-11-21T01:00:00"


def test_a_disabled_webhook_of_ours_is_recreated_and_the_owner_told_once(svc, woo, fake_esms):
    """Re-activating keeps WooCommerce's failure count above the limit (the next single failure
    disables it again), so a disabled webhook is replaced by a new one whose count is 0."""
    woo.add_webhook(7, svc.url + "/webhooks/woocommerce", status="disabled", secret=svc.settings.woo_webhook_secret,
                    failure_count=6)
    woo.add_webhook(8, "https://other.example/hook", status="disabled", name="someone else's")
    woo.add_webhook(9, svc.url + "/webhooks/woocommerce", topic="order.created", status="paused")
    s = reconcile.run(svc.bridge)
    assert s.webhooks_reactivated == [7] and s.error == ""
    assert 7 not in woo.webhooks and woo.webhooks[8]["status"] == "disabled" and woo.webhooks[9]["status"] == "paused"
    new = [w for w in woo.webhooks.values() if w["topic"] == "order.updated" and w["id"] != 8]
    assert len(new) == 1 and new[0]["status"] == "active" and new[0]["failure_count"] == 0
    assert new[0]["secret"] == svc.settings.woo_webhook_secret and new[0]["delivery_url"] == svc.url + "/webhooks/woocommerce"
    # reconcile repairs, it does not add topics the owner has not asked for
    assert sorted(w["topic"] for w in woo.webhooks.values()) == ["order.created", "order.updated", "order.updated"]
    alerts = svc.messages(rule="alert:webhook")
    assert len(alerts) == 1 and "order.updated" in alerts[0]["text"] and alerts[0]["recipient"] == "+84901234567"
    wait_until(lambda: [a for a in fake_esms.accepted if a["Phone"] == "0901234567"], what="the owner's SMS")
    # a single failed delivery after the repair does not disable it again (it would after a PUT active)
    svc.server.shutdown()
    assert woo.deliver("order.updated", woo.add_order(810, 100000)) == [0]
    assert new[0]["status"] == "active"
    new[0]["status"] = "disabled"   # disabled again the same day: fixed again, owner not re-told
    assert reconcile.run(svc.bridge).webhooks_reactivated == [new[0]["id"]]
    assert len(svc.messages(rule="alert:webhook")) == 1
    assert json.loads(svc.db.kv_get("reconcile.last"))["webhooks_reactivated"] == [new[0]["id"]]


def test_customers_registered_while_we_were_down_are_welcomed_once(svc, woo, fake_esms):
    woo.add_customer(3, "old@example.test", "0987 000 111", created=hours_ago(24 * 30))
    first = reconcile.run(svc.bridge)            # a new installation: the past is not news
    assert first.error == "" and first.customers_fetched == 0
    woo.add_customer(4, "lan@example.test", "0987 654 321", created=hours_ago(1), first_name="Lan")
    woo.add_customer(5, "nophone@example.test", "", created=hours_ago(1))
    woo.add_customer(6, "stale@example.test", "0987 222 333", created=hours_ago(24 * 10))
    s = reconcile.run(svc.bridge)
    assert (s.customers_fetched, s.customers_taken, s.error) == (3, 3, "")
    welcomes = svc.messages(rule="customer-welcome")
    assert [m["recipient"] for m in welcomes] == ["+84987654321"]
    skipped = {r["id"]: r["welcome_skipped"] for r in svc.db.query("SELECT id, welcome_skipped FROM customers")}
    assert reasons.code_of(skipped[5]) == "shop.customer_no_phone" and skipped[4] is None
    assert "too long ago" in reasons.english(skipped[6])
    again = reconcile.run(svc.bridge)
    assert again.customers_fetched == 0 and len(svc.messages(rule="customer-welcome")) == 1
    # the webhook for customer 4 arriving late welcomes nobody twice
    r = svc.post_json(json.dumps(woo.customers[4]).encode(), topic="customer.created")
    assert svc.db.scalar("SELECT COUNT(*) FROM messages WHERE delivery_ref=?", (r.json()["delivery"],)) == 0
    assert len(svc.messages(rule="customer-welcome")) == 1


def old_order(oid: int, created: str, status: str = "on-hold", payment_method: str = "bacs") -> bytes:
    body = json.loads(order_body(oid, status=status))
    body.update(date_created_gmt=created, date_modified_gmt=created, payment_method=payment_method)
    return json.dumps(body).encode()


def test_old_unpaid_bank_transfer_orders_are_flagged_once(svc, woo):
    for oid, created, status, method in [(803, hours_ago(49), "on-hold", "bacs"), (804, hours_ago(47), "on-hold", "bacs"),
                                         (805, hours_ago(72), "on-hold", "cod"), (806, hours_ago(72), "pending", "bacs"),
                                         (807, hours_ago(72), "processing", "bacs")]:
        assert svc.post_json(old_order(oid, created, status, method), topic="order.created").status_code == 200
    s = reconcile.run(svc.bridge)
    assert s.stale_pending == ["803", "806"] and s.stale_new == ["803", "806"]
    again = reconcile.run(svc.bridge)
    assert again.stale_pending == ["803", "806"] and again.stale_new == []
    alerts = svc.messages(rule="alert:stale")
    assert [("#803" in a["text"], "#806" in a["text"]) for a in alerts] == [(True, False), (False, True)]
    assert "cho chuyen khoan qua 48 gio" in alerts[0]["text"]
    listed = reconcile.stale_orders(svc.db)
    assert [(o["number"], o["status"]) for o in listed] == [("803", "on-hold"), ("806", "pending")]
    assert json.loads(svc.db.kv_get("reconcile.last"))["stale_pending"] == ["803", "806"]
    # 803 gets paid: off the list; nothing more to the owner
    paid = json.loads(old_order(803, listed[0]["created_gmt"], "processing"))
    paid["date_modified_gmt"] = hours_ago(0)
    assert svc.post_json(json.dumps(paid).encode()).status_code == 200
    assert reconcile.run(svc.bridge).stale_pending == ["806"]
    assert [o["number"] for o in reconcile.stale_orders(svc.db)] == ["806"]
    assert len(svc.messages(rule="alert:stale")) == 2


def test_many_stale_orders_at_once_are_one_sms(svc):
    for oid in range(900, 912):
        assert svc.post_json(old_order(oid, hours_ago(100)), topic="order.created").status_code == 200
    s = reconcile.run(svc.bridge)
    assert len(s.stale_new) == 12
    alerts = svc.messages(rule="alert:stale")
    assert len(alerts) == 1 and alerts[0]["text"].startswith("Shop Demo: 12 don cho chuyen khoan qua 48 gio: #900")
    assert reconcile.run(svc.bridge).stale_new == [] and len(svc.messages(rule="alert:stale")) == 1


def test_woocommerce_down_is_recorded_and_tried_again(svc, woo, fake_esms):
    woo.add_order(804, 513000)
    woo.change(804, "on-hold", "2026-11-23T03:00:00")
    woo.down = True
    s = reconcile.run(svc.bridge, since="2026-11-23T00:00:00")
    assert "HTTP 500" in s.error and s.fetched == 0
    assert "HTTP 500" in json.loads(svc.db.kv_get("reconcile.last"))["error"]
    assert svc.db.kv_get("reconcile.since") is None
    woo.down = False
    assert reconcile.run(svc.bridge, since="2026-11-23T00:00:00").processed == 1
    wait_until(lambda: customer_sms(fake_esms, 804), what="the SMS after WooCommerce came back")


def test_a_failure_on_a_later_page_keeps_the_mark(svc, woo):
    for i in range(120):
        woo.add_order(3000 + i, 100000)
    woo.after_orders_page = lambda page: woo.fail_next(1, "http500") if page == 1 else None
    s = reconcile.run(svc.bridge, since="2026-11-01T00:00:00", notify=False)
    assert s.error.startswith("orders page 2: WooCommerce HTTP 500") and s.fetched == 100
    assert svc.db.kv_get("reconcile.since") is None   # the next pass reads the range again
    woo.after_orders_page = None
    s = reconcile.run(svc.bridge, since="2026-11-01T00:00:00", notify=False)
    assert (s.error, s.fetched, s.processed) == ("", 120, 20)


def test_woocommerce_unreachable_is_recorded(service_factory):
    closed = f"http://127.0.0.1:{free_port()}"
    svc = service_factory(woo_url=closed, woo_consumer_key="ck_test", woo_consumer_secret="cs_test", woo_timeout=2.0)
    s = reconcile.run(svc.bridge)
    assert "cannot reach WooCommerce" in s.error
    assert "cannot reach WooCommerce" in json.loads(svc.db.kv_get("reconcile.last"))["error"]


def test_the_scheduled_job_reconciles_by_itself_and_survives_woocommerce_down(service_factory, fake_esms, woo):
    woo.add_order(805, 513000, created=hours_ago(0))
    woo.down = True
    svc = service_factory(start_scheduler=True, reconcile_every=0.5, **woo_settings(woo), **esms_settings(fake_esms))
    wait_until(lambda: "HTTP 500" in (reconcile.last_run(svc.db) or {}).get("error", ""), what="a failed pass")
    svc.db.kv_set("reconcile.since", hours_ago(1))   # the service has been live (a first pass is quiet)
    woo.down = False
    wait_until(lambda: customer_sms(fake_esms, 805), timeout=15, what="the job to find the order")
    wait_until(lambda: reconcile.last_run(svc.db)["error"] == "", what="a clean pass")
    assert svc.bridge.scheduler.get_job("reconcile") is not None
    passes = svc.job_runs("reconcile")
    wait_until(lambda: passes() >= 2, what="several more passes")   # still one SMS
    assert len(customer_sms(fake_esms, 805)) == 1


def test_the_first_pass_of_a_new_installation_tells_nobody_about_the_past(svc, woo, fake_esms):
    woo.add_order(806, 513000, created=hours_ago(3))
    s = reconcile.run(svc.bridge)
    assert (s.kind, s.fetched, s.processed, s.notified) == ("first", 1, 1, 0)
    assert svc.messages() == [] and svc.db.one("SELECT notified_status FROM orders WHERE id=806")[0] == "on-hold"
    woo.change(806, "processing", hours_ago(0))
    s = reconcile.run(svc.bridge)
    assert (s.kind, s.notified) == ("reconcile", 1)
    wait_until(lambda: customer_sms(fake_esms, 806), what="the processing SMS")


def test_no_job_without_rest_keys(service_factory):
    svc = service_factory(start_scheduler=True, woo_url="https://shop.example")
    assert svc.bridge.scheduler.get_job("reconcile") is None


def test_the_first_customer_pass_reads_one_page_and_welcomes_nobody(svc, woo):
    """A shop with years of customers: the first pass only notes where the customers end, even
    when webhooks already brought some (the bridge never read the list before)."""
    for cid in range(1, 251):
        woo.add_customer(cid, f"c{cid}@example.test", "0987 654 321", created=hours_ago(1))
    r = svc.post_json(json.dumps(woo.customers[250]).encode(), topic="customer.created")
    assert svc.db.scalar("SELECT COUNT(*) FROM messages WHERE delivery_ref=?",
                         (r.json()["delivery"],)) == 1   # the webhook's own welcome
    s = reconcile.run(svc.bridge)
    assert s.error == "" and s.customers_fetched == 0
    assert len([q for q in woo.requests_log if q["path"].endswith("/customers")]) == 1
    assert len(svc.messages(rule="customer-welcome")) == 1
    woo.add_customer(251, "new@example.test", "0987 111 222", created=hours_ago(0.1))
    assert reconcile.run(svc.bridge).customers_taken == 1
    assert len(svc.messages(rule="customer-welcome")) == 2

"""Reconcile with the fake WooCommerce REST API over real HTTP: missed webhooks recovered and
notified once whichever way a change arrives, disabled webhooks re-activated, unpaid
bank-transfer orders flagged, WooCommerce down survived."""
from __future__ import annotations

import json
import time

import pytest

from bridge import reconcile
from bridge.db import now
from tests.conftest import esms_settings, wait_until, woo_settings
from tests.orders import order_body


@pytest.fixture
def svc(service_factory, fake_esms, woo):
    return service_factory(start_scheduler=True, owner_phones=("0901 234 567",), **woo_settings(woo),
                           **esms_settings(fake_esms))


def customer_sms(fake_esms, oid: int) -> list[str]:
    return [a["Content"] for a in fake_esms.accepted if a["Phone"] == "0912345678" and f"#{oid}" in a["Content"]]


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
    assert json.loads(svc.post_json(body, topic="order.updated").text)["messages"] == 0
    assert svc.messages(order_id=801, audience="owner")[0]["rule"] == "owner-new-order"
    assert len(customer_sms(fake_esms, 801)) == 2


def test_webhook_first_then_reconcile_sends_nothing_more(svc, woo, fake_esms):
    woo.add_order(802, 513000)
    woo.change(802, "on-hold", "2026-11-23T02:41:58")
    assert svc.post_json(order_body(802), topic="order.created").status_code == 200
    wait_until(lambda: customer_sms(fake_esms, 802), what="the webhook's SMS")
    s = reconcile.run(svc.bridge, since="2026-11-23T00:00:00")
    assert s.fetched == 1 and s.notified == 0
    assert len(customer_sms(fake_esms, 802)) == 1


def test_many_pages_are_all_read_and_the_mark_moves_forward(svc, woo):
    for i in range(230):
        woo.add_order(1000 + i, 100000)
        woo.change(1000 + i, "completed", f"2026-11-22T{10 + i // 60:02d}:{i % 60:02d}:00")
    s = reconcile.run(svc.bridge, since="2026-11-22T00:00:00", notify=False)
    assert s.fetched == 230 and s.processed == 230 and s.notified == 0
    assert svc.db.kv_get("reconcile.since") == "2026-11-22T13:49:00"
    pages = [r for r in woo.requests_log if r["path"].endswith("/orders")]
    assert len(pages) == 3
    assert reconcile.start_mark(svc.bridge, None) == "2026-11-22T13:47:00"   # 2 minutes of overlap


def test_a_disabled_webhook_of_ours_is_reactivated_and_the_owner_told_once(svc, woo):
    woo.add_webhook(7, svc.url + "/webhooks/woocommerce", status="disabled")
    woo.add_webhook(8, "https://other.example/hook", status="disabled")
    s = reconcile.run(svc.bridge)
    assert s.webhooks_reactivated == [7]
    assert woo.webhooks[7]["status"] == "active" and woo.webhooks[8]["status"] == "disabled"
    alerts = svc.messages(rule="alert:webhook")
    assert len(alerts) == 1 and "webhook #7" in alerts[0]["text"]
    woo.webhooks[7]["status"] = "disabled"   # disabled again the same day: fixed again, owner not re-told
    assert reconcile.run(svc.bridge).webhooks_reactivated == [7]
    assert len(svc.messages(rule="alert:webhook")) == 1


def test_old_unpaid_bank_transfer_orders_are_flagged_once(svc, woo):
    assert svc.post_json(order_body(803), topic="order.created").status_code == 200
    with svc.db.tx() as c:
        c.execute("UPDATE orders SET first_seen_at=? WHERE id=803", (now() - 49 * 3600,))
    s = reconcile.run(svc.bridge)
    assert s.stale_pending == ["803"]
    assert reconcile.run(svc.bridge).stale_pending == ["803"]
    assert len(svc.messages(rule="alert:stale")) == 1
    last = json.loads(svc.db.kv_get("reconcile.last"))
    assert last["stale_pending"] == ["803"]


def test_woocommerce_down_is_recorded_and_tried_again(svc, woo, fake_esms):
    woo.add_order(804, 513000)
    woo.change(804, "on-hold", "2026-11-23T03:00:00")
    woo.down = True
    s = reconcile.run(svc.bridge, since="2026-11-23T00:00:00")
    assert "HTTP 500" in s.error and s.fetched == 0
    assert "HTTP 500" in json.loads(svc.db.kv_get("reconcile.last"))["error"]
    woo.down = False
    assert reconcile.run(svc.bridge, since="2026-11-23T00:00:00").processed == 1
    wait_until(lambda: customer_sms(fake_esms, 804), what="the SMS after WooCommerce came back")


def test_the_scheduled_job_reconciles_by_itself(service_factory, fake_esms, woo):
    woo.add_order(805, 513000)
    woo.change(805, "on-hold", time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()))
    svc = service_factory(start_scheduler=True, reconcile_every=0.5, **woo_settings(woo), **esms_settings(fake_esms))
    wait_until(lambda: customer_sms(fake_esms, 805), timeout=15, what="the job to find the order")
    assert json.loads(svc.db.kv_get("reconcile.last"))["error"] == ""

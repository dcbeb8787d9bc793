"""Owner alerts go out through the outbox when something needs the owner's hand, once per
trouble (per ALERT_REPEAT), and around the failing provider."""
from __future__ import annotations

import json
import time
import uuid

import requests

from bridge import alerts
from bridge.envparse import bank_accounts as _accounts
from bridge.providers.woocommerce.webhook import delivery
from bridge.store.db import now
from tests.conftest import esms_settings, health_details, signed_headers, smsgate_settings, wait_until
from tests.test_metrics_logs import scrape
from tests.orders import order_body

OWNER = "0901 234 567"


def owner_alerts(svc, kind: str | None = None) -> list[dict]:
    return [m for m in svc.messages(audience="owner") if m["rule"].startswith("alert:")
            and (kind is None or m["rule"] == f"alert:{kind}")]


def test_low_balance_is_alerted_once_by_the_scheduled_check(service_factory, fake_esms):
    fake_esms.balance = 20_000
    svc = service_factory(start_scheduler=True, owner_phones=(OWNER,), alert_every=0.3, **esms_settings(fake_esms))
    wait_until(lambda: owner_alerts(svc, "balance"), what="the low-balance alert")
    wait_until(lambda: fake_esms.accepted, what="the alert SMS at eSMS")
    assert "so du eSMS con 20.000d" in fake_esms.accepted[0]["Content"]
    assert fake_esms.accepted[0]["Phone"] == "0901234567"
    checks = svc.job_runs("owner_alerts")
    wait_until(lambda: checks() >= 3, what="several more checks")   # still one alert
    assert len(owner_alerts(svc, "balance")) == 1 and len(fake_esms.accepted) == 1


def test_a_provider_refusing_everything_is_alerted_through_the_next_channel(service_factory, fake_esms,
                                                                           fake_smsgate):
    fake_esms.set_outage("101")   # wrong API keys: every send refused for good
    svc = service_factory(start_scheduler=True, **esms_settings(fake_esms),
                          **{k: v for k, v in smsgate_settings(fake_smsgate).items() if k != "owner_phones"})
    for oid in (21, 22):
        assert svc.post_json(order_body(oid), topic="order.created").status_code == 200
    wait_until(lambda: len(svc.messages(status="failed")) == 4, what="customer SMS and owner alerts refused")
    assert fake_smsgate.accepted == []
    assert alerts.watch(svc.bridge) == 1
    wait_until(lambda: fake_smsgate.accepted, what="the alert through the phone")
    text = fake_smsgate.accepted[0]["text"]
    assert "kenh esms dang tu choi gui tin" in text and "ESMS_API_KEY" in text
    assert fake_smsgate.accepted[0]["phoneNumbers"] == ["+84901234567"]
    assert alerts.watch(svc.bridge) == 0   # within ALERT_REPEAT: not again


def test_a_paused_phone_and_a_growing_review_queue_are_alerted(service_factory, fake_smsgate):
    svc = service_factory(owner_phones=(OWNER,), alert_review_queue=2, alert_channels=("dry-run",),
                          bank_accounts=_accounts("Vietcombank:0181003749261"),
                          **{k: v for k, v in smsgate_settings(fake_smsgate).items() if k != "owner_phones"})
    name = svc.bridge.device_status()[0]["name"]
    with svc.db.tx() as c:
        c.execute("UPDATE devices SET paused_until=?, pause_reason='5 failures in a row, last: no credit'"
                  " WHERE name=?", (now() + 900, name))
    for minute in (1, 2):
        text = (f"SD TK 0181003749261 +100,000VND luc 23-11-2026 09:0{minute}:00. SD {minute},000,000VND. Ref "
                f"MBVCB.55{minute}.tien hang.CT tu 1 A toi 0181003749261 CUA H...")
        r = requests.get(svc.url + "/inbound/fibo", params={"token": "test-fibo-token", "phone": "Vietcombank",
                                                            "message": text, "guid": uuid.uuid4().hex}, timeout=5)
        assert r.status_code == 200
    wait_until(lambda: svc.db.scalar("SELECT COUNT(*) FROM transactions") == 2, what="two transfers to review")
    assert alerts.watch(svc.bridge) == 2
    texts = {m["rule"]: m["text"] for m in owner_alerts(svc)}
    assert "no credit" in texts["alert:device"] and "2 giao dich" in texts["alert:review"]
    assert alerts.watch(svc.bridge) == 0


def test_no_owner_phone_means_a_log_line_not_a_crash(service_factory, fake_esms, caplog):
    fake_esms.balance = 1
    svc = service_factory(owner_phones=(), **esms_settings(fake_esms))
    svc.db.kv_set("esms.balance", "1")
    assert alerts.watch(svc.bridge) == 0
    assert "OWNER_PHONES is empty" in caplog.text


def test_rows_nobody_decides_show_in_healthz_and_metrics_and_alert_the_owner(service_factory, fake_esms):
    # DECIDE_IN=worker and no worker: the webhook is acknowledged, nothing ever decides it
    svc = service_factory(owner_phones=(OWNER,), decide_in="worker", **esms_settings(fake_esms))
    body = order_body(8300)   # acknowledged as the webhook's request does (this Service waits for decisions)
    assert svc.bridge.accept(delivery(signed_headers(body, "order.created"), body, json.loads(body)))["state"] == "received"
    waiting = health_details(svc.url)["undecided"]
    assert waiting["count"]["deliveries"] == 1 and waiting["oldest_seconds"] >= 0
    assert alerts.watch(svc.bridge) == 0                       # a moment's wait is no news
    later = time.time() + 6 * 60
    svc.bridge.clock = lambda: later
    figures = scrape(svc.url)
    assert figures[("woobridge_undecided", (("kind", "deliveries"),))] == 1
    assert figures[("woobridge_undecided_oldest_seconds", ())] >= 6 * 60
    assert alerts.watch(svc.bridge) == 1
    assert "chua xu ly sau 6 phut" in owner_alerts(svc, "undecided")[0]["text"]
    assert svc.db.scalar("SELECT state FROM deliveries") == "received"

"""eSMS end to end over real HTTP: the fake eSMS server speaks PROTOCOLS §3."""
from __future__ import annotations

import logging

import requests

from bridge import reasons
from bridge.providers.esms.jobs import check_balance, poll_esms
from tests.conftest import esms_settings, health_details, wait_until

ORDER = "001-order.updated-o20-checkout-bacs-on-hold"


def test_messages_go_out_through_esms_with_our_id_as_request_id(service_factory, fake_esms):
    svc = service_factory(**esms_settings(fake_esms))
    svc.post_delivery(ORDER)
    assert svc.bridge.worker.drain() == 2
    msgs = svc.messages()
    assert {m["status"] for m in msgs} == {"queued"}
    sent = {a["RequestId"]: a for a in fake_esms.accepted}
    assert set(sent) == {m["id"] for m in msgs}
    customer = next(m for m in msgs if m["audience"] == "customer")
    req = sent[customer["id"]]
    assert req["Phone"] == "0912345678" and str(req["SmsType"]) == "2" and req["Brandname"] == "SHOPDEMO"
    assert str(req["IsUnicode"]) == "0" and req["Content"] == customer["text"]
    assert req["CallbackUrl"].endswith("/callbacks/esms?token=test-esms-callback-token")
    assert customer["provider_id"] == req["SMSID"]
    attempts = svc.db.query("SELECT * FROM attempts WHERE message_id=?", (customer["id"],))
    assert [a["outcome"] for a in attempts] == ["accepted"]


def test_unicode_rule_sends_is_unicode_1(service_factory, fake_esms):
    svc = service_factory(**esms_settings(fake_esms))
    svc.post_delivery("022-customer.created-c2-rest-create")
    svc.bridge.worker.drain()
    (req,) = fake_esms.accepted
    assert str(req["IsUnicode"]) == "1" and "Chào mừng" in req["Content"]


def test_delivery_callback_marks_the_message_delivered(service_factory, fake_esms):
    svc = service_factory(**esms_settings(fake_esms))
    svc.post_delivery(ORDER)
    svc.bridge.worker.drain()
    customer = svc.messages(audience="customer")[0]
    r = fake_esms.fire_callback(customer["provider_id"], send_status=5, success=1, failed=0)
    assert r.status_code == 200 and r.json()["state"] == "received"
    assert svc.db.one("SELECT state FROM received_reports WHERE id=?", (r.json()["report"],))["state"] == "applied"
    m = svc.messages(id=customer["id"])[0]
    assert m["status"] == "delivered" and m["delivered_at"]
    # a late "sent, awaiting report" never moves it back
    fake_esms.fire_callback(customer["provider_id"], send_status=7, success=0, failed=0)
    assert svc.messages(id=customer["id"])[0]["status"] == "delivered"
    events = svc.db.query("SELECT event FROM message_events WHERE message_id=? ORDER BY id", (customer["id"],))
    assert [e["event"] for e in events] == ["delivered", "sent"]


def test_failed_report_marks_failed_with_reason(service_factory, fake_esms):
    svc = service_factory(**esms_settings(fake_esms))
    svc.post_delivery(ORDER)
    svc.bridge.worker.drain()
    m = svc.messages(audience="customer")[0]
    r = requests.get(svc.url + "/callbacks/esms", params={
        "token": "test-esms-callback-token", "SMSID": m["provider_id"], "SendFailed": "1", "SendStatus": "5",
        "SendSuccess": "0", "TotalPrice": "0.0000", "TotalReceiver": "1", "TotalSent": "1", "RequestId": m["id"],
        "TypeId": "2", "telcoid": "1", "phonenumber": "0912345678"}, timeout=5)
    assert r.status_code == 200
    m = svc.messages(id=m["id"])[0]
    assert m["status"] == "failed" and "failed 1" in m["reason"]


def test_callback_with_wrong_token_is_refused_and_recorded(service_factory, fake_esms):
    svc = service_factory(**esms_settings(fake_esms))
    r = requests.get(svc.url + "/callbacks/esms", params={"token": "nope", "SMSID": "x", "SendStatus": "5"}, timeout=5)
    assert r.status_code == 403 and "token" in r.json()["error"]
    r = requests.get(svc.url + "/callbacks/esms", params={"SMSID": "x", "SendStatus": "5"}, timeout=5)
    assert r.status_code == 403
    assert svc.db.scalar("SELECT COUNT(*) FROM rejections WHERE endpoint='/callbacks/esms'") == 2
    assert svc.db.scalar("SELECT COUNT(*) FROM message_events") == 0


def test_callback_for_an_unknown_sms_is_kept(service_factory, fake_esms):
    svc = service_factory(**esms_settings(fake_esms))
    r = requests.get(svc.url + "/callbacks/esms", params={"token": "test-esms-callback-token", "SMSID": "unknown-1",
                                                           "SendStatus": "5", "SendSuccess": "1"}, timeout=5)
    assert r.status_code == 200
    assert svc.db.one("SELECT state FROM received_reports WHERE id=?", (r.json()["report"],))["state"] == "unknown"
    assert svc.db.one("SELECT * FROM message_events")["provider_id"] == "unknown-1"


def test_permanent_errors_fail_at_once_with_the_providers_reason(service_factory, fake_esms):
    svc = service_factory(**esms_settings(fake_esms))
    fake_esms.fail_next(2, "104")
    svc.post_delivery(ORDER)
    svc.bridge.worker.drain()
    for m in svc.messages():
        assert m["status"] == "failed" and "brandname" in m["reason"].lower() and m["attempts"] == 1
    assert fake_esms.accepted == []


def test_a_base_url_that_is_not_esms_fails_at_once_naming_the_setting(service_factory, fake_esms):
    """eSMS answers its own errors with HTTP 200 and a code: a 404 means ESMS_BASE_URL is wrong,
    and retrying for a day would not fix it."""
    svc = service_factory(**{**esms_settings(fake_esms), "esms_base_url": fake_esms.root_url + "/NoSuchService.svc"})
    svc.post_delivery(ORDER)
    svc.bridge.worker.drain()
    for m in svc.messages():
        assert m["status"] == "failed" and m["attempts"] == 1
        assert "eSMS HTTP 404: check ESMS_BASE_URL" in m["reason"]
    assert fake_esms.accepted == []


def test_wrong_keys_fail_with_101(service_factory, fake_esms):
    settings = esms_settings(fake_esms)
    settings["esms_secret_key"] = "wrong"
    svc = service_factory(**settings)
    svc.post_delivery(ORDER)
    svc.bridge.worker.drain()
    assert all("ESMS_API_KEY" in m["reason"] for m in svc.messages())


def test_124_means_already_sent(service_factory, fake_esms):
    # a backoff no drain can outrun (a 50 ms one could be over before the other message's send)
    svc = service_factory(send_backoff_base=30, send_backoff_max=60, **esms_settings(fake_esms))
    svc.post_delivery(ORDER)
    # the provider took the messages but our process never heard back ("drop": 502 after accepting)
    fake_esms.fail_next(2, "drop")
    svc.bridge.worker.drain()
    assert {m["status"] for m in svc.messages()} == {"pending"}
    svc.clock.advance(90)   # past the backoff: the retries are due
    wait_until(lambda: svc.bridge.worker.drain() == 0 and all(m["status"] == "queued" for m in svc.messages()),
               what="retries")
    assert len(fake_esms.accepted) == 2  # one SMS each, never two
    for m in svc.messages():
        outcomes = [a["outcome"] for a in svc.db.query("SELECT outcome FROM attempts WHERE message_id=? ORDER BY id", (m["id"],))]
        assert outcomes == ["transient", "duplicate"]


def test_poll_job_updates_messages_without_report(service_factory, fake_esms):
    svc = service_factory(**esms_settings(fake_esms))
    svc.post_delivery(ORDER)
    svc.bridge.worker.drain()
    customer = svc.messages(audience="customer")[0]
    fake_esms.set_status(customer["provider_id"], 5, success=1, failed=0)
    assert poll_esms(svc.bridge) == 0                         # not asked before ESMS_POLL_AFTER
    svc.clock.advance(svc.settings.esms_poll_after + 1)
    assert poll_esms(svc.bridge) == 2
    assert svc.messages(id=customer["id"])[0]["status"] == "delivered"
    assert svc.db.scalar("SELECT COUNT(*) FROM message_events WHERE source='esms-poll'") == 2


def test_balance_job_warns_when_low(service_factory, fake_esms, caplog):
    fake_esms.balance = 12_000
    svc = service_factory(esms_low_balance=50_000, **esms_settings(fake_esms))
    with caplog.at_level(logging.WARNING, logger="bridge"):
        assert check_balance(svc.bridge) == 12_000
    assert any("balance is low" in r.message for r in caplog.records)
    assert svc.db.kv_get("esms.balance") == "12000"
    assert health_details(svc.url)["esms_balance"] == "12000"


def test_without_credentials_messages_are_dry_run(service_factory, caplog):
    svc = service_factory()
    svc.post_delivery(ORDER)
    with caplog.at_level(logging.INFO, logger="bridge"):
        svc.bridge.worker.drain()
    msgs = svc.messages()
    assert {m["status"] for m in msgs} == {"dry-run"}
    assert all("not configured" in reasons.english(m["reason"]) for m in msgs)
    assert any("dry-run" in r.message for r in caplog.records)
    health = health_details(svc.url)
    assert health["channels"]["esms"]["mode"] == "dry-run"

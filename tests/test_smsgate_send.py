"""Sending through the shop's own phone (SMSGate): idempotent ids, states, pacing that survives
a restart, rotation, device pause, quiet hours, and fallback to another channel."""
from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bridge import reasons
from bridge.providers.smsgate.jobs import poll_smsgate
from tests.conftest import esms_settings, free_port, health_details, smsgate_settings, wait_until, write_mappings
from tests.orders import order_body


def make(service_factory, tmp_path, fake, channel="smsgate", urgent="true", devices=None, **over):
    svc = service_factory(mappings_dir=str(write_mappings(tmp_path, channel=channel, urgent=urgent, devices=devices)),
                          **smsgate_settings(fake, **over))
    fake.webhook_url = svc.url + "/inbound/smsgate"
    return svc


def order(svc, oid: int):
    r = svc.post_json(order_body(oid), topic="order.created")
    assert r.status_code == 200, r.text
    return r


def test_message_goes_out_through_the_phone_with_our_id(service_factory, tmp_path, fake_smsgate):
    svc = make(service_factory, tmp_path, fake_smsgate)
    order(svc, 501)
    svc.bridge.worker.drain()
    (m,) = svc.messages()
    (sent,) = fake_smsgate.accepted
    assert sent["id"] == m["id"] and sent["phoneNumbers"] == ["+84912345678"] and sent["withDeliveryReport"] is True
    assert sent["text"] == m["text"] and m["status"] == "queued" and m["device"] == "phone-1"


def test_timeout_then_retry_is_answered_409_and_sends_once(service_factory, tmp_path, fake_smsgate):
    svc = make(service_factory, tmp_path, fake_smsgate, smsgate_timeout=0.3)
    fake_smsgate.timeout_delay = 1.0
    fake_smsgate.fail_next(1, "timeout")  # the phone server accepts but answers too late
    order(svc, 502)
    svc.bridge.worker.drain()
    assert svc.messages()[0]["status"] == "pending"
    wait_until(lambda: svc.bridge.worker.drain() == 0 and svc.messages()[0]["status"] == "queued", what="retry")
    assert len(fake_smsgate.accepted) == 1
    outcomes = [r["outcome"] for r in svc.db.query("SELECT outcome FROM attempts ORDER BY id")]
    assert outcomes == ["transient", "duplicate"]


TWO_PHONES = """
devices:
  - name: shop-phone-a
    url: {a}
    gap_min: 0
    gap_max: 0
  - name: shop-phone-b
    url: {b}
    gap_min: 0
    gap_max: 0
"""


def answer_lost_on_phone_a(service_factory, tmp_path, phone_a, phone_b, oid: int):
    """Two phones; phone A takes the order's SMS but its answer never comes back."""
    svc = make(service_factory, tmp_path, phone_a, devices=TWO_PHONES.format(a=phone_a.url, b=phone_b.url),
               smsgate_timeout=0.3)
    phone_a.timeout_delay = 1.0
    phone_a.fail_next(1, "timeout")
    order(svc, oid)
    svc.bridge.worker.drain()
    return svc


def test_a_lost_answer_then_a_crash_is_retried_on_the_same_phone_only(service_factory, tmp_path, fake_smsgate):
    """Phone A accepts but its answer is lost; the service dies and comes back. The retry must
    go to A again (which answers 409: sent before), never round-robin to B, which has never seen
    our id and would send the customer a second SMS."""
    from tests.conftest import Service
    from tests.fakes.smsgate import FakeSmsGate
    with FakeSmsGate() as second:
        svc = answer_lost_on_phone_a(service_factory, tmp_path, fake_smsgate, second, 561)
        (m,) = svc.messages()
        assert m["status"] == "pending" and m["device"] == "shop-phone-a" and len(fake_smsgate.accepted) == 1
        settings = svc.settings
        svc.close()                                        # the worker dies with the retry pending
        again = Service(settings)                          # restart on the same database
        try:
            again.db.conn().execute("UPDATE messages SET due_at=0")
            again.bridge.worker.drain()
            (m,) = again.messages()
            assert m["status"] == "queued" and m["device"] == "shop-phone-a"
            assert len(fake_smsgate.accepted) == 1 and second.accepted == []   # one SMS in all
            outcomes = [r["outcome"] for r in again.db.query("SELECT outcome FROM attempts ORDER BY id")]
            assert outcomes == ["transient", "duplicate"]
        finally:
            again.close()


def test_a_retry_waits_for_its_paused_phone_and_a_phone_never_reached_pins_nothing(service_factory, tmp_path,
                                                                                    fake_smsgate):
    from bridge.store.db import now
    from tests.fakes.smsgate import FakeSmsGate
    with FakeSmsGate() as second:
        svc = answer_lost_on_phone_a(service_factory, tmp_path, fake_smsgate, second, 562)
        with svc.db.tx() as c:   # phone A is paused (say, after failures) while the retry waits
            c.execute("UPDATE devices SET paused_until=?, pause_reason='SIM out of credit' WHERE name='shop-phone-a'",
                      (now() + 900,))
            c.execute("UPDATE messages SET due_at=0")
        svc.bridge.worker.drain()
        (m,) = svc.messages()
        assert m["status"] == "scheduled" and "shop-phone-a" in m["reason"] and second.accepted == []
        # a phone that refuses the connection never got the request: nothing is pinned
        dead = f"http://127.0.0.1:{free_port()}"
        (tmp_path / "two").mkdir()
        svc2 = make(service_factory, tmp_path / "two", fake_smsgate, devices=TWO_PHONES.format(a=dead, b=second.url),
                    smsgate_timeout=0.3, db_path=str(tmp_path / "two.db"))
        order(svc2, 563)
        wait_until(lambda: svc2.bridge.worker.drain() == 0 and svc2.messages()[0]["status"] == "queued",
                   what="the retry on the other phone")
        assert svc2.messages()[0]["device"] == "shop-phone-b" and len(second.accepted) == 1


def test_webhook_states_move_the_message_and_parts_count_once(service_factory, tmp_path, fake_smsgate):
    svc = make(service_factory, tmp_path, fake_smsgate)
    order(svc, 503)
    svc.bridge.worker.drain()
    mid = svc.messages()[0]["id"]
    answers = fake_smsgate.process(mid, "Delivered", parts=2)
    assert all(a.status_code == 200 for a in answers)
    m = svc.messages()[0]
    assert m["status"] == "delivered" and m["delivered_at"]
    events = [e["event"] for e in svc.db.query("SELECT event FROM message_events WHERE message_id=? ORDER BY id", (mid,))]
    assert events == ["sent", "delivered", "delivered"]  # both parts recorded, status moved once


def test_failed_sms_falls_back_to_esms_when_the_rule_says_so(service_factory, tmp_path, fake_smsgate, fake_esms):
    svc = make(service_factory, tmp_path, fake_smsgate, channel="[smsgate, esms]", **esms_settings(fake_esms))
    order(svc, 504)
    svc.bridge.worker.drain()
    mid = svc.messages()[0]["id"]
    fake_smsgate.process(mid, "Failed", reason="RESULT_ERROR_NO_SERVICE")
    m = svc.messages()[0]
    assert m["status"] == "pending" and m["channel"] == "esms" and "RESULT_ERROR_NO_SERVICE" in m["reason"]
    svc.bridge.worker.drain()
    assert [a["RequestId"] for a in fake_esms.accepted] == [f"{mid}-1"]  # the second channel's own key
    assert svc.messages()[0]["status"] == "queued"


def test_failed_sms_without_fallback_is_failed_with_the_reason(service_factory, tmp_path, fake_smsgate):
    svc = make(service_factory, tmp_path, fake_smsgate)
    order(svc, 505)
    svc.bridge.worker.drain()
    fake_smsgate.process(svc.messages()[0]["id"], "Failed", reason="RESULT_ERROR_NO_SERVICE")
    m = svc.messages()[0]
    assert m["status"] == "failed" and "RESULT_ERROR_NO_SERVICE" in m["reason"]


def test_polling_reads_the_state_when_no_webhook_comes(service_factory, tmp_path, fake_smsgate):
    svc = make(service_factory, tmp_path, fake_smsgate)
    order(svc, 506)
    svc.bridge.worker.drain()
    fake_smsgate.process(svc.messages()[0]["id"], "Sent", webhooks=False)
    assert poll_smsgate(svc.bridge) == 0                      # not asked before SMSGATE_POLL_AFTER
    svc.clock.advance(svc.settings.smsgate_poll_after + 1)
    assert poll_smsgate(svc.bridge) == 1
    assert svc.messages()[0]["status"] == "sent"


def test_hourly_budget_holds_across_a_restart(service_factory, tmp_path, fake_smsgate):
    svc = make(service_factory, tmp_path, fake_smsgate, smsgate_per_hour=2)
    for oid in (511, 512, 513):
        order(svc, oid)
    svc.bridge.worker.drain()
    assert len(fake_smsgate.accepted) == 2
    waiting = [m for m in svc.messages() if m["status"] == "scheduled"]
    assert len(waiting) == 1 and waiting[0]["due_at"] > time.time() + 3000
    assert "phone send budget" in waiting[0]["reason"] and waiting[0]["attempts"] == 0
    svc.close()
    again = make(service_factory, tmp_path, fake_smsgate, smsgate_per_hour=2)  # same database
    order(again, 514)
    again.bridge.worker.drain()
    assert len(fake_smsgate.accepted) == 2, "a restart must not reset the phone's budget"
    assert {m["status"] for m in again.messages()} == {"queued", "scheduled"}


def test_random_gap_between_sends(service_factory, tmp_path, fake_smsgate):
    svc = make(service_factory, tmp_path, fake_smsgate, smsgate_gap_min=20.0, smsgate_gap_max=25.0)
    order(svc, 521)
    order(svc, 522)
    svc.bridge.worker.drain()
    assert len(fake_smsgate.accepted) == 1
    later = next(m for m in svc.messages() if m["status"] == "scheduled")
    assert 19 < later["due_at"] - time.time() <= 25.5


def test_rotation_and_pause_of_a_failing_phone(service_factory, tmp_path, fake_smsgate):
    from tests.fakes.smsgate import FakeSmsGate
    with FakeSmsGate() as second:
        devices = f"""
devices:
  - name: shop-phone-a
    url: {fake_smsgate.url}
    gap_min: 0
    gap_max: 0
  - name: shop-phone-b
    url: {second.url}
    gap_min: 0
    gap_max: 0
"""
        svc = make(service_factory, tmp_path, fake_smsgate, devices=devices, smsgate_pause_after=2,
                   smsgate_cooldown=600)
        for oid in range(531, 535):
            order(svc, oid)
        svc.bridge.worker.drain()
        assert len(fake_smsgate.accepted) == 2 and len(second.accepted) == 2  # round-robin
        fake_smsgate.fail_next(10, "http500")
        for oid in range(535, 541):
            order(svc, oid)
        wait_until(lambda: svc.bridge.worker.drain() == 0 and
                   all(m["status"] == "queued" for m in svc.messages()), what="all sent")
        status = {d["name"]: d for d in svc.bridge.channels["smsgate"].budget.status()}
        assert status["shop-phone-a"]["paused"] and "2 failures in a row" in status["shop-phone-a"]["pause_reason"]
        assert len(second.accepted) == 8 and len(fake_smsgate.accepted) == 2  # its queue moved to phone b
        assert svc.bridge.channels["smsgate"].budget.resume("shop-phone-a")
        assert not {d["name"]: d for d in svc.bridge.channels["smsgate"].budget.status()}["shop-phone-a"]["paused"]


def test_local_mode_posts_to_the_phone(service_factory, tmp_path, fake_smsgate):
    svc = make(service_factory, tmp_path, fake_smsgate, smsgate_mode="local")
    order(svc, 551)
    svc.bridge.worker.drain()
    assert len(fake_smsgate.accepted) == 1 and svc.messages()[0]["status"] == "queued"


def test_wrong_login_fails_with_the_reason(service_factory, tmp_path, fake_smsgate):
    svc = make(service_factory, tmp_path, fake_smsgate, smsgate_password="wrong")
    order(svc, 552)
    svc.bridge.worker.drain()
    m = svc.messages()[0]
    assert m["status"] == "failed" and "SMSGATE_PASSWORD" in m["reason"]


def _quiet_window_now(tz="Asia/Ho_Chi_Minh"):
    local = datetime.now(ZoneInfo(tz))
    start = (local.hour * 60 + local.minute - 1) % 1440
    end = (start + 120) % 1440
    return start, end


def test_non_urgent_messages_wait_for_the_morning(service_factory, tmp_path, fake_smsgate):
    svc = make(service_factory, tmp_path, fake_smsgate, urgent="false", quiet_hours=_quiet_window_now())
    order(svc, 561)
    svc.bridge.worker.drain()
    m = svc.messages()[0]
    assert fake_smsgate.accepted == [] and m["status"] == "scheduled"
    assert 115 * 60 < m["due_at"] - time.time() <= 120 * 60 and reasons.code_of(m["reason"]) == "outbox.quiet_hours"


def test_urgent_messages_go_out_in_quiet_hours(service_factory, tmp_path, fake_smsgate):
    svc = make(service_factory, tmp_path, fake_smsgate, urgent="true", quiet_hours=_quiet_window_now())
    order(svc, 562)
    svc.bridge.worker.drain()
    assert len(fake_smsgate.accepted) == 1


def test_quiet_window_arithmetic():
    from bridge.quiet import quiet_until
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    at = lambda h, m: datetime(2026, 11, 23, h, m, tzinfo=tz).timestamp()  # noqa: E731
    night = (21 * 60, 7 * 60)
    assert quiet_until(at(22, 30), night, "Asia/Ho_Chi_Minh") == datetime(2026, 11, 24, 7, 0, tzinfo=tz).timestamp()
    assert quiet_until(at(6, 59), night, "Asia/Ho_Chi_Minh") == at(7, 0)
    assert quiet_until(at(7, 0), night, "Asia/Ho_Chi_Minh") is None
    assert quiet_until(at(12, 0), night, "Asia/Ho_Chi_Minh") is None
    assert quiet_until(at(12, 0), None, "Asia/Ho_Chi_Minh") is None


def test_healthz_shows_the_phones(service_factory, tmp_path, fake_smsgate):
    import requests
    svc = make(service_factory, tmp_path, fake_smsgate)
    order(svc, 571)
    svc.bridge.worker.drain()
    health = health_details(svc.url)
    assert health["channels"]["smsgate"]["mode"] == "live"
    (dev,) = health["devices"]
    assert dev["name"] == "phone-1" and dev["sent_last_hour"] == 1 and dev["paused"] is False

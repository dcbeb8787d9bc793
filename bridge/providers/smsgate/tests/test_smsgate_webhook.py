"""The SMSGate webhook fed with the envelopes the phone posts (fixtures/): who may call, what each
event becomes, and the refusals the phone's owner reads in the admin page."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest

from bridge.config import Settings
from bridge.events import Acknowledged, DeliveryReport, ReceivedText
from bridge.providers.base import Refused, Request
from bridge.providers.smsgate.sender import STATE_EVENT
from bridge.providers.smsgate.webhook import webhook
from bridge.sending import Event

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
KEY = "test-signing-key"
SETTINGS = Settings(smsgate_signing_key=KEY)


def envelope(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def signed(body: bytes, key: str = KEY, at: float | None = None) -> Request:
    ts = str(int(time.time() if at is None else at))
    sig = hmac.new(key.encode(), body + ts.encode(), hashlib.sha256).hexdigest()
    return Request("POST", "/inbound/smsgate", {}, {"X-Signature": sig, "X-Timestamp": ts}, body)


def events(req: Request) -> list:
    webhook.validate(req, SETTINGS)
    return webhook.parse(req, SETTINGS)


def test_a_received_bank_sms_becomes_the_text_the_payment_handler_reads():
    body = envelope("sms_received.json")
    [event] = events(signed(body))
    sent = json.loads(body)
    assert isinstance(event, ReceivedText)
    assert (event.source, event.external_id, event.device, event.sim) == ("smsgate", "Zm9vYmFyMTIz",
                                                                          "yR4kD2pQ9sVnX1aB7cE3f", 1)
    assert (event.sender, event.text, event.recipient) == ("Vietcombank", sent["payload"]["message"], "+84912000111")
    assert event.received_at == 1757555233.0          # 2025-09-11 08:47:13 +07:00
    assert json.loads(event.raw) == sent              # the admin sees what the phone sent


def test_an_older_app_names_the_sender_phoneNumber():
    [event] = events(signed(envelope("sms_received_legacy.json")))
    assert isinstance(event, ReceivedText) and event.sender == "Vietcombank" and event.sim == 2


@pytest.mark.parametrize("name, expected", [("sms_sent.json", Event.SENT), ("sms_delivered.json", Event.DELIVERED),
                                            ("sms_failed.json", Event.FAILED)])
def test_reports_on_our_messages_move_them_by_their_id(name, expected):
    [event] = events(signed(envelope(name)))
    assert isinstance(event, DeliveryReport)
    assert (event.provider_id, event.report.event, event.source) == ("m-7d1c9f", expected, "smsgate-webhook")
    if expected is Event.FAILED:
        assert event.report.detail == "SMSGate sms:failed: RESULT_ERROR_GENERIC_FAILURE"


def test_a_ping_and_an_event_we_do_not_act_on_are_answered_so_the_phone_stops_retrying():
    [ping] = events(signed(envelope("system_ping.json")))
    [mms] = events(signed(envelope("mms_received.json")))
    assert webhook.answer([ping], [{"event": "system:ping"}]) == ({"ok": True, "event": "system:ping"}, 200)
    assert isinstance(mms, Acknowledged) and mms.ignored and mms.what == "mms:received"


def test_every_bank_sms_of_the_development_set_arrives_unchanged():
    """Diacritics, line breaks, the 160-character cut: the text reaches the parsers as the bank wrote it."""
    for line in (FIXTURES / "bank_sms.jsonl").read_text(encoding="utf-8").splitlines():
        sample = json.loads(line)
        body = json.dumps({"deviceId": "d1", "event": "sms:received", "id": sample["id"],
                           "payload": {"messageId": sample["id"], "message": sample["body"],
                                       "sender": sample["sender"]}}, ensure_ascii=False).encode()
        [event] = events(signed(body))
        assert (event.sender, event.text, event.external_id) == (sample["sender"], sample["body"], sample["id"])


# each request is made when its test runs: one signed at collection is stale in a long run
@pytest.mark.parametrize("make, reason", [
    (lambda: Request("POST", "/inbound/smsgate", {}, {}, b"{}"), "missing X-Signature or X-Timestamp"),
    (lambda: signed(envelope("sms_received.json"), key="another-key"), "X-Signature does not match"),
    (lambda: signed(envelope("sms_received.json"), at=time.time() - 600), "away from our clock"),
    (lambda: signed(b"{}", at=time.time() + 600), "away from our clock"),
])
def test_a_request_not_signed_now_with_our_key_is_refused(make, reason):
    with pytest.raises(Refused) as refused:
        webhook.validate(make(), SETTINGS)
    assert refused.value.status == 401 and reason in refused.value.reason


def test_a_timestamp_that_is_not_unix_seconds_is_refused():
    body = envelope("sms_received.json")
    req = Request("POST", "/inbound/smsgate", {}, {"X-Signature": "00", "X-Timestamp": "1e20"}, body)
    with pytest.raises(Refused, match="not Unix seconds"):
        webhook.validate(req, SETTINGS)


@pytest.mark.parametrize("payload, reason", [
    ({"sender": "MoMo"}, "payload.message"),
    ({"message": "hi"}, "payload.sender"),
    ({"message": "hi", "sender": "MoMo", "receivedAt": "yesterday"}, "payload.receivedAt"),
])
def test_a_received_sms_missing_what_we_need_is_refused_with_the_field(payload, reason):
    body = json.dumps({"event": "sms:received", "payload": payload}).encode()
    with pytest.raises(Refused) as refused:
        events(signed(body))
    assert refused.value.status == 400 and reason in refused.value.reason


def test_the_product_doc_states_we_can_be_told_map_to_ours():
    """Seed 000 names the states a phone gateway reports; those SMSGate shares mean the same here."""
    doc = (FIXTURES / "message_statuses_doc.txt").read_text(encoding="utf-8")
    meaning = {"Pending": Event.QUEUED, "Sent": Event.SENT, "Delivered": Event.DELIVERED, "Failed": Event.FAILED}
    for state, event in meaning.items():
        assert f"{state}:" in doc and STATE_EVENT[state] is event

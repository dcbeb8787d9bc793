"""Meta's documented webhook payloads (fixtures/) through the Webhook's validate -> parse ->
answer: what the core is handed for each, and what Meta is answered."""
from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from bridge.config import Settings
from bridge.events import ChatLinked, ChatRead, ChatSeen, DeliveryReport, ReceivedText
from bridge.providers.base import Refused, Request
from bridge.providers.messenger.webhook import events, verification
from bridge.sending import Event

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SECRET = "test-app-secret"
PSID = "1254459154682919"
SETTINGS = Settings(messenger_app_secret=SECRET, messenger_verify_token="meatyhamhock")


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def post(body: bytes, signature: str | None = None) -> Request:
    sig = signature if signature is not None else "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return Request(method="POST", path="/webhooks/messenger", args={}, body=body, remote_addr="173.252.88.1",
                   headers={"Content-Type": "application/json", "X-Hub-Signature-256": sig})


def received(name: str) -> list[Any]:
    req = post(fixture(name))
    events.validate(req, SETTINGS)
    return events.parse(req, SETTINGS)


def answered(batch: list[Any], results: list[Any] | None = None) -> dict[str, Any]:
    body, status = events.answer(batch, results if results is not None else [{} for _ in batch])
    assert status == 200
    return body


# -- who is calling --------------------------------------------------------------------------
def test_the_subscription_check_echoes_the_challenge_for_our_token_only():
    args = json.loads(fixture("verification.json"))
    req = Request(method="GET", path="/webhooks/messenger", args=args, headers={}, body=b"")
    verification.validate(req, SETTINGS)
    answer = verification.answer(verification.parse(req, SETTINGS), [])
    assert answer.get_data(as_text=True) == "1158201444" and answer.mimetype == "text/plain"
    with pytest.raises(Refused) as refused:
        verification.validate(Request("GET", req.path, {**args, "hub.verify_token": "guess"}, {}, b""), SETTINGS)
    assert refused.value.status == 403 and "MESSENGER_VERIFY_TOKEN" in refused.value.reason


def test_events_need_the_app_secret_signature_over_the_exact_body():
    body = fixture("message_text.json")
    with pytest.raises(Refused) as refused:
        events.validate(post(body, "sha256=" + "0" * 64), SETTINGS)
    assert refused.value.status == 401 and "X-Hub-Signature-256" in refused.value.reason
    with pytest.raises(Refused):
        events.validate(post(body.replace(b"hello", b"hullo"), post(body).headers["X-Hub-Signature-256"]), SETTINGS)
    with pytest.raises(Refused) as unset:
        events.validate(post(body), Settings())
    assert unset.value.status == 401 and "MESSENGER_APP_SECRET" in unset.value.reason


def test_a_body_that_is_not_a_page_event_is_refused():
    with pytest.raises(Refused) as refused:
        events.parse(post(b'{"object": "instagram", "entry": []}'), SETTINGS)
    assert refused.value.status == 400


# -- what the core is handed ---------------------------------------------------------------
def test_a_text_message_is_stored_like_an_inbound_sms_and_reopens_the_window():
    batch = received("message_text.json")
    seen, text = batch
    assert seen == ChatSeen("messenger", PSID, 1458692752.478)
    assert isinstance(text, ReceivedText) and text.source == "messenger" and text.sender == PSID
    assert text.text == "hello, world!" and text.external_id == "mid.1457764197618:41d102a3e1ae206a38"
    assert text.received_at == 1458692752.478 and json.loads(text.raw)["message"]["text"] == "hello, world!"
    assert answered(batch) == {"ok": True, "bound": 0, "pending": 0, "messages": 1, "receipts": 0, "ignored": 0}


def test_an_attachment_is_stored_as_a_placeholder_text():
    seen, text = received("message_attachment.json")
    assert isinstance(seen, ChatSeen) and text.text == "[attachment]"


def test_our_own_echoed_messages_are_ignored():
    batch = received("message_echo.json")
    assert list(batch) == []
    assert answered(batch)["ignored"] == 1


@pytest.mark.parametrize("name, ref, at", [
    ("referral_mme.json", "REF_DATA_PASSED_IN_M.ME_PARAM", 1458692752.478),
    ("postback_get_started.json", "USER-DEFINED-REFERRAL-PARAM", 1527459824.0),
])
def test_an_opened_m_me_link_asks_to_bind_the_psid_and_the_answer_says_what_the_core_decided(name, ref, at):
    batch = received(name)
    [linked] = batch
    assert isinstance(linked, ChatLinked) and (linked.provider, linked.identity, linked.token, linked.at) == (
        "messenger", PSID, ref, at)
    assert linked.endpoint == "/webhooks/messenger" and linked.remote_addr == "173.252.88.1"
    assert answered(batch, [{"linked": "bound"}])["bound"] == 1
    assert answered(batch, [{"linked": "pending"}])["pending"] == 1
    assert answered(batch, [{"linked": "ignored"}])["ignored"] == 1


def test_a_delivery_receipt_reports_each_named_message_delivered():
    batch = received("delivery.json")
    [report] = batch
    assert isinstance(report, DeliveryReport) and report.provider_id == "mid.1458668856218:ed81099e15d3f4f233"
    assert report.report.event is Event.DELIVERED and report.source == "messenger-webhook"
    assert answered(batch)["receipts"] == 1


def test_a_read_receipt_covers_everything_sent_before_its_watermark():
    batch = received("read.json")
    [read] = batch
    assert isinstance(read, ChatRead) and read.identity == PSID and read.up_to == 1458668856.253
    assert answered(batch)["receipts"] == 1


def test_one_post_with_several_entries_counts_each_messaging_event():
    docs = [json.loads(fixture(n)) for n in ("message_text.json", "message_echo.json", "delivery.json",
                                             "referral_mme.json")]
    body = json.dumps({"object": "page", "entry": [e for d in docs for e in d["entry"]]}).encode()
    batch = events.parse(post(body), SETTINGS)
    results = [{"linked": "pending"} if isinstance(e, ChatLinked) else {} for e in batch]
    assert answered(batch, results) == {"ok": True, "bound": 0, "pending": 1, "messages": 1, "receipts": 1,
                                        "ignored": 1}

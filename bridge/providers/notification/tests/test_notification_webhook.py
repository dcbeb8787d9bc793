"""App notifications from the development set (fixtures/) through the webhook: signed or bearer as
NOTIFY_AUTH says, and each becoming the text the payment handler reads under the app's name."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from bridge.config import Settings
from bridge.events import ReceivedText
from bridge.providers.base import Refused, Request
from bridge.providers.notification.webhook import webhook

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TOKEN = "test-notify-token"
SETTINGS = Settings(notify_token=TOKEN, inbound_token="old-shared-token")
SIGNED_ONLY = replace(SETTINGS, notify_auth="signed")


def samples() -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / "app_notifications.jsonl").read_text(encoding="utf-8").splitlines()]


def body_of(sample: dict) -> bytes:
    data = {"device": "shop-phone", "package": sample["package"], "title": sample["title"], "text": sample["body"],
            "posted_at": 1757834091000, "id": sample["id"]}
    if sample["package"] is None and sample["title"] is None:
        data["app"] = sample["sender"]    # forwarders that cannot read the package name say the app
    return json.dumps(data, ensure_ascii=False).encode()


def signed(body: bytes, key: str = TOKEN, at: float | None = None) -> Request:
    ts = str(int(time.time() if at is None else at))
    sig = hmac.new(key.encode(), body + ts.encode(), hashlib.sha256).hexdigest()
    return Request("POST", "/inbound/notification", {}, {"X-Signature": sig, "X-Timestamp": ts}, body)


def bearer(body: bytes, token: str = TOKEN) -> Request:
    return Request("POST", "/inbound/notification", {}, {"Authorization": f"Bearer {token}"}, body)


@pytest.mark.parametrize("sample", samples(), ids=lambda s: s["id"])
def test_a_signed_notification_is_read_under_the_app_the_bank_parsers_know(sample):
    req = signed(body_of(sample))
    webhook.validate(req, SIGNED_ONLY)
    [event] = webhook.parse(req, SIGNED_ONLY)
    assert isinstance(event, ReceivedText)
    assert (event.source, event.sender, event.text, event.external_id) == (
        "notification", sample["sender"], sample["body"], sample["id"])
    assert event.received_at == 1757834091.0 and event.package == sample["package"]


def test_a_bearer_token_is_enough_unless_the_shop_asked_for_signatures():
    body = body_of(samples()[0])
    webhook.validate(bearer(body), SETTINGS)
    with pytest.raises(Refused, match="NOTIFY_AUTH=signed"):
        webhook.validate(bearer(body), SIGNED_ONLY)


# each request is made when its test runs: one signed at collection is stale in a long run
@pytest.mark.parametrize("make, reason", [
    (lambda: bearer(b"{}", "guess"), "missing or wrong 'Authorization: Bearer <NOTIFY_TOKEN>'"),
    (lambda: Request("POST", "/inbound/notification", {}, {}, b"{}"), "missing or wrong"),
    (lambda: signed(b"{}", key="guess"), "X-Signature does not match"),
    (lambda: signed(b"{}", at=time.time() - 900), "away from our clock"),
    (lambda: Request("POST", "/inbound/notification", {}, {"X-Timestamp": "1"}, b"{}"), "need both"),
])
def test_a_caller_without_the_token_is_refused(make, reason):
    with pytest.raises(Refused) as refused:
        webhook.validate(make(), SETTINGS)
    assert refused.value.status == 401 and reason in refused.value.reason


def test_the_old_shared_token_is_refused_with_a_hint():
    with pytest.raises(Refused, match="INBOUND_TOKEN no longer opens payment ingest"):
        webhook.validate(bearer(b"{}", "old-shared-token"), SETTINGS)


@pytest.mark.parametrize("body, reason", [
    (b"[]", "body must be a JSON object {device, package, title, text, posted_at}"),
    (b'{"package": "com.mbmobile"}', "field 'text'"),
    (b'{"text": "x"}', "say which app posted it"),
    (b'{"text": "x", "app": "MoMo", "posted_at": "NaN"}', "posted_at"),
    (b'{"text": "x", "app": ["MoMo"]}', "field 'app' must be text"),
])
def test_a_notification_we_cannot_read_is_refused_with_the_reason(body, reason):
    with pytest.raises(Refused) as refused:
        webhook.parse(bearer(body), SETTINGS)
    assert refused.value.status == 400 and reason in refused.value.reason

"""/webhooks/messenger: Meta's verification handshake and the page's signed events.

Events come batched (`{"object": "page", "entry": [{"messaging": [...]}]}`) and Meta wants a
200 quickly; each becomes normalized events for the core: a referral asks to bind the PSID to
the customer named by our signed ref (ChatLinked), a message is stored like an inbound SMS
(ReceivedText) and reopens the 24 h window (ChatSeen), delivery and read receipts move our
messages to delivered (DeliveryReport, ChatRead). The answer counts what each messaging event
was, as it always has.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, Callable

from flask import Response

from ...config import Settings
from ...store.db import now
from ...events import ChatLinked, ChatRead, ChatSeen, DeliveryReport, ReceivedText
from ..base import Event, Refused, Request, StatusReport, Webhook, secret_matches

RULE = "/webhooks/messenger"
SOURCE = "messenger-webhook"
KINDS = ("bound", "pending", "messages", "receipts", "ignored")


def signature_ok(body: bytes, header: str | None, secret: str) -> bool:
    if not header or not header.startswith("sha256=") or not secret:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[7:].strip().lower())


class Verification(Webhook):
    """Meta's subscription check: echo hub.challenge when hub.verify_token is ours."""
    rule = RULE
    methods = ("GET",)
    secret_in_query = True

    def validate(self, req: Request, settings: Settings) -> None:
        if not settings.messenger_verify_token:
            raise Refused(403, "MESSENGER_VERIFY_TOKEN is not set: set it and use the same value in the Meta app")
        if req.args.get("hub.mode") != "subscribe":
            raise Refused(403, "hub.mode must be 'subscribe'")
        if not secret_matches(req.args.get("hub.verify_token") or "", settings.messenger_verify_token):
            raise Refused(403, "hub.verify_token does not match MESSENGER_VERIFY_TOKEN")

    def parse(self, req: Request, settings: Settings) -> list[Any]:
        return Challenge(req.args.get("hub.challenge", ""))

    def answer(self, events: list[Any], results: list[Any]) -> Response:
        return Response(getattr(events, "challenge", ""), content_type="text/plain; charset=utf-8")


class Challenge(list):
    """No event for the core: only the number Meta wants echoed."""

    def __init__(self, challenge: str) -> None:
        super().__init__()
        self.challenge = challenge


class Batch(list):
    """The normalized events of one POST, and what each messaging event in it was (the answer
    counts those): a fixed kind, or "link" for the result of its ChatLinked."""

    def __init__(self) -> None:
        super().__init__()
        self.kinds: list[tuple[str, ChatLinked | None]] = []

    def add(self, kind: str, *events: Any, link: ChatLinked | None = None) -> None:
        self.extend(events)
        self.kinds.append((kind, link))


class Events(Webhook):
    rule = RULE
    methods = ("POST",)

    def validate(self, req: Request, settings: Settings) -> None:
        if not settings.messenger_app_secret:
            raise Refused(401, "MESSENGER_APP_SECRET is not set: events cannot be verified")
        if not signature_ok(req.body, req.headers.get("X-Hub-Signature-256"), settings.messenger_app_secret):
            raise Refused(401, "missing or wrong X-Hub-Signature-256 (HMAC-SHA256 of the body with the app secret)")

    def parse(self, req: Request, settings: Settings) -> list[Any]:
        data = req.json()
        if not isinstance(data, dict) or data.get("object") != "page" or not isinstance(data.get("entry"), list):
            raise Refused(400, "expected {\"object\": \"page\", \"entry\": [...]}")
        batch = Batch()
        for entry in data["entry"]:
            for ev in (entry.get("messaging") if isinstance(entry, dict) else None) or []:
                if isinstance(ev, dict):
                    _read(req, ev, batch)
        return batch

    def answer(self, events: list[Any], results: list[Any]) -> tuple[Any, int]:
        outcome = {id(e): r for e, r in zip(events, results)}
        done = dict.fromkeys(KINDS, 0)
        for kind, link in getattr(events, "kinds", ()):
            if link is not None:
                kind = outcome[id(link)]["linked"]
            done[kind if kind in done else "ignored"] += 1
        return {"ok": True, **done}, 200


def _psid(ev: dict[str, Any]) -> str | None:
    sender = ev.get("sender")
    psid = sender.get("id") if isinstance(sender, dict) else None
    return str(psid) if isinstance(psid, (str, int)) and str(psid) else None


def _at(ev: dict[str, Any]) -> float:
    ts = ev.get("timestamp")
    return ts / 1000 if isinstance(ts, (int, float)) and not isinstance(ts, bool) and ts > 0 else now()


def _ref_of(ev: dict[str, Any]) -> str | None:
    for holder in (ev.get("referral"), (ev.get("postback") or {}).get("referral") if isinstance(ev.get("postback"), dict)
                   else None, (ev.get("message") or {}).get("referral") if isinstance(ev.get("message"), dict) else None):
        if isinstance(holder, dict) and isinstance(holder.get("ref"), str) and holder["ref"]:
            return holder["ref"]
    return None


def _read(req: Request, ev: dict[str, Any], batch: Batch) -> None:
    """One messaging event -> its normalized events, and what the answer counts it as."""
    psid = _psid(ev)
    if psid is None:
        return batch.add("ignored")
    message = ev.get("message") if isinstance(ev.get("message"), dict) else None
    if message and message.get("is_echo"):
        return batch.add("ignored")  # our own page's messages, echoed back
    if isinstance(ev.get("delivery"), dict) or isinstance(ev.get("read"), dict):
        return batch.add("receipts", *_receipts(psid, ev))
    ref = _ref_of(ev)
    at = _at(ev)
    linked = None
    if ref is not None:
        linked = ChatLinked("messenger", psid, ref, at, ev, endpoint=req.path, remote_addr=req.remote_addr,
                            headers=req.headers)
    first = (linked,) if linked is not None else ()
    if message is not None:
        text = message.get("text") if isinstance(message.get("text"), str) else ""
        if not text and message.get("attachments"):
            text = "[attachment]"
        quick = message.get("quick_reply") if isinstance(message.get("quick_reply"), dict) else {}
        payload = quick.get("payload") if isinstance(quick.get("payload"), str) and quick.get("payload") else None
        received = (ReceivedText("messenger", str(message.get("mid") or ""), psid, text,
                                 json.dumps(ev, ensure_ascii=False), device="messenger", received_at=at,
                                 payload=payload),) if text else ()
        return batch.add("messages", *first, ChatSeen("messenger", psid, at), *received)
    if ev.get("postback") is not None and linked is None:
        return batch.add("messages", ChatSeen("messenger", psid, at))
    if linked is not None:
        return batch.add("link", linked, link=linked)
    return batch.add("ignored")


def _seconds(watermark: Any) -> float | None:
    return watermark / 1000 if isinstance(watermark, (int, float)) and not isinstance(watermark, bool) else None


def _receipts(psid: str, ev: dict[str, Any]) -> list[Any]:
    """Delivery receipts name our message ids; read receipts only a time (everything sent to
    this person before it has been seen)."""
    out: list[Any] = []
    raw = json.dumps(ev)
    delivery = ev.get("delivery") if isinstance(ev.get("delivery"), dict) else {}
    for mid in delivery.get("mids") or []:
        if isinstance(mid, str) and mid:
            # a mid we never got back (the Send API's answer was lost) settles an in-doubt message
            # to this person: the chat names who, the watermark when
            out.append(DeliveryReport(SOURCE, StatusReport(Event.DELIVERED, "delivery", "Messenger delivery", raw), mid,
                                      chat=("messenger", psid), seen_at=_seconds(delivery.get("watermark"))))
    read = ev.get("read") if isinstance(ev.get("read"), dict) else None
    up_to = _seconds(read.get("watermark")) if read else None
    if up_to is not None:
        out.append(ChatRead("messenger", SOURCE, psid, up_to, "Messenger read receipt", raw))
    return out


def endpoints(bridge: Any, translate: Callable[..., str] | None = None) -> list[tuple[str, str, str]]:
    """The webhook URL for the Meta app, once a page token says Messenger is in use."""
    s = bridge.settings
    if not s.messenger_page_token:
        return []
    url = f"{s.public_url}{RULE}"
    if translate is not None:
        _ = translate
        return [(_("Messenger webhook"), url, _("Verify token: %(token)s", token=s.messenger_verify_token)
                 if s.messenger_verify_token else _("MESSENGER_VERIFY_TOKEN is not set."))]
    return [("Messenger webhook", url, f"verify token: {s.messenger_verify_token or 'MESSENGER_VERIFY_TOKEN is not set'}")]


verification = Verification()
events = Events()

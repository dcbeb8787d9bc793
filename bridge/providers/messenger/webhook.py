"""/webhooks/messenger: Meta's verification handshake and the page's signed events.

Events come batched (`{"object": "page", "entry": [{"messaging": [...]}]}`) and Meta wants a
200 quickly; everything here is a few SQLite writes. A referral binds the PSID to the customer
named by our signed ref; a message is stored like an inbound SMS and reopens the 24 h window;
delivery and read receipts move our messages to delivered.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request

from . import contacts as messenger_contacts
from ..base import Event, StatusReport
from ...db import now
from ...intake import record_rejection
from ...outbox import apply_report, settle_in_doubt
from ...web import bridge, error

log = logging.getLogger(__name__)
bp = Blueprint("messenger", __name__)


def signature_ok(body: bytes, header: str | None, secret: str) -> bool:
    if not header or not header.startswith("sha256=") or not secret:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[7:].strip().lower())


def _refuse(status: int, reason: str, body: bytes = b""):
    b = bridge()
    record_rejection(b.db, request.path, status, reason, request.remote_addr, request.headers, body[:4096])
    log.warning("refused %s %s: %s", request.method, request.path, reason)
    return error(status, reason)


@bp.get("/webhooks/messenger")
def verify():
    """Meta's subscription check: echo hub.challenge when hub.verify_token is ours."""
    s = bridge().settings
    if not s.messenger_verify_token:
        return _refuse(403, "MESSENGER_VERIFY_TOKEN is not set: set it and use the same value in the Meta app")
    if request.args.get("hub.mode") != "subscribe":
        return _refuse(403, "hub.mode must be 'subscribe'")
    given = request.args.get("hub.verify_token") or ""
    if not hmac.compare_digest(given.encode(), s.messenger_verify_token.encode()):
        return _refuse(403, "hub.verify_token does not match MESSENGER_VERIFY_TOKEN")
    return Response(request.args.get("hub.challenge", ""), content_type="text/plain; charset=utf-8")


@bp.post("/webhooks/messenger")
def events():
    b = bridge()
    raw = request.get_data(cache=True)
    if not b.settings.messenger_app_secret:
        return _refuse(401, "MESSENGER_APP_SECRET is not set: events cannot be verified", raw)
    if not signature_ok(raw, request.headers.get("X-Hub-Signature-256"), b.settings.messenger_app_secret):
        return _refuse(401, "missing or wrong X-Hub-Signature-256 (HMAC-SHA256 of the body with the app secret)", raw)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return _refuse(400, f"body is not UTF-8 JSON: {exc}", raw)
    except RecursionError:
        return _refuse(400, "body is JSON nested deeper than we read", raw)
    if not isinstance(data, dict) or data.get("object") != "page" or not isinstance(data.get("entry"), list):
        return _refuse(400, "expected {\"object\": \"page\", \"entry\": [...]}", raw)
    done: dict[str, int] = {"bound": 0, "pending": 0, "messages": 0, "receipts": 0, "ignored": 0}
    for entry in data["entry"]:
        for ev in (entry.get("messaging") if isinstance(entry, dict) else None) or []:
            if isinstance(ev, dict):
                done[_handle(ev)] += 1
    return jsonify({"ok": True, **done})


def _psid(ev: dict[str, Any]) -> str | None:
    sender = ev.get("sender")
    psid = sender.get("id") if isinstance(sender, dict) else None
    return str(psid) if isinstance(psid, (str, int)) and str(psid) else None


def _at(ev: dict[str, Any]) -> float:
    ts = ev.get("timestamp")
    return ts / 1000 if isinstance(ts, (int, float)) and not isinstance(ts, bool) and ts > 0 else now()


def _handle(ev: dict[str, Any]) -> str:
    """One messaging event -> what it was: bound, pending, messages, receipts or ignored."""
    b = bridge()
    psid = _psid(ev)
    if psid is None:
        return "ignored"
    message = ev.get("message") if isinstance(ev.get("message"), dict) else None
    if message and message.get("is_echo"):
        return "ignored"  # our own page's messages, echoed back
    if isinstance(ev.get("delivery"), dict) or isinstance(ev.get("read"), dict):
        _receipts(psid, ev)
        return "receipts"
    ref = _ref_of(ev)
    at = _at(ev)
    kind = "ignored"
    if ref is not None:
        kind = _bind(psid, ref, at)
    if message is not None:
        text = message.get("text") if isinstance(message.get("text"), str) else ""
        if not text and message.get("attachments"):
            text = "[attachment]"
        with b.db.tx() as c:
            messenger_contacts.touch(c, psid, at)
        if text:
            b.inbox.accept(source="messenger", external_id=str(message.get("mid") or ""), device="messenger",
                           sim=None, sender=psid, recipient="", text=text, received_at=at,
                           raw=json.dumps(ev, ensure_ascii=False))
        kind = "messages"
    elif ev.get("postback") is not None and ref is None:
        with b.db.tx() as c:
            messenger_contacts.touch(c, psid, at)
        kind = "messages"
    return kind


def _ref_of(ev: dict[str, Any]) -> str | None:
    for holder in (ev.get("referral"), (ev.get("postback") or {}).get("referral") if isinstance(ev.get("postback"), dict)
                   else None, (ev.get("message") or {}).get("referral") if isinstance(ev.get("message"), dict) else None):
        if isinstance(holder, dict) and isinstance(holder.get("ref"), str) and holder["ref"]:
            return holder["ref"]
    return None


def _bind(psid: str, token: str, at: float) -> str:
    """'bound', 'pending' (the phone has another PSID: the admin decides) or 'ignored'."""
    b = bridge()
    ref, why = messenger_contacts.check_ref(b.settings, token, at=b.clock())
    excerpt = token.encode("utf-8", "replace")[:1024]
    if ref is None:
        what = "with a ref we did not sign" if why == "not signed by us" else f"with a ref that is {why}"
        record_rejection(b.db, request.path, 400, f"Messenger referral from PSID {psid} {what}",
                         request.remote_addr, request.headers, excerpt)
        log.warning("Messenger referral from %s %s: not bound", psid, what)
        return "ignored"
    with b.db.tx() as c:
        result = messenger_contacts.bind(c, psid, ref, at, token)
    if result.kind == "unknown":
        record_rejection(b.db, request.path, 400, f"Messenger referral from PSID {psid} names {ref}, which we do not "
                         "know", request.remote_addr, request.headers, excerpt)
        return "ignored"
    if result.kind == "used":
        record_rejection(b.db, request.path, 409, f"Messenger referral from PSID {psid}: this ref was already used by "
                         f"PSID {result.other_psid}; a ref binds once", request.remote_addr, request.headers, excerpt)
        log.warning("Messenger PSID %s opened a ref already used by %s: not bound", psid, result.other_psid)
        return "ignored"
    if result.kind == "pending":
        log.warning("Messenger PSID %s asks for %s, already bound to PSID %s: waiting for the admin (admin page > "
                    "Messenger)", psid, result.who, result.other_psid)
        return "pending"
    log.info("Messenger PSID %s bound to %s", psid, result.who)
    return "bound"


def _receipts(psid: str, ev: dict[str, Any]) -> None:
    """Delivery receipts name our message ids; read receipts only a time (everything sent to
    this person before it has been seen)."""
    b = bridge()
    delivery = ev.get("delivery") if isinstance(ev.get("delivery"), dict) else {}
    for mid in delivery.get("mids") or []:
        if isinstance(mid, str) and mid:
            if apply_report(b.db, "messenger-webhook", StatusReport(Event.DELIVERED, "delivery", "Messenger delivery",
                                                                    json.dumps(ev)), mid) is None:
                _settle(psid, delivery.get("watermark"), ev)
    read = ev.get("read") if isinstance(ev.get("read"), dict) else None
    watermark = read.get("watermark") if read else None
    if isinstance(watermark, (int, float)) and not isinstance(watermark, bool):
        contact = b.db.one("SELECT phone_e164 FROM messenger_contacts WHERE psid=?", (psid,))
        if contact is None or not contact["phone_e164"]:
            return
        rows = b.db.query("SELECT provider_id FROM messages WHERE channel='messenger' AND recipient=?"
                          " AND status IN ('queued','sent') AND sent_at <= ? AND provider_id IS NOT NULL",
                          (contact["phone_e164"], watermark / 1000))
        for r in rows:
            apply_report(b.db, "messenger-webhook", StatusReport(Event.DELIVERED, "read", "Messenger read receipt",
                                                                 json.dumps(ev)), r["provider_id"])


def _settle(psid: str, watermark: Any, ev: dict[str, Any]) -> None:
    """A delivered message id we never got back: the answer to a send of ours was lost. The Send
    API has no idempotency key, so this receipt is the only proof that an in-doubt message went."""
    b = bridge()
    contact = b.db.one("SELECT phone_e164 FROM messenger_contacts WHERE psid=?", (psid,))
    if contact is None or not contact["phone_e164"]:
        return
    seen = watermark / 1000 if isinstance(watermark, (int, float)) and not isinstance(watermark, bool) else now()
    for mid in settle_in_doubt(b.db, "messenger-webhook", "messenger", contact["phone_e164"], seen, json.dumps(ev)):
        log.info("message %s was in doubt: Messenger reports a delivery to PSID %s after it, delivered", mid, psid)

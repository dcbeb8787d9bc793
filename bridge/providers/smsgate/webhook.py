"""Inbound SMS from the shop's phone: SMSGate webhooks (signed) and FiboSMS push (token)."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import time
from datetime import datetime

from flask import Blueprint, Response, jsonify, request

from .sender import WEBHOOK_EVENT
from ..base import StatusReport
from ...intake import record_rejection
from ...outbox import apply_report
from ...logs import redact
from ..base import secret_matches as token_ok
from ...web import bridge, error

log = logging.getLogger(__name__)
bp = Blueprint("inbound", __name__)

MAX_SKEW = 300  # seconds either side of our clock for X-Timestamp


def redacted_query() -> bytes:
    """The query string as stored with a rejection: the admin page lists those, so the token
    (right or wrong) is not kept."""
    return redact(request.query_string[:4096].decode("utf-8", "replace")).encode()


def _reject(status: int, reason: str, body: bytes = b""):
    b = bridge()
    record_rejection(b.db, request.path, status, reason, request.remote_addr, request.headers, body)
    log.warning("refused %s %s: %s", request.method, request.path, reason)
    return error(status, reason)


def smsgate_signature_ok(body: bytes, timestamp: str, signature: str, key: str) -> bool:
    expected = hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())


EARLIEST = 946_684_800.0     # 2000-01-01 UTC: no bank or MoMo message in this shop is older
AHEAD = 86_400.0            # a phone's clock may run ahead; more than a day ahead is not a time


class BadTime(ValueError):
    """A timestamp field that is not a plausible moment; the message names the field."""


def parse_time(value: object, name: str) -> float | None:
    """A timestamp field of an inbound body as Unix seconds, or None when absent.

    ISO 8601 text, or epoch seconds / milliseconds as a number. Anything else (NaN, Infinity,
    1e20, negative, before 2000 or more than a day ahead, unparseable text) raises BadTime:
    stored, such a value broke every page that shows the row, or made the payment handler fail
    without leaving a review item. Refusing it with a reason lets the sender see its bug."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadTime(f"{name} must be an ISO 8601 time or epoch seconds/milliseconds, not {value!r}")
    if isinstance(value, str):
        try:
            t = datetime.fromisoformat(value.strip()).timestamp()
        except (ValueError, OverflowError, OSError):
            raise BadTime(f"{name} {value[:40]!r} is not an ISO 8601 time (e.g. 2026-11-23T09:15:00+07:00)") from None
    elif isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise BadTime(f"{name} must be a finite number of epoch seconds or milliseconds, not {value!r}")
        t = float(value) / 1000 if value > 10**11 else float(value)
    else:
        raise BadTime(f"{name} must be an ISO 8601 time or epoch seconds/milliseconds")
    if not math.isfinite(t) or not EARLIEST <= t <= time.time() + AHEAD:
        raise BadTime(f"{name} {str(value)[:40]!r} is not a plausible time (before 2000 or more than a day ahead)")
    return t


@bp.post("/inbound/smsgate")
def smsgate():
    b = bridge()
    raw = request.get_data(cache=True)
    sig, ts = request.headers.get("X-Signature", ""), request.headers.get("X-Timestamp", "")
    if not sig or not ts:
        return _reject(401, "missing X-Signature or X-Timestamp: SMSGate webhooks must be signed "
                            "(set the signing key in the app to SMSGATE_SIGNING_KEY)", raw)
    if not ts.strip().isdigit() or len(ts.strip()) > 12:   # "1e20", "NaN", 10**400: not Unix seconds
        return _reject(401, f"X-Timestamp {ts[:20]!r} is not Unix seconds", raw)
    skew = abs(time.time() - int(ts))
    if skew > MAX_SKEW:
        return _reject(401, f"X-Timestamp is {int(skew)} s away from our clock (more than {MAX_SKEW} s)", raw)
    if not smsgate_signature_ok(raw, ts, sig, b.settings.smsgate_signing_key):
        return _reject(401, "X-Signature does not match: the signing key differs from SMSGATE_SIGNING_KEY", raw)
    try:
        envelope = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return _reject(400, "body is not UTF-8", raw)
    except ValueError as exc:
        return _reject(400, f"body is not valid JSON: {exc}", raw)
    if not isinstance(envelope, dict) or not isinstance(envelope.get("event"), str):
        return _reject(400, "body must be a JSON object with an 'event'", raw)
    event, payload = envelope["event"], envelope.get("payload")
    if event == "system:ping":
        return jsonify({"ok": True, "event": event})
    if not isinstance(payload, dict):
        return _reject(400, f"{event}: 'payload' must be an object", raw)
    device = str(envelope.get("deviceId") or "")
    if event == "sms:received":
        text, sender = payload.get("message"), payload.get("sender") or payload.get("phoneNumber")
        if not isinstance(text, str):
            return _reject(400, "sms:received: payload.message (the SMS text) is required and must be text", raw)
        if not isinstance(sender, str) or not sender:
            return _reject(400, "sms:received: payload.sender is required", raw)
        sim = payload.get("simNumber")
        try:
            received_at = parse_time(payload.get("receivedAt"), "payload.receivedAt")
        except BadTime as exc:
            return _reject(400, f"sms:received: {exc}", raw)
        result = b.inbox.accept(
            source="smsgate", external_id=str(payload.get("messageId") or envelope.get("id") or ""), device=device,
            sim=sim if isinstance(sim, int) and not isinstance(sim, bool) else None, sender=sender,
            recipient=str(payload.get("recipient") or ""), text=text,
            received_at=received_at, raw=raw.decode("utf-8"))
        b.wake_worker()
        return jsonify({"ok": True, "inbox": result.row_id, "duplicate": result.duplicate, "state": result.state})
    normalized = WEBHOOK_EVENT.get(event)
    if normalized is None:
        return jsonify({"ok": True, "event": event, "ignored": True})
    message_id = payload.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        return _reject(400, f"{event}: payload.messageId is required", raw)
    detail = f"SMSGate {event}" + (f": {payload['reason']}" if payload.get("reason") else "")
    report = StatusReport(event=normalized, provider_status=event, detail=detail, raw=raw.decode("utf-8"))
    mid = apply_report(b.db, "smsgate-webhook", report, message_id)
    if mid:
        row = b.db.one("SELECT device FROM messages WHERE id=?", (mid,))
        ch = b.channels.get("smsgate")
        if ch is not None and hasattr(ch, "report_outcome"):
            ch.report_outcome(row["device"] if row else None, normalized, detail)
        b.wake_worker()
    return jsonify({"ok": True, "message": mid, "event": normalized.value, "known": mid is not None})


def _fibo(status: int, http: int = 200) -> Response:
    return Response(f"<Status>{status}</Status>", status=http, content_type="text/xml; charset=utf-8")


def _legacy(given: str | None) -> str:
    """A hint when a sender still uses the old single INBOUND_TOKEN (it opens no ingest now)."""
    legacy = bridge().settings.inbound_token
    return (" (INBOUND_TOKEN no longer opens payment ingest: see admin page > Settings)"
            if given and legacy and token_ok(given, legacy) else "")


@bp.get("/inbound/fibo")
def fibo():
    """FiboSMS push (seed 003): answer <Status>2</Status> once stored, <Status>1</Status> if not.

    Guarded by FIBO_TOKEN alone. The push names its sender in a query parameter, so it proves
    only that the token holder sent it: what a bank credit from here may do is FIBO_PAYMENTS."""
    b = bridge()
    given = request.args.get("token")
    if not token_ok(given, b.settings.fibo_token):
        reason = "missing or wrong token" + _legacy(given)
        record_rejection(b.db, request.path, 403, reason, request.remote_addr, request.headers, redacted_query())
        return error(403, f"{reason}: use the FiboSMS push URL shown at start (FIBO_TOKEN)")
    message, phone, guid = request.args.get("message"), request.args.get("phone"), request.args.get("guid")
    missing = [k for k, v in (("message", message), ("phone", phone), ("guid", guid)) if not v]
    if missing:
        record_rejection(b.db, request.path, 400, f"missing {', '.join(missing)}", request.remote_addr,
                         request.headers, redacted_query())
        return error(400, f"missing query parameter(s): {', '.join(missing)}")
    try:
        b.inbox.accept(source="fibo", external_id=guid, device="fibo", sim=None, sender=phone, recipient="",
                       text=message, received_at=None, raw={k: v for k, v in request.args.items() if k != "token"})
    except Exception:  # we could not store it: FiboSMS will push it again
        log.exception("could not store FiboSMS push %s", guid)
        return _fibo(1, 500)
    b.wake_worker()
    return _fibo(2)


def notification_auth(raw: bytes) -> str | None:
    """Why a notification request is not ours, or None.

    Signed like SMSGate: X-Signature = hex HMAC-SHA256(NOTIFY_TOKEN, raw body + X-Timestamp),
    X-Timestamp within 5 minutes: the body cannot be altered and an old request cannot be
    replayed later. A bearer token (NOTIFY_AUTH=bearer, the default) is accepted too because the
    forwarder apps a shop can install (MacroDroid, Tasker, notification forwarders) send a fixed
    header but cannot compute an HMAC; it travels in a header over TLS, never in a URL or a log."""
    s = bridge().settings
    sig, ts = request.headers.get("X-Signature", ""), request.headers.get("X-Timestamp", "")
    if sig or ts:
        if not sig or not ts:
            return "signed requests need both X-Signature and X-Timestamp"
        if not ts.strip().isdigit() or len(ts.strip()) > 12:
            return f"X-Timestamp {ts[:20]!r} is not Unix seconds"
        skew = abs(time.time() - int(ts))
        if skew > MAX_SKEW:
            return f"X-Timestamp is {int(skew)} s away from our clock (more than {MAX_SKEW} s)"
        if not smsgate_signature_ok(raw, ts.strip(), sig, s.notify_token):
            return "X-Signature does not match: sign body + X-Timestamp with NOTIFY_TOKEN (HMAC-SHA256, hex)"
        return None
    auth = request.headers.get("Authorization", "")
    given = auth[7:].strip() if auth.startswith("Bearer ") else None
    if s.notify_auth == "signed":
        return "NOTIFY_AUTH=signed: sign the request (X-Signature, X-Timestamp); a bearer token is not accepted"
    if not token_ok(given, s.notify_token):
        return "missing or wrong 'Authorization: Bearer <NOTIFY_TOKEN>' (or sign the request)" + _legacy(given)
    return None


KNOWN_APPS = {"com.mbmobile": "MBBank", "com.mservice.momotransfer": "MoMo"}


@bp.post("/inbound/notification")
def notification():
    """App notifications (MoMo, bank apps) from a notification forwarder on the shop's phone."""
    b = bridge()
    raw = request.get_data(cache=True)
    refused = notification_auth(raw)
    if refused:
        return _reject(401, refused, raw)
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return _reject(400, "body is not UTF-8", raw)
    except ValueError as exc:
        return _reject(400, f"body is not valid JSON: {exc}", raw)
    if not isinstance(data, dict):
        return _reject(400, "body must be a JSON object {device, package, title, text, posted_at}", raw)
    text, package = data.get("text"), data.get("package")
    if not isinstance(text, str) or not text:
        return _reject(400, "field 'text' (the notification text) is required", raw)
    for field in ("package", "title", "device", "app", "id"):
        if data.get(field) is not None and not isinstance(data[field], (str, int)):
            return _reject(400, f"field {field!r} must be text", raw)
    app = str(data.get("app") or KNOWN_APPS.get(str(package or "")) or data.get("title") or package or "")
    if not app:
        return _reject(400, "say which app posted it: 'package' (or 'app')", raw)
    try:
        received = parse_time(data.get("posted_at"), "posted_at")
    except BadTime as exc:
        return _reject(400, str(exc), raw)
    result = b.inbox.accept(source="notification", external_id=str(data.get("id") or ""),
                            device=str(data.get("device") or ""), sim=None, sender=app, recipient="", text=text,
                            received_at=received, raw=raw.decode("utf-8"), package=str(package) if package else None,
                            title=str(data["title"]) if data.get("title") else None)
    return jsonify({"ok": True, "inbox": result.row_id, "duplicate": result.duplicate, "state": result.state,
                    "decision": result.note})

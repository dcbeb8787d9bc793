"""GET /callbacks/esms: eSMS delivery reports (seed 002), unsigned, guarded by our token."""
from __future__ import annotations

import hmac
import json

from flask import Blueprint, jsonify, request

from dataclasses import replace

from ..base import Event
from .sender import is_zalo_report, normalize_status
from ...intake import record_rejection
from ...logs import redact
from ...outbox import apply_report
from ...web import bridge, error

bp = Blueprint("callbacks", __name__)


def token_ok(given: str | None, expected: str) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def redacted_query() -> bytes:
    """The query string as stored with a rejection: the admin page lists those, so the token
    (right or wrong) is not kept."""
    return redact(request.query_string[:4096].decode("utf-8", "replace")).encode()


@bp.get("/callbacks/esms")
def esms():
    """eSMS delivery reports. Its token is handed to eSMS inside every message's CallbackUrl, so
    it opens this endpoint only: it can move a message's delivery status, never pay an order."""
    b = bridge()
    if not token_ok(request.args.get("token"), b.settings.esms_callback_token):
        reason = "missing or wrong token" if request.args.get("token") is not None else "missing token"
        record_rejection(b.db, request.path, 403, reason, request.remote_addr, request.headers, redacted_query())
        return error(403, f"{reason}: use the callback URL shown at start (ESMS_CALLBACK_TOKEN)")
    smsid = (request.args.get("SMSID") or "").strip()
    request_id = (request.args.get("RequestId") or "").strip()
    if not smsid and not request_id:
        return error(400, "SMSID or RequestId is required")
    params = {k: v for k, v in request.args.items() if k != "token"}
    report = normalize_status(params)
    if report.event is Event.FAILED and is_zalo_report(params) and smsid:
        # ZNS-then-SMS (MultiChannel): eSMS sends the SMS itself now; its own report decides.
        row = b.db.one("SELECT channel FROM messages WHERE provider_id=?", (smsid,))
        channel = b.channels.get(row["channel"]) if row else None
        if channel is not None and channel.provider_falls_back:
            note = f"{report.detail}; eSMS sends the SMS instead"
            report = replace(report, event=Event.SENT, detail=note,
                             raw=json.dumps({**json.loads(report.raw), "note": note}, ensure_ascii=False))
    mid = apply_report(b.db, "esms-callback", report, smsid or None, request_id or None)
    return jsonify({"ok": True, "message": mid, "event": report.event.value, "known": mid is not None})

"""GET /callbacks/esms: eSMS delivery reports (seed 002), unsigned, guarded by our token."""
from __future__ import annotations

import hmac

from flask import Blueprint, jsonify, request

from ..channels.esms import normalize_status
from ..intake import record_rejection
from ..outbox import apply_report
from . import bridge, error

bp = Blueprint("callbacks", __name__)


def token_ok(given: str | None, expected: str) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


@bp.get("/callbacks/esms")
def esms():
    b = bridge()
    if not token_ok(request.args.get("token"), b.settings.inbound_token):
        reason = "missing or wrong token" if request.args.get("token") is not None else "missing token"
        record_rejection(b.db, request.path, 403, reason, request.remote_addr, request.headers,
                         request.query_string[:4096])
        return error(403, f"{reason}: use the callback URL shown at start (INBOUND_TOKEN)")
    smsid = (request.args.get("SMSID") or "").strip()
    request_id = (request.args.get("RequestId") or "").strip()
    if not smsid and not request_id:
        return error(400, "SMSID or RequestId is required")
    params = {k: v for k, v in request.args.items() if k != "token"}
    report = normalize_status(params)
    mid = apply_report(b.db, "esms-callback", report, smsid or None, request_id or None)
    return jsonify({"ok": True, "message": mid, "event": report.event.value, "known": mid is not None})

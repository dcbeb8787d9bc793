"""POST /webhooks/woocommerce: verify, store, answer fast; decide right after storing."""
from __future__ import annotations

import json
import logging

from flask import Blueprint, jsonify, request

from ...intake import IGNORED, MAX_BODY, is_ping, record_rejection, signature_ok, store_delivery
from ...web import bridge, error

log = logging.getLogger(__name__)
bp = Blueprint("hooks", __name__)


def _reject(status: int, reason: str, body: bytes):
    b = bridge()
    record_rejection(b.db, request.path, status, reason, request.remote_addr, request.headers, body)
    log.warning("refused %s %s: %s", request.method, request.path, reason)
    return error(status, reason)


@bp.post("/webhooks/woocommerce")
def woocommerce():
    b = bridge()
    if request.content_length is not None and request.content_length > MAX_BODY:
        return _reject(413, f"body of {request.content_length} bytes is over the 1 MiB limit", b"")
    raw = request.get_data(cache=True)  # raises 413 past MAX_CONTENT_LENGTH for chunked bodies
    ping = is_ping(raw, request.headers)
    if ping is not None:
        store_delivery(b.db, {**request.headers, "X-WC-Webhook-Topic": "ping", "X-WC-Webhook-ID": str(ping)},
                       raw, None, state=IGNORED, reason=f"ping for webhook {ping}")
        return jsonify({"ok": True, "ping": ping})
    sig = request.headers.get("X-WC-Webhook-Signature")
    if not sig:
        return _reject(401, "missing X-WC-Webhook-Signature: unsigned webhooks are not accepted", raw)
    if not signature_ok(raw, sig, b.settings.woo_webhook_secret):
        return _reject(401, "X-WC-Webhook-Signature does not match: the webhook secret in WooCommerce differs "
                            "from ours", raw)
    topic = request.headers.get("X-WC-Webhook-Topic", "")
    if not topic:
        return _reject(400, "missing X-WC-Webhook-Topic header", raw)
    try:
        parsed = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return _reject(400, f"body is not valid JSON: {exc}", raw)
    except RecursionError:
        return _reject(400, "body is JSON nested deeper than we read", raw)
    if not isinstance(parsed, dict):
        return _reject(400, "body must be a JSON object", raw)
    stored = b.intake.accept(request.headers, raw, parsed)  # committed before we answer
    if stored.duplicate:
        return jsonify({"ok": True, "duplicate": True, "delivery": stored.row_id})
    if stored.messages:
        b.wake_worker()
    return jsonify({"ok": True, "delivery": stored.row_id, "state": stored.state, "messages": stored.messages})

"""POST /woocommerce/keys: where WooCommerce's app authorization posts the new REST keys.

Answered exactly 200 only when the keys were taken (WooCommerce deletes them on any other answer
and shows the owner its error page); every other answer is JSON with a code and the reason, and
is recorded with the other refusals (the keys themselves are never kept in the record).
"""
from __future__ import annotations

import json
import logging

from flask import Blueprint, jsonify, request

from ...rejections import record_rejection
from ...web import bridge
from . import connection

log = logging.getLogger(__name__)

bp = Blueprint("woocommerce_keys", __name__)


def _kept(body: bytes) -> bytes:
    """The refused body for the record, the key and secret replaced by their masks."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if isinstance(data, dict):
        for name in ("consumer_key", "consumer_secret"):
            if isinstance(data.get(name), str):
                data[name] = connection.mask(data[name])
    return json.dumps(data).encode()


@bp.post(connection.CALLBACK_PATH)
def keys():
    b = bridge()
    body = request.get_data(cache=True)
    answer = connection.receive_keys(b, body)
    if not answer.ok:
        record_rejection(b.db, request.path, answer.status, answer.reason, request.remote_addr, request.headers,
                         _kept(body))
        log.warning("refused WooCommerce keys: %s", answer.reason)
        return jsonify({"ok": False, "error": answer.code, "reason": answer.reason}), answer.status
    response = jsonify({"ok": True})
    response.call_on_close(lambda: connection.create_webhooks_soon(b))
    return response

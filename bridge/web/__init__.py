"""HTTP surfaces: the application factory (app.py), the one provider-webhook view (webhooks.py),
the pay page, health, metrics and the admin; shared helpers below."""
from __future__ import annotations

from flask import current_app, jsonify

from ..service import Bridge


def bridge() -> Bridge:
    return current_app.extensions["bridge"]


def error(status: int, reason: str, **extra: object):
    """Every refusal is JSON with a reason a person can act on."""
    body = {"ok": False, "error": reason}
    body.update(extra)
    return jsonify(body), status

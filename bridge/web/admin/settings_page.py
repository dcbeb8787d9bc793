"""Settings and health: what is configured (secrets masked), what to paste where, the phones,
recent refusals, and the last reconcile."""
from __future__ import annotations

from dataclasses import fields
from typing import Any

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _

from ... import reconcile
from ...config import ENV
from ...service import WEBHOOK_PATH
from .. import bridge
from . import bp

SECRET_WORDS = ("secret", "token", "password", "key")


def mask(value: str) -> str:
    """Enough to recognise a key, never enough to use it."""
    if not value:
        return ""
    return "•" * 8 if len(value) < 12 else f"{value[:3]}…{value[-3:]}"


def configuration() -> list[dict[str, Any]]:
    s = bridge().settings
    names = {f.name for f in fields(s)}
    rows = []
    for env, (attr, _parse) in sorted(ENV.items()):
        if attr not in names:
            continue
        value = getattr(s, attr)
        if isinstance(value, (tuple, list)):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        value = "" if value is None else str(value)
        secret = any(w in env.lower() for w in SECRET_WORDS) and env not in ("SMSGATE_SIM",)
        rows.append({"env": env, "value": mask(value) if secret else value, "secret": secret})
    return rows


@bp.get("/settings")
def settings():
    b = bridge()
    s = b.settings
    last_reconcile = reconcile.last_run(b.db)
    return render_template(
        "admin/settings.html", webhook_url=f"{s.public_url}{WEBHOOK_PATH}", webhook_secret=s.woo_webhook_secret,
        secret_origin=b.secret_origin.get("woo_webhook_secret"), endpoints=b.public_endpoints(),
        channels=b.channel_status(), devices=b.device_status(), config=configuration(),
        last_reconcile=last_reconcile, stale=reconcile.stale_orders(b.db), balance=b.db.kv_get("esms.balance"),
        rejections=[dict(r) for r in b.db.query(
            "SELECT id, at, COALESCE(last_at, at) AS last_at, COALESCE(count, 1) AS count, endpoint, http_status,"
            " reason, remote_addr FROM rejections ORDER BY COALESCE(last_at, at) DESC LIMIT 50")])


@bp.post("/devices/<name>/resume")
def device_resume(name: str):
    budget = getattr(bridge().channels.get("smsgate"), "budget", None)
    if budget is not None and budget.resume(name):
        flash(_("Phone %(name)s resumed.", name=name), "ok")
    else:
        flash(_("No paused phone named %(name)s.", name=name), "error")
    return redirect(url_for("admin.settings"))

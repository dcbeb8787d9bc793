"""Settings and health: what is configured (secrets masked), what to paste where, the phones,
recent refusals, and the last reconcile."""
from __future__ import annotations

from dataclasses import fields
from typing import Any

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _

from ...providers.woocommerce import reconcile
from ...providers.woocommerce import ownership as woo_webhooks
from ...providers.woocommerce.client import WooClient
from ... import providers
from ...config import ENV
from ...store import reports
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
        secret = any(w in env.lower() for w in SECRET_WORDS)
        rows.append({"env": env, "value": mask(value) if secret else value, "secret": secret})
    return rows


def endpoints() -> list[tuple[str, str, str]]:
    """The banner's list of URLs outside systems call (Bridge.public_endpoints), with the label
    and note in the admin's language; each URL carries its own secret."""
    return bridge().public_endpoints(_)


@bp.get("/settings")
def settings():
    b = bridge()
    s = b.settings
    last_reconcile = reconcile.last_run(b.db)
    return render_template(
        "admin/settings.html", webhook_url=woo_webhooks.delivery_url(s), webhook_secret=s.woo_webhook_secret,
        secret_origin=b.secret_origin.get("woo_webhook_secret"), endpoints=endpoints(),
        channels=b.channel_status(), devices=b.device_status(), config=configuration(),
        last_reconcile=last_reconcile, webhook_ids=woo_webhooks.ensured_ids(b.db), woo_configured=s.woo_configured, stale=reconcile.stale_orders(b.db), status_items=providers.status_items(b),
        rejections=[dict(r) for r in reports.recent_rejections(b.db, 50)])


@bp.post("/devices/<name>/resume")
def device_resume(name: str):
    if bridge().resume_device(name):
        flash(_("Phone %(name)s resumed.", name=name), "ok")
    else:
        flash(_("No paused phone named %(name)s.", name=name), "error")
    return redirect(url_for("admin.settings"))


@bp.post("/woocommerce/connect")
def woo_connect():
    """The admin's `python -m bridge connect`: create or repair our webhooks in the shop."""
    b = bridge()
    if not b.settings.woo_configured:
        flash(_("WooCommerce REST keys are not set: the webhooks cannot be created from here."), "error")
        return redirect(url_for("admin.settings"))
    report = woo_webhooks.ensure(WooClient(b.settings), b.settings, b.db)
    if report.error:
        flash(_("WooCommerce refused: %(error)s", error=report.error), "error")
    elif report.changed:
        flash(_("Webhooks created or repaired: %(n)d. The shop now delivers every event to woo-bridge.",
                n=len(report.created) + len(report.recreated) + len(report.replaced) + len(report.fixed)), "ok")
    else:
        flash(_("All %(n)d webhooks were already right; nothing changed.", n=len(report.healthy)), "ok")
    for warning in report.warnings:
        flash(_("Warning: %(text)s", text=warning), "error")
    return redirect(url_for("admin.settings"))

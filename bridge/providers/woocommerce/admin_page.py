"""The shop on the admin's Settings page: our webhooks in the shop (with the "create or repair"
action, the admin's `python -m bridge connect`), the last reconcile and the orders left unpaid."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, url_for
from flask_babel import gettext as _

from . import ownership, reconcile
from .client import WooClient
from ...web import bridge
from ...web.admin import bp

# Only a template folder (templates/woocommerce/): the Settings page includes its sections.
templates = Blueprint("woocommerce_templates", __name__, template_folder="templates")


def settings_context(b: Any) -> dict[str, Any]:
    """What the Settings page shows of the shop: its sections ("top": our webhooks in the shop,
    "health": the last reconcile and the orders left unpaid) and what they read."""
    s = b.settings
    return {"settings_sections": {"top": ["woocommerce/settings_webhooks.html"],
                                  "health": ["woocommerce/settings_reconcile.html"]},"webhook_url": ownership.delivery_url(s), "webhook_secret": s.woo_webhook_secret,
            "secret_origin": b.secret_origin.get("woo_webhook_secret"), "last_reconcile": reconcile.last_run(b.db),
            "webhook_ids": ownership.ensured_ids(b.db), "woo_configured": s.woo_configured,
            "stale": reconcile.stale_orders(b.db)}


@bp.post("/woocommerce/connect")
def woo_connect():
    """The admin's `python -m bridge connect`: create or repair our webhooks in the shop."""
    b = bridge()
    if not b.settings.woo_configured:
        flash(_("WooCommerce REST keys are not set: the webhooks cannot be created from here."), "error")
        return redirect(url_for("admin.settings"))
    report = ownership.ensure(WooClient(b.settings), b.settings, b.db)
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

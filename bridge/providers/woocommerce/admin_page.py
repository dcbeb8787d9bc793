"""The shop in the admin: "Kết nối WooCommerce" (the shop connected in one click, its webhooks and
their state), the Settings page's sections (our webhooks in the shop with the "create or repair"
action, the admin's `python -m bridge connect`; the last reconcile and the orders left unpaid),
and the dashboard checklist's step for the shop."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from . import connection, ownership, reconcile
from .client import WooClient
from ...setup_checklist import DONE, TODO, Step
from ... import reasons
from ...reasons import N_
from ...store import woo_connection as store
from ...web import bridge
from ...web.admin import bp

# Only a template folder (templates/woocommerce/): the Settings page includes its sections.
templates = Blueprint("woocommerce_templates", __name__, template_folder="templates")


def settings_context(b: Any) -> dict[str, Any]:
    """What the Settings page shows of the shop: its sections ("top": our webhooks in the shop,
    "health": the last reconcile and the orders left unpaid) and what they read."""
    s = connection.effective(b.settings)
    return {"settings_sections": {"top": ["woocommerce/settings_webhooks.html"],
                                  "health": ["woocommerce/settings_reconcile.html"]},"webhook_url": ownership.delivery_url(s), "webhook_secret": s.woo_webhook_secret,
            "secret_origin": b.secret_origin.get("woo_webhook_secret"), "last_reconcile": reconcile.last_run(b.db),
            "webhook_ids": ownership.ensured_ids(b.db), "woo_configured": s.woo_configured,
            "stale": reconcile.stale_orders(b.db)}


@bp.get("/woocommerce")
def woo_connection():
    """The connect page: the shop connected (or the environment's), its webhooks, the last attempt."""
    b = bridge()
    s = b.settings
    conn = connection.stored(s)
    return render_template("woocommerce/connect.html", conn=conn, env_set=connection.env_set(s),
                           env_url=s.woo_url, key_mask=connection.mask(conn.consumer_key if conn else None),
                           last=store.last_authorization(b.db), callback_url=connection.callback_url(s),
                           callback_problem=connection.callback_problem(s),
                           callback_port=connection.callback_port(s), webhook_ids=ownership.ensured_ids(b.db),
                           topics=ownership.TOPICS, woo_configured=connection.effective(s).woo_configured,
                           shop_url=request.args.get("shop", "")[:500], ask_switch=request.args.get("switch") == "ask")


@bp.post("/woocommerce/authorize")
def woo_authorize():
    """Start the app authorization: a page that sends the browser on to the shop (our CSP's
    form-action 'self' would stop a redirect answering this form)."""
    b = bridge()
    problem = connection.callback_problem(b.settings)
    if problem:
        flash(_(problem), "error")
        return redirect(url_for("admin.woo_connection"))
    typed = request.form.get("shop_url", "")[:500]
    try:
        shop, target = connection.begin(b, connection.normalize_shop_url(typed),
                                  url_for("admin.woo_return", _external=True), switch=request.form.get("switch") == "1")
    except connection.ShopUrlError as exc:
        flash(_(str(exc), **exc.params), "error")
        ask = "ask" if isinstance(exc, connection.SwitchNeeded) else None
        return redirect(url_for("admin.woo_connection", shop=typed, switch=ask))
    return render_template("woocommerce/authorize.html", target=target, shop=shop)


@bp.get("/woocommerce/return")
def woo_return():
    """Where the shop sends the owner back: success=1 (the keys came, or did not) or success=0."""
    row = connection.returned(bridge(), request.args.get("user_id", ""), request.args.get("success", ""))
    if row is None:
        flash(_("That link does not belong to a connection started here; start again below."), "error")
    elif row["outcome"]:
        ok = reasons.code_of(row["outcome"]) == "woo.connect.connected"
        flash(reasons.render(row["outcome"], _), "ok" if ok else "error")
    return redirect(url_for("admin.woo_connection"))


@bp.post("/woocommerce/connect")
def woo_connect():
    """The admin's `python -m bridge connect`: create or repair our webhooks in the shop."""
    b = bridge()
    back = url_for("admin.woo_connection") if request.form.get("back") == "connection" else url_for("admin.settings")
    s = connection.effective(b.settings)
    if not s.woo_configured:
        flash(_("The shop is not connected: connect it first (Connect WooCommerce)."), "error")
        return redirect(back)
    report = ownership.ensure(WooClient(s), s, b.db)
    connection.record_report(b, report)
    if report.error:
        flash(_("WooCommerce refused: %(error)s", error=report.error), "error")
    elif report.changed:
        flash(_("Webhooks created or repaired: %(n)d. The shop now delivers every event to woo-bridge.",
                n=len(report.created) + len(report.recreated) + len(report.replaced) + len(report.fixed)), "ok")
    else:
        flash(_("All %(n)d webhooks were already right; nothing changed.", n=len(report.healthy)), "ok")
    for warning in report.warnings:
        flash(_("Warning: %(text)s", text=warning), "error")
    return redirect(back)


def checklist(b: Any) -> list[Step]:
    """The dashboard's step for the shop: connected, and every webhook of ours in place."""
    s = connection.effective(b.settings)
    conn = None if connection.env_set(b.settings) else connection.stored(b.settings)
    title = N_("Shop connected and webhooks healthy")
    if not s.woo_configured:
        if conn is not None and not conn.readable:
            return [Step("woocommerce", TODO, title, N_("The stored shop keys cannot be read (SECRET_KEY changed or the "
                                                        "key file beside the database is missing): connect the shop "
                                                        "again; its updates wait until then."), "admin.woo_connection")]
        return [Step("woocommerce", TODO, title, N_("Connect your WooCommerce shop: enter its address, log in there "
                                                    "and approve."), "admin.woo_connection")]
    if conn is not None and conn.webhooks_state == connection.PENDING:
        return [Step("woocommerce", TODO, title, N_("The shop is connected; its webhooks are being created."),
                     "admin.woo_connection")]
    if conn is not None and conn.webhooks_state == connection.ERROR:
        return [Step("woocommerce", TODO, title, N_("The shop is connected but WooCommerce refused the webhooks: "
                                                    "open the page for the reason and try again."),
                     "admin.woo_connection")]
    missing = [t for t in ownership.TOPICS if t not in ownership.ensured_ids(b.db)]
    if missing:
        return [Step("woocommerce", TODO, title, N_("%(n)s webhooks are missing in the shop: create them with one "
                                                    "click."), "admin.woo_connection", (("n", str(len(missing))),))]
    return [Step("woocommerce", DONE, title, "", "admin.woo_connection")]

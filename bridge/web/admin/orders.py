"""Orders with their whole story, and everything that came in (SMS, app notifications,
Messenger) with how it was read."""
from __future__ import annotations

import json
from typing import Any

from flask import abort, render_template, request
from flask_babel import gettext as _

from ... import order_search, outbox
from ...money import format_vnd
from ...reasons import N_
from ...store import cod_report, deliveries, messages, orders as stored_orders, payments as stored_payments, reports
from .. import bridge
from . import bp, cursor_args, keyset_pager
from .labels import PAYMENT_METHODS, label, word
from .messages import channel_word, describe_job, job_note

PAGE = 50

# What a shop's webhook topic says happened to the order (the topic itself stays in the markup).
TOPICS = {"order.created": N_("The shop sent a new order"), "order.updated": N_("The shop sent a change to the order"),
          "order.deleted": N_("The shop moved the order to the trash"), "order.restored": N_("The shop restored the order")}
INBOX_STATES = {"received": N_("received"), "handled": N_("handled"), "stored": N_("kept, nothing to do"),
                "duplicate": N_("repeat")}


@bp.app_template_filter("method_name")
def method_name(o: dict[str, Any]) -> str:
    """A payment method we have a word for, else the shop's own title for it."""
    code = o.get("payment_method") or ""
    if code in PAYMENT_METHODS:
        return label(code, "method")
    return o.get("payment_method_title") or code


@bp.app_template_filter("inbox_state")
def inbox_state(state: str | None) -> str:
    return word(INBOX_STATES, state)


@bp.get("/orders")
def orders():
    b = bridge()
    q = request.args.get("q", "").strip()[:100]
    query = order_search.parse(q, b.settings.payment_code_prefix)
    page = reports.search_orders(b.db, query.number, query.phone, query.text, PAGE, *cursor_args())
    rows = [dict(r) for r in page.rows]
    return render_template("admin/orders.html", rows=rows, q=q, total=page.total, more=page.more,
                           pager=keyset_pager(page), code_example=f"{b.settings.payment_code_prefix}30")


def timeline(db: Any, order_id: int, number: str | None = None) -> list[dict[str, Any]]:
    """Everything that happened to an order, oldest first, each line a sentence in the reader's
    language: webhook deliveries and the status they carried, messages and their reports,
    payments, and what we wrote back to WooCommerce."""
    items: list[dict[str, Any]] = []
    for d in deliveries.of_order(db, order_id):
        status = ""
        try:
            status = str(json.loads(deliveries.raw_body(d) or b"{}").get("status", ""))
        except (ValueError, AttributeError):
            pass
        what = TOPICS.get(d["topic"])
        items.append({"at": d["received_at"], "kind": "webhook", "topic": d["topic"],
                      "title": _("%(what)s (%(state)s)", what=_(what) if what else d["topic"],
                                 state=label(d["state"], "delivery")),
                      "reason": d["reason"] or "", "detail": "", "status": status,
                      "status_word": label(status, "order") if status else "", "ref": d["delivery_id"]})
    for m in messages.of_order(db, order_id):
        row = dict(m)
        kind = outbox.kind_of(row)   # a message, or a job (an order update written to the shop)
        if kind == outbox.MESSAGE:
            title = _("Message “%(rule)s” on %(channel)s to %(recipient)s", rule=row["rule"] or row["event"],
                      channel=channel_word(row["channel"]), recipient=row["recipient"] or row["recipient_raw"] or "–")
            detail = row["text"]
        else:
            title, detail = describe_job(row, number), job_note(row) or row["text"]
        items.append({"at": row["created_at"], "kind": kind, "title": title, "detail": detail, "status": row["status"],
                      "status_word": label(row["status"], "message"), "mid": row["id"], "reason": row["reason"]})
        for e in messages.event_summaries(db, row["id"]):
            items.append({"at": e["at"], "kind": "report", "mid": row["id"], "detail": "", "reason": "",
                          "title": _("Delivery report from %(source)s: %(event)s", source=e["source"],
                                     event=label(e["event"], "message")),
                          "status": e["event"], "status_word": label(e["event"], "message")})
    for t in stored_payments.of_order(db, order_id):
        decision = t["review_action"] or t["decision"]
        items.append({"at": t["created_at"], "kind": "payment",
                      "title": _("Payment of %(amount)s from %(bank)s", amount=format_vnd(t["amount"] or 0),
                                 bank=t["bank"] or t["source"]),
                      "detail": "", "reason": t["reason"], "status": decision,
                      "status_word": label(decision, "decision"), "tx": t["id"]})
    items.sort(key=lambda i: (i["at"] or 0))
    return items


@bp.get("/orders/<int:order_id>")
def order(order_id: int):
    db = bridge().db
    row = stored_orders.get(db, order_id)
    if row is None:
        abort(404)
    o = dict(row)
    return render_template("admin/order.html", o=o, items=timeline(db, order_id, o["number"]),
                           cod=cod_report.of_order(db, order_id))


@bp.get("/inbound")
def inbound():
    db = bridge().db
    source = request.args.get("source", "").strip()[:40]
    page = reports.search_inbound(db, source, PAGE, *cursor_args())
    rows = [dict(r) for r in page.rows]
    sources = reports.inbound_sources(db)
    return render_template("admin/inbound.html", rows=rows, source=source, sources=sources, total=page.total,
                           more=page.more, pager=keyset_pager(page))

"""Orders with their whole story, and everything that came in (SMS, app notifications,
Messenger) with how it was read."""
from __future__ import annotations

import json
from typing import Any

from flask import abort, render_template, request

from ... import outbox
from ...store import deliveries, messages, orders as stored_orders, payments as stored_payments, reports
from .. import bridge
from . import bp, page_arg

PAGE = 50


@bp.get("/orders")
def orders():
    db = bridge().db
    q = request.args.get("q", "").strip()[:100]
    page = page_arg()
    found, total = reports.search_orders(db, q, PAGE, (page - 1) * PAGE)
    rows = [dict(r) for r in found]
    return render_template("admin/orders.html", rows=rows, q=q, page=page, total=total,
                           pages=max(1, (total + PAGE - 1) // PAGE))


def timeline(db: Any, order_id: int) -> list[dict[str, Any]]:
    """Everything that happened to an order, oldest first: webhook deliveries, status changes
    seen, messages and their reports, payments, and what we wrote back to WooCommerce."""
    items: list[dict[str, Any]] = []
    for d in deliveries.of_order(db, order_id):
        status = ""
        try:
            status = str(json.loads(d["body"] or b"{}").get("status", ""))
        except (ValueError, AttributeError):
            pass
        items.append({"at": d["received_at"], "kind": "webhook",
                      "title": f"{d['topic']} ({d['state']})", "detail": d["reason"] or "",
                      "status": status, "ref": d["delivery_id"]})
    for m in messages.of_order(db, order_id):
        kind = outbox.kind_of(m)   # a message, or a job (an order update written to the shop)
        items.append({"at": m["created_at"], "kind": kind, "title": m["rule"] or m["event"],
                      "detail": m["text"], "status": m["status"], "channel": m["channel"],
                      "recipient": m["recipient"] or m["recipient_raw"], "mid": m["id"], "reason": m["reason"]})
        for e in messages.event_summaries(db, m["id"]):
            items.append({"at": e["at"], "kind": "report", "title": f"{e['source']}: {e['event']}", "mid": m["id"],
                          "detail": "", "status": e["event"]})
    for t in stored_payments.of_order(db, order_id):
        items.append({"at": t["created_at"], "kind": "payment", "title": f"{t['bank'] or t['source']}: {t['decision']}",
                      "detail": t["reason"], "amount": t["amount"], "status": t["review_action"] or t["decision"],
                      "tx": t["id"]})
    items.sort(key=lambda i: (i["at"] or 0))
    return items


@bp.get("/orders/<int:order_id>")
def order(order_id: int):
    db = bridge().db
    row = stored_orders.get(db, order_id)
    if row is None:
        abort(404)
    return render_template("admin/order.html", o=dict(row), items=timeline(db, order_id))


@bp.get("/inbound")
def inbound():
    db = bridge().db
    source = request.args.get("source", "").strip()[:40]
    page = page_arg()
    found, total = reports.search_inbound(db, source, PAGE, (page - 1) * PAGE)
    rows = [dict(r) for r in found]
    sources = reports.inbound_sources(db)
    return render_template("admin/inbound.html", rows=rows, source=source, sources=sources, page=page, total=total,
                           pages=max(1, (total + PAGE - 1) // PAGE))

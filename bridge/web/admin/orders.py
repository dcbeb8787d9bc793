"""Orders with their whole story, and everything that came in (SMS, app notifications,
Messenger) with how it was read."""
from __future__ import annotations

import json
import re
from typing import Any

from flask import abort, render_template, request

from .. import bridge
from . import bp, page_arg

PAGE = 50


@bp.get("/orders")
def orders():
    db = bridge().db
    q = request.args.get("q", "").strip()[:100]
    page = page_arg()
    where, params = "", []
    if q:
        digits = re.sub(r"\D", "", q)
        where = " WHERE number = ? OR customer_name LIKE ? OR email LIKE ? OR (? != '' AND phone_e164 LIKE ?)"
        params = [q.lstrip("#"), f"%{q}%", f"%{q}%", digits, f"%{digits[-9:]}%"]
    total = db.scalar(f"SELECT COUNT(*) FROM orders{where}", tuple(params))
    rows = [dict(r) for r in db.query(
        f"SELECT id, number, status, notified_status, total_minor, customer_name, phone_e164, payment_method,"
        f" paid_at, updated_at FROM orders{where} ORDER BY updated_at DESC LIMIT ? OFFSET ?",
        (*params, PAGE, (page - 1) * PAGE))]
    return render_template("admin/orders.html", rows=rows, q=q, page=page, total=total,
                           pages=max(1, (total + PAGE - 1) // PAGE))


def timeline(db: Any, order_id: int) -> list[dict[str, Any]]:
    """Everything that happened to an order, oldest first: webhook deliveries, status changes
    seen, messages and their reports, payments, and what we wrote back to WooCommerce."""
    items: list[dict[str, Any]] = []
    for d in db.query("SELECT id, received_at, topic, delivery_id, state, reason, body FROM deliveries"
                      " WHERE resource='order' AND resource_id=? ORDER BY id", (order_id,)):
        status = ""
        try:
            status = str(json.loads(d["body"] or b"{}").get("status", ""))
        except (ValueError, AttributeError):
            pass
        items.append({"at": d["received_at"], "kind": "webhook",
                      "title": f"{d['topic']} ({d['state']})", "detail": d["reason"] or "",
                      "status": status, "ref": d["delivery_id"]})
    for m in db.query("SELECT * FROM messages WHERE order_id=? ORDER BY created_at", (order_id,)):
        kind = "woocommerce" if m["channel"] == "woocommerce" else "message"
        items.append({"at": m["created_at"], "kind": kind, "title": m["rule"] or m["event"],
                      "detail": m["text"], "status": m["status"], "channel": m["channel"],
                      "recipient": m["recipient"] or m["recipient_raw"], "mid": m["id"], "reason": m["reason"]})
        for e in db.query("SELECT at, source, event FROM message_events WHERE message_id=? ORDER BY id", (m["id"],)):
            items.append({"at": e["at"], "kind": "report", "title": f"{e['source']}: {e['event']}", "mid": m["id"],
                          "detail": "", "status": e["event"]})
    for t in db.query("SELECT * FROM transactions WHERE order_id=? ORDER BY id", (order_id,)):
        items.append({"at": t["created_at"], "kind": "payment", "title": f"{t['bank'] or t['source']}: {t['decision']}",
                      "detail": t["reason"], "amount": t["amount"], "status": t["review_action"] or t["decision"],
                      "tx": t["id"]})
    items.sort(key=lambda i: (i["at"] or 0))
    return items


@bp.get("/orders/<int:order_id>")
def order(order_id: int):
    db = bridge().db
    row = db.one("SELECT * FROM orders WHERE id=?", (order_id,))
    if row is None:
        abort(404)
    return render_template("admin/order.html", o=dict(row), items=timeline(db, order_id))


@bp.get("/inbound")
def inbound():
    db = bridge().db
    source = request.args.get("source", "").strip()[:40]
    page = page_arg()
    where, params = (" WHERE i.source = ?", [source]) if source else ("", [])
    total = db.scalar(f"SELECT COUNT(*) FROM inbox i{where}", tuple(params))
    rows = [dict(r) for r in db.query(
        f"SELECT i.*, t.id AS tx_id, t.decision, t.amount, t.order_id FROM inbox i"
        f" LEFT JOIN transactions t ON t.inbox_id = i.id{where} ORDER BY i.id DESC LIMIT ? OFFSET ?",
        (*params, PAGE, (page - 1) * PAGE))]
    sources = [r["source"] for r in db.query("SELECT DISTINCT source FROM inbox ORDER BY source")]
    return render_template("admin/inbound.html", rows=rows, source=source, sources=sources, page=page, total=total,
                           pages=max(1, (total + PAGE - 1) // PAGE))

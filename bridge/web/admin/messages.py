"""Messages: find any message (filters and full-text search), see every attempt, leg and
report, resend it or cancel it while it waits."""
from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ... import outbox
from ...phones import normalize_phone
from .. import bridge
from . import bp, int_arg, local_zone, page_arg, who

PAGE = 50
STATUSES = ("pending", "scheduled", "queued", "sent", "delivered", "failed", "dry-run", "cancelled", outbox.IN_DOUBT)


def fts_query(text: str) -> str:
    """Each word as a quoted FTS5 phrase prefix: what a person types never becomes FTS syntax."""
    words = re.findall(r"\w+", text, flags=re.UNICODE)
    return " ".join('"' + w.replace('"', '""') + '"*' for w in words[:12])


def _day(value: str, end: bool = False) -> float | None:
    try:
        d = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=local_zone())
    except ValueError:
        return None
    return d.timestamp() + (86_400 if end else 0)


def search(db: Any, args: dict[str, str], page: int) -> tuple[list[dict[str, Any]], int]:
    where, params = [], []
    if args.get("status") in STATUSES:
        where.append("m.status = ?")
        params.append(args["status"])
    if args.get("channel"):
        where.append("m.channel = ?")
        params.append(args["channel"])
    if int_arg(args.get("order")) is not None:
        where.append("(m.order_id = ? OR m.order_id IN (SELECT id FROM orders WHERE number = ?))")
        params += [int_arg(args["order"]), args["order"].strip().lstrip("#")]
    if args.get("phone", "").strip():
        raw = args["phone"].strip()
        phone = normalize_phone(raw)
        digits = re.sub(r"\D", "", raw)
        where.append("(m.recipient = ? OR m.recipient LIKE ? OR m.recipient_raw LIKE ?)")
        params += [phone.e164 or raw, f"%{digits[-9:]}%" if len(digits) >= 6 else raw, f"%{raw}%"]
    start, end = _day(args.get("from", "")), _day(args.get("to", ""), end=True)
    if start is not None:
        where.append("m.created_at >= ?")
        params.append(start)
    if end is not None:
        where.append("m.created_at < ?")
        params.append(end)
    q = fts_query(args.get("q", ""))
    if q:
        where.append("m.rowid IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)")
        params.append(q)
    sql_where = (" WHERE " + " AND ".join(where)) if where else ""
    total = db.scalar(f"SELECT COUNT(*) FROM messages m{sql_where}", tuple(params))
    rows = [dict(r) for r in db.query(
        f"SELECT m.* FROM messages m{sql_where} ORDER BY m.created_at DESC, m.rowid DESC LIMIT ? OFFSET ?",
        (*params, PAGE, (page - 1) * PAGE))]
    return rows, total


@bp.get("/messages")
def messages():
    b = bridge()
    args = {k: request.args.get(k, "").strip()[:200] for k in ("status", "channel", "order", "phone", "from", "to", "q")}
    page = page_arg()
    rows, total = search(b.db, args, page)
    pages = max(1, (total + PAGE - 1) // PAGE)
    return render_template("admin/messages.html", rows=rows, total=total, page=page, pages=pages, args=args,
                           statuses=STATUSES, channels=sorted(b.channels))


def _message_or_404(mid: str) -> dict[str, Any]:
    row = bridge().db.one("SELECT * FROM messages WHERE id=?", (mid,))
    if row is None:
        abort(404)
    return dict(row)


@bp.get("/messages/<mid>")
def message(mid: str):
    b = bridge()
    m = _message_or_404(mid)
    try:
        payload = json.loads(m["payload"]) if m["payload"] else None
    except ValueError:
        payload = None
    copies = [dict(r) for r in b.db.query("SELECT id, status, channel, created_at FROM messages WHERE dedupe_key LIKE ?"
                                          " ORDER BY created_at", (f"resend:{mid}:%",))]
    return render_template(
        "admin/message.html", m=m, payload=payload, legs=outbox.history(b.db, mid), copies=copies,
        attempts=[dict(r) for r in b.db.query("SELECT * FROM attempts WHERE message_id=? ORDER BY id", (mid,))],
        events=[dict(r) for r in b.db.query("SELECT * FROM message_events WHERE message_id=? ORDER BY id", (mid,))],
        channels=[n for n in sorted(b.channels) if n not in ("woocommerce", "http")],
        can_cancel=m["status"] in outbox.WAITING, can_resend=bool(m["recipient"]) and m["channel"] != "woocommerce",
        in_doubt=m["status"] == outbox.IN_DOUBT)


@bp.post("/messages/<mid>/resend")
def resend(mid: str):
    b = bridge()
    m = _message_or_404(mid)
    channel = request.form.get("channel") or None
    if outbox.is_shop_action(m) or channel == "woocommerce":
        # A WooCommerce action (mark paid, order note) done twice is a second payment
        # confirmation in the shop; the button is hidden, and the server refuses it too.
        flash(_("A WooCommerce action (mark paid, order note) is never resent: it would confirm or note the "
                "payment twice. Retry or fix it in WooCommerce instead."), "error")
        return message(mid), 409
    if channel is not None and channel not in b.channels:
        flash(_("Unknown channel %(name)s.", name=channel), "error")
        return redirect(url_for("admin.message", mid=mid))
    try:
        new_id = outbox.resend(b.db, mid, channel, who())
    except ValueError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.message", mid=mid))
    b.wake_worker()
    flash(_("Resent as a new message."), "ok")
    return redirect(url_for("admin.message", mid=new_id))


@bp.post("/messages/<mid>/cancel")
def cancel(mid: str):
    b = bridge()
    _message_or_404(mid)
    try:
        outbox.cancel(b.db, mid, who())
        flash(_("Cancelled: it will not be sent."), "ok")
    except ValueError as exc:
        flash(str(exc), "error")
    return redirect(url_for("admin.message", mid=mid))


@bp.post("/messages/<mid>/delivered")
def mark_delivered(mid: str):
    """A person's answer to "in doubt": the customer did get it (they said so, or it shows in the
    page's inbox), so neither the next channel nor a resend is wanted."""
    b = bridge()
    _message_or_404(mid)
    try:
        outbox.mark_delivered(b.db, mid, who())
        flash(_("Marked as delivered: it will not be sent again."), "ok")
    except ValueError as exc:
        flash(str(exc), "error")
    return redirect(url_for("admin.message", mid=mid))

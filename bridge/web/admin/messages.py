"""Messages: find any message (filters and full-text search), see every attempt, leg and
report, resend it or cancel it while it waits."""
from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, Callable

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ... import outbox
from ...store import messages as stored, reports
from ...phones import normalize_phone
from .. import bridge
from . import bp, int_arg, local_zone, page_arg, who

PAGE = 50
KINDS = ("all", *outbox.JOB_KINDS)
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
    """Messages (SMS, chat) by default; `kind` = a job kind or "all" shows jobs too."""
    order_id = int_arg(args.get("order"))
    raw = args.get("phone", "").strip()
    f = reports.MessageFilter(
        status=args["status"] if args.get("status") in STATUSES else None, channel=args.get("channel") or None,
        order_id=order_id, order_number=args["order"].strip().lstrip("#") if order_id is not None else "",
        phone_e164=normalize_phone(raw).e164 if raw else None, phone_raw=raw,
        from_ts=_day(args.get("from", "")), to_ts=_day(args.get("to", ""), end=True), fts=fts_query(args.get("q", "")),
        kind=args["kind"] if args.get("kind") in KINDS else None)
    rows, total = reports.search_messages(db, f, PAGE, (page - 1) * PAGE)
    return [dict(r) for r in rows], total


@bp.get("/messages")
def messages():
    b = bridge()
    args = {k: request.args.get(k, "").strip()[:200]
            for k in ("status", "channel", "order", "phone", "from", "to", "q", "kind")}
    page = page_arg()
    rows, total = search(b.db, args, page)
    pages = max(1, (total + PAGE - 1) // PAGE)
    return render_template("admin/messages.html", rows=rows, total=total, page=page, pages=pages, args=args,
                           statuses=STATUSES, channels=sorted(b.channels), kinds=KINDS)


def _message_or_404(mid: str) -> dict[str, Any]:
    row = stored.get(bridge().db, mid)
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
    copies = [dict(r) for r in stored.copies(b.db, mid)]
    return render_template(
        "admin/message.html", m=m, payload=payload, legs=outbox.history(b.db, mid), copies=copies,
        attempts=[dict(r) for r in stored.attempts_of(b.db, mid)],
        events=[dict(r) for r in stored.events_of(b.db, mid)],
        channels=[n for n in sorted(b.channels) if n not in outbox.job_channel_names()],
        can_cancel=m["status"] in outbox.WAITING, can_resend=bool(m["recipient"]) and not outbox.never_resent(m),
        in_doubt=m["status"] == outbox.IN_DOUBT)


@bp.post("/messages/<mid>/resend")
def resend(mid: str):
    b = bridge()
    m = _message_or_404(mid)
    channel = request.form.get("channel") or None
    if outbox.never_resent(m) or (channel in outbox.job_channel_names() and outbox.kind_of(m) == outbox.MESSAGE):
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
    return _decide(mid, outbox.cancel, _("Cancelled: it will not be sent."))


@bp.post("/messages/<mid>/delivered")
def mark_delivered(mid: str):
    """A person's answer to "in doubt": the customer did get it (they said so, or it shows in the
    page's inbox), so neither the next channel nor a resend is wanted."""
    return _decide(mid, outbox.mark_delivered, _("Marked as delivered: it will not be sent again."))


def _decide(mid: str, act: Callable[[Any, str, str], None], done: str):
    """A person's decision on one message, flashed with what became of it."""
    b = bridge()
    _message_or_404(mid)
    try:
        act(b.db, mid, who())
        flash(done, "ok")
    except ValueError as exc:
        flash(str(exc), "error")
    return redirect(url_for("admin.message", mid=mid))

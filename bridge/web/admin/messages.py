"""Messages: find any message (filters and full-text search), see every attempt, leg and
report, resend it or cancel it while it waits."""
from __future__ import annotations

import json
import re
import unicodedata
from datetime import datetime
from typing import Any, Callable

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ... import outbox, reasons
from ...reasons import N_
from ...store import messages as stored, reports
from ...phones import normalize_phone
from .. import bridge
from . import bp, cursor_args, int_arg, keyset_pager, local_zone, who
from .labels import label, word

PAGE = 50
KINDS = ("all", *outbox.JOB_KINDS)
STATUSES = ("pending", "scheduled", outbox.HELD, "queued", "sent", "delivered", "failed", "dry-run", "cancelled", outbox.IN_DOUBT)

# Channel and kind names that are words rather than brands (eSMS, Zalo, Messenger stay as they are).
CHANNEL_WORDS = {"dry-run": N_("none (dry-run)"), "http": N_("web address (forward)"),
                 "smsgate": N_("shop phone (SMSGate)"), "http-events": N_("web address (outgoing events)")}
KIND_WORDS = {"all": N_("everything"), outbox.ORDER_UPDATE: N_("WooCommerce updates"),
              outbox.FORWARD: N_("forwards to a web address"), outbox.EVENT: N_("outgoing events")}
AUDIENCES = {"customer": N_("customer"), "owner": N_("shop owner"), "shop": N_("the shop (WooCommerce)"),
             "webhook": N_("a web address"), "test": N_("test")}
# what became of one provider call (attempts.outcome) or of one channel (message_legs.outcome)
OUTCOMES = {"accepted": N_("accepted"), "duplicate": N_("already sent before"), "transient": N_("temporary error"),
            "permanent": N_("refused"), "dry-run": N_("dry-run (not sent)"), "deferred": N_("postponed"),
            "unavailable": N_("cannot reach this recipient"), "no report": N_("no delivery report"),
            "in doubt": N_("in doubt")}


@bp.app_template_filter("channel")
def channel_word(name: str | None) -> str:
    return word(CHANNEL_WORDS, name)


@bp.app_template_filter("kind_word")
def kind_word(kind: str | None) -> str:
    return word(KIND_WORDS, kind)


@bp.app_template_filter("audience")
def audience_word(name: str | None) -> str:
    return word(AUDIENCES, name)


@bp.app_template_filter("outcome")
def outcome_word(code: str | None) -> str:
    """An attempt's or a channel's outcome; a message status otherwise."""
    return word(OUTCOMES, code) if code in OUTCOMES else label(code, "message")


def describe_job(row: dict[str, Any], number: str | None = None) -> str:
    """What a job does, as a sentence in the reader's language ("Mark order #27 paid"): the
    WooCommerce write-backs read from their payload, not shown as JSON. `number`: the order's
    number when the caller knows it (the shop's number may differ from its id)."""
    kind = outbox.kind_of(row)
    if kind == outbox.FORWARD:
        return _("Forward to %(url)s", url=row.get("recipient") or row.get("recipient_raw") or "")
    if kind != outbox.ORDER_UPDATE:
        return row.get("text") or ""
    try:
        payload = json.loads(row.get("payload") or "{}")
    except ValueError:
        payload = {}
    payload = payload if isinstance(payload, dict) else {}
    n = number or str(payload.get("order_id") or row.get("order_id") or "")
    action = payload.get("action")
    if action == "mark_paid":
        return _("Mark order #%(number)s paid (status: %(status)s)", number=n,
                 status=label(payload.get("status") or "", "order"))
    if action == "note":
        return _("Add a private note to order #%(number)s", number=n)
    if action == "cancel":
        return _("Cancel order #%(number)s", number=n)
    if action == "set_status":
        return _("Set order #%(number)s to %(status)s", number=n, status=label(payload.get("status") or "", "order"))
    return _("Update order #%(number)s", number=n)


def job_note(row: dict[str, Any]) -> str:
    """The note a WooCommerce write-back adds to the order (written in the shop's language)."""
    try:
        payload = json.loads(row.get("payload") or "{}")
    except ValueError:
        return ""
    return str(payload.get("note") or "") if isinstance(payload, dict) else ""


def fts_query(text: str) -> str:
    """Each word as a quoted FTS5 phrase prefix: what a person types never becomes FTS syntax.
    Composed first (NFC): a keyboard that types "ư" as "u" plus a combining horn would split the
    word at the mark, which \\w does not match ("Hương" became "Hu" "o" "ng")."""
    words = re.findall(r"\w+", unicodedata.normalize("NFC", text), flags=re.UNICODE)
    return " ".join('"' + w.replace('"', '""') + '"*' for w in words[:12])


def _day(value: str, end: bool = False) -> float | None:
    try:
        d = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=local_zone())
    except ValueError:
        return None
    return d.timestamp() + (86_400 if end else 0)


def search(db: Any, args: dict[str, str], before: str = "", after: str = "") -> tuple[list[dict[str, Any]],
                                                                                  reports.Page]:
    """Messages (SMS, chat) by default; `kind` = a job kind or "all" shows jobs too."""
    order_id = int_arg(args.get("order"))
    raw = args.get("phone", "").strip()
    f = reports.MessageFilter(
        status=args["status"] if args.get("status") in STATUSES else None, channel=args.get("channel") or None,
        order_id=order_id, order_number=args["order"].strip().lstrip("#") if order_id is not None else "",
        phone_e164=normalize_phone(raw).e164 if raw else None, phone_raw=raw,
        from_ts=_day(args.get("from", "")), to_ts=_day(args.get("to", ""), end=True), fts=fts_query(args.get("q", "")),
        kind=args["kind"] if args.get("kind") in KINDS else None)
    page = reports.search_messages(db, f, PAGE, before, after)
    found = [dict(r) for r in page.rows]
    for r in found:
        r["what"] = describe_job(r) if outbox.kind_of(r) != outbox.MESSAGE else ""
    return found, page


@bp.get("/messages")
def messages():
    b = bridge()
    args = {k: request.args.get(k, "").strip()[:200]
            for k in ("status", "channel", "order", "phone", "from", "to", "q", "kind")}
    rows, page = search(b.db, args, *cursor_args())
    return render_template("admin/messages.html", rows=rows, total=page.total, more=page.more,
                           pager=keyset_pager(page), unindexed=page.unindexed,
                           args=args, statuses=STATUSES, channels=sorted(b.channels),
                           kinds=KINDS)


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
    job = describe_job(m) if outbox.kind_of(m) != outbox.MESSAGE else ""
    return render_template(
        "admin/message.html", m=m, payload=payload, legs=outbox.history(b.db, mid), copies=copies, job=job,
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
    if outbox.kind_of(m) == outbox.EVENT:   # a copy would overtake the events after it (bridge/outgoing.py)
        flash(_("An outgoing event is sent again from its URL's page (Outgoing events → Send again): that keeps "
                "the events of one message in order."), "error")
        return message(mid), 409
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
    except outbox.Refused as exc:
        flash(reasons.render(str(exc), _), "error")
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
    except outbox.Refused as exc:
        flash(reasons.render(str(exc), _), "error")
    return redirect(url_for("admin.message", mid=mid))

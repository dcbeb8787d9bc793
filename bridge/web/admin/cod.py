"""Cash on delivery as the owner follows it (issue 16): who to call because they never answered
the confirmation question, what was answered, the parcels to look at (back at the shop, or the
carrier collecting another amount than the order's total), the carrier calls that matched no
order, and the month's figures that say whether asking pays off."""
from __future__ import annotations

import logging
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ... import months
from ...phones import national
from ...store import cod_report
from .. import bridge
from . import bp, cursor_args, day_start, keyset_pager, local_zone, page_arg, who

log = logging.getLogger(__name__)

PAGE = 50
SHOWN = 20                    # customers to call and parcels listed on the dashboard (the rest one tap away)
ANSWER_DAYS = 14              # the dashboard lists the answers of this many days that need the owner
UNMATCHED_DAYS = 30           # the dashboard counts the carrier calls of this many days that matched no order
STATES = ("call", "asked", "confirmed", "cancelled", "closed")   # the list's tabs, the one to act on first


@bp.app_template_filter("ago")
def ago(ts: float | None) -> str:
    """How long ago, as an owner says it ("3 giờ trước"), by the service's clock."""
    if not ts:
        return ""
    try:
        passed = max(0.0, bridge().clock() - float(ts))
    except (TypeError, ValueError):
        return ""
    if passed < 3600:
        return _("%(n)s min ago", n=int(passed // 60))
    if passed < 2 * 86400:
        return _("%(n)s h ago", n=int(passed // 3600))
    return _("%(n)s days ago", n=int(passed // 86400))


@bp.app_template_filter("phone_local")
def phone_local(e164: str | None) -> str:
    """+84912345678 as a Vietnamese reads it: 0912345678."""
    return national(e164) if e164 else ""


def figures(db: Any, n: int) -> list[dict[str, Any]]:
    """The COD figures of the last `n` months (the shop's), newest first."""
    return cod_report.month_figures(db, months.last(bridge().clock(), local_zone(), n))[::-1]


def dashboard_block(db: Any) -> dict[str, Any] | None:
    """What the dashboard shows of COD and parcels; None for a shop that uses neither."""
    if not cod_report.any_rows(db):
        return None
    calls = cod_report.confirmations(db, "call", SHOWN)
    parcels, parcels_total = cod_report.attention(db, SHOWN)
    today = cod_report.answered_since(db, day_start(0))
    answers, answers_total = cod_report.answers_to_see(db, day_start(ANSWER_DAYS - 1), SHOWN)
    return {"answers": [dict(r) for r in answers], "answers_total": answers_total,
            "calls": [dict(r) for r in calls.rows], "calls_total": calls.total,
            "waiting": cod_report.count_in_state(db, "asked"),
            "confirmed_today": today["confirmed"], "cancelled_today": today["cancelled"],
            "parcels": [dict(r) for r in parcels], "parcels_total": parcels_total,
            "unmatched": cod_report.unmatched_count(db, day_start(UNMATCHED_DAYS - 1)),
            "unmatched_days": UNMATCHED_DAYS,
            "months": figures(db, 2)}


@bp.get("/cod")
def cod():
    db = bridge().db
    counts = cod_report.state_counts(db)
    state = request.args.get("state", "").strip()
    if state not in STATES and state != "all":
        state = "call" if counts.get("call") else "all"
    page = cod_report.confirmations(db, "" if state == "all" else state, PAGE, *cursor_args())
    return render_template("admin/cod.html", rows=[dict(r) for r in page.rows], state=state, states=STATES,
                           counts=counts, all_count=sum(counts.values()), total=page.total, pager=keyset_pager(page),
                           unmatched_total=cod_report.unmatched_count(db, 0), months=figures(db, 12))


@bp.get("/cod/unmatched")
def cod_unmatched():
    db = bridge().db
    page = page_arg()
    found, total = cod_report.unmatched(db, PAGE, (page - 1) * PAGE)
    return render_template("admin/cod_unmatched.html", rows=[dict(r) for r in found], page=page, total=total,
                           pages=max(1, (total + PAGE - 1) // PAGE))


@bp.post("/cod/answers/seen")
def cod_answer_seen():
    """The owner read a customer's answer that needed them: it leaves the dashboard."""
    b = bridge()
    try:
        answer_id = int(request.form.get("id", ""))
    except ValueError:
        answer_id = 0
    with b.db.tx() as c:
        seen = cod_report.answer_seen(c, answer_id, b.clock())
    if seen:
        log.info("COD answer %s marked seen by %s", answer_id, who())
        flash(_("Answer marked as seen."), "ok")
    else:
        flash(_("That answer has nothing left to look at."), "error")
    return redirect(url_for("admin.dashboard"))


@bp.post("/shipments/seen")
def shipment_seen():
    """The owner saw a parcel's notice: it leaves the dashboard (the parcel and its story stay)."""
    b = bridge()
    carrier, tracking = request.form.get("carrier", "")[:40], request.form.get("tracking", "")[:100]
    parcel = cod_report.shipment(b.db, carrier, tracking)
    with b.db.tx() as c:
        cleared = parcel is not None and cod_report.clear_attention(c, carrier, tracking)
    if cleared:
        log.info("parcel %s %s marked seen by %s", carrier, tracking, who())
        flash(_("Parcel %(tracking)s marked as seen.", tracking=tracking), "ok")
    else:
        flash(_("Parcel %(tracking)s has nothing left to look at.", tracking=tracking or "?"), "error")
    if request.form.get("back") == "order" and parcel is not None and parcel["order_id"]:
        return redirect(url_for("admin.order", order_id=parcel["order_id"]))
    return redirect(url_for("admin.dashboard"))

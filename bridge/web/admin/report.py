"""The month in money: what the messages cost (at the prices the owner entered) and how the
payments came in. Months are the shop's (TIMEZONE), so a message sent at 00:30 on the 1st in
Hanoi belongs to that month even though it is still the previous month in UTC."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from flask import Response, flash, render_template, request
from flask_babel import gettext as _

from ... import months
from ...months import shift
from ...store import cod_report, prices as stored_prices, reports
from .. import bridge
from . import bp, local_zone

FORMULA = ("=", "+", "-", "@", "\t", "\r")   # a spreadsheet reads a cell starting so as a formula


@dataclass
class Line:
    """One channel, or one template on a channel: what went out and what it cost."""
    channel: str
    rule: str = ""
    messages: int = 0
    parts: int = 0
    delivered: int = 0
    failed: int = 0
    billed_sends: int = 0
    billed_parts: int = 0
    cost: int | None = None   # None: no price entered for the channel (unknown, never 0)

    @property
    def delivery_rate(self) -> float | None:
        return self.delivered / self.messages if self.messages else None


@dataclass
class Report:
    month: str                        # "2026-11"
    start: float
    end: float
    channels: list[Line] = field(default_factory=list)
    templates: list[Line] = field(default_factory=list)
    total: Line = field(default_factory=lambda: Line(""))
    payments: dict[str, Any] = field(default_factory=dict)
    cod: dict[str, Any] = field(default_factory=dict)   # the COD orders asked this month (cod_report.month_figures)


def month_bounds(month: str) -> tuple[float, float]:
    """[first instant, first instant of the next month) of "YYYY-MM" in the shop's zone."""
    return months.bounds(month, local_zone())


def this_month() -> str:
    return months.of(bridge().clock(), local_zone())


def _cost(price: stored_prices.Price | None, line: Line) -> int | None:
    """What a line's sends cost: per part or per message, as prices.cost counts one send."""
    if price is None:
        return None
    return price.vnd * (line.billed_parts if price.per == stored_prices.PER_PART else line.billed_sends)


def build(db: Any, month: str) -> Report:
    start, end = month_bounds(month)
    rep = Report(month, start, end)
    prices = stored_prices.all_prices(db)
    channels: dict[str, Line] = {}
    counts = ("messages", "parts", "delivered", "failed", "billed_sends", "billed_parts")
    for r in reports.month_messages(db, start, end):
        line = Line(r["channel"], r["rule"], **{k: r[k] or 0 for k in counts})
        line.cost = _cost(prices.get(line.channel), line)
        rep.templates.append(line)
        ch = channels.setdefault(line.channel, Line(line.channel))
        for k in counts:
            setattr(ch, k, getattr(ch, k) + getattr(line, k))
    for ch in channels.values():
        ch.cost = _cost(prices.get(ch.channel), ch)
    rep.channels = sorted(channels.values(), key=lambda c: -c.messages)
    rep.templates.sort(key=lambda t: (-t.messages, t.channel, t.rule))
    for k in counts:
        setattr(rep.total, k, sum(getattr(c, k) for c in rep.channels))
    costs = [c.cost for c in rep.channels]
    rep.total.cost = None if None in costs else sum(costs)   # one channel unknown: the total is unknown
    paid = reports.month_payments(db, start, end)
    auto_n, auto_median = reports.month_confirmation_median(db, start, end, by_hand=False)
    hand_n, hand_median = reports.month_confirmation_median(db, start, end, by_hand=True)
    rep.payments = {"auto": paid["auto"], "auto_amount": paid["auto_amount"], "by_hand": paid["by_hand"],
                    "by_hand_amount": paid["by_hand_amount"], "auto_median": auto_median, "auto_timed": auto_n,
                    "by_hand_median": hand_median, "by_hand_timed": hand_n,
                    "unknown_prices": sorted(c.channel for c in rep.channels if c.cost is None)}
    rep.cod = dict(cod_report.month_figures(db, [(month, start, end)])[0])
    return rep


def _month_arg() -> str:
    """?month=YYYY-MM, or this month; a month that is no month is said so, and this one shown."""
    raw = request.args.get("month", "").strip()
    if not raw:
        return this_month()
    try:
        month_bounds(raw)
    except ValueError:
        flash(_("“%(month)s” is not a month (YYYY-MM): this month is shown.", month=raw[:20]), "error")
        return this_month()
    return raw


@bp.get("/report")
def report():
    month = _month_arg()
    rep = build(bridge().db, month)
    return render_template("admin/report.html", rep=rep, prev=shift(month, -1), next=shift(month, 1),
                           current=this_month())


def cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: one starting like a formula gets a quote first."""
    if isinstance(value, str) and value.startswith(FORMULA):
        return "'" + value
    return value


def _rate(line: Line) -> str:
    rate = line.delivery_rate
    return "" if rate is None else f"{rate * 100:.1f}"


@bp.get("/report.csv")
def report_csv():
    month = request.args.get("month", "").strip() or this_month()
    try:
        month_bounds(month)
    except ValueError:   # a download has no page to show a note on: the error is the answer
        return render_template("admin/error.html", title="400",
                               message=_("“%(month)s” is not a month (YYYY-MM).", month=month[:20])), 400
    rep = build(bridge().db, month)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow([_("Section"), _("Channel"), _("Template"), _("Messages"), _("SMS parts"), _("Delivered"),
                _("Delivery rate (%)"), _("Failed"), _("Cost (VND)")])
    unknown = _("unknown")
    for section, lines in ((_("Channel"), rep.channels), (_("Template"), rep.templates),
                           (_("Total"), [rep.total])):
        for line in lines:
            w.writerow([cell(x) for x in (section, line.channel, line.rule, line.messages, line.parts, line.delivered,
                                          _rate(line), line.failed, unknown if line.cost is None else line.cost)])
    p = rep.payments
    w.writerow([])
    w.writerow([_("Payments"), _("Count"), _("Amount (VND)"), _("Median seconds from the bank to confirmation")])
    for label, n, amount, median in ((_("Confirmed automatically"), p["auto"], p["auto_amount"], p["auto_median"]),
                                     (_("Confirmed by hand"), p["by_hand"], p["by_hand_amount"], p["by_hand_median"])):
        w.writerow([cell(label), n, amount, "" if median is None else round(median)])
    w.writerow([])
    w.writerow([_("Cash on delivery"), _("Asked to confirm"), _("Confirmed"), _("Cancelled by the customer"),
                _("Never answered"), _("Refused at delivery"), _("Refused after confirming")])
    c = rep.cod
    w.writerow([month, c["asked"], c["confirmed"], c["cancelled"], c["unanswered"], c["refused"],
                c["refused_confirmed"]])
    body = "\ufeff" + out.getvalue()   # the BOM: a spreadsheet then reads the Vietnamese as UTF-8
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="woo-bridge-report-{month}.csv"'})

"""The page an owner opens every morning: today and the last 7 days at a glance."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import jsonify, render_template, url_for
from flask_babel import gettext as _

from ... import providers, setup_checklist
from ...store import held as held_messages
from ...payments.generic import DRIFT_WINDOW, unknown_layouts
from ...payments.handler import CONFIRM, OVERPAID, REJECT_SPOOF
from ...payments.latency import latencies
from ...payments.review import CONFIRMED, REJECTED, review_queue
from ...store import reports
from .. import bridge
from . import bp, day_start, local_zone
from .cod import dashboard_block

LEFT = ("queued", "sent", "delivered", "failed", "in-doubt")   # statuses of messages that went to a provider


def _period(db: Any, since: float) -> dict[str, Any]:
    by = [dict(r) for r in reports.messages_by_status_channel(db, since)]
    by_status: dict[str, int] = {}
    by_channel: dict[str, int] = {}
    for r in by:
        by_status[r["status"]] = by_status.get(r["status"], 0) + r["n"]
        by_channel[r["channel"] or "?"] = by_channel.get(r["channel"] or "?", 0) + r["n"]
    left = sum(by_status.get(s, 0) for s in LEFT)
    tx = reports.payment_outcomes(db, since, (CONFIRM, OVERPAID), CONFIRMED, REJECT_SPOOF, REJECTED)
    return {
        "orders": reports.orders_since(db, since),
        "messages": sum(by_status.values()), "by_status": by_status, "by_channel": by_channel,
        "delivery_rate": (by_status.get("delivered", 0) / left) if left else None,
        "confirmed": tx["confirmed"] or 0, "rejected": tx["rejected"] or 0,
    }


def _per_day(db: Any, days: int = 14) -> list[dict[str, Any]]:
    out = []
    for ago in range(days - 1, -1, -1):
        start, end = day_start(ago), day_start(ago - 1) if ago else 4e9
        out.append({
            "day": datetime.fromtimestamp(start, local_zone()).strftime("%d/%m"),
            "messages": reports.messages_between(db, start, end),
            "payments": reports.payments_between(db, start, end),
        })
    return out


def chart_svg(days: list[dict[str, Any]], width: int = 640, height: int = 180) -> dict[str, Any]:
    """Bars for a small chart drawn in the template as SVG: no script, no CDN."""
    top = max([1] + [d["messages"] for d in days] + [d["payments"] for d in days])
    slot = width / max(1, len(days))
    bar = slot * 0.35
    bars = []
    for i, d in enumerate(days):
        x = i * slot + slot * 0.1
        for j, key in enumerate(("messages", "payments")):
            h = (height - 30) * d[key] / top
            bars.append({"x": round(x + j * bar, 1), "y": round(height - 20 - h, 1), "w": round(bar - 1, 1),
                         "h": round(h, 1), "kind": key, "value": d[key], "day": d["day"]})
    labels = [{"x": round(i * slot + slot / 2, 1), "text": d["day"]} for i, d in enumerate(days)]
    return {"width": width, "height": height, "bars": bars, "labels": labels, "top": top}


def _said(text: str, params: dict[str, str]) -> str:
    """A step's English sentence in the reader's language, its parameters filled in."""
    if not text:
        return ""
    try:
        return _(text) % params if params else _(text)
    except (KeyError, TypeError, ValueError):   # a translation with a wrong placeholder: the English is right
        return text % params if params else text


def checklist(b: Any) -> list[dict[str, Any]]:
    """The set-up steps as the page shows them: translated, each with its link."""
    out = []
    for st in setup_checklist.steps(b):
        params = dict(st.params)
        endpoint, _hash, anchor = st.endpoint.partition("#")
        url = endpoint if endpoint.startswith(("http://", "https://")) else url_for(endpoint) if endpoint else ""
        out.append({"key": st.key, "state": st.state, "title": _said(st.title, params),
                    "hint": _said(st.hint, params), "url": url + (f"#{anchor}" if anchor else "")})
    return out


@bp.get("/")
def dashboard():
    b = bridge()
    db = b.db
    days = _per_day(db)
    steps = checklist(b)
    return render_template(
        "admin/dashboard.html", steps=steps, steps_todo=sum(st["state"] == setup_checklist.TODO for st in steps),
        held=[dict(r) for r in held_messages.held(db, 5)], held_count=held_messages.count(db),
        today=_period(db, day_start(0)), week=_period(db, day_start(6)),
        review_count=len(review_queue(db)), status_items=providers.status_items(b), latencies=latencies(db, b.clock()),
        devices=b.device_status(), chart=chart_svg(days), days=days,
        unknown_layouts=unknown_layouts(db, b.clock() - DRIFT_WINDOW), cod=dashboard_block(db))


@bp.get("/health")
def health():
    """What /healthz shows only to HEALTH_TOKEN holders: database, scheduler, channels, outbox,
    balance, phones (JSON, for the admin and scripts using the admin session)."""
    from ..health import details
    body, ok = details(bridge())
    return jsonify(body), 200 if ok else 503

"""Providers' delivery reports (callbacks): stored normalized before the answer, applied to their
message right after it by the decider (bridge/intake.py), exactly once.

A report decides little, but applying it finds the message, its chain and its legs and moves its
status, all inside the write lock; a provider reporting a burst (eSMS after a campaign) waited on
that. The stored row is what the provider said in our words (bridge/events.DeliveryReport),
with its raw payload, so a report acknowledged and then interrupted by a crash is applied after
the restart as if it had just arrived.
"""
from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import replace
from typing import Any, Callable

from . import providers, reasons
from .events import DeliveryReport
from .intake import SWEEP_AFTER, decide_rows
from .reasons import N_
from .outbox import apply_report, channel_of, settle_in_doubt
from .sending import Event, StatusReport
from .store import intake as stored, messages as stored_messages
from .store.db import Database, dumps, now

log = logging.getLogger(__name__)

APPLIED, UNKNOWN, ERROR = "applied", "unknown", "error"
# A chat receipt naming no message of ours, committed, whose settlement (asked of the chat app,
# after the commit) has not run yet: cleared to UNKNOWN once it has; left by a process that
# stopped, it is run again by the next deciding pass (bridge/intake.py SWEEP_AFTER).
SETTLING = "settling"
reasons.register({"report.failed": N_("applying the report failed: %(error)s")})


def store(db: Database, event: DeliveryReport, t: float) -> int:
    """Commit the report as it came (the one write before the answer); its row id."""
    r = event.report
    report = dumps({"event": r.event.value, "provider_status": r.provider_status, "detail": r.detail, "raw": r.raw,
                    "provider_retries": r.provider_retries, "chat": list(event.chat) if event.chat else None,
                    "seen_at": event.seen_at})
    with db.tx() as c:
        return stored.add_report(c, t, event.source, event.provider_id, event.send_key, report)


def event_of(row: sqlite3.Row) -> DeliveryReport:
    """A stored report as the provider's webhook made it."""
    d = json.loads(row["report"])
    report = StatusReport(Event(d["event"]), d["provider_status"], d["detail"], d["raw"], d["provider_retries"])
    return DeliveryReport(row["source"], report, row["provider_id"], row["send_key"],
                          tuple(d["chat"]) if d["chat"] else None, d["seen_at"])


def _json_object(raw: str) -> dict[str, Any]:
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {"raw": raw}
    return data if isinstance(data, dict) else {"raw": data}


def decide_pending(bridge: Any, limit: int, budget: float) -> int:
    """Apply the oldest stored reports in one write transaction; what each one tells a channel
    (a phone's health) and the chat receipts naming no message of ours (asked of the chat app,
    outside the lock) follow the commit."""
    after: list[Callable[[], None]] = []

    def decide(c: sqlite3.Connection, row: sqlite3.Row) -> None:
        event = event_of(row)
        report = event.report
        if report.provider_retries and report.event is Event.FAILED and event.provider_id:
            channel = bridge.channels.get(channel_of(bridge.db, event.provider_id) or "")
            if channel is not None and channel.provider_falls_back:
                note = f"{report.detail}; {report.provider_retries}"
                report = replace(report, event=Event.SENT, detail=note, raw=json.dumps(
                    {**_json_object(report.raw), "note": note}, ensure_ascii=False))
        mid = apply_report(bridge.db, event.source, report, event.provider_id, event.send_key)
        settles = mid is None and event.chat is not None and report.event is Event.DELIVERED
        stored.set_report_outcome(c, row["id"], APPLIED if mid else SETTLING if settles else UNKNOWN, mid, now())
        if settles:
            after.append(lambda: _settle(bridge, row["id"], event))
        elif mid:
            msg = stored_messages.get(bridge.db, mid)
            if msg is not None and msg["channel"] in bridge.channels:
                ch, device = bridge.channels[msg["channel"]], msg["device"]
                after.append(lambda: ch.on_report(device, report.event, report.detail))

    def failed(c: sqlite3.Connection, row: sqlite3.Row, exc: Exception) -> None:
        stored.set_report_outcome(c, row["id"], ERROR, None, now(),
                                  reasons.encode("report.failed", error=f"{type(exc).__name__}: {exc}"))

    left = stored.settling(bridge.db, now() - SWEEP_AFTER, limit) if bridge.calls_out() else []
    for row in left:   # a process stopped between a receipt's commit and its settlement
        after.append(lambda row=row: _settle(bridge, row["id"], event_of(row)))
    n = decide_rows(bridge.db, lambda c, k: stored.before_deliveries(c, stored.undecided_reports(c, k), "received_at"),
                    decide, failed, limit, budget)
    for step in after:
        try:
            step()
        except Exception:  # the report is applied; what follows it is best effort, as it was in the request
            log.exception("after a delivery report")
    return n


def _settle(bridge: Any, row_id: int, event: DeliveryReport) -> None:
    """The receipt's settlement, then its row cleared: a kill -9 in between runs it again."""
    _settle_chat(bridge, event)
    with bridge.db.tx() as c:
        stored.settled(c, row_id, UNKNOWN)


def _settle_chat(bridge: Any, event: DeliveryReport) -> None:
    """A chat receipt names an id we never got back (the send's answer was lost): what was sent
    under it decides whether an in-doubt message to that person is settled."""
    assert event.chat is not None
    chat = providers.chat(event.chat[0])
    phone = chat.phone_of(bridge.db, event.chat[1])
    text = chat.message_text(bridge.settings, event.provider_id) if phone and event.provider_id else None
    if phone and text:
        for m in settle_in_doubt(bridge.db, event.source, chat.channel, phone, event.seen_at or bridge.clock(), text,
                                 event.report.raw):
            log.info("message %s was in doubt: %s reports a delivery to %s after it", m, event.source, event.chat[1])

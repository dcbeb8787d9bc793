"""The outbox: enqueue, claim, record the provider's answer, retry or give up.

A message is a row before any provider is called, and a claimed row carries a lease rather
than a status change, so a worker that dies mid-send leaves a row that the next run picks up
when the lease runs out. The retry reuses the same message id as the provider's idempotency
key, which is why a crash can delay an SMS but never double it.
"""
from __future__ import annotations

import random
import sqlite3
import uuid
from dataclasses import dataclass

from .channels.base import Event, Outcome, SendResult, StatusReport
from .db import Database, now
from .phones import PhoneResult
from .quiet import quiet_until
from .smstext import SmsText

# Statuses, in the seeds' vocabulary (+ dry-run). A message only moves forward.
PENDING, SCHEDULED, QUEUED, SENT, DELIVERED, FAILED, DRY_RUN = (
    "pending", "scheduled", "queued", "sent", "delivered", "failed", "dry-run")
WAITING = (PENDING, SCHEDULED)
RANK = {PENDING: 0, SCHEDULED: 0, QUEUED: 1, SENT: 2, DELIVERED: 3, FAILED: 3, DRY_RUN: 3}
EVENT_STATUS = {Event.QUEUED: QUEUED, Event.SENT: SENT, Event.DELIVERED: DELIVERED, Event.FAILED: FAILED}


def new_message_id() -> str:
    # 32 hex chars: well under eSMS's RequestId limit, unique across processes.
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Draft:
    """A message the rules decided on, before it is a row."""
    dedupe_key: str
    rule: str
    event: str
    audience: str
    channels: tuple[str, ...]      # the first, then the ones to fall back to, in order
    recipient_raw: str
    recipient: str | None          # E.164 for SMS, a URL for forwards; None when unusable
    problem: str | None            # why there is no usable recipient
    sms: SmsText
    order_id: int | None = None
    customer_id: int | None = None
    delivery_ref: int | None = None
    due_at: float | None = None
    urgent: bool = True

    @classmethod
    def to_phone(cls, phone: PhoneResult, **kw) -> "Draft":
        problem = None if phone.ok else f"no usable phone number: {phone.reason}"
        return cls(recipient_raw=phone.raw, recipient=phone.e164, problem=problem, **kw)


def enqueue(c: sqlite3.Connection, d: Draft, quiet: tuple[int, int] | None = None,
            tz: str = "Asia/Ho_Chi_Minh") -> str | None:
    """Insert the message inside the caller's transaction. None if its dedupe key exists."""
    t = now()
    mid = new_message_id()
    status, reason = PENDING, ""
    due = d.due_at or t
    if not d.urgent:
        later = quiet_until(due, quiet, tz)
        if later:
            due, reason = later, "not urgent: waits for the end of quiet hours"
    if d.problem:
        status, reason = FAILED, d.problem
    elif not d.sms.text:
        status, reason = FAILED, "template rendered an empty text"
    elif due > t:
        status = SCHEDULED
    cur = c.execute(
        "INSERT OR IGNORE INTO messages(id, created_at, updated_at, dedupe_key, delivery_ref, order_id,"
        " customer_id, rule, event, audience, channel, fallback, urgent, recipient_raw, recipient, text, encoding,"
        " length, segments, status, reason, attempts, due_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,?)",
        (mid, t, t, d.dedupe_key, d.delivery_ref, d.order_id, d.customer_id, d.rule, d.event, d.audience,
         d.channels[0], ",".join(d.channels[1:]), int(d.urgent), d.recipient_raw, d.recipient, d.sms.text,
         d.sms.encoding, d.sms.length, d.sms.segments, status, reason, due))
    return mid if cur.rowcount else None


def claim(db: Database, limit: int, lease: float) -> list[sqlite3.Row]:
    """Take up to `limit` due messages for this worker, leasing them for `lease` seconds."""
    t = now()
    with db.tx() as c:
        rows = c.execute(
            "SELECT id FROM messages WHERE status IN ('pending','scheduled') AND due_at <= ?"
            " AND (lease_until IS NULL OR lease_until < ?) ORDER BY due_at LIMIT ?", (t, t, limit)).fetchall()
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        marks = ",".join("?" * len(ids))
        c.execute(f"UPDATE messages SET lease_until=?, attempts=attempts+1, updated_at=? WHERE id IN ({marks})",
                  (t + lease, t, *ids))
        return c.execute(f"SELECT * FROM messages WHERE id IN ({marks}) ORDER BY due_at", ids).fetchall()


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter, so a recovering provider is not hit by a synchronized wave."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    return delay * (0.5 + random.random())


@dataclass(frozen=True)
class Attempt:
    """One provider call and its answer, waiting to be recorded."""
    message: sqlite3.Row
    channel: str
    result: SendResult
    duration_ms: float
    remaining: tuple[str, ...] = ()   # fallback channels after `channel`


def record_results(db: Database, attempts: list[Attempt], max_attempts: int, backoff_base: float,
                   backoff_cap: float) -> list[str]:
    """Store a batch of attempts in one transaction and move each message. Returns new statuses.

    One transaction per batch rather than per message: a batch of sends finishes nearly at
    once, and per-message commits would queue webhook acknowledgements behind them.
    """
    with db.tx() as c:
        return [_record(c, a, max_attempts, backoff_base, backoff_cap) for a in attempts]


def _record(c: sqlite3.Connection, a: Attempt, max_attempts: int, backoff_base: float, backoff_cap: float) -> str:
    t = now()
    msg, result = a.message, a.result
    mid = msg["id"]
    if result.outcome is Outcome.DEFERRED:
        # Not an attempt: nothing was sent. Give the claim back and wait for capacity.
        c.execute("UPDATE messages SET status=?, due_at=?, attempts=MAX(0, attempts-1), lease_until=NULL, reason=?,"
                  " updated_at=? WHERE id=?", (SCHEDULED, result.retry_at or t + 60, result.detail, t, mid))
        return SCHEDULED
    c.execute("INSERT INTO attempts(message_id, at, channel, outcome, code, detail, duration_ms)"
              " VALUES (?,?,?,?,?,?,?)",
              (mid, t, a.channel, result.outcome.value, result.code, result.detail, round(a.duration_ms, 1)))
    current = c.execute("SELECT status, attempts FROM messages WHERE id=?", (mid,)).fetchone()
    attempts = current["attempts"]
    fallback = ",".join(a.remaining)
    if result.outcome in (Outcome.ACCEPTED, Outcome.DUPLICATE):
        # A delivery report may already have moved it further: only move forward.
        target = DELIVERED if result.delivered else QUEUED
        new_status = target if RANK[current["status"]] < RANK[target] else current["status"]
        c.execute("UPDATE messages SET status=?, channel=?, fallback=?, device=COALESCE(?, device),"
                  " provider_id=COALESCE(?, provider_id), sent_at=COALESCE(sent_at, ?), lease_until=NULL, reason=?,"
                  " delivered_at=CASE WHEN ?='delivered' THEN ? ELSE delivered_at END, updated_at=? WHERE id=?",
                  (new_status, a.channel, fallback, result.device, result.provider_id, t,
                   result.detail if result.outcome is Outcome.DUPLICATE else "", new_status, t, t, mid))
        return new_status
    if result.outcome is Outcome.DRY_RUN:
        c.execute("UPDATE messages SET status=?, reason=?, lease_until=NULL, updated_at=? WHERE id=?",
                  (DRY_RUN, result.detail, t, mid))
        return DRY_RUN
    if result.outcome is Outcome.TRANSIENT and attempts < max_attempts:
        due = t + backoff(attempts, backoff_base, backoff_cap)
        c.execute("UPDATE messages SET status=?, due_at=?, lease_until=NULL, reason=?, updated_at=? WHERE id=?",
                  (PENDING, due, f"attempt {attempts} failed, retrying: {result.detail}", t, mid))
        return PENDING
    reason = result.detail if result.outcome is Outcome.PERMANENT else \
        f"gave up after {attempts} attempts: {result.detail}"
    if a.remaining:
        return _fall_back(c, mid, a.channel, a.remaining, reason, t)
    c.execute("UPDATE messages SET status=?, channel=?, reason=?, lease_until=NULL, updated_at=? WHERE id=?",
              (FAILED, a.channel, reason, t, mid))
    return FAILED


def _fall_back(c: sqlite3.Connection, mid: str, failed_channel: str, remaining: tuple[str, ...], reason: str,
               t: float) -> str:
    """The channel gave up on this message: hand it to the next one in the rule's list."""
    c.execute("UPDATE messages SET status=?, channel=?, fallback=?, attempts=0, due_at=?, lease_until=NULL,"
              " provider_id=NULL, device=NULL, reason=?, updated_at=? WHERE id=?",
              (PENDING, remaining[0], ",".join(remaining[1:]), t,
               f"{failed_channel} failed ({reason}); trying {remaining[0]}", t, mid))
    return PENDING


def apply_report(db: Database, source: str, report: StatusReport, provider_id: str | None,
                 request_id: str | None = None) -> str | None:
    """Record a delivery report and move the message forward. Returns the message id, if known."""
    t = now()
    with db.tx() as c:
        row = None
        if provider_id:
            row = c.execute("SELECT id, status FROM messages WHERE provider_id=?", (provider_id,)).fetchone()
        if row is None and request_id:
            row = c.execute("SELECT id, status FROM messages WHERE id=?", (request_id,)).fetchone()
        mid = row["id"] if row else None
        c.execute("INSERT INTO message_events(at, message_id, source, provider_id, event, raw) VALUES (?,?,?,?,?,?)",
                  (t, mid, source, provider_id, report.event.value, report.raw))
        if row is None:
            return None
        new = EVENT_STATUS.get(report.event)
        if new == FAILED and RANK[row["status"]] < RANK[FAILED]:
            full = c.execute("SELECT channel, fallback FROM messages WHERE id=?", (mid,)).fetchone()
            remaining = tuple(x for x in (full["fallback"] or "").split(",") if x)
            if remaining:
                _fall_back(c, mid, full["channel"], remaining, report.detail or "failed report", t)
                return mid
        if new and RANK[new] > RANK[row["status"]]:
            sets = "status=?, provider_status=?, reason=?, updated_at=?"
            args: list[object] = [new, report.provider_status, report.detail if new == FAILED else "", t]
            if new == DELIVERED:
                sets += ", delivered_at=?"
                args.append(t)
            if provider_id:
                sets += ", provider_id=COALESCE(provider_id, ?)"
                args.append(provider_id)
            c.execute(f"UPDATE messages SET {sets} WHERE id=?", (*args, mid))
        else:
            c.execute("UPDATE messages SET provider_status=?, updated_at=? WHERE id=?",
                      (report.provider_status, t, mid))
        return mid


def counts(db: Database) -> dict[str, int]:
    return {r["status"]: r["n"] for r in db.query("SELECT status, COUNT(*) AS n FROM messages GROUP BY status")}

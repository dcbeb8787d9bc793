"""The outbox: enqueue, claim, record the provider's answer, retry or give up.

A message is a row before any provider is called, and a claimed row carries a lease rather
than a status change, so a worker that dies mid-send leaves a row that the next run picks up
when the lease runs out. The retry reuses the same message id as the provider's idempotency
key, which is why a crash can delay an SMS but never double it.
"""
from __future__ import annotations

import json
import random
import re
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from .sending import Event, Outcome, SendResult, StatusReport
from .providers import retry_safety
from .db import Database, now
from .phones import PhoneResult
from .quiet import quiet_until
from .smstext import SmsText

# Statuses, in the seeds' vocabulary (+ dry-run). A message only moves forward.
PENDING, SCHEDULED, QUEUED, SENT, DELIVERED, FAILED, DRY_RUN, CANCELLED = (
    "pending", "scheduled", "queued", "sent", "delivered", "failed", "dry-run", "cancelled")
# The provider may have taken it but cannot be asked again safely (no idempotency): it waits for a
# receipt, the rule's next channel or a person. Below queued: a late "accepted" answer clears the doubt.
IN_DOUBT = "in-doubt"
WAITING = (PENDING, SCHEDULED)
RANK = {PENDING: 0, SCHEDULED: 0, IN_DOUBT: 0.5, QUEUED: 1, SENT: 2, DELIVERED: 3, FAILED: 3, DRY_RUN: 3,
        CANCELLED: 3}
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
    payload: dict[str, Any] | None = None   # the rule's extras beyond the text: link button, Zalo template
    fallback_after: float | None = None     # no delivery report within this many seconds: next channel

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
        " length, segments, status, reason, attempts, due_at, payload, leg, fallback_after)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,?,?,0,?)",
        (mid, t, t, d.dedupe_key, d.delivery_ref, d.order_id, d.customer_id, d.rule, d.event, d.audience,
         d.channels[0], ",".join(d.channels[1:]), int(d.urgent), d.recipient_raw, d.recipient, d.sms.text,
         d.sms.encoding, d.sms.length, d.sms.segments, status, reason, due,
         json.dumps(d.payload, ensure_ascii=False) if d.payload else None, d.fallback_after))
    return mid if cur.rowcount else None


def send_id(row: sqlite3.Row) -> str:
    """The idempotency key a provider sees: our id on the first channel, `id-N` after N fall-throughs.

    Two channels of one chain can be the same provider (Zalo and SMS both through eSMS), and
    eSMS refuses a RequestId it has seen (124): the second channel must not look like a retry.
    """
    return row["id"] if not row["leg"] else f"{row['id']}-{row['leg']}"


def message_id_of(send_key: str) -> str:
    """Our message id from a provider's copy of `send_id`."""
    return re.sub(r"-\d+$", "", send_key)


def payload_of(row: sqlite3.Row) -> dict[str, Any]:
    try:
        data = json.loads(row["payload"]) if row["payload"] else {}
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}


def claim(db: Database, limit: int, lease: float, only: str | None = None) -> list[sqlite3.Row]:
    """Take up to `limit` due messages for this worker, leasing them for `lease` seconds
    (`only`: just that message, if it is due and free: the CLI's send-test)."""
    t = now()
    which, args = (" AND id = ?", (only,)) if only else ("", ())
    with db.tx() as c:
        rows = c.execute(
            "SELECT id FROM messages WHERE status IN ('pending','scheduled') AND due_at <= ?"
            f" AND (lease_until IS NULL OR lease_until < ?){which} ORDER BY due_at LIMIT ?",
            (t, t, *args, limit)).fetchall()
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
                   backoff_cap: float, in_doubt_after: float = 600.0) -> list[str]:
    """Store a batch of attempts in one transaction and move each message. Returns new statuses.

    One transaction per batch rather than per message: a batch of sends finishes nearly at
    once, and per-message commits would queue webhook acknowledgements behind them.
    """
    with db.tx() as c:
        return [_record(c, a, max_attempts, backoff_base, backoff_cap, in_doubt_after) for a in attempts]


def _record(c: sqlite3.Connection, a: Attempt, max_attempts: int, backoff_base: float, backoff_cap: float,
            in_doubt_after: float = 600.0) -> str:
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
        if result.provider_id:
            new_status = _adopt_early_reports(c, mid, result.provider_id, new_status, t)
        return new_status
    if result.outcome is Outcome.UNAVAILABLE:
        reason = f"{a.channel} cannot reach this recipient: {result.detail}"
        if a.remaining:
            return _fall_back(c, mid, a.channel, a.remaining, reason, t, outcome="unavailable")
        c.execute("UPDATE messages SET status=?, channel=?, reason=?, lease_until=NULL, updated_at=? WHERE id=?",
                  (FAILED, a.channel, f"no channel left: {reason}", t, mid))
        return FAILED
    if result.outcome is Outcome.DRY_RUN:
        # No channel of the list is configured: shown against the last one, the safety net.
        chain = [msg["channel"], *[x for x in (msg["fallback"] or "").split(",") if x]]
        c.execute("UPDATE messages SET status=?, channel=?, reason=?, lease_until=NULL, updated_at=? WHERE id=?",
                  (DRY_RUN, chain[-1], result.detail, t, mid))
        return DRY_RUN
    if result.maybe_taken and retry_safety(a.channel) == "none":
        return _doubt(c, mid, a.channel, a.remaining, result.detail, t, t - a.duration_ms / 1000, in_doubt_after)
    if result.sticky is not None and retry_safety(a.channel) == "device":   # where a retry may go (SendResult.sticky)
        c.execute("UPDATE messages SET device=? WHERE id=?", (result.device if result.sticky else None, mid))
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


def _doubt(c: sqlite3.Connection, mid: str, channel: str, remaining: tuple[str, ...], why: str, t: float,
           started: float, after: float) -> str:
    """The provider may have the message and would send it again if asked again: stop here.

    `sent_at` keeps when the attempt began (a receipt after it settles the doubt) and `due_at`
    when the rule's next channel takes over; without one the message waits for a person."""
    then = f"{remaining[0]} takes over after {after:g} s without a receipt" if remaining else \
        "waiting for a person: resend, or mark delivered"
    c.execute("UPDATE messages SET status=?, channel=?, fallback=?, sent_at=COALESCE(sent_at, ?), due_at=?,"
              " lease_until=NULL, reason=?, updated_at=? WHERE id=?",
              (IN_DOUBT, channel, ",".join(remaining), started, t + after,
               f"in doubt: {channel} may have taken it ({why}); not resent blindly, {then}", t, mid))
    return IN_DOUBT


def doubt_abandoned(db: Database, after: float, route: Callable[[sqlite3.Row], tuple[str, tuple[str, ...]]]) -> int:
    """A claim whose lease ran out without a record: the worker died during the call. Where the
    provider does not deduplicate, that call may have gone through, so the message is in doubt
    instead of being claimed again (a record always clears `lease_until`). `route` names the
    channel the call went to (the first configured one of the list) and the ones after it."""
    t = now()
    n = 0
    with db.tx() as c:
        rows = c.execute("SELECT id, channel, fallback, updated_at FROM messages WHERE status IN ('pending','scheduled')"
                         " AND lease_until IS NOT NULL AND lease_until < ?", (t,)).fetchall()
        for r in rows:
            channel, remaining = route(r)
            if retry_safety(channel) == "none":
                _doubt(c, r["id"], channel, remaining, "the worker stopped during the call", t, r["updated_at"], after)
                n += 1
    return n


def resolve_in_doubt(db: Database) -> int:
    """In-doubt messages with a next channel and no receipt by their time go to that channel: a
    second notice on another channel is the lesser harm than none. The others wait for a person."""
    t = now()
    n = 0
    with db.tx() as c:
        rows = c.execute("SELECT id, channel, fallback FROM messages WHERE status='in-doubt' AND fallback != ''"
                         " AND due_at <= ?", (t,)).fetchall()
        for r in rows:
            remaining = tuple(x for x in r["fallback"].split(",") if x)
            _fall_back(c, r["id"], r["channel"], remaining, "in doubt, no receipt in time", t, outcome="in doubt")
            n += 1
    return n


def settle_in_doubt(db: Database, source: str, channel: str, recipient: str, seen_at: float, raw: str = "") -> list[str]:
    """A receipt from the provider shows a message of ours reached this recipient after an in-doubt
    attempt began: the lost answer was an acceptance, the message is delivered."""
    t = now()
    with db.tx() as c:
        rows = c.execute("SELECT id FROM messages WHERE status='in-doubt' AND channel=? AND recipient=?"
                         " AND sent_at <= ?", (channel, recipient, seen_at)).fetchall()
        for r in rows:
            c.execute("INSERT INTO message_events(at, message_id, source, provider_id, event, raw) VALUES (?,?,?,?,?,?)",
                      (t, r["id"], source, None, Event.DELIVERED.value, raw))
            c.execute("UPDATE messages SET status=?, delivered_at=?, reason=?, updated_at=? WHERE id=?",
                      (DELIVERED, t, f"was in doubt; {source} reported delivery to this recipient", t, r["id"]))
    return [r["id"] for r in rows]


def mark_delivered(db: Database, mid: str, who: str) -> None:
    """A person confirmed the customer got an in-doubt message (asked them, saw it in the inbox)."""
    t = now()
    with db.tx() as c:
        row = c.execute("SELECT status FROM messages WHERE id=?", (mid,)).fetchone()
        if row is None:
            raise ValueError(f"no message {mid}")
        if row["status"] != IN_DOUBT:
            raise ValueError(f"message is {row['status']}: only a message in doubt can be marked delivered")
        c.execute("UPDATE messages SET status=?, delivered_at=?, reason=?, updated_at=? WHERE id=?",
                  (DELIVERED, t, f"marked delivered by {who} (was in doubt)", t, mid))


def _adopt_early_reports(c: sqlite3.Connection, mid: str, provider_id: str, status: str, t: float) -> str:
    """A report can arrive before we have recorded the provider's id (Messenger's delivery
    receipt racing the Send API answer): it was kept without a message; claim it now."""
    early = c.execute("SELECT event FROM message_events WHERE provider_id=? AND message_id IS NULL",
                      (provider_id,)).fetchall()
    if not early:
        return status
    c.execute("UPDATE message_events SET message_id=? WHERE provider_id=? AND message_id IS NULL", (mid, provider_id))
    reached = [s for s in (EVENT_STATUS.get(Event(e["event"])) for e in early if e["event"] in Event._value2member_map_)
               if s in (SENT, DELIVERED)]
    best = max(reached, key=lambda s: RANK[s], default=None)
    if best and RANK[best] > RANK[status]:
        c.execute("UPDATE messages SET status=?, delivered_at=CASE WHEN ?='delivered' THEN ? ELSE delivered_at END,"
                  " updated_at=? WHERE id=?", (best, best, t, t, mid))
        return best
    return status


def _fall_back(c: sqlite3.Connection, mid: str, failed_channel: str, remaining: tuple[str, ...], reason: str,
               t: float, outcome: str = "failed") -> str:
    """The channel gave up on this message: keep its leg in the history, hand the message to the
    next channel of the rule's list."""
    cur = c.execute("SELECT leg, provider_id, sent_at, created_at FROM messages WHERE id=?", (mid,)).fetchone()
    c.execute("INSERT INTO message_legs(message_id, leg, channel, provider_id, started_at, ended_at, outcome, reason)"
              " VALUES (?,?,?,?,?,?,?,?)", (mid, cur["leg"] or 0, failed_channel, cur["provider_id"],
                                            cur["sent_at"], t, outcome, reason))
    c.execute("UPDATE messages SET status=?, channel=?, fallback=?, attempts=0, due_at=?, lease_until=NULL,"
              " provider_id=NULL, device=NULL, sent_at=NULL, leg=COALESCE(leg, 0)+1, reason=?, updated_at=?"
              " WHERE id=?",
              (PENDING, remaining[0], ",".join(remaining[1:]), t,
               f"{failed_channel}: {reason}; trying {remaining[0]}", t, mid))
    return PENDING


def advance_stalled(db: Database) -> int:
    """Messages whose rule set `fallback_after` and whose channel has not reported delivery in
    time go to the next channel. A message already delivered is never sent again."""
    t = now()
    n = 0
    with db.tx() as c:
        rows = c.execute(
            "SELECT id, channel, fallback, fallback_after FROM messages WHERE status IN ('queued','sent')"
            " AND fallback_after IS NOT NULL AND fallback != '' AND sent_at + fallback_after <= ?", (t,)).fetchall()
        for r in rows:
            remaining = tuple(x for x in r["fallback"].split(",") if x)
            _fall_back(c, r["id"], r["channel"], remaining,
                       f"no delivery report within {r['fallback_after']:g} s", t, outcome="no report")
            n += 1
    return n


def history(db: Database, mid: str) -> list[dict[str, Any]]:
    """The channels a message went through, in order: finished legs, then the current one."""
    legs = [dict(r) for r in db.query("SELECT leg, channel, provider_id, started_at, ended_at, outcome, reason"
                                      " FROM message_legs WHERE message_id=? ORDER BY leg", (mid,))]
    m = db.one("SELECT leg, channel, provider_id, sent_at, status, reason FROM messages WHERE id=?", (mid,))
    if m is not None:
        legs.append({"leg": m["leg"] or 0, "channel": m["channel"], "provider_id": m["provider_id"],
                     "started_at": m["sent_at"], "ended_at": None, "outcome": m["status"], "reason": m["reason"]})
    return legs


def channel_of(db: Database, provider_id: str) -> str | None:
    """The channel of the message a provider knows by this id."""
    row = db.one("SELECT channel FROM messages WHERE provider_id=?", (provider_id,))
    return row["channel"] if row else None


def message_row(db: Database, message_id: str) -> sqlite3.Row | None:
    return db.one("SELECT id, channel, device, status FROM messages WHERE id=?", (message_id,))


def apply_report(db: Database, source: str, report: StatusReport, provider_id: str | None,
                 request_id: str | None = None) -> str | None:
    """Record a delivery report and move the message forward. Returns the message id, if known.

    A report for an earlier channel of the chain (found through message_legs) can only say the
    customer got it: then the message is delivered and no later channel is used."""
    t = now()
    with db.tx() as c:
        row = None
        if provider_id:
            row = c.execute("SELECT id, status FROM messages WHERE provider_id=?", (provider_id,)).fetchone()
        if row is None and request_id:
            row = c.execute("SELECT id, status, leg FROM messages WHERE id=?", (message_id_of(request_id),)).fetchone()
            if row is not None and send_id(row) != request_id:
                row = None  # the report is about an earlier leg
        if row is None:
            leg = None
            if provider_id:
                leg = c.execute("SELECT message_id, channel FROM message_legs WHERE provider_id=?",
                                (provider_id,)).fetchone()
            if leg is None and request_id:
                leg = c.execute("SELECT message_id, channel FROM message_legs WHERE message_id=? AND leg=?",
                                (message_id_of(request_id), _leg_of(request_id))).fetchone()
            mid = leg["message_id"] if leg else None
            c.execute("INSERT INTO message_events(at, message_id, source, provider_id, event, raw) VALUES (?,?,?,?,?,?)",
                      (t, mid, source, provider_id, report.event.value, report.raw))
            if leg is not None and report.event is Event.DELIVERED:
                c.execute("UPDATE messages SET status=?, delivered_at=?, reason=?, updated_at=? WHERE id=?"
                          " AND status NOT IN ('delivered')",
                          (DELIVERED, t, f"delivered through {leg['channel']} (an earlier channel of the chain)", t,
                           mid))
            return mid
        mid = row["id"]
        c.execute("INSERT INTO message_events(at, message_id, source, provider_id, event, raw) VALUES (?,?,?,?,?,?)",
                  (t, mid, source, provider_id, report.event.value, report.raw))
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


def _leg_of(send_key: str) -> int:
    m = re.search(r"-(\d+)$", send_key)
    return int(m.group(1)) if m else 0


def cancel(db: Database, mid: str, who: str) -> None:
    """Stop a message that has not gone out. One being sent right now (leased) cannot be stopped."""
    t = now()
    with db.tx() as c:
        row = c.execute("SELECT status, lease_until FROM messages WHERE id=?", (mid,)).fetchone()
        if row is None:
            raise ValueError(f"no message {mid}")
        if row["status"] not in WAITING:
            raise ValueError(f"message is {row['status']}: only pending or scheduled messages can be cancelled")
        if row["lease_until"] and row["lease_until"] > t:
            raise ValueError("message is being sent right now; it can no longer be cancelled")
        c.execute("UPDATE messages SET status=?, reason=?, updated_at=? WHERE id=?",
                  (CANCELLED, f"cancelled by {who}", t, mid))


def is_shop_action(row: Any) -> bool:
    """A WooCommerce action (mark paid, order note): never resent, its own dedupe key is its
    only protection against confirming a payment twice."""
    return row["channel"] == "woocommerce" or "woocommerce" in (row["fallback"] or "").split(",")


def resend(db: Database, mid: str, channel: str | None, who: str) -> str:
    """A new message with the same text to the same recipient (on `channel`, or the same chain).

    A new row with its own id, so the provider sees a new request; the original is untouched.
    WooCommerce actions are refused (a second mark-paid is a second confirmation)."""
    t = now()
    with db.tx() as c:
        row = c.execute("SELECT * FROM messages WHERE id=?", (mid,)).fetchone()
        if row is None:
            raise ValueError(f"no message {mid}")
        if is_shop_action(row) or channel == "woocommerce":
            raise ValueError(f"message {mid} is a WooCommerce action (mark paid, order note): never resent")
        if not row["recipient"]:
            raise ValueError("the message has no usable recipient")
        n = c.execute("SELECT COUNT(*) FROM messages WHERE dedupe_key LIKE ?", (f"resend:{mid}:%",)).fetchone()[0]
        chain = (channel,) if channel else (row["channel"], *[x for x in (row["fallback"] or "").split(",") if x])
        new_id = new_message_id()
        c.execute(
            "INSERT INTO messages(id, created_at, updated_at, dedupe_key, delivery_ref, order_id, customer_id, rule,"
            " event, audience, channel, fallback, urgent, recipient_raw, recipient, text, encoding, length, segments,"
            " status, reason, attempts, due_at, payload, leg, fallback_after)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,1,?,?,?,?,?,?,?,?,0,?,?,0,?)",
            (new_id, t, t, f"resend:{mid}:{n + 1}", row["delivery_ref"], row["order_id"], row["customer_id"],
             row["rule"], row["event"], row["audience"], chain[0], ",".join(chain[1:]), row["recipient_raw"],
             row["recipient"], row["text"], row["encoding"], row["length"], row["segments"], PENDING,
             f"resent by {who} (copy of {mid})", t, row["payload"], row["fallback_after"] if len(chain) > 1 else None))
        if row["status"] == IN_DOUBT:   # the person decided: the doubt is over, the copy carries on
            c.execute("UPDATE messages SET status=?, reason=?, updated_at=? WHERE id=?",
                      (CANCELLED, f"was in doubt; resent by {who} as {new_id}", t, mid))
    return new_id


def counts(db: Database) -> dict[str, int]:
    return {r["status"]: r["n"] for r in db.query("SELECT status, COUNT(*) AS n FROM messages GROUP BY status")}

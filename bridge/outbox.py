"""The outbox: enqueue, claim, record the provider's answer, retry or give up.

A message is a row before any provider is called, and so is every other job the outbox carries
(a job kind names what is done: a shop order update, an HTTP forward; its payload is its own,
not JSON posing as a message's text), and a claimed row carries a lease rather
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
from dataclasses import dataclass, replace
from typing import Any, Callable, Collection

from . import reasons
from .config import JOB_CHANNELS
from .reasons import N_
from .sending import RATE_LIMITED, Event, Outcome, SendResult, StatusReport
from .providers import retry_safety
from .store import messages as q
from .store.db import Database, now
from .phones import PhoneResult
from .quiet import quiet_until
from .smstext import SmsText

# Statuses, in the seeds' vocabulary (+ dry-run). A message only moves forward.
PENDING, SCHEDULED, QUEUED, SENT, DELIVERED, FAILED, DRY_RUN, CANCELLED = (
    "pending", "scheduled", "queued", "sent", "delivered", "failed", "dry-run", "cancelled")
# The provider may have taken it but cannot be asked again safely (no idempotency): it waits for a
# receipt, the rule's next channel or a person. Below queued: a late "accepted" answer clears the doubt.
IN_DOUBT = "in-doubt"
# Never claimed: its text would lack what the owner has not configured yet (bridge/bank_details.py).
HELD = "held"
WAITING = (PENDING, SCHEDULED, HELD)
RANK = {PENDING: 0, SCHEDULED: 0, HELD: 0, IN_DOUBT: 0.5, QUEUED: 1, SENT: 2, DELIVERED: 3, FAILED: 3, DRY_RUN: 3,
        CANCELLED: 3}
EVENT_STATUS = {Event.QUEUED: QUEUED, Event.SENT: SENT, Event.DELIVERED: DELIVERED, Event.FAILED: FAILED}

# Codes of a note about the text itself (bridge.rules): kept on the row once it is sent.
TEXT_NOTES = ("rules.override_failed",)

# Job kinds. A message (SMS, Zalo, Messenger) has a text, an encoding and segments; every other
# kind carries a payload for its channel and is never counted as an SMS.
MESSAGE, ORDER_UPDATE, FORWARD = "message", "order_update", "forward"
EVENT = "event"   # an outgoing event to one of the owner's URLs (bridge/outgoing.py)
JOB_KINDS = (ORDER_UPDATE, FORWARD, EVENT)
# Done twice, an order update is a second payment confirmation in the shop: never resent. An
# event's copy would go outside its subject's order (bridge/outgoing.py): it is replayed there.
NEVER_RESENT = (ORDER_UPDATE, EVENT)

# Why a message is where it is (messages.reason, message_legs.reason) and why a person's action
# was refused: stored as codes (bridge/reasons.py), read in the owner's language. A `detail` is
# the provider's own words (or another code, rendered in turn).
reasons.register({
    "outbox.phone_empty": N_("no usable phone number: the phone number is empty"),
    "outbox.phone_invalid": N_("no usable phone number: %(phone)s is not a valid phone number"),
    "outbox.quiet_hours": N_("not urgent: waits for the end of quiet hours"),
    "outbox.empty_text": N_("the template rendered an empty text"),
    "outbox.unreachable": N_("%(channel)s cannot reach this recipient: %(detail)s"),
    "outbox.no_channel_left": N_("no channel left: %(reason)s"),
    "outbox.retrying": N_("attempt %(n)s failed, retrying: %(detail)s"),
    "outbox.gave_up": N_("gave up after %(n)s attempts: %(detail)s"),
    "outbox.in_doubt_next": N_("in doubt: %(channel)s may have taken it (%(why)s); not resent blindly, "
                               "%(next)s takes over after %(after)s s without a receipt"),
    "outbox.in_doubt_person": N_("in doubt: %(channel)s may have taken it (%(why)s); not resent blindly, "
                                 "waiting for a person: resend, or mark delivered"),
    "outbox.worker_stopped": N_("the worker stopped during the call"),
    "outbox.provider_busy": N_("%(channel)s asked us to wait (too many requests): sent when it takes requests again"),
    "outbox.own_budget": N_("waits for its turn within the %(channel)s request limit set here: sent when the "
                            "messages before it have gone"),
    "outbox.waited_too_long": N_("%(channel)s kept asking us to wait (too many requests) for %(seconds)s s: "
                                 "counted as a failed attempt (%(detail)s)"),
    "outbox.no_receipt_in_time": N_("in doubt, no receipt in time"),
    "outbox.settled": N_("was in doubt; %(source)s reported delivery to this recipient"),
    "outbox.marked_delivered": N_("marked delivered by %(who)s (was in doubt)"),
    "outbox.fell_back": N_("%(channel)s: %(reason)s; trying %(next)s"),
    "outbox.no_report": N_("no delivery report within %(seconds)s s"),
    "outbox.delivered_earlier": N_("delivered through %(channel)s (an earlier channel of the chain)"),
    "outbox.failed_report": N_("the provider reported a failure"),
    "outbox.cancelled_by": N_("cancelled by %(who)s"),
    "outbox.resent_by": N_("resent by %(who)s (copy of %(mid)s)"),
    "outbox.resent_from_doubt": N_("was in doubt; resent by %(who)s as %(new)s"),
    "outbox.no_message": N_("no message %(mid)s"),
    "outbox.not_in_doubt": N_("only a message in doubt can be marked delivered (this one is %(status)s)"),
    "outbox.not_waiting": N_("only waiting or scheduled messages can be cancelled (this one is %(status)s)"),
    "outbox.being_sent": N_("the message is being sent right now; it can no longer be cancelled"),
    "outbox.maybe_sent": N_("a sender took the message and recorded no outcome: it may have gone out, so it is not"
                            " cancelled (the outbox puts it in doubt)"),
    "outbox.never_resent": N_("message %(mid)s is an order update (mark paid, order note): never resent"),
    "outbox.event_not_resent": N_("message %(mid)s is an outgoing event: send it again from its URL's page "
                                  "(Outgoing events), which keeps the events of one message in order"),
    "outbox.cancelled_held_by": N_("cancelled by %(who)s while it waited for the bank-transfer details"),
    "outbox.held_no_resend": N_("message %(mid)s is held until the bank-transfer details are set: it goes out then"),
    "outbox.job_channel": N_("%(channel)s carries jobs, not messages: message %(mid)s cannot be resent through it"),
    "outbox.own_channel_only": N_("%(mid)s is a job: it is only resent through its own channel"),
    "outbox.no_recipient": N_("the message has no usable recipient"),
})


class Refused(ValueError):
    """A person's action the outbox will not do; `str()` is the stored form of the reason (show
    it with reasons.render / the |reason filter, log it with reasons.english)."""

    def __init__(self, code: str, **params: Any):
        super().__init__(reasons.encode(code, **params))


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
    held: str = ""                          # an encoded reason: stored as HELD, not sent until released

    @classmethod
    def to_phone(cls, phone: PhoneResult, **kw) -> "Draft":
        problem = None if phone.ok else (reasons.encode("outbox.phone_invalid", phone=phone.raw.strip())
                                         if phone.raw.strip() else reasons.encode("outbox.phone_empty"))
        return cls(recipient_raw=phone.raw, recipient=phone.e164, problem=problem, **kw)


def unwritten(sms: SmsText) -> str:
    """Why a message without text fails: the rules' reason when the template could not be
    written for this order, else that it rendered empty."""
    return sms.note or reasons.encode("outbox.empty_text")


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
            due, reason = later, reasons.encode("outbox.quiet_hours")
    if d.problem:
        status, reason = FAILED, d.problem
    elif not d.sms.text:
        status, reason = FAILED, unwritten(d.sms)
    elif d.held:
        status, reason = HELD, d.held
    else:
        # the text is the default's because the owner's saved text failed on this order: said
        reason = d.sms.note or reason
        if due > t:
            status = SCHEDULED
    row = {"id": mid, "created_at": t, "updated_at": t, "dedupe_key": d.dedupe_key, "delivery_ref": d.delivery_ref,
           "order_id": d.order_id, "customer_id": d.customer_id, "rule": d.rule, "event": d.event,
           "audience": d.audience, "channel": d.channels[0], "fallback": ",".join(d.channels[1:]),
           "urgent": int(d.urgent), "recipient_raw": d.recipient_raw, "recipient": d.recipient, "text": d.sms.text,
           "encoding": d.sms.encoding, "length": d.sms.length, "segments": d.sms.segments, "status": status,
           "reason": reason, "attempts": 0, "due_at": due,
           "payload": json.dumps(d.payload, ensure_ascii=False) if d.payload else None, "leg": 0,
           "fallback_after": d.fallback_after, "kind": MESSAGE}
    return mid if q.insert(c, row, ignore_duplicate=True) else None


@dataclass(frozen=True)
class Job:
    """Work for the outbox that is not a message: `kind` says what is done, `payload` is
    everything its channel needs; `summary` is what a person reads in the admin."""
    kind: str
    dedupe_key: str
    rule: str
    event: str
    audience: str
    target: str                    # what the job acts on, for its channel: an order id, a URL
    target_label: str              # the same, for a person
    payload: dict[str, Any]
    summary: str
    order_id: int | None = None
    customer_id: int | None = None
    delivery_ref: int | None = None


def enqueue_job(c: sqlite3.Connection, job: Job) -> str | None:
    """Insert a job inside the caller's transaction, on the channel that does its kind. None if its
    dedupe key exists. No text, encoding or segments: it is no SMS."""
    if job.kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {job.kind!r}")
    t = now()
    mid = new_message_id()
    row = {"id": mid, "created_at": t, "updated_at": t, "dedupe_key": job.dedupe_key,
           "delivery_ref": job.delivery_ref, "order_id": job.order_id, "customer_id": job.customer_id,
           "rule": job.rule, "event": job.event, "audience": job.audience, "channel": JOB_CHANNELS[job.kind],
           "fallback": "", "urgent": 1, "recipient_raw": job.target_label, "recipient": job.target,
           "text": job.summary, "encoding": None, "length": 0, "segments": 0, "status": PENDING, "reason": "",
           "attempts": 0, "due_at": t, "payload": json.dumps(job.payload, ensure_ascii=False), "leg": 0,
           "fallback_after": None, "kind": job.kind}
    return mid if q.insert(c, row, ignore_duplicate=True) else None


def _text_note(reason: str | None) -> str:
    """The reason a sent message keeps: the note that its text is the default because the owner's
    saved text failed on this order (bridge.rules), which the owner should still read."""
    r = reasons.decode(reason)
    return reason or "" if r is not None and r.code in TEXT_NOTES else ""


def kind_of(row: Any) -> str:
    """MESSAGE for rows written before job kinds existed."""
    try:
        return row["kind"] or MESSAGE
    except (IndexError, KeyError):
        return MESSAGE


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


def claim(db: Database, limit: int, lease: float, only: str | None = None, at: float | None = None,
          doubt: tuple[float, Route] | None = None, skip: Collection[str] = (),
          quotas: dict[str, int] | None = None) -> list[sqlite3.Row]:
    """Take up to `limit` due messages for this worker, leasing them for `lease` seconds
    (`only`: just that message, if it is due and free: the CLI's send-test; `at`: now).

    `doubt` (the in-doubt window and the router): in the same transaction, first put in doubt
    the abandoned claims of channels no retry is safe on, so an expired lease of a dead worker is
    never claimed again and resent, however long a drain runs. `skip`: rows this worker is still
    sending, whose lease may have run out during a slow call: claiming them again would send twice.
    `quotas`: at most that many rows of these channels (as many as their budget lets start soon)."""
    t = now() if at is None else at
    with db.tx() as c:
        if doubt is not None:
            _doubt_abandoned(c, t, *doubt, skip=skip)
        ids = q.due_ids(c, t, limit + len(skip), only, quotas)
        ids = [i for i in ids if i not in skip][:limit]
        if not ids:
            return []
        return q.lease(c, ids, t + lease, t)


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
                   backoff_cap: float, in_doubt_after: float = 600.0, at: float | None = None) -> list[str]:
    """Store a batch of attempts in one transaction and move each message. Returns new statuses.

    One transaction per batch rather than per message: a batch of sends finishes nearly at
    once, and per-message commits would queue webhook acknowledgements behind them. `at`: the
    worker's "now" (Bridge.clock), which measures how long a provider has kept asking us to wait.
    """
    with db.tx() as c:
        return [_record(c, a, max_attempts, backoff_base, backoff_cap, in_doubt_after, at) for a in attempts]


def _record(c: sqlite3.Connection, a: Attempt, max_attempts: int, backoff_base: float, backoff_cap: float,
            in_doubt_after: float = 600.0, at: float | None = None) -> str:
    t = now()
    tw = t if at is None else at
    msg, result = a.message, a.result
    mid = msg["id"]
    waited_out = False
    if result.outcome is Outcome.DEFERRED:
        # Not an attempt: nothing was sent. Give the claim back and wait for capacity. A provider
        # saying "too many requests" for longer than the message's next channel would wait for a
        # delivery report (or IN_DOUBT_AFTER without one) is a failure of that channel, though: a
        # budget exhausted for hours must not park the message instead of reaching the next channel.
        limited = result.code == RATE_LIMITED
        bound = msg["fallback_after"] or in_doubt_after
        if not limited or msg["waited_since"] is None or tw - msg["waited_since"] < bound:
            q.give_back(c, mid, SCHEDULED, result.retry_at or t + 60, result.detail, t, waited=tw if limited else None)
            return SCHEDULED
        waited_out = True
        result = replace(result, outcome=Outcome.TRANSIENT, detail=reasons.encode(
            "outbox.waited_too_long", channel=a.channel, seconds=f"{tw - msg['waited_since']:.0f}",
            detail=result.detail))
    q.add_attempt(c, mid, t, a.channel, result.outcome.value, result.code, result.detail, round(a.duration_ms, 1))
    if msg["waited_since"] is not None:
        q.end_wait(c, mid)
    if waited_out and a.remaining:
        return _fall_back(c, mid, a.channel, a.remaining, result.detail, t)
    current = q.status_and_attempts(c, mid)
    attempts = current["attempts"]
    fallback = ",".join(a.remaining)
    if result.outcome in (Outcome.ACCEPTED, Outcome.DUPLICATE):
        # A delivery report may already have moved it further: only move forward.
        target = DELIVERED if result.delivered else QUEUED
        new_status = target if RANK[current["status"]] < RANK[target] else current["status"]
        q.mark_taken(c, mid, new_status, a.channel, fallback, result.device, result.provider_id,
                     result.detail if result.outcome is Outcome.DUPLICATE else _text_note(msg["reason"]), t)
        if result.provider_id:
            new_status = _adopt_early_reports(c, mid, result.provider_id, new_status, t)
        return new_status
    if result.outcome is Outcome.UNAVAILABLE:
        reason = reasons.encode("outbox.unreachable", channel=a.channel, detail=result.detail)
        if a.remaining:
            return _fall_back(c, mid, a.channel, a.remaining, reason, t, outcome="unavailable")
        q.finish(c, mid, FAILED, a.channel, reasons.encode("outbox.no_channel_left", reason=reason), t)
        return FAILED
    if result.outcome is Outcome.DRY_RUN:
        # No channel of the list is configured: shown against the last one, the safety net.
        chain = [msg["channel"], *[x for x in (msg["fallback"] or "").split(",") if x]]
        q.finish(c, mid, DRY_RUN, chain[-1], result.detail, t)
        return DRY_RUN
    if result.maybe_taken and retry_safety(a.channel) == "none":
        return _doubt(c, mid, a.channel, a.remaining, result.detail, t, t - a.duration_ms / 1000, in_doubt_after)
    if result.sticky is not None and retry_safety(a.channel) == "device":   # where a retry may go (SendResult.sticky)
        q.pin_device(c, mid, result.device if result.sticky else None)
    if result.outcome is Outcome.TRANSIENT and attempts < max_attempts:
        due = t + backoff(attempts, backoff_base, backoff_cap)
        q.retry_at(c, mid, PENDING, due, reasons.encode("outbox.retrying", n=attempts, detail=result.detail), t)
        return PENDING
    reason = result.detail if result.outcome is Outcome.PERMANENT else \
        reasons.encode("outbox.gave_up", n=attempts, detail=result.detail)
    if a.remaining:
        return _fall_back(c, mid, a.channel, a.remaining, reason, t)
    q.finish(c, mid, FAILED, a.channel, reason, t)
    return FAILED


def _doubt(c: sqlite3.Connection, mid: str, channel: str, remaining: tuple[str, ...], why: str, t: float,
           started: float, after: float) -> str:
    """The provider may have the message and would send it again if asked again: stop here.

    `sent_at` keeps when the attempt began (a receipt after it settles the doubt) and `due_at`
    when the rule's next channel takes over; without one the message waits for a person."""
    reason = reasons.encode("outbox.in_doubt_next", channel=channel, why=why, next=remaining[0], after=f"{after:g}") \
        if remaining else reasons.encode("outbox.in_doubt_person", channel=channel, why=why)
    q.set_in_doubt(c, mid, IN_DOUBT, channel, ",".join(remaining), started, t + after, reason, t)
    return IN_DOUBT


Route = Callable[[sqlite3.Row], tuple[str, tuple[str, ...]]]


def _doubt_abandoned(c: sqlite3.Connection, t: float, after: float, route: Route, skip: Collection[str] = ()) -> int:
    """A claim whose lease ran out without a record: the worker died during the call. Where the
    provider does not deduplicate, that call may have gone through, so the message is in doubt
    instead of being claimed again (a record always clears `lease_until`). `route` names the
    channel the call went to (the first configured one of the list) and the ones after it."""
    n = 0
    for r in q.abandoned_claims(c, t):
        if r["id"] in skip:   # still being sent by this worker: its record is coming
            continue
        channel, remaining = route(r)
        if retry_safety(channel) == "none":
            _doubt(c, r["id"], channel, remaining, reasons.encode("outbox.worker_stopped"), t, r["updated_at"], after)
            n += 1
    return n


def resolve_in_doubt(db: Database) -> int:
    """In-doubt messages with a next channel and no receipt by their time go to that channel: a
    second notice on another channel is the lesser harm than none. The others wait for a person."""
    t = now()
    n = 0
    with db.tx() as c:
        rows = q.doubts_due(c, t)
        for r in rows:
            remaining = tuple(x for x in r["fallback"].split(",") if x)
            _fall_back(c, r["id"], r["channel"], remaining, reasons.encode("outbox.no_receipt_in_time"), t,
                       outcome="in doubt")
            n += 1
    return n


def settle_in_doubt(db: Database, source: str, channel: str, recipient: str, seen_at: float, text: str,
                    raw: str = "") -> list[str]:
    """The provider shows that a message with this text reached this recipient after an in-doubt
    attempt began: the lost answer was an acceptance, that message is delivered. The text must be
    ours (whole, or as the provider cut it): a receipt alone could be for anything the recipient
    was sent (the shop answering by hand), and settling on it could hide a notice never sent."""
    t = now()
    with db.tx() as c:
        rows = [r for r in q.doubts_of(c, channel, recipient, seen_at)
                if text and (r["text"] == text or (len(text) >= 20 and r["text"].startswith(text)))]
        for r in rows:
            q.add_event(c, t, r["id"], source, None, Event.DELIVERED.value, raw)
            q.set_delivered(c, r["id"], DELIVERED, reasons.encode("outbox.settled", source=source), t)
    return [r["id"] for r in rows]


def mark_delivered(db: Database, mid: str, who: str) -> None:
    """A person confirmed the customer got an in-doubt message (asked them, saw it in the inbox)."""
    t = now()
    with db.tx() as c:
        row = q.get(c, mid)
        if row is None:
            raise Refused("outbox.no_message", mid=mid)
        if row["status"] != IN_DOUBT:
            raise Refused("outbox.not_in_doubt", status=row["status"])
        q.set_delivered(c, mid, DELIVERED, reasons.encode("outbox.marked_delivered", who=who), t)


def _adopt_early_reports(c: sqlite3.Connection, mid: str, provider_id: str, status: str, t: float) -> str:
    """A report can arrive before we have recorded the provider's id (Messenger's delivery
    receipt racing the Send API answer): it was kept without a message; claim it now."""
    early = q.early_events(c, provider_id)
    if not early:
        return status
    q.adopt_events(c, mid, provider_id)
    reached = [s for s in (EVENT_STATUS.get(Event(e["event"])) for e in early if e["event"] in Event._value2member_map_)
               if s in (SENT, DELIVERED)]
    best = max(reached, key=lambda s: RANK[s], default=None)
    if best and RANK[best] > RANK[status]:
        q.advance(c, mid, best, t)
        return best
    return status


def _fall_back(c: sqlite3.Connection, mid: str, failed_channel: str, remaining: tuple[str, ...], reason: str,
               t: float, outcome: str = "failed") -> str:
    """The channel gave up on this message: keep its leg in the history, hand the message to the
    next channel of the rule's list."""
    cur = q.current_leg(c, mid)
    q.add_leg(c, mid, cur["leg"] or 0, failed_channel, cur["provider_id"], cur["sent_at"], t, outcome, reason)
    q.next_leg(c, mid, PENDING, remaining[0], ",".join(remaining[1:]),
               reasons.encode("outbox.fell_back", channel=failed_channel, reason=reason, next=remaining[0]), t)
    return PENDING


def advance_stalled(db: Database, at: float | None = None) -> int:
    """Messages whose rule set `fallback_after` and whose channel has not reported delivery in
    time (by `at`, default now) go to the next channel. A message already delivered is never sent again."""
    t = now() if at is None else at
    n = 0
    with db.tx() as c:
        for r in q.stalled(c, t):
            remaining = tuple(x for x in r["fallback"].split(",") if x)
            _fall_back(c, r["id"], r["channel"], remaining,
                       reasons.encode("outbox.no_report", seconds=f"{r['fallback_after']:g}"), t, outcome="no report")
            n += 1
    return n


def history(db: Database, mid: str) -> list[dict[str, Any]]:
    """The channels a message went through, in order: finished legs, then the current one."""
    legs = [dict(r) for r in q.legs(db, mid)]
    m = q.leg_now(db, mid)
    if m is not None:
        legs.append({"leg": m["leg"] or 0, "channel": m["channel"], "provider_id": m["provider_id"],
                     "started_at": m["sent_at"], "ended_at": None, "outcome": m["status"], "reason": m["reason"]})
    return legs


def pin_device(db: Database, mid: str, device: str) -> None:
    """The device about to be asked for this message, committed before it is asked: a retry after
    a crash during the call finds it (retry safety "device")."""
    with db.tx() as c:
        q.pin_device(c, mid, device)


def channel_of(db: Database, provider_id: str) -> str | None:
    """The channel of the message a provider knows by this id."""
    row = q.by_provider_id(db, provider_id)
    return row["channel"] if row else None


def apply_report(db: Database, source: str, report: StatusReport, provider_id: str | None,
                 request_id: str | None = None) -> str | None:
    """Record a delivery report and move the message forward. Returns the message id, if known.

    A report for an earlier channel of the chain (found through message_legs) can only say the
    customer got it: then the message is delivered and no later channel is used."""
    t = now()
    with db.tx() as c:
        row = None
        if provider_id:
            row = q.by_provider_id(c, provider_id)
        if row is None and request_id:
            row = q.for_report(c, message_id_of(request_id))
            if row is not None and send_id(row) != request_id:
                row = None  # the report is about an earlier leg
        if row is None:
            leg = None
            if provider_id:
                leg = q.leg_by_provider_id(c, provider_id)
            if leg is None and request_id:
                leg = q.leg_by_number(c, message_id_of(request_id), _leg_of(request_id))
            mid = leg["message_id"] if leg else None
            q.add_event(c, t, mid, source, provider_id, report.event.value, report.raw)
            if leg is not None and report.event is Event.DELIVERED:
                q.delivered_earlier(c, mid, DELIVERED, reasons.encode("outbox.delivered_earlier", channel=leg["channel"]), t)
            return mid
        mid = row["id"]
        q.add_event(c, t, mid, source, provider_id, report.event.value, report.raw)
        new = EVENT_STATUS.get(report.event)
        if new == FAILED and RANK[row["status"]] < RANK[FAILED]:
            full = q.chain(c, mid)
            remaining = tuple(x for x in (full["fallback"] or "").split(",") if x)
            if remaining:
                _fall_back(c, mid, full["channel"], remaining, report.detail or reasons.encode("outbox.failed_report"), t)
                return mid
        if new and RANK[new] > RANK[row["status"]]:
            q.report_moves(c, mid, new, report.provider_status, report.detail if new == FAILED else "", t,
                           delivered=new == DELIVERED, provider_id=provider_id)
        else:
            q.report_seen(c, mid, report.provider_status, t)
        return mid


def _leg_of(send_key: str) -> int:
    m = re.search(r"-(\d+)$", send_key)
    return int(m.group(1)) if m else 0


def cancel(db: Database, mid: str, who: str) -> None:
    """Stop a message that has not gone out. One a sender claimed cannot be stopped: it is being
    sent, or (lease run out) its sender died during the call and it may have gone out; the outbox
    decides that one (in doubt), as `withdraw` leaves it."""
    t = now()
    with db.tx() as c:
        row = q.lease_state(c, mid)
        if row is None:
            raise Refused("outbox.no_message", mid=mid)
        if row["status"] not in WAITING:
            raise Refused("outbox.not_waiting", status=row["status"])
        if row["lease_until"] is not None:   # claimed: being sent, or its sender died during the call
            raise Refused("outbox.being_sent" if row["lease_until"] > t else "outbox.maybe_sent")
        # a held message's text lacks the bank details: said in its reason, so it is never resent as it is
        code = "outbox.cancelled_held_by" if row["status"] == HELD else "outbox.cancelled_by"
        q.set_status(c, mid, CANCELLED, reasons.encode(code, who=who), t)


def withdraw(c: sqlite3.Connection, dedupe_key: str, reason: str) -> bool:
    """Inside the caller's transaction, stop the message with this dedupe key if it has not gone
    out (waiting, scheduled for the morning, held), with the reason; False when it went out, is
    claimed by a sender (even one whose lease ran out: that send may have reached the provider,
    and the outbox puts it in doubt) or was never queued."""
    return q.stop_unsent(c, dedupe_key, CANCELLED, WAITING, reason, now())


# Reasons of messages whose stored text was written while the bank details were empty
# (cancelled by a person or by the release job while held).
WRITTEN_WITHOUT_BANK_DETAILS = frozenset({"outbox.cancelled_held_by", "held_order_settled", "held_rule_gone",
                                          "held_unreadable"})


def never_resent(row: Any) -> bool:
    """An order update (mark paid, order note) is never resent: its own dedupe key is its only
    protection against confirming a payment twice."""
    return kind_of(row) in NEVER_RESENT


def job_channel_names() -> set[str]:
    """Channels that carry jobs rather than messages: a message is never resent onto one."""
    return set(JOB_CHANNELS.values())


def resend(db: Database, mid: str, channel: str | None, who: str) -> str:
    """A new row with the same text (a job: the same payload) to the same recipient (on `channel`,
    or the same chain).

    A new row with its own id, so the provider sees a new request; the original is untouched.
    Order updates are refused (a second mark-paid is a second confirmation), and so is a message
    moved onto a channel that carries jobs."""
    t = now()
    with db.tx() as c:
        row = q.get(c, mid)
        if row is None:
            raise Refused("outbox.no_message", mid=mid)
        if never_resent(row):
            raise Refused("outbox.event_not_resent" if kind_of(row) == EVENT else "outbox.never_resent", mid=mid)
        if row["status"] == HELD or reasons.code_of(row["reason"]) in WRITTEN_WITHOUT_BANK_DETAILS:
            raise Refused("outbox.held_no_resend", mid=mid)   # a copy would carry the text without the bank details
        if channel in job_channel_names() and kind_of(row) == MESSAGE:
            raise Refused("outbox.job_channel", channel=channel, mid=mid)
        if kind_of(row) != MESSAGE and channel not in (None, row["channel"]):
            raise Refused("outbox.own_channel_only", mid=mid)
        if not row["recipient"]:
            raise Refused("outbox.no_recipient")
        n = q.count_copies(c, mid)
        chain = (channel,) if channel else (row["channel"], *[x for x in (row["fallback"] or "").split(",") if x])
        new_id = new_message_id()
        q.insert(c, {
            "id": new_id, "created_at": t, "updated_at": t, "dedupe_key": f"resend:{mid}:{n + 1}",
            "delivery_ref": row["delivery_ref"], "order_id": row["order_id"], "customer_id": row["customer_id"],
            "rule": row["rule"], "event": row["event"], "audience": row["audience"], "channel": chain[0],
            "fallback": ",".join(chain[1:]), "urgent": 1, "recipient_raw": row["recipient_raw"],
            "recipient": row["recipient"], "text": row["text"], "encoding": row["encoding"], "length": row["length"],
            "segments": row["segments"], "status": PENDING, "reason": reasons.encode("outbox.resent_by", who=who, mid=mid),
            "attempts": 0, "due_at": t, "payload": row["payload"], "leg": 0,
            "fallback_after": row["fallback_after"] if len(chain) > 1 else None, "kind": kind_of(row)},
            ignore_duplicate=False)
        if row["status"] == IN_DOUBT:   # the person decided: the doubt is over, the copy carries on
            q.set_status(c, mid, CANCELLED, reasons.encode("outbox.resent_from_doubt", who=who, new=new_id), t)
    return new_id


def counts(db: Database) -> dict[str, int]:
    return q.counts(db)

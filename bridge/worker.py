"""Drains the outbox: claim due rows, send them through their channel, record the outcome.

Sends run in a thread pool of lanes because providers are slow (hundreds of ms each) and the
work is waiting, not computing. A channel without credentials is replaced by the dry-run
channel at send time, so messages are still rendered, stored and visible; a channel that is
set up but unusable for the moment (`Channel.waiting`) keeps its rows, which wait.
"""
from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Callable

from . import reasons
from .providers.base import Channel
from .sending import RATE_LIMITED, OutgoingMessage, Outcome, SendResult
from .config import Settings
from .bulk import RULE as BULK_RULE, stopped_at_send
from .outbox import EVENT, MESSAGE, pin_device, Attempt, claim, kind_of, payload_of, record_results, send_id
from .outgoing import pump
from .pacing import STOPPED, Pacer, spacing
from .pressure import Board
from .store.db import Database
from .quiet import quiet_until

log = logging.getLogger(__name__)
# Seconds ahead a paced channel's backlog is claimed: its lanes then wait at most about this long
# for their turn, and the other lanes stay free for the other channels.
CLAIM_AHEAD = 2.0
# Rows claimed at once while webhooks still queue for an answer after the sending loop gave way
# (bridge/pressure.py): sending goes on, a little at a time, instead of taking the core.
PRESSED_CLAIM = 2


class Worker:
    def __init__(self, db: Database, settings: Settings, channels: dict[str, Channel],
                 clock: Callable[[], float] = time.time):
        self.db = db
        # the mark of webhooks queueing in the web processes (Bridge: bridge/pressure.py)
        self.pressure: Board | None = None
        self.clock = clock   # "now" for what is due and for quiet hours (Bridge.clock; tests move it forward)
        self.settings = settings
        self.channels = channels
        self.pool = ThreadPoolExecutor(max_workers=settings.send_concurrency, thread_name_prefix="send")
        self._drain_lock = threading.Lock()
        self._wanted = threading.Event()  # new work arrived while a drain was running
        self._stopping = threading.Event()
        self.pacer = Pacer()   # per-provider request budgets, shared by the lanes

    def route(self, row: sqlite3.Row) -> tuple[Channel, tuple[str, ...]]:
        """The first configured channel of the message's list, and the ones left after it.

        With none configured the dry-run channel stands in, so the message is still recorded.
        """
        names = [row["channel"], *[x for x in (row["fallback"] or "").split(",") if x]]
        for i, name in enumerate(names):
            ch = self.channels.get(name)
            if ch is not None and (ch.configured or ch.waiting):
                return ch, tuple(names[i + 1:])
        return self.channels["dry-run"], ()

    def route_names(self, row: sqlite3.Row) -> tuple[str, tuple[str, ...]]:
        ch, remaining = self.route(row)
        return ch.name, remaining

    def call(self, row: sqlite3.Row) -> Attempt:
        """One provider call; never raises: anything failing around the send (routing, quiet hours,
        the payload, the budgets) counts as a transient failure of a call that sent nothing, so the
        drain loop always gets an Attempt to record and never leaves a row leased."""
        try:
            return self._call(row)
        except Exception as exc:
            log.exception("preparing message %s for sending failed", row["id"])
            return Attempt(row, row["channel"], SendResult(Outcome.TRANSIENT, code="exception",
                                                           detail=f"{type(exc).__name__}: {exc}"), 0.0, ())

    def _call(self, row: sqlite3.Row) -> Attempt:
        ch, remaining = self.route(row)
        later = None if row["urgent"] in (None, 1) else \
            quiet_until(self.clock(), self.settings.quiet_hours, self.settings.timezone)
        if later:
            return Attempt(row, ch.name, SendResult(Outcome.DEFERRED, retry_at=later,
                                                    detail=reasons.encode("outbox.quiet_hours")), 0.0, remaining)
        if row["rule"] == BULK_RULE:   # opted out, paused or cancelled while it waited or a lane held it
            stopped = stopped_at_send(self.db, row, self.clock())
            if stopped is not None:
                return Attempt(row, ch.name, stopped, 0.0, remaining)
        ids = {"order_id": row["order_id"], "customer_id": row["customer_id"], "rule": row["rule"],
               "audience": row["audience"], "leg": row["leg"] or 0}
        kind = kind_of(row)
        # A message's payload is its rule's extras beside the text; a job's payload is the job.
        meta = {**payload_of(row), **ids} if kind == MESSAGE else {**ids, "kind": kind, "job": payload_of(row)}
        chain = row["channel"] if remaining or ch.name != "dry-run" else \
            ",".join([row["channel"], *[x for x in (row["fallback"] or "").split(",") if x]])
        msg = OutgoingMessage(id=send_id(row), recipient=row["recipient"], text=row["text"],
                              unicode=row["encoding"] == "UCS-2", segments=row["segments"], channel=chain, meta=meta,
                              device=row["device"], pin_device=lambda device: pin_device(self.db, row["id"], device))
        budgets = ch.budgets()
        slot, taken = self.pacer.reserve(budgets, longest=self.settings.send_lease / 4)
        if not taken:   # its provider's turn is far off: not held under a lease
            held = self.pacer.held(budgets)   # the provider's wait counts toward its bound (outbox._record)
            why = "outbox.provider_busy" if held else "outbox.own_budget"
            return Attempt(row, ch.name, SendResult(Outcome.DEFERRED, code=RATE_LIMITED if held else None,
                                                    retry_at=self.clock() + slot - time.monotonic(),
                                                    detail=reasons.encode(why, channel=ch.name)), 0.0, remaining)
        turn = self.pacer.go(budgets, slot, self._stopping)
        if turn == STOPPED:   # stopping while waiting for its turn: nothing sent
            return Attempt(row, ch.name, SendResult(Outcome.DEFERRED, retry_at=self.clock(),
                                                    detail=reasons.encode("outbox.worker_stopped")), 0.0, remaining)
        if turn > 0:   # the provider said "wait" while this lane waited for its slot: not sent, not an attempt
            return Attempt(row, ch.name, SendResult(Outcome.DEFERRED, code=RATE_LIMITED, retry_at=self.clock() + turn,
                                                    detail=reasons.encode("outbox.provider_busy", channel=ch.name)),
                           0.0, remaining)
        started = time.perf_counter()
        try:
            result = ch.send(msg)
        except Exception as exc:
            log.exception("channel %s raised while sending %s", ch.name, row["id"])
            result = SendResult(Outcome.TRANSIENT, code="exception", detail=f"{type(exc).__name__}: {exc}")
        if result.code == RATE_LIMITED and result.outcome is Outcome.DEFERRED:
            # the provider's wait is real time; the row's due time is on our clock (Bridge.clock)
            wait = max(0.0, (result.retry_at or 0.0) - time.time())
            self.pacer.hold(budgets, wait)
            result = replace(result, retry_at=self.clock() + wait)
        return Attempt(row, ch.name, result, (time.perf_counter() - started) * 1000, remaining)

    def record(self, attempts: list[Attempt]) -> list[str]:
        """Store a batch of finished sends in one transaction (one lock, one commit for however
        many lanes finished together), then log each."""
        s = self.settings
        statuses = record_results(self.db, attempts, s.send_max_attempts, s.send_backoff_base, s.send_backoff_max,
                                  s.in_doubt_after, at=self.clock())
        try:   # the statuses just written become events; an event done lets its subject's next one go
            pump(self.db, [a.message["id"] for a in attempts if kind_of(a.message) == EVENT])
        except Exception:   # the scheduler's pass (outgoing.run) does it again: the sends stay recorded
            log.exception("queueing outgoing events after %d sends failed", len(attempts))
        for attempt, status in zip(attempts, statuses):
            r = attempt.result
            level = logging.INFO if r.outcome in (Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.DRY_RUN,
                                                 Outcome.DEFERRED, Outcome.UNAVAILABLE) else logging.WARNING
            log.log(level, "message %s via %s to %s: %s (%s) -> %s", attempt.message["id"], attempt.channel,
                    attempt.message["recipient"], r.outcome.value, reasons.english(r.detail), status)
        return statuses

    def drain(self) -> int:
        """Send everything due now, through up to `send_concurrency` lanes.

        One loop claims and records for all lanes: as lanes finish, their results are recorded
        together and as many due rows as there are free lanes are claimed together, so the
        write lock is taken twice per batch instead of twice per message, and a row is claimed
        only when a lane is free to send it at once (a crash leaves no claimed row that was
        not about to be sent). Sends to one provider start spaced by its budget (pacing.py),
        which also spreads their answers. Work announced by `poke` during a drain gets another
        round at once instead of waiting for the next tick.
        """
        total = 0
        while True:
            if not self._drain_lock.acquire(blocking=False):
                return total
            try:
                self._wanted.clear()
                total += self._lanes()
            finally:
                self._drain_lock.release()
            if not self._wanted.is_set() or self._stopping.is_set():
                return total

    def poke(self) -> bool:
        """Announce new work; True when no drain is running (the caller should start one).

        The flag is set before the lock is looked at, so a drain that is just finishing either
        sees the flag and goes round again, or has already released the lock and we start one.
        """
        self._wanted.set()
        return not self._drain_lock.locked()

    def _lanes(self) -> int:
        """Claim for free lanes, record what they finish, until nothing is due or in flight."""
        s = self.settings
        done: queue.SimpleQueue[tuple[sqlite3.Row, Future]] = queue.SimpleQueue()
        total = 0
        sending: set[str] = set()        # claimed and not recorded yet: never claimed again meanwhile
        unrecorded: list[Attempt] = []   # finished sends whose record failed: kept and recorded again
        pause = 0.0
        claimed = False
        while True:
            in_flight = len(sending) - len(unrecorded)
            if in_flight or unrecorded:
                finished = []
                try:
                    # while lanes are busy, claim again at least every CLAIM_AHEAD / 2: a slowly
                    # paced channel is claimed only shortly before its turn, which a long call
                    # on another lane must not make it miss
                    finished.append(done.get(timeout=pause if unrecorded else CLAIM_AHEAD / 2))
                    while True:
                        finished.append(done.get_nowait())
                except queue.Empty:
                    pass
                unrecorded += [self._outcome(row, f) for row, f in finished]
                in_flight -= len(finished)
                if unrecorded:
                    try:
                        self.record(unrecorded)
                    except Exception:
                        # e.g. "database is locked": the provider has these sends, so dropping them
                        # would send them again once their lease expires; keep them, try again shortly
                        log.exception("recording %d finished sends failed; trying again", len(unrecorded))
                        pause = min(5.0, pause * 2 or 0.1)   # the next round waits this long for lanes first
                        continue
                    total += len(unrecorded)
                    sending.difference_update(a.message["id"] for a in unrecorded)
                    unrecorded, pause = [], 0.0
            free = 0 if self._stopping.is_set() else s.send_concurrency - in_flight
            # webhooks queueing for an answer: claim a few rows only, and after the first claim
            # of this drain, wait (bounded) before each
            if free > 0 and self.pressure is not None and s.worker_yield > 0 and (
                    self.pressure.give_way(s.worker_yield) if claimed else self.pressure.pressed()):
                free = min(free, PRESSED_CLAIM)
            try:
                rows = [] if free <= 0 or self._stopping.is_set() else \
                    claim(self.db, free, s.send_lease, at=self.clock(),
                          doubt=(s.in_doubt_after, self.route_names), skip=sending, quotas=self._quotas())
            except Exception:
                log.exception("claiming due messages failed")
                rows = []
            claimed = claimed or bool(rows)
            for row in rows:
                sending.add(row["id"])
                try:
                    future = self.pool.submit(self.call, row)
                except RuntimeError:   # shut down between the claim and the submit: not sent
                    future = Future()
                    future.cancel()
                future.add_done_callback(lambda f, row=row: done.put((row, f)))
            if not sending:
                return total

    def _quotas(self) -> dict[str, int]:
        """Rows of each paced channel worth claiming now: as many as its budget lets start within
        the next CLAIM_AHEAD seconds (or a quarter of SEND_LEASE, the longest a claim waits for
        its turn, if shorter). The rest of its backlog is left unclaimed (no write) and the free
        lanes go to other channels: a slow channel's backlog (Zalo at 20 a second) claimed 30 s
        ahead held every lane waiting for its turns, and the SMS queued behind it waited too."""
        longest = min(CLAIM_AHEAD, self.settings.send_lease / 4)
        out: dict[str, int] = {}
        for name, ch in self.channels.items():
            budgets = ch.budgets()
            rates = [rate for _, rate in budgets if rate > 0]
            # an unpaced channel has no quota: asked first, its `configured` (for the shop's
            # channel, a read of the database while no shop is connected) is not asked each pass
            if not rates or not ch.configured:
                continue
            if self.pacer.held(budgets):   # the provider's wait: claimed and given back, so it counts toward its bound
                continue
            room = longest - self.pacer.wait(budgets)
            out[name] = max(0, int(room / spacing(min(rates))) + 1) if room > 0 else 0
        return out

    def _outcome(self, row: sqlite3.Row, future: Future) -> Attempt:
        """A lane's Attempt; a lane cancelled before it ran (shutdown) sent nothing: its claim is given back."""
        if future.cancelled():
            ch, remaining = self.route(row)
            return Attempt(row, ch.name, SendResult(Outcome.DEFERRED, retry_at=self.clock(),
                                                    detail=reasons.encode("outbox.worker_stopped")), 0.0, remaining)
        return future.result()

    def shutdown(self) -> None:
        """Stop claiming; lanes waiting for their turn give their rows back; the drain records
        what the lanes finished before this returns."""
        self._stopping.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
        with self._drain_lock:
            pass

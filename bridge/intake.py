"""Acknowledge after one small write, decide right after the answer, exactly once.

Every webhook is answered once its raw row is committed in state 'received' (with the checks
that make a repeat a repeat: replay key, provider id). Deciding from it (orders saved, rules
rendered, messages queued, payments matched, reports applied) is work the caller need not wait
for, and it used to hold the single SQLite write lock for most of each request. A `Decider`
thread per process takes it over: woken in-process after each acknowledging commit, it decides
the OLDEST undecided rows of each table, a bounded batch per BEGIN IMMEDIATE transaction.

Exactly once, across processes and restarts, without leases: the rows are selected inside the
write transaction that decides them and changes their state, so two deciders never both see a
row as undecided, and a process killed mid-batch leaves its rows undecided (the transaction is
rolled back), to be taken by the next pass of any process. Each process decides on start and the
scheduler's leader wakes its own decider when a row has waited longer than SWEEP_AFTER (a
process died after answering): an acknowledged row is always decided.

Order: rows are taken in id order per table, globally, so decisions follow arrival even with
several processes. Shop deliveries are decided before anything else in each pass (texts,
reports and carrier calls refer to the orders they create).
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from typing import Any, Callable

from .store import intake as stored
from .store.db import Database
from .store.deliveries import release, rollback_to, savepoint

log = logging.getLogger(__name__)

TX_BUDGET = 0.05     # seconds a deciding transaction keeps adding rows (it holds the write lock)
SWEEP_AFTER = 5.0    # seconds: a row undecided this long was left by a process that stopped
SWEEP_EVERY = 5.0    # seconds between the leader's looks for such rows

# One kind of row: decide up to `limit` of the oldest undecided within about `budget` seconds of
# write lock; how many were decided (0: none waits).
Step = Callable[[int, float], int]


def decide_rows(db: Database, oldest: Callable[[Any, int], list[sqlite3.Row]],
                decide: Callable[[sqlite3.Connection, sqlite3.Row], None],
                failed: Callable[[sqlite3.Connection, sqlite3.Row, Exception], None],
                limit: int, budget: float = TX_BUDGET) -> int:
    """One bounded batch of the oldest undecided rows, in one write transaction, each row in its
    own savepoint: a decision that raises is undone and `failed` marks that row (kept, with the
    reason, for an admin), the others stand.

    `oldest(c, n)` must select only undecided rows: read inside this transaction, its answer is
    what makes the decision exactly once. A look without the lock first spares idle passes the
    write lock."""
    if not oldest(db, 1):
        return 0
    n = 0
    with db.tx() as c:
        started = time.monotonic()
        for row in oldest(c, limit):
            if n and time.monotonic() - started > budget:
                break
            savepoint(c, "intake")
            try:
                decide(c, row)
            except Exception as exc:  # a bug must not lose the row nor block the ones after it
                log.exception("deciding row %s failed", row["id"])
                rollback_to(c, "intake")
                failed(c, row, exc)
            release(c, "intake")
            n += 1
    return n


class Decider:
    """This process's deciding thread. `first` is decided to the end before each pass goes on to
    `then` (one batch each), so what refers to an order sees that order."""

    def __init__(self, first: Step, then: list[Step], decided: Callable[[], None], batch: int):
        self.first, self.then = first, then
        self.decided = decided   # something was decided: wake the sender
        self.batch = batch
        self._pass = threading.Lock()   # one pass at a time in this process (the thread, or decide_all)
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def idle(self) -> bool:
        """Nothing being decided here now, nor asked for."""
        return not self._pass.locked() and not self._wanted.is_set()

    def start(self) -> None:
        """Start deciding here; the first pass takes whatever was left undecided (a restart)."""
        if self._thread is None:
            self._wanted.set()
            self._thread = threading.Thread(target=self._run, name="decider", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self._wanted.set()

    def decide_all(self) -> int:
        """Passes until one decides nothing; how many rows were decided."""
        total = 0
        with self._pass:
            while not self._stop.is_set():
                n = 0
                while not self._stop.is_set() and (k := self.first(self.batch, TX_BUDGET)):
                    n += k
                for step in self.then:
                    n += step(self.batch, TX_BUDGET)
                if n:
                    total += n
                    self.decided()
                else:
                    break
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wanted.wait()
            self._wanted.clear()
            if self._stop.is_set():
                return
            try:
                self.decide_all()
            except Exception:  # the disk, a lock held too long: the next wake or the sweep tries again
                log.exception("deciding received rows failed")

    def stop(self) -> None:
        self._stop.set()
        self._wanted.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def sweep(db: Database, decider: Decider) -> bool:
    """The leader's periodic look: a row left undecided past SWEEP_AFTER (its process stopped
    between the answer and the decision) wakes this process's decider. True when it did."""
    oldest = stored.oldest_undecided(db)
    if oldest is None or oldest > time.time() - SWEEP_AFTER:
        return False
    log.info("rows acknowledged %.0f s ago are still undecided: deciding them here", time.time() - oldest)
    decider.wake()
    return True

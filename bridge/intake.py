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

Order: rows are decided in order of arrival across the tables (the time each was acknowledged,
then its id): a text, report or carrier call waits for the deliveries acknowledged before it
(they may create the order it refers to; ties go to the delivery) and for none after it, so a
flood of later webhooks does not hold it back. The deciding transaction reads the first
undecided delivery again before it takes a text (a webhook acknowledged while the pass was
between steps sends the pass back to the deliveries).
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

# Seconds a deciding transaction keeps adding rows: it holds the write lock, and requests wait
# behind it (a row already begun is finished; the next batch starts after the lock is free).
# Short, because the deciding process runs at a lower priority (WORKER_NICE): the shorter it
# holds the lock, the less often it is paused holding it while a request waits.
TX_BUDGET = 0.005
# Seconds a pass spends asking the outside world (the shop for an order a payment names, a
# carrier to confirm its call) before it leaves the rest to the next pass; only the scheduler's
# leader asks (`Bridge.calls_out`), so several processes never repeat the same slow calls.
NETWORK_BUDGET = 2.0
SWEEP_AFTER = 5.0    # seconds: a row undecided this long was left by a process that stopped
SWEEP_EVERY = 5.0    # seconds between the leader's looks for such rows

# One kind of row: decide up to `limit` of the oldest undecided within about `budget` seconds of
# write lock; how many were decided (0: none waits).
Step = Callable[[int, float], int]
# The deliveries' step also takes `until`: only deliveries acknowledged no later than it.
FirstStep = Callable[[int, float, "float | None"], int]


def decide_rows(db: Database, oldest: Callable[[Any, int], list[sqlite3.Row]],
                decide: Callable[[sqlite3.Connection, sqlite3.Row], None],
                failed: Callable[[sqlite3.Connection, sqlite3.Row, Exception], None],
                limit: int, budget: float = TX_BUDGET, look_first: bool = True) -> int:
    """One bounded batch of the oldest undecided rows, in one write transaction, each row in its
    own savepoint: a decision that raises is undone and `failed` marks that row (kept, with the
    reason, for an admin), the others stand.

    `oldest(c, n)` must select only undecided rows: read inside this transaction, its answer is
    what makes the decision exactly once. A look without the lock first spares idle passes the
    write lock (`look_first=False`: the caller has just looked)."""
    if look_first and not oldest(db, 1):
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
    """This process's deciding thread. Each pass decides the deliveries acknowledged before the
    oldest undecided row of `then` (`others_head`), then one batch of each of `then`, whose steps
    take only rows acknowledged before every undecided delivery: arrival order across tables."""

    def __init__(self, first: FirstStep, then: list[Step], others_head: Callable[[], float | None],
                 decided: Callable[[], None], batch: int):
        self.first, self.then, self.others_head = first, then, others_head
        self.decided = decided   # something was decided: wake the sender
        self.batch = batch
        self._pass = threading.Lock()   # one pass at a time in this process (the thread, or decide_all)
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # between deciding transactions: waits (bounded) while webhooks queue for an answer
        self.give_way: Callable[[], object] = lambda: None

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
        """Passes until two in a row decide nothing; how many rows were decided. (A pass may
        decide nothing though rows wait: a webhook acknowledged between its steps holds back the
        text after it, and the next pass takes both.)"""
        total, idle = 0, 0
        with self._pass:
            while not self._stop.is_set() and idle < 2:
                n = 0
                while not self._stop.is_set() and (k := self.first(self.batch, TX_BUDGET, self.others_head())):
                    n += k
                    self.give_way()
                for step in self.then:
                    if k := step(self.batch, TX_BUDGET):
                        n += k
                        self.give_way()
                if n:
                    total, idle = total + n, 0
                    self.decided()
                else:
                    idle += 1
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

"""Acknowledgements first: a web process marks when webhooks queue up in it, and the worker's
deciding and sending give way between their transactions while the mark is fresh, for a bounded
time (WORKER_YIELD).

Why: on a small server the web processes and the worker share the cores. The worker runs at a
lower priority (WORKER_NICE), yet at saturation it still took a sixth of the one core the bench
gives the deployment, and the write lock whenever its transactions ran: whenever an answer
waited for the lock or for I/O, the CPU went to the worker, which then held the lock longer.
The answer is what WooCommerce waits for (it gives up after a few seconds, and disables a
webhook after repeated failures); after a burst, a decision or an SMS a little later costs a
customer nothing. Nice values cannot say that: this does, and only between transactions, so the
worker never waits while it holds a lock.

How: a file of 8 bytes next to the database, mapped into memory by every process that uses it
(no system call per request): the monotonic clock, in microseconds, when a web process last
began a webhook with BUSY_MIN or more in hand. CLOCK_MONOTONIC is the machine's, the same in
every process that can share the SQLite file (a process in another time namespace sees marks as
stale or from the future: it never waits, as if the board were off). The worker reads it after each deciding
transaction and before each claim of messages to send (a drain's first claim does not wait, and
takes PRESSED_CLAIM rows only); while the mark is younger than HOLD it sleeps in steps, at most
WORKER_YIELD seconds each time, then goes on, so a server that is never quiet still decides and
sends (a transaction per WORKER_YIELD seconds at least, a few rows each: under pressure that
lasts, the backlog grows while it lasts and is worked off after). Nothing waits on shutdown, and
finished sends are recorded as soon as the loop comes back from a wait: the provider already has
them. Only webhooks that passed their checks mark: a flood of refused requests does not.

A torn or garbled value (another writer, an odd clock) can only start or end a wait early: a
mark from the future or older than HOLD is no mark, and no wait outlasts its bound.
"""
from __future__ import annotations

import logging
import mmap
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

log = logging.getLogger(__name__)

# Webhooks in hand in one web process (with deploy/gunicorn.conf.py's four threads) at which
# acknowledgements are queueing: at saturation (bench/intake.py) 60% of them began with three or
# more in hand, 40% with all four threads busy.
BUSY_MIN = 3
HOLD = 0.05     # seconds a mark keeps the worker waiting after the last busy webhook began
STEP = 0.005    # seconds between the worker's looks while it waits


def board_path(db_path: str) -> Path | None:
    """Where the mark lives: beside the database, as the wake-up socket does (None in memory)."""
    if db_path == ":memory:" or db_path.startswith("file:"):
        return None
    p = Path(db_path).resolve()
    return p.with_name(f".{p.name}.busy")


class Board:
    """The shared mark. The web side counts the webhooks it has in hand (`handling`); the
    worker side asks `give_way` before a transaction. `clock` and `sleep` are the tests'."""

    def __init__(self, db_path: str, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.path = board_path(db_path)
        self.clock, self.sleep = clock, sleep
        self.in_hand = 0
        self._lock = threading.Lock()
        self._slot: memoryview | None = None
        self._unusable = self.path is None

    def _mapped(self) -> memoryview | None:
        if self._slot is None and not self._unusable:
            assert self.path is not None
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    if os.fstat(fd).st_size < 8:
                        os.ftruncate(fd, 8)
                    self._slot = memoryview(mmap.mmap(fd, 8)).cast("q")
                finally:
                    os.close(fd)
            except (OSError, ValueError) as exc:   # a read-only directory, a file that is not ours
                self._unusable = True
                log.warning("acknowledgements-first board %s unusable (%s): the worker will not give way to "
                            "queued webhooks", self.path, exc)
        return self._slot

    # -- web side ----------------------------------------------------------------------
    def mark(self) -> None:
        slot = self._mapped()
        if slot is not None:
            slot[0] = int(self.clock() * 1_000_000)

    @contextmanager
    def handling(self) -> Iterator[int]:
        """Around one webhook's answer: how many this process has in hand, this one included."""
        with self._lock:
            self.in_hand += 1
            n = self.in_hand
        try:
            yield n
        finally:
            with self._lock:
                self.in_hand -= 1

    def began(self, in_hand: int) -> None:
        """A webhook that passed its checks began with `in_hand` in hand: mark when they queue.
        Only after the checks, so requests anyone can send (unsigned, refused) never mark."""
        if in_hand >= BUSY_MIN:
            self.mark()

    # -- worker side -------------------------------------------------------------------
    def marked_at(self) -> float | None:
        """The clock's time of the last mark by any process (None: never marked, or no board)."""
        slot = self._mapped()
        return slot[0] / 1_000_000 if slot is not None and slot[0] else None

    def pressed(self) -> bool:
        """A web process began a webhook with BUSY_MIN in hand less than HOLD seconds ago."""
        at = self.marked_at()
        return at is not None and -0.001 <= self.clock() - at < HOLD   # (a mark is kept to the microsecond)

    def give_way(self, limit: float, stopping: threading.Event | None = None) -> bool:
        """Wait while webhooks queue, at most `limit` seconds (less once `stopping` is set).
        True when they still queue at the end (the caller goes on, and takes a small step:
        Worker claims fewer rows)."""
        if limit <= 0:
            return False
        start = self.clock()
        while self.pressed():
            if self.clock() - start >= limit or (stopping is not None and stopping.is_set()):
                return True
            self.sleep(STEP)
        return False

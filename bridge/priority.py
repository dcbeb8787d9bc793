"""The worker process gives the CPU to the processes that answer, for a bounded time.

Acknowledging a webhook is what the shop's WooCommerce waits for; deciding it and sending its
message can follow a few seconds later. A nice value only lowers the worker's share: at nice 10,
on the one core the intake bench gives the deployment, the worker still took about 15% of the CPU
while webhooks arrived as fast as they were answered. Linux's SCHED_IDLE policy runs a thread only
when nothing else wants the CPU, and a waking web thread takes the CPU from it at once. Two hazards
come with it, both bounded here:

- starvation: other programs on the server (WordPress, MariaDB) can keep the CPU busy for minutes.
  When the oldest waiting work (a row not decided yet, a message due and not sent) has waited
  longer than WORKER_YIELD_MAX_WAIT seconds, the worker's threads go back to the normal policy (at
  WORKER_NICE) until nothing has waited half as long;
- the database's write lock: a thread holding it at idle priority would make the web processes
  wait for it as long as anything else runs. Inside a write transaction a thread runs at the normal
  policy (store/db.py enters `raised()`), the ceiling a lock holder needs.

Leaving SCHED_IDLE is allowed only where RLIMIT_NICE permits the thread's nice value, or with
CAP_SYS_NICE (sched(7)). `Yielder.start` first tries the round trip on a throwaway thread; when it
is refused, the process keeps its plain nice and the log says what to set (deploy/'s worker unit
sets `LimitNICE=+0`, which allows nothing above a normal process's priority).
"""
from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

log = logging.getLogger(__name__)

CHECK_EVERY = 1.0   # seconds between two looks at the oldest waiting work (and at new threads)

_current: "Yielder | None" = None   # this process's, once it yields
_refused = False


def _set(tid: int, idle: bool) -> None:
    """Set a thread's policy (0: the calling thread); raises what the kernel refuses."""
    os.sched_setscheduler(tid, os.SCHED_IDLE if idle else os.SCHED_OTHER, os.sched_param(0))


def _policy(tid: int, idle: bool) -> None:
    """`_set`, never raising: a thread that ended meanwhile is skipped, and a refusal (the limits
    changed under a running process) costs speed, never the write transaction that asked."""
    try:
        _set(tid, idle)
    except ProcessLookupError:
        pass
    except OSError as exc:
        global _refused
        if not _refused:   # once: a refusal would otherwise be logged on every transaction
            _refused = True
            log.warning("could not set a thread's CPU policy: %s", exc)


def policy_of(tid: int = 0) -> str:
    """"idle" or "normal": what a thread runs at (tests, the banner)."""
    return "idle" if os.sched_getscheduler(tid) == getattr(os, "SCHED_IDLE", -1) else "normal"


def can_leave_idle() -> bool:
    """Whether a thread of this process may go to SCHED_IDLE and back (tried on a throwaway
    thread: a refused way back would leave the thread that asked at idle priority for good)."""
    if not hasattr(os, "SCHED_IDLE"):
        return False
    result: list[bool] = []

    def probe() -> None:
        try:
            _set(0, True)
            _set(0, False)
            result.append(True)
        except OSError:
            result.append(False)
    t = threading.Thread(target=probe, name="priority-probe")
    t.start()
    t.join()
    return result == [True]


@contextmanager
def raised() -> Iterator[None]:
    """Run the block at the normal policy when this process yields (a write transaction: other
    processes wait for the lock it holds). Nothing at all in a process that does not yield."""
    y = _current
    if y is None:
        yield
        return
    tid = threading.get_native_id()
    with y.lock:
        y.holding.add(tid)
        if y.yielding:
            _policy(0, False)
    try:
        yield
    finally:
        with y.lock:
            y.holding.discard(tid)
            if y.yielding:
                _policy(0, True)


class Yielder:
    """This process's threads at SCHED_IDLE while the oldest waiting work is younger than
    `max_wait` seconds; `oldest_wait()` says how long it has waited (None: nothing waits)."""

    def __init__(self, oldest_wait: Callable[[], float | None], max_wait: float):
        self.oldest_wait = oldest_wait
        self.max_wait = max_wait
        self.yielding = True
        self.lock = threading.Lock()
        self.holding: set[int] = set()   # threads inside a write transaction: left at the normal policy
        self.guard_tid = 0
        self.started = False
        self._stop = threading.Event()
        self._started = threading.Event()

    def start(self) -> bool:
        """Yield from now on (threads started later by this one inherit it). False, with a log
        line, where the threads could not come back to the normal policy."""
        global _current
        if not can_leave_idle():
            log.warning("WORKER_YIELD_MAX_WAIT: this process may not leave the idle CPU policy (RLIMIT_NICE "
                        "below WORKER_NICE; systemd: LimitNICE=+0): deciding and sending keep WORKER_NICE only")
            return False
        guard = threading.Thread(target=self._run, name="priority-guard", daemon=True)
        guard.start()   # started before the process yields: the guard keeps the normal policy
        self._started.wait()
        _current = self
        self.started = True
        self.apply()
        return True

    def stop(self) -> None:
        global _current
        self._stop.set()
        if _current is self:
            _current = None

    def apply(self) -> None:
        """Every thread but the guard and those holding the write lock to the current policy
        (new threads inherit their creator's; this catches any that did not)."""
        with self.lock:
            for name in os.listdir("/proc/self/task"):
                tid = int(name)
                if tid != self.guard_tid and tid not in self.holding:
                    _policy(tid, self.yielding)

    def check(self) -> None:
        """One look at the oldest waiting work: stop yielding past max_wait, yield again once
        nothing has waited half as long. Nothing in a process that did not start yielding."""
        if not self.started:
            return
        try:
            waited = self.oldest_wait()
        except Exception:   # the database busy or gone: take the normal share, which is always safe
            log.exception("could not read how long work has waited")
            waited = self.max_wait + 1
        if self.yielding and waited is not None and waited > self.max_wait:
            self.yielding = False
            log.warning("work has waited %.0f s (WORKER_YIELD_MAX_WAIT %g): deciding and sending take their "
                        "normal share of the CPU until it catches up", waited, self.max_wait)
        elif not self.yielding and (waited is None or waited <= self.max_wait / 2):
            self.yielding = True
            log.info("caught up: deciding and sending yield the CPU to answering again")
        self.apply()

    def _run(self) -> None:
        self.guard_tid = threading.get_native_id()
        self._started.set()
        while not self._stop.wait(CHECK_EVERY):
            self.check()

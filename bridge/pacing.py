"""Per-provider request budgets for the send lanes: every request to one provider's account waits
for its turn, whichever lane makes it.

A budget is a key (the account a request counts against: several channels can share one, as
SMS and ZNS both go through one eSMS account) and a number of requests per second. Requests of
one key take slots `MARGIN / per_second` seconds apart: evenly spaced, never in a burst, and 10%
slower than the limit, so a request held up between its slot and the provider (a lane woken
late on a busy machine, the network) by up to ~100 ms still falls within its own second there. A provider that answers "too many requests" anyway closes
the key until the time it gave (`hold`).

The budgets live in the process that sends. Only the process holding the scheduler lease drains
the outbox (bridge/leader.py), so one pacer speaks for the whole deployment; it measures real
time (time.monotonic), not the drivable `bridge.clock`, because the provider counts real time.
"""
from __future__ import annotations

import threading
import time
from typing import Sequence

MARGIN = 1.10

Budget = tuple[str, float]   # (key, requests per second); 0: no limit, only a provider's "wait" holds it


class Pacer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}    # key -> the first free slot (monotonic seconds)

    def reserve(self, budgets: Sequence[Budget]) -> float:
        """The next slot free in every budget, taken (monotonic seconds; now when none waits).

        Taken at once for all keys, so no two lanes share a slot; the lanes then sleep apart, so
        a lane woken late delays only itself, not every slot after it."""
        with self._lock:
            t = time.monotonic()
            slot = max([t, *(self._next.get(k, t) for k, _ in budgets)])
            for k, rate in budgets:
                if rate > 0:
                    self._next[k] = slot + MARGIN / rate
            return slot

    def wait(self, budgets: Sequence[Budget], stop: threading.Event) -> bool:
        """Block until this request's slot; False when `stop` is set first (nothing was sent;
        the slot stays used, which only spaces the next request a little more)."""
        delay = self.reserve(budgets) - time.monotonic()
        return delay <= 0 or not stop.wait(delay)

    def hold(self, budgets: Sequence[Budget], seconds: float) -> None:
        """The provider refused a request for being one too many: no request of these keys
        starts within `seconds`."""
        with self._lock:
            until = time.monotonic() + seconds
            for k, _ in budgets:
                self._next[k] = max(self._next.get(k, until), until)

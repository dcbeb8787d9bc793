"""Per-provider request budgets for the send lanes: every request to one provider's account waits
for its turn, whichever lane makes it.

A budget is a key (the account a request counts against: several channels can share one, as
SMS and ZNS both go through one eSMS account) and a number of requests per second. Requests of
one key take slots `MARGIN / per_second` seconds apart: evenly spaced, never in a burst, and a
sixth slower than the limit, so requests held up between their slots and the provider (a lane
woken late on a busy machine, the network) by up to ~200 ms still fit in one second there. A
provider that answers "too many requests" anyway closes the key until the time it gave (`hold`).

The budgets live in the process that sends. Only the process holding the scheduler lease drains
the outbox (bridge/leader.py), so one pacer speaks for the whole deployment; it measures real
time (time.monotonic), not the drivable `bridge.clock`, because the provider counts real time.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from typing import Sequence

MARGIN = 1.20
WINDOW = 1.25    # starts are counted over this many seconds, not one: see go()
STOPPED = -1.0   # go(): the worker is stopping; nothing was sent

Budget = tuple[str, float]   # (key, requests per second); 0: no limit, only a provider's "wait" holds it


def _cap(rate: float) -> int:
    """Starts allowed in any `WINDOW` seconds for a budget of `rate` per second."""
    return max(1, int(rate / MARGIN))


def spacing(rate: float) -> float:
    """Seconds between requests a budget of `rate` per second sustains: the slots' spacing or the
    starts' window, whichever is slower (what a bulk's estimate and the claims must count on)."""
    return max(MARGIN / rate, WINDOW / _cap(rate)) if rate > 0 else 0.0


class Pacer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}    # key -> the first free slot (monotonic seconds)
        self._starts: defaultdict[str, deque[float]] = defaultdict(deque)   # key -> its last `_cap` starts
        self._held: dict[str, float] = {}    # key -> until when the provider asked us to wait (monotonic)

    def reserve(self, budgets: Sequence[Budget], longest: float) -> tuple[float, bool]:
        """The next slot free in every budget (monotonic seconds; now when none waits), and
        whether it was taken: a slot further than `longest` away is not (the caller gives its
        message back rather than hold a claim that long, and leaves the slot to a later one).

        Taken at once for all keys, so no two lanes share a slot; the lanes then sleep apart, so
        a lane woken late delays only itself, not every slot after it."""
        with self._lock:
            t = time.monotonic()
            slot = max([t, *(self._next.get(k, t) for k, _ in budgets)])
            if slot - t > longest:
                return slot, False
            for k, rate in budgets:
                if rate > 0:   # the pace go() lets them start at, so wait() and the claims see it
                    self._next[k] = slot + spacing(rate)
            return slot, True

    def go(self, budgets: Sequence[Budget], slot: float, stop: threading.Event) -> float:
        """Wait for a taken slot, then until the request may really start: 0 to go now, STOPPED
        when `stop` is set first, or the seconds still to wait when the provider asked us to wait
        (`hold`) while this lane slept: slots taken before its answer must not go out in spite of it.
        In the last two nothing was sent; the slot stays used, which only spaces the next request.

        Slots are spaced, but lanes woken late (a busy machine) could still start together, and
        requests started in turn can still reach the provider together when the first ones are
        held up on the way (a starved process: measured up to ~400 ms on the 2-core CI machine).
        So the starts themselves are counted too: at most `per_second / MARGIN` in any `WINDOW`
        seconds, which keeps any one second at the provider under the limit unless requests are
        held up by more than ~450 ms. It costs throughput: 53 a second at a limit of 80."""
        while True:
            delay = slot - time.monotonic()
            if delay > 0 and stop.wait(delay):
                return STOPPED
            with self._lock:
                t = time.monotonic()
                held = max([t, *(self._held.get(k, t) for k, _ in budgets)])
                if held > t:
                    return held - t
                slot = max([t, *(self._starts[k][0] + WINDOW for k, rate in budgets
                                 if rate > 0 and len(self._starts[k]) >= _cap(rate))])
                if slot <= t:
                    for k, rate in budgets:
                        if rate > 0:
                            starts = self._starts[k]
                            starts.append(t)
                            while len(starts) > _cap(rate):
                                starts.popleft()
                    return 0.0

    def wait(self, budgets: Sequence[Budget]) -> float:
        """Seconds until the next free slot in every one of these budgets (0: free now)."""
        with self._lock:
            t = time.monotonic()
            return max([0.0, *(self._next.get(k, t) - t for k, _ in budgets)])

    def held(self, budgets: Sequence[Budget]) -> bool:
        """Whether the provider asked us to wait on one of these keys (rather than our own budget
        keeping the request waiting)."""
        with self._lock:
            t = time.monotonic()
            return any(self._held.get(k, t) > t for k, _ in budgets)

    def hold(self, budgets: Sequence[Budget], seconds: float) -> None:
        """The provider refused a request for being one too many: no request of these keys
        starts within `seconds`."""
        with self._lock:
            until = time.monotonic() + seconds
            for k, _ in budgets:
                self._next[k] = max(self._next.get(k, until), until)
                self._held[k] = max(self._held.get(k, until), until)

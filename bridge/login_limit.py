"""Admin sign-in limits kept in SQLite, so every web process (gunicorn runs several) shares them.

An in-memory limiter gave each worker process its own budget (three workers: three times the
guesses) and forgot everything on restart. Here every failed sign-in is a row in
`login_failures`; a sign-in is refused while

* its address has failed PER_ADDRESS_MINUTE times in the last minute or PER_ADDRESS_HOUR times
  in the last hour, or
* all addresses together have failed GLOBAL_HOUR times in the last hour (guessing spread over
  many addresses).

A refused address is refused even with the right password: otherwise the limit would only slow
down the guesses, not stop them from being tested. The answer says when to try again. The
global cap means a distributed guesser can keep the admin out for up to an hour; that is the
trade chosen over letting the guessing go on (`python -m bridge admin-password` and the log show
what happened).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from .store import sessions
from .store.db import Database

PER_ADDRESS_MINUTE = 5
PER_ADDRESS_HOUR = 30
GLOBAL_HOUR = 200
KEEP = 86_400.0   # failures older than a day are pruned


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0      # seconds until the oldest counted failure leaves its window
    scope: str = ""           # "address" or "everyone" when refused


class LoginLimiter:
    """Counts failed sign-ins per address and overall; `clock` is injectable for tests."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time):
        self.db = db
        self.clock = clock

    def check(self, remote: str) -> Verdict:
        """May `remote` try a password now?"""
        now = self.clock()
        for scope, who, since, limit, window in (
                ("address", remote, now - 60, PER_ADDRESS_MINUTE, 60.0),
                ("address", remote, now - 3600, PER_ADDRESS_HOUR, 3600.0),
                ("everyone", None, now - 3600, GLOBAL_HOUR, 3600.0)):
            n = sessions.failures_since(self.db, since, who)
            if n >= limit:
                # the failure that must leave the window before one more try is allowed
                oldest = sessions.nth_newest_failure(self.db, since, limit, who)
                return Verdict(False, max(1, int((oldest or now) + window - now + 0.999)), scope)
        return Verdict(True)

    def failed(self, remote: str) -> None:
        now = self.clock()
        with self.db.tx() as c:
            sessions.add_failure(c, remote, now, now - KEEP)

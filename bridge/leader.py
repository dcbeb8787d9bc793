"""One scheduler for the whole installation, however many processes run one.

Under gunicorn every web worker builds the app; with RUN_SCHEDULER=1 each would start the
periodic jobs, and two balance checks or two reconciles at once waste calls and alerts. The
processes elect a leader through a row in the shared SQLite database: the holder renews it every
few seconds; when it stops (crash, kill -9, deploy) another process takes over once the lease
runs out. Sending stays safe either way (claims are leased per message); the lock only keeps
the periodic work single.
"""
from __future__ import annotations

import logging
import os
import socket
import uuid

from .store import kv
from .store.db import Database, now

log = logging.getLogger(__name__)

KEY = "scheduler.leader"


class LeaderLock:
    def __init__(self, db: Database, ttl: float = 30.0):
        self.db = db
        self.ttl = ttl
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leading = False

    def renew(self) -> bool:
        """Take the lease if it is free, expired or held by a dead process of this machine (a
        restart after kill -9 need not wait out the TTL); keep it if it is ours."""
        t = now()
        with self.db.tx() as c:
            held = kv.lease_holder(c, KEY, self.holder, t)
            stale_before = t - self.ttl if not _dead_here(held) else t + 1
            leading = kv.take_lease(c, KEY, self.holder, t, stale_before)
        if leading != self.leading:
            log.info("%s the periodic jobs (%s)", "running" if leading else "no longer running", self.holder)
        self.leading = leading
        return leading

    def release(self) -> None:
        """On a clean shutdown: let another process take over at once instead of after the TTL."""
        with self.db.tx() as c:
            kv.drop_lease(c, KEY, self.holder)
        self.leading = False

    def current(self) -> tuple[str | None, float | None]:
        return kv.lease(self.db, KEY)

    def elsewhere(self) -> bool:
        """Another live process leads the jobs now (its lease renewed within the TTL)."""
        holder, renewed = self.current()
        return (holder is not None and holder != self.holder and renewed is not None
                and renewed > now() - self.ttl and not _dead_here(holder))


def _dead_here(holder: str | None) -> bool:
    """True when the holder ran on this machine and its process is gone."""
    try:
        host, pid, _ = (holder or "").split(":")
        if host != socket.gethostname() or int(pid) == os.getpid():
            return False
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (ValueError, PermissionError, OSError):
        return False
    return False


def live_holder(db: Database, ttl: float) -> str | None:
    """Who holds the scheduler lease, if that process looks alive (renewed within `ttl`, and not a
    dead process of this machine): what a command that needs the service stopped refuses on."""
    holder, renewed = kv.lease(db, KEY)
    if holder is None or renewed is None or now() - renewed >= ttl or _dead_here(holder):
        return None
    return holder

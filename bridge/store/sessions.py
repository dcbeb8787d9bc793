"""Admin sign-in bookkeeping shared by every web process: failed attempts (login_failures)."""
from __future__ import annotations

import sqlite3

from .db import Database


def failures_since(db: Database, since: float, remote: str | None = None) -> int:
    """Failed sign-ins after `since`, from `remote` or (None) from everyone."""
    if remote is None:
        return db.scalar("SELECT COUNT(*) FROM login_failures WHERE at>?", (since,))
    return db.scalar("SELECT COUNT(*) FROM login_failures WHERE remote=? AND at>?", (remote, since))


def nth_newest_failure(db: Database, since: float, n: int, remote: str | None = None) -> float | None:
    """When the `n`-th newest failure after `since` happened (1 = the newest)."""
    if remote is None:
        return db.scalar("SELECT at FROM login_failures WHERE at>? ORDER BY at DESC LIMIT 1 OFFSET ?",
                         (since, n - 1))
    return db.scalar("SELECT at FROM login_failures WHERE remote=? AND at>? ORDER BY at DESC LIMIT 1 OFFSET ?",
                     (remote, since, n - 1))


def add_failure(c: sqlite3.Connection, remote: str, at: float, forget_before: float) -> None:
    """Record a failure; forget those before `forget_before`."""
    c.execute("INSERT INTO login_failures(at, remote) VALUES (?,?)", (at, remote))
    c.execute("DELETE FROM login_failures WHERE at < ?", (forget_before,))

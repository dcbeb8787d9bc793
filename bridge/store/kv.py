"""The kv table: generated secrets, last-known figures, the scheduler's leader lease, the
health probe's write."""
from __future__ import annotations

import sqlite3
import time

from .db import Database, now


def get(db: Database, key: str, default: str | None = None) -> str | None:
    v = db.scalar("SELECT value FROM kv WHERE key=?", (key,))
    return default if v is None else v


def set(db: Database, key: str, value: str) -> None:  # noqa: A001 - kv.set reads as it is meant
    with db.tx() as c:
        c.execute("INSERT INTO kv(key, value, updated_at) VALUES(?,?,?) "
                  "ON CONFLICT(key) DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at",
                  (key, value, now()))


def setdefault(db: Database, key: str, value: str) -> str:
    """Store `value` unless the key exists; return what is stored (first writer wins)."""
    with db.tx() as c:
        c.execute("INSERT OR IGNORE INTO kv(key, value, updated_at) VALUES(?,?,?)", (key, value, now()))
        return c.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()[0]


# -- a lease held in one row (the scheduler's leader) ---------------------------------------
def lease_holder(c: sqlite3.Connection, key: str, candidate: str, t: float) -> str:
    """Inside the caller's transaction: create the lease row for `candidate` if there is none;
    return who holds it."""
    c.execute("INSERT OR IGNORE INTO kv(key, value, updated_at) VALUES (?,?,?)", (key, candidate, t))
    return c.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()["value"]


def take_lease(c: sqlite3.Connection, key: str, holder: str, t: float, stale_before: float) -> bool:
    """Renew the lease if `holder` has it, take it if it was last renewed before `stale_before`."""
    cur = c.execute("UPDATE kv SET value=?, updated_at=? WHERE key=? AND (value=? OR updated_at < ?)",
                    (holder, t, key, holder, stale_before))
    return cur.rowcount == 1


def drop_lease(c: sqlite3.Connection, key: str, holder: str) -> None:
    c.execute("UPDATE kv SET updated_at=0 WHERE key=? AND value=?", (key, holder))


def lease(db: Database, key: str) -> tuple[str | None, float | None]:
    row = db.one("SELECT value, updated_at FROM kv WHERE key=?", (key,))
    return (row["value"], row["updated_at"]) if row else (None, None)


def probe_write(path: str, key: str, timeout: float, value: str = "ok") -> str:
    """'' when a write transaction on a fresh connection commits within `timeout`, else why not."""
    try:
        c = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    except sqlite3.Error as exc:
        return f"{type(exc).__name__}: {exc}"
    try:
        c.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute("INSERT INTO kv(key, value, updated_at) VALUES (?,?,?) ON CONFLICT(key) DO UPDATE SET"
                      " value=excluded.value, updated_at=excluded.updated_at", (key, value, time.time()))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        return ""
    except sqlite3.Error as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        c.close()

"""The shop's phones: their pacing and health (`devices`) and their recent sends (`device_sends`).

The send budget of a SIM lives here so that a restart does not reset it. Functions taking a
connection run inside the caller's transaction (`db.tx()`): reserving a slot reads and writes
in one transaction, or two senders could both take the last slot."""
from __future__ import annotations

import sqlite3
from typing import Iterable

from .db import Database, now

KEEP_SENDS = 7200.0   # seconds of sends kept per device: the longest budget window (an hour), twice


def ensure(db: Database, names: Iterable[str]) -> None:
    """A row for every configured device (a new one starts healthy and free)."""
    with db.tx() as c:
        for name in names:
            c.execute("INSERT OR IGNORE INTO devices(name, next_at, consecutive_failures, paused_until,"
                      " pause_reason, last_used_at) VALUES (?, 0, 0, 0, '', 0)", (name,))


def state(c: sqlite3.Connection | Database, name: str) -> sqlite3.Row | None:
    sql, params = "SELECT * FROM devices WHERE name=?", (name,)
    return c.one(sql, params) if isinstance(c, Database) else c.execute(sql, params).fetchone()


def nth_latest_send_since(c: sqlite3.Connection, device: str, since: float, n: int) -> float | None:
    """When the n-th latest send after `since` was made (None: fewer than n sends)."""
    row = c.execute("SELECT at FROM device_sends WHERE device=? AND at > ? ORDER BY at DESC LIMIT 1 OFFSET ?",
                    (device, since, n - 1)).fetchone()
    return None if row is None else row["at"]


def oldest_send_since(c: sqlite3.Connection, device: str, since: float) -> float | None:
    row = c.execute("SELECT at FROM device_sends WHERE device=? AND at > ? ORDER BY at LIMIT 1",
                    (device, since)).fetchone()
    return None if row is None else row["at"]


def soonest_resume(c: sqlite3.Connection, t: float) -> float | None:
    """When the first paused device comes back (None: none is paused)."""
    return c.execute("SELECT MIN(paused_until) FROM devices WHERE paused_until > ?", (t,)).fetchone()[0]


def record_send(c: sqlite3.Connection, device: str, at: float, next_at: float) -> None:
    """A slot taken: counted in the windows, the next one not before `next_at`."""
    c.execute("INSERT INTO device_sends(device, at) VALUES (?, ?)", (device, at))
    c.execute("UPDATE devices SET next_at=?, last_used_at=? WHERE name=?", (next_at, at, device))
    c.execute("DELETE FROM device_sends WHERE device=? AND at < ?", (device, at - KEEP_SENDS))


def record_success(db: Database, name: str) -> None:
    with db.tx() as c:
        c.execute("UPDATE devices SET consecutive_failures=0 WHERE name=?", (name,))


def record_failure(db: Database, name: str, pause_after: int, cooldown: float, detail: str) -> None:
    """One more failure in a row; the `pause_after`-th pauses the device for `cooldown` seconds."""
    with db.tx() as c:
        c.execute("UPDATE devices SET consecutive_failures=consecutive_failures+1 WHERE name=?", (name,))
        n = c.execute("SELECT consecutive_failures FROM devices WHERE name=?", (name,)).fetchone()[0]
        if n >= pause_after:
            c.execute("UPDATE devices SET paused_until=?, pause_reason=?, consecutive_failures=0 WHERE name=?",
                      (now() + cooldown, f"{n} failures in a row, last: {detail}", name))


def resume(db: Database, name: str) -> bool:
    """Back into rotation now; False when there is no device by that name."""
    with db.tx() as c:
        cur = c.execute("UPDATE devices SET paused_until=0, pause_reason='', consecutive_failures=0 WHERE name=?",
                        (name,))
        return cur.rowcount > 0


def sends_since(db: Database, device: str, since: float) -> int:
    return db.scalar("SELECT COUNT(*) FROM device_sends WHERE device=? AND at > ?", (device, since))

"""Messages held back until the shop's configuration lets them go out (bridge/bank_details.py)."""
from __future__ import annotations

import sqlite3

from .db import Database

HELD = "held"


def held(db: Database, limit: int = 500) -> list[sqlite3.Row]:
    """The oldest held messages first (the status index finds them among millions)."""
    return db.query("SELECT id, rule, event, audience, order_id, customer_id, recipient, reason, created_at"
                    " FROM messages WHERE status=? ORDER BY due_at, id LIMIT ?", (HELD, limit))


def count(db: Database) -> int:
    return db.scalar("SELECT COUNT(*) FROM messages WHERE status=?", (HELD,)) or 0


def release(c: sqlite3.Connection, mid: str, text: str, encoding: str, length: int, segments: int,
            payload: str | None, status: str, due: float, reason: str, t: float) -> bool:
    """The held row with its text rendered again, waiting to be sent; False when it is no longer
    held (the owner cancelled it meanwhile)."""
    return c.execute(
        "UPDATE messages SET text=?, encoding=?, length=?, segments=?, payload=?, status=?, due_at=?, reason=?,"
        " updated_at=? WHERE id=? AND status=?",
        (text, encoding, length, segments, payload, status, due, reason, t, mid, HELD)).rowcount == 1


def drop(c: sqlite3.Connection, mid: str, status: str, reason: str, t: float) -> bool:
    return c.execute("UPDATE messages SET status=?, reason=?, updated_at=? WHERE id=? AND status=?",
                     (status, reason, t, mid, HELD)).rowcount == 1

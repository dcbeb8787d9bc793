"""The inbox table: every inbound SMS, app notification and chat message, stored before anything
is decided from it."""
from __future__ import annotations

import sqlite3
from typing import Any

from .db import Database, fetch_all


def by_external_id(c: sqlite3.Connection, source: str, external_id: str) -> sqlite3.Row | None:
    return c.execute("SELECT id FROM inbox WHERE source=? AND external_id=?", (source, external_id)).fetchone()


def twin(c: sqlite3.Connection, sender: str, device: str, text: str, start: float, end: float) -> sqlite3.Row | None:
    """A row (not itself a duplicate) with the same sender, device and text received in [start, end]."""
    return c.execute(
        "SELECT id FROM inbox WHERE sender=? AND device=? AND text=? AND received_at BETWEEN ? AND ?"
        " AND state != 'duplicate' LIMIT 1", (sender, device, text, start, end)).fetchone()


def insert(c: sqlite3.Connection, t: float, source: str, external_id: str | None, device: str, sim: int | None,
           sender: str, recipient: str, text: str, received_at: float, raw: Any, state: str, reason: str,
           package: str | None, title: str | None, fields: str | None = None, payload: str | None = None) -> int:
    cur = c.execute(
        "INSERT INTO inbox(created_at, source, external_id, device, sim, sender, recipient, text, received_at,"
        " raw, state, handled_by, reason, package, title, fields, payload) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (t, source, external_id, device, sim, sender, recipient, text, received_at, raw, state, "", reason,
         package, title, fields, payload))
    return cur.lastrowid


def set_handled(c: sqlite3.Connection, row_id: int, state: str, handled_by: str, reason: str) -> None:
    c.execute("UPDATE inbox SET state=?, handled_by=?, reason=? WHERE id=?", (state, handled_by, reason, row_id))


def undecided(db_or_c: Database | sqlite3.Connection, limit: int) -> list[sqlite3.Row]:
    """Stored but not handed on yet (still 'received'), oldest first."""
    return fetch_all(db_or_c, "SELECT * FROM inbox INDEXED BY idx_inbox_undecided WHERE state='received'"
                              " ORDER BY id LIMIT ?", (limit,))


def when_and_fields(db: Database, row_id: int) -> sqlite3.Row | None:
    """When a row reached us and the fields a structured source reported (JSON, or NULL for a text)."""
    return db.one("SELECT received_at, fields FROM inbox WHERE id=?", (row_id,))

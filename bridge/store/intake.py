"""Received delivery reports (stored before they are applied) and what is still to decide across
every table that acknowledges first and decides after the answer (bridge/intake.py)."""
from __future__ import annotations

import sqlite3

from itertools import takewhile
from typing import Any

from .db import Database, fetch_all, fetch_one


def add_report(c: sqlite3.Connection, t: float, source: str, provider_id: str | None, send_key: str | None,
               report: str) -> int:
    cur = c.execute("INSERT INTO received_reports(received_at, source, provider_id, send_key, report, state)"
                    " VALUES (?,?,?,?,?, 'received')", (t, source, provider_id, send_key, report))
    return cur.lastrowid


def undecided_reports(db_or_c: Database | sqlite3.Connection, limit: int) -> list[sqlite3.Row]:
    return fetch_all(db_or_c, "SELECT * FROM received_reports INDEXED BY idx_received_reports_undecided"
                              " WHERE state='received' ORDER BY id LIMIT ?", (limit,))


def settling(db: Database, before: float, limit: int) -> list[sqlite3.Row]:
    """Reports committed before `before` whose follow-up never ran (bridge/received_reports.py)."""
    return db.query("SELECT * FROM received_reports INDEXED BY idx_received_reports_settling"
                    " WHERE state='settling' AND decided_at<? ORDER BY id LIMIT ?", (before, limit))


def settled(c: sqlite3.Connection, row_id: int, state: str) -> None:
    c.execute("UPDATE received_reports SET state=? WHERE id=? AND state='settling'", (state, row_id))


def set_report_outcome(c: sqlite3.Connection, row_id: int, state: str, message_id: str | None, t: float,
                       reason: str = "") -> None:
    c.execute("UPDATE received_reports SET state=?, message_id=?, decided_at=?, reason=? WHERE id=?",
              (state, message_id, t, reason, row_id))


# The first undecided row of each table and when it arrived, each read from that table's index of
# undecided rows (its own first entry): what the sweep and the tests' settle() look at.
_OLDEST = (
    "SELECT received_at FROM deliveries WHERE state='received' ORDER BY id LIMIT 1",
    "SELECT created_at FROM inbox INDEXED BY idx_inbox_undecided WHERE state='received' ORDER BY id LIMIT 1",
    "SELECT received_at FROM received_reports INDEXED BY idx_received_reports_undecided WHERE state='received'"
    " ORDER BY id LIMIT 1",
    "SELECT received_at FROM shipment_events INDEXED BY idx_shipment_events_undecided"
    " WHERE state='received' AND attempts IS NULL ORDER BY id LIMIT 1",
    "SELECT decided_at FROM received_reports INDEXED BY idx_received_reports_settling WHERE state='settling'"
    " ORDER BY id LIMIT 1",
)


def delivery_head(db_or_c: Database | sqlite3.Connection) -> float | None:
    """When the first undecided delivery (the next the decider takes) arrived; None: none waits."""
    r = fetch_one(db_or_c, _OLDEST[0])
    return r[0] if r is not None else None


def others_head(db: Database) -> float | None:
    """When the oldest undecided text, report or carrier call arrived: the deliveries that arrived
    after it wait for it (bridge/intake.py)."""
    found = [r[0] for r in (db.one(sql) for sql in _OLDEST[1:4]) if r is not None]
    return min(found) if found else None


def before_deliveries(db_or_c: Database | sqlite3.Connection, rows: list[Any], arrived: str) -> list[Any]:
    """The leading rows that arrived before every undecided delivery (ties: the delivery first).
    Read inside the deciding transaction it is what keeps a text from being decided before the
    webhook acknowledged ahead of it."""
    head = delivery_head(db_or_c)
    return rows if head is None else list(takewhile(lambda r: r[arrived] < head, rows))


def earlier_delivery_undecided(c: sqlite3.Connection, order_id: int, arrived: float) -> bool:
    """A delivery about this order, acknowledged no later than `arrived`, still waits."""
    return fetch_one(c, "SELECT 1 FROM deliveries WHERE state='received' AND resource='order' AND resource_id=?"
                        " AND received_at<=? LIMIT 1", (order_id, arrived)) is not None


def oldest_undecided(db: Database) -> float | None:
    """When the oldest row still waiting for its decision arrived, in any table; None: none waits."""
    found = [r[0] for r in (db.one(sql) for sql in _OLDEST) if r is not None]
    return min(found) if found else None


# What still waits, by kind: how many and since when, each counted on its table's index of
# undecided rows (a few rows, whatever the table's size).
_BACKLOG = {
    "deliveries": "SELECT COUNT(*), MIN(received_at) FROM deliveries WHERE state='received'",
    "texts": "SELECT COUNT(*), MIN(created_at) FROM inbox INDEXED BY idx_inbox_undecided WHERE state='received'",
    "reports": "SELECT COUNT(*), MIN(received_at) FROM received_reports INDEXED BY idx_received_reports_undecided"
               " WHERE state='received'",
    "carrier_calls": "SELECT COUNT(*), MIN(received_at) FROM shipment_events INDEXED BY"
                     " idx_shipment_events_undecided WHERE state='received' AND attempts IS NULL",
}


def backlog(db: Database) -> dict[str, tuple[int, float | None]]:
    """Per kind: rows acknowledged and not decided yet, and when the oldest of them arrived."""
    return {kind: (r[0], r[1]) for kind, sql in _BACKLOG.items() if (r := db.one(sql)) is not None}

"""The transactions table: every bank/MoMo message read, with its decision, reason and review."""
from __future__ import annotations

import sqlite3
from typing import Any, Sequence

from .db import Database, fetch_one, marks


def get(db_or_c: Database | sqlite3.Connection, tx_id: int) -> sqlite3.Row | None:
    return fetch_one(db_or_c, "SELECT * FROM transactions WHERE id=?", (tx_id,))


def decided_for_inbox(db_or_c: Database | sqlite3.Connection, inbox_id: int) -> sqlite3.Row | None:
    """The decision already taken on an inbound message (restart idempotence)."""
    return fetch_one(db_or_c, "SELECT decision, reason FROM transactions WHERE inbox_id=?", (inbox_id,))


def by_fingerprint(c: sqlite3.Connection, fp: str) -> sqlite3.Row | None:
    return c.execute("SELECT id FROM transactions WHERE fingerprint=?", (fp,)).fetchone()


def same_text_and_amount(c: sqlite3.Connection, bank: str | None, text: str, amount: int | None,
                         direction: str | None, received_at: float, limit: int = 50) -> list[sqlite3.Row]:
    """Earlier events with the same bank, text, amount and direction, nearest in time first, with
    their inbox row's external id and time."""
    return c.execute(
        "SELECT t.id, i.external_id, i.received_at FROM transactions t JOIN inbox i ON i.id = t.inbox_id"
        " WHERE t.bank IS ? AND t.text = ? AND t.amount IS ? AND t.direction IS ? AND t.fingerprint IS NOT NULL"
        " ORDER BY abs(i.received_at - ?) LIMIT ?", (bank, text, amount, direction, received_at, limit)).fetchall()


def credits_near(c: sqlite3.Connection, bank: str | None, amount: int | None, start: float, end: float,
                 other_than: str) -> list[sqlite3.Row]:
    """Credits of `amount` to `bank` dated in [start, end] that another source than `other_than`
    reported and that stand for a transfer (not themselves a duplicate, not from a source or a
    layout a person must vouch for, not a rejected text): the records a new one may repeat."""
    return c.execute(
        "SELECT id, source, account_tail, balance, ref_key, bank_time, event_at, memo FROM transactions"
        " WHERE bank IS ? AND amount IS ? AND event_at BETWEEN ? AND ? AND direction='in' AND kind='transaction'"
        " AND source != ? AND duplicate_of IS NULL"
        " AND decision NOT IN ('duplicate', 'unverified_source', 'unknown_layout')"
        # a record another one from this source already repeats is taken: one transfer, one twin per source
        " AND NOT EXISTS (SELECT 1 FROM transactions d WHERE d.duplicate_of = transactions.id AND d.source = ?)"
        " ORDER BY abs(event_at - ?) LIMIT 20",
        (bank, amount, start, end, other_than, other_than, (start + end) / 2)).fetchall()


def insert(c: sqlite3.Connection, data: dict[str, Any]) -> int:
    """A transaction row from its column values."""
    cols = ",".join(data)
    cur = c.execute(f"INSERT INTO transactions({cols}) VALUES ({marks(data)})", tuple(data.values()))
    return cur.lastrowid


def text_of(c: sqlite3.Connection, tx_id: int) -> str:
    return c.execute("SELECT text FROM transactions WHERE id=?", (tx_id,)).fetchone()["text"]


def set_order(c: sqlite3.Connection, tx_id: int, order_id: int) -> None:
    c.execute("UPDATE transactions SET order_id=? WHERE id=?", (order_id, tx_id))


def open_credits_of_order(c: sqlite3.Connection, order_id: int, decisions: Sequence[str], start: float,
                          end: float) -> list[sqlite3.Row]:
    """Credits decided for an order with one of `decisions` that nobody has acted on yet, whose
    transfer was made (`event_at`; a row from before v9: when its inbox row reached us) in
    [start, end], oldest first."""
    places = marks(decisions)
    return c.execute(
        "SELECT t.id, t.amount, t.decision, t.source, t.account_tail, t.balance, t.ref_key, t.bank_time, t.event_at,"
        " t.memo FROM transactions t LEFT JOIN inbox i ON i.id = t.inbox_id"
        f" WHERE t.order_id = ? AND t.decision IN ({places}) AND t.direction = 'in' AND t.review_action IS NULL"
        " AND COALESCE(t.event_at, i.received_at, t.created_at) BETWEEN ? AND ? ORDER BY t.id",
        (order_id, *decisions, start, end)).fetchall()


def review_queue(db: Database, decisions: Sequence[str]) -> list[sqlite3.Row]:
    """Transactions with one of `decisions` that no person has acted on yet, oldest first."""
    places = marks(decisions)
    return db.query(f"SELECT * FROM transactions WHERE decision IN ({places}) AND review_action IS NULL ORDER BY id",
                    tuple(decisions))


def mark_reviewed(c: sqlite3.Connection, tx_id: int, action: str, who: str, t: float, note: str) -> None:
    c.execute("UPDATE transactions SET review_action=?, reviewed_by=?, reviewed_at=?, review_note=? WHERE id=?",
              (action, who, t, note, tx_id))


def of_order(db: Database, order_id: int) -> list[sqlite3.Row]:
    return db.query("SELECT * FROM transactions WHERE order_id=? ORDER BY id", (order_id,))

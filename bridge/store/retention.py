"""Retention's queries (bridge/retention.py decides what and when): find a batch of old rows with
a read, outside any write transaction, then null or delete exactly those rows in a short one that
checks every protecting condition again by the rows' ids (never walking a table or an index range
inside the write: a "+" keeps the planner off an index there), so a row that changed in between
(decided, referenced, reviewed) is left alone and intake waits for one short write (the caller
sizes batches to about 50 ms; bench/retention_pass.py prints what each took).

Ids grow with time in every table pruned here (rows are inserted as they arrive), so "older than
the cutoff" is "id below the first id at or after the cutoff", found by a binary search over the
primary key: no time index is needed, and none is built on a large table at start.
"""
from __future__ import annotations

import sqlite3
from typing import Sequence

from .db import Database, marks, now


def first_id_at(db: Database, table: str, time_col: str, t: float) -> int:
    """The id below which every row of `table` is older than `t` (the first row at or after `t`,
    or one past the last row): about twenty primary-key lookups."""
    bounds = db.one(f"SELECT MIN(id), MAX(id) FROM {table}")
    if bounds is None or bounds[0] is None:
        return 0
    lo, hi = int(bounds[0]), int(bounds[1]) + 1
    while lo < hi:
        mid = (lo + hi) // 2
        row = db.one(f"SELECT id, {time_col} FROM {table} WHERE id >= ? ORDER BY id LIMIT 1", (mid,))
        if row is not None and row[1] is not None and row[1] < t:
            lo = int(row[0]) + 1
        else:
            hi = mid
    return lo


# -- raw payloads: nulled, the row stays ----------------------------------------------------------
def mark(db: Database, key: str) -> int:
    """How far (id) a raw-payload pass has gone in its table: rows up to it are done."""
    return int(db.scalar("SELECT value FROM kv WHERE key=?", (key,)) or 0)


def set_mark(c: sqlite3.Connection, key: str, table: str, upto: int) -> None:
    """Move a pass's mark, never past the table's last id: a new row takes the last id plus one,
    which after the newest rows were deleted is an id the pass went past already."""
    upto = min(upto, int(c.execute(f"SELECT MAX(id) FROM {table}").fetchone()[0] or 0))
    c.execute("INSERT INTO kv(key, value, updated_at) VALUES (?,?,?) ON CONFLICT(key) DO UPDATE SET"
              " value=excluded.value, updated_at=excluded.updated_at", (key, str(upto), now()))


def last_id(db: Database, table: str) -> int:
    return int(db.scalar(f"SELECT MAX(id) FROM {table}") or 0)


def raw_candidates(db: Database, table: str, after: int, before: int, limit: int) -> list[sqlite3.Row]:
    """The next rows of `table` past `after` and older than the cutoff, with their state when the
    table has one (a row not decided yet keeps its payload)."""
    state = "state" if table != "message_events" else "NULL AS state"
    return db.query(f"SELECT id, {state} FROM {table} WHERE id > ? AND id < ? ORDER BY id LIMIT ?",
                    (after, before, limit))


def null_raw(c: sqlite3.Connection, table: str, columns: Sequence[str], ids: Sequence[int],
             decided: Sequence[str] | None) -> int:
    """Null the payload columns of these rows (only those still in a decided state), in the
    caller's transaction; how many rows lost their payload."""
    n = 0
    if ids:
        still = f" AND +state IN ({marks(decided)})" if decided is not None else ""
        sets = ", ".join(f"{col}=NULL" for col in columns)
        if table == "deliveries":   # a decided delivery's payload is a row of its own (store/deliveries.py)
            c.execute(f"DELETE FROM delivery_bodies WHERE id IN (SELECT id FROM deliveries WHERE id IN ({marks(ids)})"
                      f"{still})", (*ids, *(decided or ())))
        n = c.execute(f"UPDATE {table} SET {sets} WHERE id IN ({marks(ids)}){still}",
                      (*ids, *(decided or ()))).rowcount
    return n


# -- delivery reports stored before they were applied (area A's received_reports) -----------------
def old_reports(db: Database, before: int, decided: Sequence[str], limit: int) -> list[int]:
    """Decided reports below the cutoff; the rows before them are gone, so the walk is short."""
    return [r[0] for r in db.query(f"SELECT id FROM received_reports WHERE id < ? AND state IN ({marks(decided)})"
                                   " ORDER BY id LIMIT ?", (before, *decided, limit))]


def delete_reports(c: sqlite3.Connection, ids: Sequence[int], before: int, decided: Sequence[str]) -> int:
    return c.execute(f"DELETE FROM received_reports WHERE id IN ({marks(ids)}) AND id < ?"
                     f" AND +state IN ({marks(decided)})", (*ids, before, *decided)).rowcount


# -- provider attempts and delivery-report events of final messages -------------------------------
def _event_rows(table: str, final: Sequence[str]) -> str:
    """Rows of `table` whose message is final or gone (a report that never found its message)."""
    return (f"FROM {table} x WHERE x.id < ? AND (x.message_id IS NULL OR NOT EXISTS (SELECT 1 FROM messages m"
            f" WHERE m.id = x.message_id AND m.status NOT IN ({marks(final)})))")


def old_events(db: Database, table: str, before: int, final: Sequence[str], limit: int) -> list[int]:
    return [r[0] for r in db.query(f"SELECT x.id {_event_rows(table, final)} ORDER BY x.id LIMIT ?",
                                   (before, *final, limit))]


def delete_events(c: sqlite3.Connection, table: str, ids: Sequence[int], before: int, final: Sequence[str]) -> int:
    return c.execute(f"DELETE FROM {table} WHERE id IN (SELECT x.id {_event_rows(table, final)}"
                     f" AND x.id IN ({marks(ids)}))", (before, *final, *ids)).rowcount


# -- messages: final ones, with their attempts, events and legs ----------------------------------
def old_messages(db: Database, before: float, final: Sequence[str], limit: int) -> list[str]:
    """Final messages created before `before`, oldest first (the created_at index)."""
    return [r[0] for r in db.query(f"SELECT id FROM messages WHERE created_at < ? AND status IN ({marks(final)})"
                                   " ORDER BY created_at LIMIT ?", (before, *final, limit))]


def delete_messages(c: sqlite3.Connection, ids: Sequence[str], before: float, final: Sequence[str]) -> int:
    """Delete these messages if still final and old, with what hangs on them (the send API's row
    too, so its list never joins to a message that is gone). The outbox's
    triggers keep message_counts and both search indexes in step, in this transaction."""
    gone = [r[0] for r in c.execute(f"SELECT id FROM messages WHERE id IN ({marks(ids)}) AND +created_at < ?"
                                    f" AND +status IN ({marks(final)})", (*ids, before, *final))]
    if not gone:
        return 0
    # api_messages: the send API's record of the message and its Idempotency-Key (unique index on
    # message_id): the key is remembered as long as its message is kept.
    for table in ("attempts", "message_events", "message_legs", "api_messages"):
        c.execute(f"DELETE FROM {table} WHERE message_id IN ({marks(gone)})", gone)
    return c.execute(f"DELETE FROM messages WHERE id IN ({marks(gone)})", gone).rowcount


# -- webhook deliveries: decided, named by no message kept ---------------------------------------
def _old_deliveries(decided: Sequence[str], by_id: str = "") -> str:
    """`by_id` "+" inside the write: the rows are found by their ids there, never by an index on
    state (v14 keeps only the undecided rows' one; an older schema's covered the whole table)."""
    return (f"FROM deliveries d WHERE d.id < ? AND {by_id}d.state IN ({marks(decided)})"
            " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.delivery_ref = d.id)")


def old_deliveries(db: Database, before: int, decided: Sequence[str], limit: int) -> list[int]:
    return [r[0] for r in db.query(f"SELECT d.id {_old_deliveries(decided)} ORDER BY d.id LIMIT ?",
                                   (before, *decided, limit))]


def delete_deliveries(c: sqlite3.Connection, ids: Sequence[int], before: int, decided: Sequence[str]) -> int:
    return c.execute(f"DELETE FROM deliveries WHERE id IN (SELECT d.id {_old_deliveries(decided, '+')}"
                     f" AND d.id IN ({marks(ids)}))", (before, *decided, *ids)).rowcount


# -- inbound: transactions that paid no order, then texts nothing kept refers to ------------------
def _old_transactions(review: Sequence[str], by_id: str = "") -> str:
    """Transactions naming no order (a payment stays with its order), not waiting for a person,
    and no kept transaction's original. `by_id` "+" inside the write: there the rows are found by
    their ids, not by walking the order index over every order-less row below the cutoff (0.4 s
    a batch at 300K such rows, holding the lock)."""
    return (f"FROM transactions t WHERE t.id < ? AND {by_id}t.order_id IS NULL"
            f" AND NOT (t.decision IN ({marks(review)}) AND t.review_action IS NULL)"
            " AND NOT EXISTS (SELECT 1 FROM transactions d WHERE d.duplicate_of = t.id)")


def old_transactions(db: Database, before: int, review: Sequence[str], limit: int) -> list[int]:
    return [r[0] for r in db.query(f"SELECT t.id {_old_transactions(review)} ORDER BY t.id LIMIT ?",
                                   (before, *review, limit))]


def delete_transactions(c: sqlite3.Connection, ids: Sequence[int], before: int, review: Sequence[str]) -> int:
    return c.execute(f"DELETE FROM transactions WHERE id IN (SELECT t.id {_old_transactions(review, '+')}"
                     f" AND t.id IN ({marks(ids)}))", (before, *review, *ids)).rowcount


def _old_inbox(decided: Sequence[str]) -> str:
    return (f"FROM inbox i WHERE i.id < ? AND i.state IN ({marks(decided)})"
            " AND NOT EXISTS (SELECT 1 FROM transactions t WHERE t.inbox_id = i.id)"
            " AND NOT EXISTS (SELECT 1 FROM cod_answers a WHERE a.inbox_id = i.id)")


def inbox_candidates(db: Database, after: int, before: int, decided: Sequence[str], limit: int) -> list[sqlite3.Row]:
    """The next texts past `after` below the cutoff: whether each can go now, and whether it is
    kept for good (the text of a payment or of a COD answer, both kept forever), so the pass's mark
    can move past it and the next pass does not read it again."""
    return db.query(
        f"SELECT i.id, (i.state IN ({marks(decided)})"
        " AND NOT EXISTS (SELECT 1 FROM transactions t WHERE t.inbox_id = i.id)"
        " AND NOT EXISTS (SELECT 1 FROM cod_answers a WHERE a.inbox_id = i.id)) AS deletable,"
        " (EXISTS (SELECT 1 FROM transactions t WHERE t.inbox_id = i.id AND t.order_id IS NOT NULL)"
        " OR EXISTS (SELECT 1 FROM cod_answers a WHERE a.inbox_id = i.id)) AS kept"
        " FROM inbox i WHERE i.id > ? AND i.id < ? ORDER BY i.id LIMIT ?", (*decided, after, before, limit))


def delete_inbox(c: sqlite3.Connection, ids: Sequence[int], before: int, decided: Sequence[str]) -> int:
    return c.execute(f"DELETE FROM inbox WHERE id IN (SELECT i.id {_old_inbox(decided)}"
                     f" AND i.id IN ({marks(ids)}))", (before, *decided, *ids)).rowcount


# -- disk space -----------------------------------------------------------------------------------
def space(db: Database) -> tuple[int, int, int]:
    """(page size, pages in the file, free pages): what a VACUUM would give back."""
    return (int(db.scalar("PRAGMA page_size")), int(db.scalar("PRAGMA page_count")),
            int(db.scalar("PRAGMA freelist_count")))


def vacuum(path: str) -> None:
    """Rebuild the file without its free pages, on a connection of its own (VACUUM cannot run
    inside a transaction, and holds the write lock until it is done)."""
    c = sqlite3.connect(path, timeout=60, isolation_level=None)
    try:
        c.execute("VACUUM")
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        c.close()

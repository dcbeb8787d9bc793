"""Bulk sends, their recipients and the opt-out list (bridge/bulk.py decides; these only read and
write rows).

A bulk's messages are ordinary outbox rows whose dedupe key is "bulk:<id>:<phone>": the keys
between "bulk:<id>:" and "bulk:<id>;" (';' follows ':') are a range of the unique index, so a
bulk's progress, pause and cancel read only its own rows among millions, without a column on
`messages`."""
from __future__ import annotations

import sqlite3
from typing import Any, Iterable, Sequence

from .db import Database, marks

WAITING = ("pending", "scheduled")


def key_range(bulk_id: int) -> tuple[str, str]:
    return f"bulk:{bulk_id}:", f"bulk:{bulk_id};"


def dedupe_key(bulk_id: int, phone: str) -> str:
    return f"bulk:{bulk_id}:{phone}"


# -- bulks ------------------------------------------------------------------------------------
def create(c: sqlite3.Connection, row: dict[str, Any]) -> int:
    cols = list(row)
    cur = c.execute(f"INSERT INTO bulks({', '.join(cols)}) VALUES ({marks(cols)})",
                    tuple(row[k] for k in cols))
    return int(cur.lastrowid)


def add_recipients(c: sqlite3.Connection, bulk_id: int, rows: Iterable[Sequence[Any]]) -> None:
    """rows: (seq, phone, raw, vars JSON, state, detail)."""
    c.executemany("INSERT INTO bulk_recipients(bulk_id, seq, phone, raw, vars, state, detail)"
                  " VALUES (?,?,?,?,?,?,?)", ((bulk_id, *r) for r in rows))


def get(db_or_c: Database | sqlite3.Connection, bulk_id: int) -> sqlite3.Row | None:
    sql, args = "SELECT * FROM bulks WHERE id=?", (bulk_id,)
    if isinstance(db_or_c, Database):
        return db_or_c.one(sql, args)
    return db_or_c.execute(sql, args).fetchone()


def latest(db: Database, limit: int = 50) -> list[sqlite3.Row]:
    return db.query("SELECT * FROM bulks ORDER BY id DESC LIMIT ?", (limit,))


def in_states(db_or_c: Database | sqlite3.Connection, states: Sequence[str]) -> list[sqlite3.Row]:
    sql = f"SELECT * FROM bulks WHERE state IN ({marks(states)}) ORDER BY id"
    if isinstance(db_or_c, Database):
        return db_or_c.query(sql, tuple(states))
    return db_or_c.execute(sql, tuple(states)).fetchall()


def set_state(c: sqlite3.Connection, bulk_id: int, state: str, t: float, started: bool = False,
              finished: bool = False) -> None:
    c.execute("UPDATE bulks SET state=?, updated_at=?, started_at=CASE WHEN ? THEN ? ELSE started_at END,"
              " finished_at=CASE WHEN ? THEN ? ELSE finished_at END WHERE id=?",
              (state, t, int(started), t, int(finished), t, bulk_id))


def set_next_due(c: sqlite3.Connection, bulk_id: int, t: float) -> None:
    c.execute("UPDATE bulks SET next_due=? WHERE id=?", (t, bulk_id))


def set_estimate(c: sqlite3.Connection, bulk_id: int, seconds: float | None) -> None:
    c.execute("UPDATE bulks SET estimate_s=? WHERE id=?", (seconds, bulk_id))


def delete_draft(c: sqlite3.Connection, bulk_id: int) -> bool:
    if c.execute("DELETE FROM bulks WHERE id=? AND state IN ('draft', 'preparing')", (bulk_id,)).rowcount != 1:
        return False
    c.execute("DELETE FROM bulk_recipients WHERE bulk_id=?", (bulk_id,))
    return True


# -- recipients -------------------------------------------------------------------------------
def recipients(db: Database, bulk_id: int, states: Sequence[str], limit: int) -> list[sqlite3.Row]:
    return db.query(f"SELECT * FROM bulk_recipients WHERE bulk_id=? AND state IN ({marks(states)})"
                    " ORDER BY seq LIMIT ?", (bulk_id, *states, limit))


def recipient_counts(db: Database, bulk_id: int) -> dict[str, int]:
    return {r["state"]: r["n"] for r in db.query(
        "SELECT state, COUNT(*) AS n FROM bulk_recipients WHERE bulk_id=? GROUP BY state", (bulk_id,))}


def next_batch(c: sqlite3.Connection, bulk_id: int, limit: int) -> list[sqlite3.Row]:
    return c.execute("SELECT * FROM bulk_recipients WHERE bulk_id=? AND state='ok' ORDER BY seq LIMIT ?",
                     (bulk_id, limit)).fetchall()


def mark(c: sqlite3.Connection, bulk_id: int, seq: int, state: str, detail: str = "") -> None:
    c.execute("UPDATE bulk_recipients SET state=?, detail=? WHERE bulk_id=? AND seq=?", (state, detail, bulk_id, seq))


def drop_unqueued(c: sqlite3.Connection, bulk_id: int, state: str, limit: int) -> int:
    """Up to `limit` recipients not queued yet (a cancelled bulk): never will be."""
    return c.execute("UPDATE bulk_recipients SET state=? WHERE rowid IN (SELECT rowid FROM bulk_recipients"
                     " WHERE bulk_id=? AND state='ok' LIMIT ?)", (state, bulk_id, limit)).rowcount


def left_to_queue(c: sqlite3.Connection | Database, bulk_id: int) -> int:
    sql, args = "SELECT COUNT(*) FROM bulk_recipients WHERE bulk_id=? AND state='ok'", (bulk_id,)
    if isinstance(c, Database):
        return c.scalar(sql, args) or 0
    return c.execute(sql, args).fetchone()[0]


# -- the bulk's messages ----------------------------------------------------------------------
def message_counts(db: Database, bulk_id: int) -> dict[str, int]:
    return {r["status"]: r["n"] for r in db.query(
        "SELECT status, COUNT(*) AS n FROM messages WHERE dedupe_key >= ? AND dedupe_key < ? GROUP BY status",
        key_range(bulk_id))}


def messages_in(db: Database, bulk_id: int, statuses: Sequence[str], limit: int) -> list[sqlite3.Row]:
    lo, hi = key_range(bulk_id)
    return db.query("SELECT id, recipient, status, reason, updated_at FROM messages WHERE dedupe_key >= ?"
                    f" AND dedupe_key < ? AND status IN ({marks(statuses)}) ORDER BY updated_at DESC"
                    " LIMIT ?", (lo, hi, *statuses, limit))


# A bulk's rows are found by their dedupe keys: planned on (status, due_at) instead, an UPDATE
# would walk every waiting message of the shop (tests/test_bulk.py checks the plans).
HOLD_SQL = ("UPDATE messages INDEXED BY idx_messages_dedupe_key SET status='scheduled', due_at=?, reason=?,"
            " updated_at=? WHERE dedupe_key IN ({keys}) AND status IN ('pending','scheduled')"
            " AND due_at < ? AND (lease_until IS NULL OR lease_until < ?)")
CANCEL_SQL = ("UPDATE messages INDEXED BY idx_messages_dedupe_key SET status='cancelled', reason=?, updated_at=?"
              " WHERE dedupe_key IN ({keys}) AND status IN ('pending','scheduled')"
              " AND (lease_until IS NULL OR lease_until < ?)")
LAG_SQL = ("SELECT COUNT(*) FROM messages INDEXED BY idx_messages_status_due_at WHERE status IN ('pending','scheduled')"
           " AND due_at < ? AND dedupe_key >= ? AND dedupe_key < ? AND (lease_until IS NULL OR lease_until < ?)")


def hold_waiting(c: sqlite3.Connection, keys: Sequence[str], due: float, reason: str, t: float) -> int:
    """These waiting rows, not claimed by a sender: due at `due` (far off: paused). A claimed row
    is left to its lane; the worker's check before sending holds it if it comes back."""
    return c.execute(HOLD_SQL.format(keys=marks(keys)), (due, reason, t, *keys, due, t)).rowcount


def queued_after(c: sqlite3.Connection, bulk_id: int, seq: int, limit: int) -> list[tuple[int, str]]:
    """(seq, phone) of the bulk's recipients queued as messages, after `seq`."""
    return [(r["seq"], r["phone"]) for r in c.execute(
        "SELECT seq, phone FROM bulk_recipients WHERE bulk_id=? AND state='queued' AND seq > ? ORDER BY seq LIMIT ?",
        (bulk_id, seq, limit))]


def lagging(c: sqlite3.Connection, bulk_id: int, before: float, t: float) -> int:
    """The bulk's waiting rows due before `before` (few unless the senders fell behind: read
    through the (status, due_at) index, so the bulk's sent rows are not walked)."""
    lo, hi = key_range(bulk_id)
    return c.execute(LAG_SQL, (before, lo, hi, t)).fetchone()[0]


def respread(c: sqlite3.Connection, bulk_id: int, below: float, start: float, step: float, t: float) -> int:
    """The bulk's waiting unclaimed rows due before `below`, given slots `step` apart from `start`
    in their order."""
    lo, hi = key_range(bulk_id)
    return c.execute("UPDATE messages SET due_at=? + ? * (r.k - 1), updated_at=?"
                     " FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY due_at, dedupe_key) AS k"
                     "       FROM messages INDEXED BY idx_messages_dedupe_key WHERE dedupe_key >= ? AND dedupe_key < ?"
                     "       AND status IN ('pending','scheduled') AND due_at < ?"
                     "       AND (lease_until IS NULL OR lease_until < ?)) AS r"
                     " WHERE messages.id = r.id", (start, step, t, lo, hi, below, t)).rowcount


def release_held(c: sqlite3.Connection, bulk_id: int, held_from: float, due: float, step: float, reason: str,
                 t: float) -> int:
    """A paused bulk's held messages due again, one slot (`step` seconds) apart from `due`."""
    lo, hi = key_range(bulk_id)
    return c.execute("UPDATE messages SET due_at=? + ? * (r.k - 1), reason=?, updated_at=?"
                     " FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY dedupe_key) AS k"
                     "       FROM messages INDEXED BY idx_messages_dedupe_key WHERE dedupe_key >= ? AND dedupe_key < ? AND status='scheduled' AND due_at >= ?) AS r"
                     " WHERE messages.id = r.id", (due, step, reason, t, lo, hi, held_from)).rowcount


def cancel_waiting(c: sqlite3.Connection, keys: Sequence[str], reason: str, t: float) -> int:
    return c.execute(CANCEL_SQL.format(keys=marks(keys)), (reason, t, *keys, t)).rowcount


def cancel_one(c: sqlite3.Connection, key: str, reason: str, t: float) -> bool:
    """The message with this dedupe key, if it waits and no sender holds it."""
    return c.execute("UPDATE messages SET status='cancelled', reason=?, updated_at=? WHERE dedupe_key=?"
                     " AND status IN ('pending','scheduled') AND (lease_until IS NULL OR lease_until < ?)",
                     (reason, t, key, t)).rowcount == 1


def send_check(db: Database, bulk_id: int, phone: str) -> tuple[str, str | None] | None:
    """The bulk's state and the phone's opt-out source (None: not opted out); None: no such bulk."""
    r = db.one("SELECT state, (SELECT source FROM optouts WHERE phone=?) AS optout FROM bulks WHERE id=?",
               (phone, bulk_id))
    return None if r is None else (r["state"], r["optout"])


def cancel_claimed(c: sqlite3.Connection, mid: str, reason: str, t: float) -> None:
    """A claimed bulk message that must not go: cancelled, its claim and attempt count undone."""
    c.execute("UPDATE messages SET status='cancelled', reason=?, lease_until=NULL, attempts=MAX(0, attempts-1),"
              " updated_at=? WHERE id=? AND status IN ('pending','scheduled')", (reason, t, mid))


# -- opt-outs ---------------------------------------------------------------------------------
def opted_out_among(c: sqlite3.Connection | Database, phones: Sequence[str]) -> set[str]:
    out: set[str] = set()
    for i in range(0, len(phones), 500):
        part = list(phones[i:i + 500])
        sql = f"SELECT phone FROM optouts WHERE phone IN ({marks(part)})"
        rows = c.query(sql, tuple(part)) if isinstance(c, Database) else c.execute(sql, part).fetchall()
        out.update(r["phone"] for r in rows)
    return out


def add_optout(c: sqlite3.Connection, phone: str, t: float, source: str, note: str) -> bool:
    return c.execute("INSERT OR IGNORE INTO optouts(phone, at, source, note) VALUES (?,?,?,?)",
                     (phone, t, source, note)).rowcount == 1


def opted_out_since(c: sqlite3.Connection, since: float) -> list[tuple[str, str]]:
    return [(r["phone"], r["source"]) for r in
            c.execute("SELECT phone, source FROM optouts WHERE at >= ?", (since,)).fetchall()]


def remove_optout(c: sqlite3.Connection, phone: str) -> bool:
    return c.execute("DELETE FROM optouts WHERE phone=?", (phone,)).rowcount == 1


def optouts(db: Database, limit: int, offset: int) -> tuple[list[sqlite3.Row], int]:
    rows = db.query("SELECT * FROM optouts ORDER BY at DESC LIMIT ? OFFSET ?", (limit, offset))
    return rows, db.scalar("SELECT COUNT(*) FROM optouts") or 0


# -- customers from the stored orders ---------------------------------------------------------
def order_customers(db: Database, statuses: Sequence[str], since: float | None, until: float | None,
                    payment: str, limit: int) -> list[sqlite3.Row]:
    """One row per distinct phone: its latest order among those matching (not deleted)."""
    where, args = ["COALESCE(deleted, 0) = 0", "phone_e164 IS NOT NULL", "phone_e164 != ''"], []
    if statuses:
        where.append(f"status IN ({marks(statuses)})")
        args += list(statuses)
    if since is not None:
        where.append("first_seen_at >= ?")
        args.append(since)
    if until is not None:
        where.append("first_seen_at < ?")
        args.append(until)
    if payment == "cod":
        where.append("payment_method = 'cod'")
    elif payment == "prepaid":
        where.append("COALESCE(payment_method, '') != 'cod'")
    return db.query(
        "SELECT id, number, status, payment_method, total_minor, customer_name, phone_raw, phone_e164, first_seen_at"
        f" FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY phone_e164 ORDER BY first_seen_at DESC, id DESC) AS k"
        f" FROM orders WHERE {' AND '.join(where)}) WHERE k = 1 ORDER BY first_seen_at DESC, id DESC LIMIT ?",
        (*args, limit))

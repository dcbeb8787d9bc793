"""The deliveries table (every accepted WooCommerce webhook, raw) and rejections (requests we
refused, bounded)."""
from __future__ import annotations

import sqlite3

from .db import Database, fetch_all


def by_replay_key(c: sqlite3.Connection, key: str) -> sqlite3.Row | None:
    return c.execute("SELECT id FROM deliveries WHERE replay_key=?", (key,)).fetchone()


def insert(c: sqlite3.Connection, t: float, delivery_id: str | None, webhook_id: str, topic: str, resource: str,
           resource_id: int | None, source_url: str, headers: str, body: bytes, state: str, reason: str,
           replay_key: str | None) -> int:
    cur = c.execute(
        "INSERT INTO deliveries(received_at, delivery_id, webhook_id, topic, resource, resource_id, source_url,"
        " headers, body, state, reason, replay_key) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (t, delivery_id, webhook_id, topic, resource, resource_id, source_url, headers, body, state, reason,
         replay_key))
    return cur.lastrowid


def get(c: sqlite3.Connection, row_id: int) -> sqlite3.Row:
    return c.execute("SELECT * FROM deliveries WHERE id=?", (row_id,)).fetchone()


def raw_body(row: sqlite3.Row) -> bytes:
    """The delivery's body exactly as the shop signed it, whatever form it is kept in: the one
    way code outside this module reads it (deciding after the answer, the order page)."""
    return bytes(row["body"] or b"")


def undecided(db_or_c: Database | sqlite3.Connection, limit: int) -> list[sqlite3.Row]:
    """The oldest deliveries not decided yet (read inside the deciding transaction)."""
    return fetch_all(db_or_c, "SELECT * FROM deliveries WHERE state='received' ORDER BY id LIMIT ?", (limit,))


def set_outcome(c: sqlite3.Connection, row_id: int, state: str, reason: str, t: float) -> None:
    c.execute("UPDATE deliveries SET state=?, reason=?, processed_at=? WHERE id=?", (state, reason, t, row_id))


def of_order(db: Database, order_id: int) -> list[sqlite3.Row]:
    return db.query("SELECT id, received_at, topic, delivery_id, state, reason, body FROM deliveries"
                    " WHERE resource='order' AND resource_id=? ORDER BY id", (order_id,))


# -- savepoints: a decision that fails is undone, the delivery kept ---------------------------------
def savepoint(c: sqlite3.Connection, name: str) -> None:
    c.execute(f"SAVEPOINT {name}")


def rollback_to(c: sqlite3.Connection, name: str) -> None:
    c.execute(f"ROLLBACK TO {name}")


def release(c: sqlite3.Connection, name: str) -> None:
    c.execute(f"RELEASE {name}")


# -- rejections -----------------------------------------------------------------------------------
def count_repeat_rejection(c: sqlite3.Connection, endpoint: str, reason: str, remote: str, since: float,
                           t: float) -> bool:
    """The same refusal (endpoint, reason, address) since `since`: one more on its row (True)."""
    row = c.execute("SELECT id FROM rejections WHERE endpoint=? AND reason=? AND remote_addr=? AND at>?"
                    " ORDER BY at DESC LIMIT 1", (endpoint, reason, remote, since)).fetchone()
    if row is None:
        return False
    c.execute("UPDATE rejections SET count=COALESCE(count, 1)+1, last_at=? WHERE id=?", (t, row["id"]))
    return True


def add_rejection(c: sqlite3.Connection, t: float, endpoint: str, status: int, reason: str, remote: str,
                  headers: str, body_excerpt: bytes) -> None:
    c.execute("INSERT INTO rejections(at, endpoint, http_status, reason, remote_addr, headers, body_excerpt,"
              " count, last_at) VALUES (?,?,?,?,?,?,?,1,?)",
              (t, endpoint, status, reason, remote, headers, body_excerpt, t))


def prune_rejections(c: sqlite3.Connection, older_than: float, keep_rows: int) -> None:
    c.execute("DELETE FROM rejections WHERE COALESCE(last_at, at) < ?", (older_than,))
    c.execute("DELETE FROM rejections WHERE id <= (SELECT id FROM rejections ORDER BY id DESC LIMIT 1 OFFSET ?)",
              (keep_rows,))

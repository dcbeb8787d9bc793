"""The deliveries table (every accepted WooCommerce webhook, raw) and rejections (requests we
refused, bounded)."""
from __future__ import annotations

import sqlite3
import zlib

from .db import Database, fetch_all

ZLIB_LEVEL = 6   # a WooCommerce order body (about 3 KB of JSON) to about 1.3 KB; level 9 gains nothing


def pack(raw: bytes) -> bytes | None:
    """The compressed form kept in `zbody`, or None when compressing would not make it smaller
    (a ping's `webhook_id=8`): such a body stays in `body` as it came."""
    packed = zlib.compress(raw, ZLIB_LEVEL)
    return packed if len(packed) < len(raw) else None


def replayed(c: sqlite3.Connection, resource_id: int | None, key: str) -> sqlite3.Row | None:
    """The delivery stored before with this replay key. The key covers the body, and so the id
    read from it: looked up with that id, through the index by id. Never with what unsigned
    headers say (the topic, the resource): a replay with those changed is still the same one."""
    return c.execute("SELECT id FROM deliveries WHERE resource_id IS ? AND replay_key=?",
                     (resource_id, key)).fetchone()


def insert(c: sqlite3.Connection, t: float, delivery_id: str | None, webhook_id: str, topic: str, resource: str,
           resource_id: int | None, source_url: str, headers: str, body: bytes, state: str, reason: str,
           replay_key: str | None) -> int | None:
    """The new row's id; None when a delivery with the same resource id and replay key is stored
    already (the unique index decides, in the same statement: a look-up first was a statement
    per acknowledgement; with no resource id nothing is ever a conflict, see `replayed`).
    The body is kept as it came until the delivery is decided (set_outcome compresses it then):
    compressing costs more than the rest of the acknowledgement's write."""
    cur = c.execute(
        "INSERT INTO deliveries(received_at, delivery_id, webhook_id, topic, resource, resource_id, source_url,"
        " headers, body, state, reason, replay_key) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
        (t, delivery_id, webhook_id, topic, resource, resource_id, source_url, headers, body, state, reason,
         replay_key))
    return cur.lastrowid if cur.rowcount == 1 else None


# A decided delivery's body and headers live in delivery_bodies (moved there by set_outcome), so
# the row in deliveries stays small and dropping the payload after RETAIN_RAW_DAYS deletes a row
# there: SQLite reuses the freed pages, while a row shrunk in place (UPDATE ... = NULL) leaves
# its page mostly empty for good. Read a delivery with what it keeps apart: get, of_order.
_ROW = ("SELECT d.*, k.zbody AS kept_zbody, k.headers AS kept_headers FROM deliveries d"
        " LEFT JOIN delivery_bodies k ON k.id = d.id")


def get(c: sqlite3.Connection, row_id: int) -> sqlite3.Row:
    return c.execute(f"{_ROW} WHERE d.id=?", (row_id,)).fetchone()


def raw_body(row: sqlite3.Row) -> bytes:
    """The delivery's body exactly as the shop signed it, whatever form it is kept in: the one
    way code outside this module reads it (deciding after the answer, the order page). Kept in
    `body` as it came until decided, then compressed in delivery_bodies (read with get or
    of_order); a row acknowledged by an earlier version may hold it compressed in `zbody`; rows
    decided before compression existed keep `body` (never rewritten); a delivery whose payload
    retention dropped (bridge/retention.py) has none: b""."""
    if row["zbody"] is not None:
        return zlib.decompress(row["zbody"])
    if row["body_apart"]:
        if "kept_zbody" not in row.keys():
            raise LookupError(f"delivery {row['id']}: its body is kept apart; read the row with deliveries.get")
        return zlib.decompress(row["kept_zbody"]) if row["kept_zbody"] is not None else b""
    return bytes(row["body"] or b"")


def undecided_ids(db_or_c: Database | sqlite3.Connection, limit: int, until: float | None = None) -> list[sqlite3.Row]:
    """The oldest deliveries not decided yet, by id (read inside the deciding transaction too,
    where it makes the decision exactly once), from the index of undecided rows alone: the rows'
    bytes are read once per delivery (ShopEvents keeps them read). With `until`, only those that
    arrived no later than it (the oldest undecided text, report or call)."""
    if until is None:
        return fetch_all(db_or_c, "SELECT id FROM deliveries WHERE state='received' ORDER BY id LIMIT ?", (limit,))
    return fetch_all(db_or_c, "SELECT id FROM deliveries WHERE state='received' AND received_at<=? ORDER BY id"
                              " LIMIT ?", (until, limit))


def set_outcome(c: sqlite3.Connection, row_id: int, state: str, reason: str, t: float) -> None:
    """The decision, and the body compressed with the headers moved to delivery_bodies (decided
    moments after it was written, the row is still on the page new rows fill, so the room it
    leaves is used again at once). A body that compressing would not shrink (a ping's
    `webhook_id=8`) stays in the row as it came."""
    row = c.execute("SELECT headers, body, zbody, body_apart FROM deliveries WHERE id=?", (row_id,)).fetchone()
    packed = None
    if row is not None and not row["body_apart"]:
        packed = row["zbody"] if row["zbody"] is not None else pack(bytes(row["body"] or b""))
    if packed is None:
        c.execute("UPDATE deliveries SET state=?, reason=?, processed_at=? WHERE id=?", (state, reason, t, row_id))
        return
    c.execute("INSERT OR REPLACE INTO delivery_bodies(id, headers, zbody) VALUES (?,?,?)",
              (row_id, row["headers"], packed))
    c.execute("UPDATE deliveries SET state=?, reason=?, processed_at=?, body_apart=1, headers=NULL, body=NULL,"
              " zbody=NULL WHERE id=?", (state, reason, t, row_id))


def of_order(db: Database, order_id: int) -> list[sqlite3.Row]:
    return db.query(f"{_ROW} WHERE d.resource='order' AND d.resource_id=? ORDER BY d.id", (order_id,))


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

"""The send API's tables: api_keys (hashed, with each key's token bucket), api_messages (what the
API created, with the Idempotency-Key and body hash that make a repeat the same message) and
api_calls (every call with a key, bounded by count). bridge/api_keys.py and bridge/web/api.py
decide; these queries only read and write rows."""
from __future__ import annotations

import sqlite3
from typing import Any, Sequence

from .db import Database, fetch_one, marks


# -- keys -------------------------------------------------------------------------------------
def add_key(c: sqlite3.Connection, public_id: str, name: str, scopes: str, secret_hash: str,
            rate_per_minute: int | None, t: float) -> int:
    cur = c.execute("INSERT INTO api_keys(public_id, name, scopes, secret_hash, rate_per_minute, created_at, calls)"
                    " VALUES (?,?,?,?,?,?,0)", (public_id, name, scopes, secret_hash, rate_per_minute, t))
    return int(cur.lastrowid)


def key_by_public_id(db_or_c: Database | sqlite3.Connection, public_id: str) -> sqlite3.Row | None:
    return fetch_one(db_or_c, "SELECT * FROM api_keys WHERE public_id=?", (public_id,))


def key(db: Database, key_id: int) -> sqlite3.Row | None:
    return db.one("SELECT * FROM api_keys WHERE id=?", (key_id,))


def keys(db: Database) -> list[sqlite3.Row]:
    """Every key, live ones first, newest first."""
    return db.query("SELECT * FROM api_keys ORDER BY revoked_at IS NOT NULL, id DESC")


def revoke(c: sqlite3.Connection, key_id: int, t: float) -> bool:
    return bool(c.execute("UPDATE api_keys SET revoked_at=? WHERE id=? AND revoked_at IS NULL", (t, key_id)).rowcount)


def bucket(c: sqlite3.Connection, key_id: int) -> sqlite3.Row:
    return c.execute("SELECT bucket_tokens, bucket_at FROM api_keys WHERE id=?", (key_id,)).fetchone()


def set_bucket(c: sqlite3.Connection, key_id: int, tokens: float, t: float) -> None:
    c.execute("UPDATE api_keys SET bucket_tokens=?, bucket_at=? WHERE id=?", (tokens, t, key_id))


# -- the call log -----------------------------------------------------------------------------
def add_call(c: sqlite3.Connection, t: float, key_id: int, method: str, path: str, status: int,
             message_id: str | None, error: str, keep: int) -> None:
    """One call, the key's count and last use; rows older than the newest `keep` are dropped (ids
    only grow, so the cut is one range of the primary key)."""
    cur = c.execute("INSERT INTO api_calls(at, key_id, method, path, status, message_id, error) VALUES (?,?,?,?,?,?,?)",
                    (t, key_id, method, path, status, message_id, error))
    c.execute("UPDATE api_keys SET calls=calls+1, last_used_at=? WHERE id=?", (t, key_id))
    c.execute("DELETE FROM api_calls WHERE id <= ?", (int(cur.lastrowid) - keep,))


def calls_of(db: Database, key_id: int, limit: int) -> list[sqlite3.Row]:
    return db.query("SELECT * FROM api_calls WHERE key_id=? ORDER BY id DESC LIMIT ?", (key_id, limit))


# -- messages the API created -----------------------------------------------------------------
def by_idempotency_key(db_or_c: Database | sqlite3.Connection, key_id: int, idem: str) -> sqlite3.Row | None:
    return fetch_one(db_or_c, "SELECT * FROM api_messages WHERE key_id=? AND idempotency_key=?", (key_id, idem))


def add_message(c: sqlite3.Connection, message_id: str, key_id: int, idem: str | None, body_hash: str,
                phone: str | None, t: float) -> None:
    c.execute("INSERT INTO api_messages(message_id, key_id, idempotency_key, body_hash, phone, created_at)"
              " VALUES (?,?,?,?,?,?)", (message_id, key_id, idem, body_hash, phone, t))


def created_by_api(db_or_c: Database | sqlite3.Connection, message_id: str) -> sqlite3.Row | None:
    return fetch_one(db_or_c, "SELECT * FROM api_messages WHERE message_id=?", (message_id,))


def page(db: Database, after: int, limit: int, statuses: Sequence[str] = (), phone: str | None = None,
         since: float | None = None, until: float | None = None) -> list[sqlite3.Row]:
    """API messages after `after` (api_messages.seq), oldest first: a new message always gets a
    higher seq than every committed one (SQLite has one writer at a time), so a client following
    the cursor sees each message once, including those created while it pages."""
    where, args = ["a.seq > ?"], [after]
    if phone:
        where.append("a.phone = ?")
        args.append(phone)
    if statuses:
        where.append(f"m.status IN ({marks(statuses)})")
        args.extend(statuses)
    if since is not None:
        where.append("a.created_at >= ?")
        args.append(since)
    if until is not None:
        where.append("a.created_at < ?")
        args.append(until)
    return db.query(f"SELECT a.seq, m.* FROM api_messages a JOIN messages m ON m.id = a.message_id"
                    f" WHERE {' AND '.join(where)} ORDER BY a.seq LIMIT ?", (*args, limit))


def message_row(db_or_c: Any, message_id: str) -> sqlite3.Row | None:
    """The outbox row of an API message (None for a message the API did not create)."""
    return fetch_one(db_or_c, "SELECT a.seq, a.key_id AS api_key_id, m.* FROM api_messages a"
                              " JOIN messages m ON m.id = a.message_id WHERE a.message_id=?", (message_id,))

"""The shop connected from the admin: pending WooCommerce app authorizations and the one stored
connection (its REST keys already encrypted by the caller; nothing here sees them in clear)."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from .db import Database

CONNECTION_ID = 1


def add_authorization(c: sqlite3.Connection, token_hash: str, shop_url: str, at: float, expires_at: float,
                      switch_confirmed: bool = False) -> None:
    c.execute("INSERT INTO woo_authorizations(token_hash, shop_url, created_at, expires_at, switch_confirmed)"
              " VALUES(?,?,?,?,?)", (token_hash, shop_url, at, expires_at, int(switch_confirmed)))


def authorization(db: Database, token_hash: str) -> sqlite3.Row | None:
    return db.one("SELECT * FROM woo_authorizations WHERE token_hash=?", (token_hash,))


def use_authorization(c: sqlite3.Connection, token_hash: str, at: float) -> bool:
    """Take a pending, unexpired, unused authorization: True for exactly one caller."""
    cur = c.execute("UPDATE woo_authorizations SET used_at=? WHERE token_hash=? AND used_at IS NULL AND expires_at>?",
                    (at, token_hash, at))
    return cur.rowcount == 1


def set_outcome(c: sqlite3.Connection, token_hash: str, outcome: str) -> None:
    c.execute("UPDATE woo_authorizations SET outcome=? WHERE token_hash=?", (outcome, token_hash))


def set_outcome_if_none(c: sqlite3.Connection, token_hash: str, outcome: str) -> None:
    """The owner's answer at the shop (denied), unless the callback already recorded one."""
    c.execute("UPDATE woo_authorizations SET outcome=? WHERE token_hash=? AND outcome IS NULL", (outcome, token_hash))


def last_authorization(db: Database) -> sqlite3.Row | None:
    return db.one("SELECT * FROM woo_authorizations ORDER BY created_at DESC LIMIT 1")


def prune_authorizations(c: sqlite3.Connection, before: float) -> None:
    """Old attempts are kept a while for the page's "last attempt" line, then dropped."""
    c.execute("DELETE FROM woo_authorizations WHERE created_at<? AND token_hash NOT IN "
              "(SELECT token_hash FROM woo_authorizations ORDER BY created_at DESC LIMIT 1)", (before,))


def save_connection(c: sqlite3.Connection, shop_url: str, key_id: int | None, consumer_key: str,
                    consumer_secret: str, permissions: str, at: float) -> None:
    """The connection replaced as a whole; its webhooks wait to be created (state pending)."""
    c.execute("INSERT INTO woo_connection(id, shop_url, key_id, consumer_key, consumer_secret, permissions,"
              " connected_at, webhooks_state, webhooks_reason, webhooks_at, webhooks_lease)"
              " VALUES(?,?,?,?,?,?,?,'pending',NULL,NULL,NULL)"
              " ON CONFLICT(id) DO UPDATE SET shop_url=excluded.shop_url, key_id=excluded.key_id,"
              " consumer_key=excluded.consumer_key, consumer_secret=excluded.consumer_secret,"
              " permissions=excluded.permissions, connected_at=excluded.connected_at, webhooks_state='pending',"
              " webhooks_reason=NULL, webhooks_at=NULL, webhooks_lease=NULL",
              (CONNECTION_ID, shop_url, key_id, consumer_key, consumer_secret, permissions, at))


WAITING_JOBS = "status IN ('pending','scheduled','in-doubt')"


def previous_shop_work(c: sqlite3.Connection, channel: str) -> tuple[int, int]:
    """(orders kept here, write-backs still waiting on `channel`): what a switch to another shop
    would mix up, since both address the shop's orders by id only."""
    orders = c.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
    jobs = c.execute(f"SELECT COUNT(*) FROM messages WHERE channel=? AND {WAITING_JOBS}", (channel,)).fetchone()[0]
    return orders, jobs


def cancel_waiting_jobs(c: sqlite3.Connection, channel: str, reason: str, at: float) -> int:
    """The previous shop's write-backs, cancelled with `reason` when another shop is connected."""
    return c.execute(f"UPDATE messages SET status='cancelled', reason=?, lease_until=NULL, updated_at=?"
                     f" WHERE channel=? AND {WAITING_JOBS}", (reason, at, channel)).rowcount


def connection(db: Database) -> sqlite3.Row | None:
    return db.one("SELECT * FROM woo_connection WHERE id=?", (CONNECTION_ID,))


def read_connection(db_path: str) -> dict[str, Any] | None:
    """The stored connection read through a short-lived read-only handle on the database file.

    The settings of any process (web, worker, CLI) can ask this without holding the Bridge's
    Database; a missing file or a database from before the table existed means "none"."""
    if db_path == ":memory:" or not Path(db_path).is_file():
        return None
    try:
        c = sqlite3.connect(f"file:{Path(db_path).resolve()}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None
    try:
        c.row_factory = sqlite3.Row
        row = c.execute("SELECT * FROM woo_connection WHERE id=?", (CONNECTION_ID,)).fetchone()
        return dict(row) if row is not None else None
    except sqlite3.Error:
        return None
    finally:
        c.close()


def claim_webhooks(c: sqlite3.Connection, at: float, lease_until: float) -> sqlite3.Row | None:
    """The connection whose webhooks are still to be created, leased to one runner at a time."""
    cur = c.execute("UPDATE woo_connection SET webhooks_lease=? WHERE id=? AND webhooks_state='pending'"
                    " AND (webhooks_lease IS NULL OR webhooks_lease<?)", (lease_until, CONNECTION_ID, at))
    if cur.rowcount != 1:
        return None
    return c.execute("SELECT * FROM woo_connection WHERE id=?", (CONNECTION_ID,)).fetchone()


def finish_webhooks(c: sqlite3.Connection, connected_at: float, state: str, reason: str | None, at: float) -> None:
    """The result of creating the webhooks (state "pending" again: try later), unless the shop
    was connected anew meanwhile."""
    c.execute("UPDATE woo_connection SET webhooks_state=?, webhooks_reason=?, webhooks_at=?, webhooks_lease=NULL"
              " WHERE id=? AND connected_at=?", (state, reason, at, CONNECTION_ID, connected_at))

"""The payOS payment links we made: one per bank-transfer order, under an orderCode fixed before
payOS is first asked (a lost answer is retried under the same code, never a new one), with what
payOS answered (link id, checkout page, VietQR payload) and the link's last known status.

`state`: creating (asked, no answer kept yet; retried at next_at), open, paid, cancelled,
expired, failed (payOS refused it; `error` says why)."""
from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from .db import Database

AWAITING = ("status IN ('pending', 'on-hold') AND o.payment_method='bacs' AND o.paid_at IS NULL AND o.deleted=0")


def due_for_link(db: Database, since: float, t: float, limit: int) -> list[sqlite3.Row]:
    """Bank-transfer orders awaiting payment that need payOS asked: no link yet (first seen since
    `since`), or an earlier ask without a kept answer that is due again."""
    return db.query(
        "SELECT o.id, o.number, o.total_minor, o.currency, o.order_key, l.order_code, l.state, l.attempts"
        " FROM orders o LEFT JOIN payos_links l ON l.order_id = o.id"
        f" WHERE o.{AWAITING} AND ((l.order_id IS NULL AND o.first_seen_at >= ?)"
        " OR (l.state = 'creating' AND l.next_at <= ?)) ORDER BY o.id LIMIT ?", (since, t, limit))


def reserve(c: sqlite3.Connection, order_id: int, order_code: int | None, number: str, amount: int,
            description: str, t: float, error: str = "") -> bool:
    """The link's orderCode, committed before payOS is asked (or, with `error`, why the order gets
    no link); False when the order or the code already has one."""
    cur = c.execute(
        "INSERT OR IGNORE INTO payos_links(order_id, order_code, number, amount, description, state, error,"
        " attempts, next_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,0,?,?,?)",
        (order_id, order_code, number, amount, description, "failed" if error else "creating", error[:500] or None,
         t, t, t))
    return cur.rowcount == 1


def asking(c: sqlite3.Connection, order_id: int, t: float) -> None:
    """payOS is being asked now: from here on a link may exist at payOS whatever we hear back."""
    c.execute("UPDATE payos_links SET attempts = attempts + 1, updated_at=? WHERE order_id=?", (t, order_id))


def opened(c: sqlite3.Connection, order_id: int, link: dict[str, Any], t: float) -> None:
    """payOS made the link (or, after a lost answer, showed it to us)."""
    c.execute(
        "UPDATE payos_links SET state='open', link_id=?, checkout_url=?, qr_code=?, bin=?, account=?,"
        " link_status=?, error=NULL, updated_at=?, checked_at=? WHERE order_id=?",
        (link["link_id"], link["checkout_url"], link.get("qr_code", ""), link.get("bin", ""),
         link.get("account", ""), link.get("status", ""), t, t, order_id))


def retry_later(c: sqlite3.Connection, order_id: int, next_at: float, error: str, t: float) -> None:
    c.execute("UPDATE payos_links SET next_at=?, error=?, updated_at=? WHERE order_id=?",
              (next_at, error[:500], t, order_id))


def settle(c: sqlite3.Connection, order_id: int, state: str, link_status: str, error: str, t: float) -> None:
    """A final state (paid, cancelled, expired, failed) with payOS's word on it."""
    c.execute("UPDATE payos_links SET state=?, link_status=?, error=?, updated_at=?, checked_at=? WHERE order_id=?",
              (state, link_status, error[:500] or None, t, t, order_id))


def checked(c: sqlite3.Connection, order_id: int, link_status: str, t: float) -> None:
    c.execute("UPDATE payos_links SET link_status=?, checked_at=?, updated_at=? WHERE order_id=?",
              (link_status, t, t, order_id))


def to_close(db: Database, t: float, limit: int) -> list[sqlite3.Row]:
    """Links that may be payable at payOS although their order no longer awaits a transfer
    (cancelled in the shop, expired, paid another way, deleted): each is to be cancelled there."""
    return db.query(
        "SELECT l.*, o.status AS order_status, o.paid_at FROM payos_links l LEFT JOIN orders o ON o.id = l.order_id"
        " WHERE l.state IN ('open', 'creating') AND l.next_at <= ? AND (o.id IS NULL OR NOT (o." + AWAITING + "))"
        " ORDER BY l.updated_at LIMIT ?", (t, limit))


def open_links(db: Database, limit: int) -> list[sqlite3.Row]:
    """Open links, the longest unchecked first: reconcile asks payOS about each."""
    return db.query("SELECT * FROM payos_links WHERE state='open' ORDER BY checked_at LIMIT ?", (limit,))


def by_order(db: Database, order_id: int) -> sqlite3.Row | None:
    return db.one("SELECT * FROM payos_links WHERE order_id=?", (order_id,))


def _read_one(db_path: str, sql: str, params: tuple[Any, ...]) -> sqlite3.Row | None:
    """One row through a short-lived read-only connection, for the hooks that are given the
    settings but no database (webhook parse, template variables, the pay page); None without a
    database or before the payOS table exists (not migrated yet)."""
    if db_path == ":memory:" or not Path(db_path).exists():
        return None
    with closing(sqlite3.connect(f"{Path(db_path).resolve().as_uri()}?mode=ro", uri=True, timeout=5)) as c:
        c.row_factory = sqlite3.Row
        try:
            return c.execute(sql, params).fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            raise   # a busy or broken database is no "unknown link": the caller answers 5xx and payOS retries


def link_for_code(db_path: str, order_code: int) -> sqlite3.Row | None:
    """The link we made under an orderCode, or None (payOS's URL check, another integration)."""
    return _read_one(db_path, "SELECT * FROM payos_links WHERE order_code=?", (order_code,))


def payable_link(db_path: str, order_id: int) -> sqlite3.Row | None:
    """The order's open link while the order still awaits its transfer; None otherwise (a link
    must not be offered for an order that was cancelled, expired or paid)."""
    return _read_one(db_path, "SELECT l.* FROM payos_links l JOIN orders o ON o.id = l.order_id"
                              f" WHERE l.order_id=? AND l.state='open' AND o.{AWAITING}", (order_id,))

"""The orders table: the last state seen of each WooCommerce order, what was last notified, and
whether we hold it paid."""
from __future__ import annotations

import sqlite3
import zlib
from typing import Any, Sequence

from anyascii import anyascii

from . import shipments
from .db import Database, fetch_one, marks

_UPDATED_ON_CONFLICT = (
    "number=excluded.number, order_key=excluded.order_key, status=excluded.status,"
    " date_modified_gmt=excluded.date_modified_gmt, payment_method=excluded.payment_method,"
    " payment_method_title=excluded.payment_method_title, currency=excluded.currency,"
    " total_minor=excluded.total_minor, customer_name=excluded.customer_name, phone_raw=excluded.phone_raw,"
    " phone_e164=excluded.phone_e164, email=excluded.email, source_url=excluded.source_url, deleted=0,"
    " body=excluded.body, zbody=excluded.zbody, created_gmt=excluded.created_gmt, updated_at=excluded.updated_at,"
    " search_folded=excluded.search_folded")
# When the shop created the order (UTC), read from a body of either form: the `created_gmt` that
# save() keeps beside the compressed body, or an older row's JSON text (never rewritten).
_CREATED = ("COALESCE(created_gmt, CASE WHEN typeof(body) = 'text' AND json_valid(body)"
            " THEN json_extract(body, '$.date_created_gmt') END)")



def fold(text: str | None) -> str:
    """Lower case without diacritics ("NGUYỄN Thị Bích" -> "nguyen thi bich", "Đ" -> "d"): how
    the orders search compares names, since owners type without accents on a phone keyboard."""
    return anyascii(text or "").lower()


def search_folded(name: str | None, email: str | None) -> str:
    """The folded text the orders search reads (name and e-mail), stored beside the order."""
    return fold(f"{name or ''} {email or ''}")


def save(c: sqlite3.Connection, snap: Any, source_url: str, body: str, t: float, *,
         notified_status: str | None = None, keep_existing: bool = False) -> None:
    """Store an order snapshot (a parsed WooCommerce order) inside the caller's transaction.

    By default a known order takes the snapshot (and is no longer deleted), keeping its first
    sighting and what was notified. With `keep_existing` (an order fetched because a payment
    names it) a known order is left as it is; a new one is stored with `notified_status`, so
    nobody is told about a status nobody saw change."""
    verb = "INSERT OR IGNORE" if keep_existing else "INSERT"
    conflict = "" if keep_existing else f" ON CONFLICT(id) DO UPDATE SET {_UPDATED_ON_CONFLICT}"
    c.execute(
        f"{verb} INTO orders(id, number, order_key, status, date_modified_gmt, notified_status, payment_method,"
        " payment_method_title, currency, total_minor, customer_name, phone_raw, phone_e164, email, source_url,"
        " deleted, body, zbody, created_gmt, first_seen_at, updated_at, search_folded)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,NULL,?,"
        " CASE WHEN json_valid(?) THEN json_extract(?, '$.date_created_gmt') END,?,?,?)"
        + conflict,
        (snap.id, snap.number, snap.order_key, snap.status, snap.date_modified_gmt, notified_status,
         snap.payment_method, snap.payment_method_title, snap.currency, snap.total_minor, snap.customer_name,
         snap.phone_raw, snap.phone.e164, snap.email, source_url, zlib.compress(body.encode(), 6), body, body, t, t,
         search_folded(snap.customer_name, snap.email)))
    if not keep_existing or c.execute("SELECT changes()").fetchone()[0]:
        shipments.save_codes(c, snap.id, snap.tracking_codes)


def body(row: sqlite3.Row) -> str:
    """The order's last body (the shop's JSON), whatever form it is kept in: compressed in `zbody`
    (the webhook's copy is pruned after RETAIN_RAW_DAYS, this one stays with the order), or the
    text an older version wrote in `body`. The one way code outside this module reads it."""
    if row["zbody"] is not None:
        return zlib.decompress(row["zbody"]).decode("utf-8")
    return row["body"] or ""


def get(db_or_c: Database | sqlite3.Connection, order_id: int) -> sqlite3.Row | None:
    return fetch_one(db_or_c, "SELECT * FROM orders WHERE id=?", (order_id,))


def number_known(db: Database, number: str) -> bool:
    return db.one("SELECT 1 FROM orders WHERE number=?", (number,)) is not None


def by_number(c: sqlite3.Connection, number: str) -> sqlite3.Row | None:
    """The order with this number, a live one before a deleted one, the newest first."""
    return c.execute("SELECT * FROM orders WHERE number=? ORDER BY deleted, id DESC LIMIT 1", (number,)).fetchone()


def by_key(db: Database, order_key: str) -> sqlite3.Row | None:
    """A live order by the key in its /pay link."""
    return db.one("SELECT * FROM orders WHERE order_key=? AND deleted=0", (order_key,))


def set_notified(c: sqlite3.Connection, order_id: int, status: str, t: float) -> None:
    c.execute("UPDATE orders SET notified_status=?, notified_at=? WHERE id=?", (status, t, order_id))


def mark_deleted(c: sqlite3.Connection, order_id: int, t: float) -> bool:
    """Moved to the trash in the shop; False when the order was never seen."""
    return bool(c.execute("UPDATE orders SET deleted=1, updated_at=? WHERE id=?", (t, order_id)).rowcount)


def mark_paid(c: sqlite3.Connection, order_id: int, tx_id: int, status: str, t: float) -> bool:
    """Paid in our books, once: False when it already was."""
    cur = c.execute("UPDATE orders SET paid_at=?, paid_transaction=?, status=?, notified_status=?, updated_at=?"
                    " WHERE id=? AND paid_at IS NULL", (t, tx_id, status, status, t, order_id))
    return cur.rowcount != 0


def changed_by_us(row: sqlite3.Row) -> bool:
    """Whether our last word on this order is our own decision (paid, expired) and not a copy
    from the shop: WooCommerce builds a delivery when it sends it, so one carrying the same
    `date_modified_gmt` as the copy we decided from was built before our write-back changed the
    order, and tells nothing new (a late on-hold after the payment must not ask for the transfer
    again). A copy saved since (updated_at moves on) ends this."""
    return any(row[k] is not None and row["updated_at"] == row[k] for k in ("paid_at", "expired_at"))


def newest_modified(db: Database) -> str | None:
    """The latest date_modified_gmt we hold: where a reconcile with the shop starts."""
    return db.scalar("SELECT MAX(date_modified_gmt) FROM orders")


def any_known(db: Database) -> bool:
    return db.scalar("SELECT 1 FROM orders LIMIT 1") is not None


def unpaid_transfers(db: Database) -> list[sqlite3.Row]:
    """Bank-transfer orders still waiting for their money, with when the shop created them."""
    return db.query(
        "SELECT id, number, total_minor, customer_name, status, first_seen_at,"
        f" {_CREATED} AS created FROM orders WHERE status IN ('pending', 'on-hold')"
        " AND payment_method='bacs' AND paid_at IS NULL AND deleted=0 ORDER BY id")


# -- orders a reviewer may mean (bridge/payments/suggestions.py): each an indexed lookup, never a scan
_AWAITING_COLUMNS = ("SELECT id, number, total_minor, customer_name, phone_e164, first_seen_at,"
                     f" {_CREATED} AS created FROM orders")
# `+status`: the status index would hold most of a busy shop's orders; the planner must take the
# selective index of each lookup (amount, number, phone, time seen) instead.
_AWAITING = " +status IN ({}) AND paid_at IS NULL AND deleted = 0"


def _awaiting(statuses: Sequence[str]) -> str:
    return _AWAITING.format(marks(statuses))


def awaiting_by_amount(db: Database, amount: int, statuses: Sequence[str], limit: int) -> list[sqlite3.Row]:
    """Orders awaiting payment with exactly this total, newest first."""
    return db.query(f"{_AWAITING_COLUMNS} WHERE total_minor = ? AND{_awaiting(statuses)} ORDER BY id DESC LIMIT ?",
                    (amount, *statuses, limit))


def awaiting_by_numbers(db: Database, numbers: Sequence[str], statuses: Sequence[str]) -> list[sqlite3.Row]:
    """Orders awaiting payment whose number is one of `numbers`."""
    found: list[sqlite3.Row] = []
    for i in range(0, len(numbers), 500):
        chunk = numbers[i:i + 500]
        found += db.query(f"{_AWAITING_COLUMNS} WHERE number IN ({marks(chunk)}) AND"
                          f"{_awaiting(statuses)}", (*chunk, *statuses))
    return found


def awaiting_by_phones(db: Database, phones: Sequence[str], statuses: Sequence[str], limit: int) -> list[sqlite3.Row]:
    """Orders awaiting payment whose customer's phone (E.164) is one of `phones`, newest first."""
    if not phones:
        return []
    return db.query(f"{_AWAITING_COLUMNS} WHERE phone_e164 IN ({marks(phones)}) AND"
                    f"{_awaiting(statuses)} ORDER BY id DESC LIMIT ?", (*phones, *statuses, limit))


def awaiting_seen_between(db: Database, start: float, end: float, statuses: Sequence[str],
                          limit: int) -> list[sqlite3.Row]:
    """Orders awaiting payment first seen in [start, end], the latest first."""
    return db.query(f"{_AWAITING_COLUMNS} WHERE first_seen_at BETWEEN ? AND ? AND{_awaiting(statuses)}"
                    " ORDER BY first_seen_at DESC LIMIT ?", (start, end, *statuses, limit))
# An order that may be expired (PAYMENT_EXPIRE_HOURS): awaiting a bank transfer in our books (as
# unpaid_transfers above), never expired, and no credit recorded for it (a partial or held payment
# waits for a person, not for the deadline).
_EXPIRABLE = ("status IN ('pending', 'on-hold') AND payment_method='bacs' AND paid_at IS NULL AND deleted=0"
              " AND expired_at IS NULL AND NOT EXISTS (SELECT 1 FROM transactions t WHERE t.order_id = orders.id"
              " AND t.direction = 'in')"
              # a credit of exactly its total waiting for a person (no code, a doubt) may be this
              # order's payment: the order waits for that person too, not for the deadline
              " AND NOT EXISTS (SELECT 1 FROM transactions w WHERE w.decision IN ('no_code', 'ambiguous',"
              " 'wrong_account', 'unverified_source', 'unknown_layout') AND w.review_action IS NULL"
              " AND w.direction = 'in' AND w.amount = orders.total_minor)")


def expiry_candidates(db: Database) -> list[sqlite3.Row]:
    """The orders that may be expired, with when the shop created them (date_created_gmt, UTC) and
    when we first saw them."""
    return db.query(f"SELECT id, number, first_seen_at, {_CREATED} AS created"
                    f" FROM orders WHERE {_EXPIRABLE} ORDER BY id")


def expire(c: sqlite3.Connection, order_id: int, t: float) -> bool:
    """Expired in our books, once, and only if it may still be: False when a payment (or the shop)
    got there first. The status becomes cancelled, and so does the status notified, so
    WooCommerce's echo of our cancel tells nobody a second time."""
    cur = c.execute("UPDATE orders SET expired_at=?, status='cancelled', notified_status='cancelled', notified_at=?,"
                    f" updated_at=? WHERE id=? AND {_EXPIRABLE}", (t, t, t, order_id))
    return cur.rowcount != 0

"""Cash-on-delivery confirmations (one row per order asked) and every answer that reached us.

States (the contract's vocabulary): asked, call (the owner should call), confirmed, cancelled,
closed. An answer is applied only while the confirmation is open (asked or call), by an UPDATE
that re-checks that state, so two answers racing (a page tap and an SMS) decide once."""
from __future__ import annotations

import sqlite3

from .db import Database, fetch_one, marks

OPEN = ("asked", "call")
# The order statuses a customer may still confirm or cancel in: any other (shipping, completed,
# a shop's custom status, COD_CONFIRMED_STATUS set by hand) means the shop moved the order on.
ASKABLE = ("pending", "on-hold", "processing")
# Our parcel statuses once the carrier has the parcel: too late to change the order. A positive
# list: a parcel row whose status is empty (a call that carried none) or created/picking/cancelled
# has not left.
SHIPPED = ("picked", "in_transit", "delivering", "delivery_failed", "delivered", "returning", "returned", "lost")
# A label still to be picked up: a cancelled order's label to cancel. Not a parcel whose status is
# empty (its calls carried none yet): it may be anywhere, so it is not flagged on a guess.
LIVE_PARCEL = ("created", "picking")


def ask(c: sqlite3.Connection, order_id: int, rule: str, phone: str, t: float, nonce: str = "") -> bool:
    """The order's confirmation, asked now (`nonce`: its link's); False when it was asked before
    (one per order, ever)."""
    cur = c.execute("INSERT OR IGNORE INTO cod_confirmations(order_id, rule, phone, state, asked_at, updated_at,"
                    " nonce) VALUES (?,?,?,?,?,?,?)", (order_id, rule, phone, "asked", t, t, nonce))
    return cur.rowcount == 1


def get(db_or_c: Database | sqlite3.Connection, order_id: int) -> sqlite3.Row | None:
    return fetch_one(db_or_c, "SELECT * FROM cod_confirmations WHERE order_id=?", (order_id,))


def open_for_phone(c: sqlite3.Connection, phone: str) -> list[sqlite3.Row]:
    """The phone's confirmations still waiting for an answer, with their order's number."""
    return c.execute(
        "SELECT k.*, o.number FROM cod_confirmations k LEFT JOIN orders o ON o.id = k.order_id"
        f" WHERE k.phone=? AND k.state IN ({marks(OPEN)}) ORDER BY k.asked_at", (phone, *OPEN)).fetchall()


def latest_answered_for_phone(c: sqlite3.Connection, phone: str, since: float) -> sqlite3.Row | None:
    """The phone's confirmation answered or closed most recently (asked since `since`): a reply
    after it is a second answer to it, or one too late (recorded for the owner)."""
    return c.execute(
        "SELECT k.*, o.number FROM cod_confirmations k LEFT JOIN orders o ON o.id = k.order_id"
        " WHERE k.phone=? AND k.state IN ('confirmed', 'cancelled', 'closed') AND k.asked_at >= ?"
        " ORDER BY COALESCE(k.answered_at, k.updated_at) DESC LIMIT 1", (phone, since)).fetchone()


def decide(c: sqlite3.Connection, order_id: int, state: str, answer: str, via: str, reason: str, t: float) -> bool:
    """Record the deciding answer; False when the confirmation is no longer open."""
    cur = c.execute(
        "UPDATE cod_confirmations SET state=?, answer=?, answered_at=?, answered_via=?, reason=?, updated_at=?"
        f" WHERE order_id=? AND state IN ({marks(OPEN)})", (state, answer, t, via, reason, t, order_id, *OPEN))
    return cur.rowcount == 1


def add_answer(c: sqlite3.Connection, order_id: int, t: float, via: str, sender: str, answer: str, applied: bool,
               reason: str = "", inbox_id: int | None = None) -> int:
    cur = c.execute("INSERT INTO cod_answers(order_id, at, via, sender, answer, applied, reason, inbox_id)"
                    " VALUES (?,?,?,?,?,?,?,?)", (order_id, t, via, sender, answer, int(applied), reason, inbox_id))
    return cur.lastrowid


def last_answer(c: sqlite3.Connection, order_id: int) -> sqlite3.Row | None:
    return c.execute("SELECT * FROM cod_answers WHERE order_id=? ORDER BY id DESC LIMIT 1", (order_id,)).fetchone()


def shipped(db_or_c: Database | sqlite3.Connection, order_id: int) -> bool:
    """The carrier has the parcel (a shipment of the order past picking): too late to change it."""
    return fetch_one(db_or_c, f"SELECT 1 FROM shipments WHERE order_id=? AND status IN ({marks(SHIPPED)}) LIMIT 1",
                     (order_id, *SHIPPED)) is not None


def to_close(db: Database) -> list[sqlite3.Row]:
    """Open confirmations whose order the shop moved on or the carrier took meanwhile."""
    return db.query(
        "SELECT k.order_id FROM cod_confirmations k LEFT JOIN orders o ON o.id = k.order_id"
        f" WHERE k.state IN ({marks(OPEN)}) AND (o.id IS NULL OR o.deleted=1 OR o.status NOT IN ({marks(ASKABLE)})"
        f" OR EXISTS (SELECT 1 FROM shipments s WHERE s.order_id = k.order_id AND s.status IN ({marks(SHIPPED)})))",
        (*OPEN, *ASKABLE, *SHIPPED))


def close(c: sqlite3.Connection, order_id: int, t: float) -> bool:
    cur = c.execute(f"UPDATE cod_confirmations SET state='closed', updated_at=? WHERE order_id=? AND state IN"
                    f" ({marks(OPEN)})", (t, order_id, *OPEN))
    return cur.rowcount == 1


def set_phone(c: sqlite3.Connection, order_id: int, phone: str, nonce: str, t: float, asked_again: bool) -> None:
    """Replies are matched against the order's current phone, the link is the new nonce's.
    `asked_again`: the question was sent to the new phone now: waiting afresh from now (its
    reminder and call)."""
    if asked_again:
        c.execute("UPDATE cod_confirmations SET phone=?, nonce=?, state='asked', asked_at=?, reminded_at=NULL,"
                  f" call_at=NULL, updated_at=? WHERE order_id=? AND state IN ({marks(OPEN)})",
                  (phone, nonce, t, t, order_id, *OPEN))
    else:
        c.execute(f"UPDATE cod_confirmations SET phone=?, nonce=?, updated_at=? WHERE order_id=? AND state IN"
                  f" ({marks(OPEN)})", (phone, nonce, t, order_id, *OPEN))


def flag_live_parcels(c: sqlite3.Connection, order_id: int, flag: str, t: float) -> int:
    """Flag the order's parcels not picked up yet, for the owner to cancel the label."""
    return c.execute(f"UPDATE shipments SET flag=?, updated_at=? WHERE order_id=? AND status IN"
                     f" ({marks(LIVE_PARCEL)})", (flag, t, order_id, *LIVE_PARCEL)).rowcount


def due_reminder(db: Database, asked_before: float) -> list[sqlite3.Row]:
    """Asked before `asked_before`, unanswered and not reminded yet."""
    return db.query("SELECT * FROM cod_confirmations WHERE state='asked' AND reminded_at IS NULL AND asked_at <= ?"
                    " ORDER BY asked_at", (asked_before,))


def mark_reminded(c: sqlite3.Connection, order_id: int, t: float) -> bool:
    cur = c.execute("UPDATE cod_confirmations SET reminded_at=?, updated_at=? WHERE order_id=? AND state='asked'"
                    " AND reminded_at IS NULL", (t, t, order_id))
    return cur.rowcount == 1


def due_call(db: Database, asked_before: float) -> list[sqlite3.Row]:
    return db.query("SELECT k.*, o.number FROM cod_confirmations k LEFT JOIN orders o ON o.id = k.order_id"
                    " WHERE k.state='asked' AND k.asked_at <= ? ORDER BY k.asked_at", (asked_before,))


def mark_call(c: sqlite3.Connection, order_id: int, t: float) -> bool:
    cur = c.execute("UPDATE cod_confirmations SET state='call', call_at=?, updated_at=? WHERE order_id=?"
                    " AND state='asked'", (t, t, order_id))
    return cur.rowcount == 1

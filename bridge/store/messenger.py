"""Messenger's tables: who a page-scoped id (PSID) is (`messenger_contacts`), which signed refs
were already used (`messenger_refs`) and the bindings waiting for the admin (`messenger_pending`).

Only SQL lives here; the rules (a ref binds once, a phone moves to another PSID only when the
admin approves) are in bridge/providers/messenger/contacts.py.
"""
from __future__ import annotations

import sqlite3

from .db import Database


def named_by_order(c: sqlite3.Connection, order_id: int) -> sqlite3.Row | None:
    """(phone_e164, email, name) of an order we know."""
    return c.execute("SELECT phone_e164, email, customer_name AS name FROM orders WHERE id=?", (order_id,)).fetchone()


def named_by_customer(c: sqlite3.Connection, customer_id: int) -> sqlite3.Row | None:
    """(phone_e164, email, name) of a customer we know."""
    return c.execute("SELECT phone_e164, email, name FROM customers WHERE id=?", (customer_id,)).fetchone()


def attach(c: sqlite3.Connection, psid: str, phone: str | None, email: str | None, customer_id: int | None,
           order_id: int | None, name: str | None, at: float) -> None:
    """The PSID receives this phone's and email's notices from now on; its window opens at `at`
    unless it was already open later."""
    c.execute(
        "INSERT INTO messenger_contacts(psid, phone_e164, email, customer_id, order_id, name, bound_at,"
        " last_inbound_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(psid) DO UPDATE SET"
        " phone_e164=excluded.phone_e164, email=excluded.email, customer_id=COALESCE(excluded.customer_id,"
        " customer_id), order_id=COALESCE(excluded.order_id, order_id), name=excluded.name,"
        " bound_at=excluded.bound_at, last_inbound_at=MAX(COALESCE(last_inbound_at, 0), excluded.last_inbound_at),"
        " updated_at=excluded.updated_at",
        (psid, phone, email, customer_id, order_id, name, at, at, at))


def holder_of_phone(c: sqlite3.Connection, phone: str, other_than: str) -> str | None:
    """The first-bound PSID (other than `other_than`) that receives this phone's notices."""
    row = c.execute("SELECT psid FROM messenger_contacts WHERE phone_e164=? AND psid<>? ORDER BY bound_at LIMIT 1",
                    (phone, other_than)).fetchone()
    return None if row is None else row["psid"]


def holder_of_email(c: sqlite3.Connection, email: str, other_than: str) -> str | None:
    """The first-bound PSID (other than `other_than`) that receives this email's notices."""
    row = c.execute("SELECT psid FROM messenger_contacts WHERE email=? AND psid<>? ORDER BY bound_at LIMIT 1",
                    (email, other_than)).fetchone()
    return None if row is None else row["psid"]


def ref_owner(c: sqlite3.Connection, ref_hash: str) -> str | None:
    """The PSID that first opened this ref, if any did."""
    row = c.execute("SELECT psid FROM messenger_refs WHERE ref_hash=?", (ref_hash,)).fetchone()
    return None if row is None else row["psid"]


def record_ref_use(c: sqlite3.Connection, ref_hash: str, psid: str, at: float) -> None:
    c.execute("INSERT INTO messenger_refs(ref_hash, psid, used_at) VALUES (?,?,?)", (ref_hash, psid, at))


def pending_exists(c: sqlite3.Connection, psid: str, phone: str | None, email: str | None) -> bool:
    """The same binding already waits for the admin (a customer opening the link twice)."""
    return c.execute("SELECT id FROM messenger_pending WHERE psid=? AND COALESCE(phone_e164,'')=?"
                     " AND COALESCE(email,'')=? AND decision IS NULL",
                     (psid, phone or "", email or "")).fetchone() is not None


def add_pending(c: sqlite3.Connection, psid: str, phone: str | None, email: str | None, customer_id: int | None,
                order_id: int | None, name: str | None, bound_psid: str, at: float) -> None:
    c.execute("INSERT INTO messenger_pending(psid, phone_e164, email, customer_id, order_id, name, bound_psid,"
              " requested_at) VALUES (?,?,?,?,?,?,?,?)",
              (psid, phone, email, customer_id, order_id, name, bound_psid, at))


def waiting(db: Database) -> list[sqlite3.Row]:
    """Bindings waiting for the admin, oldest first."""
    return db.query("SELECT * FROM messenger_pending WHERE decision IS NULL ORDER BY requested_at, id")


def decided(db: Database, limit: int = 50) -> list[sqlite3.Row]:
    """The admin's latest decisions, newest first."""
    return db.query("SELECT * FROM messenger_pending WHERE decision IS NOT NULL ORDER BY decided_at DESC LIMIT ?",
                    (limit,))


def undecided(c: sqlite3.Connection, pending_id: int) -> sqlite3.Row | None:
    return c.execute("SELECT * FROM messenger_pending WHERE id=? AND decision IS NULL", (pending_id,)).fetchone()


def release_phone(c: sqlite3.Connection, phone: str, keep: str, at: float) -> None:
    """Every PSID but `keep` stops receiving this phone's notices."""
    c.execute("UPDATE messenger_contacts SET phone_e164=NULL, updated_at=? WHERE phone_e164=? AND psid<>?",
              (at, phone, keep))


def release_email(c: sqlite3.Connection, email: str, keep: str, at: float) -> None:
    """Every PSID but `keep` stops receiving this email's notices."""
    c.execute("UPDATE messenger_contacts SET email=NULL, updated_at=? WHERE email=? AND psid<>?", (at, email, keep))


def record_decision(c: sqlite3.Connection, pending_id: int, decision: str, by: str, at: float) -> None:
    c.execute("UPDATE messenger_pending SET decision=?, decided_at=?, decided_by=? WHERE id=?",
              (decision, at, by, pending_id))


def touch(c: sqlite3.Connection, psid: str, at: float) -> None:
    """The PSID wrote at `at` (kept even when unknown, so that binding it later finds the window open)."""
    c.execute("INSERT INTO messenger_contacts(psid, last_inbound_at, updated_at) VALUES (?,?,?)"
              " ON CONFLICT(psid) DO UPDATE SET last_inbound_at=MAX(COALESCE(last_inbound_at, 0),"
              " excluded.last_inbound_at), updated_at=excluded.updated_at", (psid, at, at))


def by_phone(db: Database, phone_e164: str) -> sqlite3.Row | None:
    """The contact for this phone that wrote last."""
    return db.one("SELECT * FROM messenger_contacts WHERE phone_e164=? ORDER BY last_inbound_at DESC LIMIT 1",
                  (phone_e164,))


def by_email(db: Database, email: str) -> sqlite3.Row | None:
    """The contact for this email that wrote last."""
    return db.one("SELECT * FROM messenger_contacts WHERE email=? ORDER BY last_inbound_at DESC LIMIT 1", (email,))


def order_email(db: Database, order_id: int) -> str | None:
    return db.scalar("SELECT email FROM orders WHERE id=?", (order_id,))


def customer_email(db: Database, customer_id: int) -> str | None:
    return db.scalar("SELECT email FROM customers WHERE id=?", (customer_id,))


def sent_unread(db: Database, channel: str, psid: str, up_to: float) -> list[str]:
    """Provider ids of our messages on `channel` to this PSID's phone, sent by `up_to` and not yet
    known delivered: a read receipt covers all of them."""
    rows = db.query("SELECT m.provider_id FROM messages m JOIN messenger_contacts c ON c.phone_e164 = m.recipient"
                    " WHERE c.psid=? AND m.channel=? AND m.status IN ('queued','sent') AND m.sent_at <= ?"
                    " AND m.provider_id IS NOT NULL", (psid, channel, up_to))
    return [r["provider_id"] for r in rows]


def phone_of(db: Database, psid: str) -> str | None:
    row = db.one("SELECT phone_e164 FROM messenger_contacts WHERE psid=?", (psid,))
    return row["phone_e164"] if row and row["phone_e164"] else None

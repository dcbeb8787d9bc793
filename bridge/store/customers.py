"""The customers table: WooCommerce customers as last seen, and whether they were welcomed."""
from __future__ import annotations

import sqlite3
from typing import Any


def get(c: sqlite3.Connection, customer_id: int) -> sqlite3.Row | None:
    return c.execute("SELECT * FROM customers WHERE id=?", (customer_id,)).fetchone()


def save(c: sqlite3.Connection, snap: Any, body: str, t: float) -> None:
    """Store a customer snapshot; a known customer keeps its first sighting and welcome."""
    c.execute(
        "INSERT INTO customers(id, name, phone_raw, phone_e164, email, body, first_seen_at, updated_at)"
        " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET name=excluded.name,"
        " phone_raw=excluded.phone_raw, phone_e164=excluded.phone_e164, email=excluded.email,"
        " body=excluded.body, updated_at=excluded.updated_at",
        (snap.id, snap.customer_name, snap.phone_raw, snap.phone.e164, snap.email, body, t, t))


def by_login(c: sqlite3.Connection, login: str) -> sqlite3.Row | None:
    """The newest customer whose username is `login` or whose e-mail is it (any case)."""
    return c.execute("SELECT body FROM customers WHERE json_extract(body, '$.username')=? OR lower(email)=lower(?)"
                     " ORDER BY updated_at DESC LIMIT 1", (login, login)).fetchone()


def mark_welcomed(c: sqlite3.Connection, customer_id: int, t: float, skipped: str | None = None) -> None:
    """Welcomed at `t`, or (with `skipped`, why) never to be."""
    if skipped is None:
        c.execute("UPDATE customers SET welcomed_at=? WHERE id=?", (t, customer_id))
    else:
        c.execute("UPDATE customers SET welcomed_at=?, welcome_skipped=? WHERE id=?", (t, skipped, customer_id))


def highest_id(db: Any) -> int:
    return int(db.scalar("SELECT MAX(id) FROM customers") or 0)

"""Who a Messenger user is, and whether we may write to them now.

Messenger gives us a page-scoped id (PSID) and nothing else. The customer tells us who they
are by opening an `m.me/<page>?ref=<token>` link that we gave them in an order message or on
the pay page: the token is signed with our secret, so nobody can bind their PSID to someone
else's orders by guessing a ref. Meta only lets a page write freely within 24 hours of the
user's last message (or referral); outside that, a message needs an allowed tag or another channel.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from .config import Settings
from .db import Database, now

WINDOW = 24 * 3600.0
_SALT = "messenger-ref"


@dataclass(frozen=True)
class Contact:
    psid: str
    phone_e164: str | None
    email: str | None
    last_inbound_at: float | None

    def in_window(self, at: float | None = None) -> bool:
        """True while the customer's last message or referral is less than 24 h old."""
        return self.last_inbound_at is not None and (at or now()) - self.last_inbound_at < WINDOW


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.secret_key, salt=_SALT)


def make_ref(settings: Settings, order_id: int | None = None, customer_id: int | None = None) -> str:
    data: dict[str, int] = {}
    if order_id:
        data["o"] = int(order_id)
    if customer_id:
        data["c"] = int(customer_id)
    return _serializer(settings).dumps(data)


def read_ref(settings: Settings, token: str) -> dict[str, int] | None:
    """The order/customer a ref names, or None when it was not made by us."""
    try:
        data = _serializer(settings).loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not data or not all(k in ("o", "c") and isinstance(v, int) for k, v in data.items()):
        return None
    return data


def messenger_link(settings: Settings, order_id: int | None = None, customer_id: int | None = None) -> str:
    """The link that binds whoever opens it to this order's customer; empty when no page is set."""
    if not settings.messenger_page or not settings.secret_key or not (order_id or customer_id):
        return ""
    return f"https://m.me/{settings.messenger_page}?ref={make_ref(settings, order_id, customer_id)}"


def bind(c: sqlite3.Connection, psid: str, ref: dict[str, int], at: float) -> str | None:
    """Attach a PSID to the phone and email of the order or customer the ref names.

    Returns who it was bound to (for the log and the answer), or None when the ref names
    nothing we know (an order we never saw)."""
    phone = email = name = None
    customer_id = ref.get("c")
    order_id = ref.get("o")
    if order_id:
        row = c.execute("SELECT phone_e164, email, customer_name FROM orders WHERE id=?", (order_id,)).fetchone()
        if row is None:
            return None
        phone, email, name = row["phone_e164"], row["email"], row["customer_name"]
    elif customer_id:
        row = c.execute("SELECT phone_e164, email, name FROM customers WHERE id=?", (customer_id,)).fetchone()
        if row is None:
            return None
        phone, email, name = row["phone_e164"], row["email"], row["name"]
    c.execute(
        "INSERT INTO messenger_contacts(psid, phone_e164, email, customer_id, order_id, name, bound_at,"
        " last_inbound_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(psid) DO UPDATE SET"
        " phone_e164=excluded.phone_e164, email=excluded.email, customer_id=COALESCE(excluded.customer_id,"
        " customer_id), order_id=COALESCE(excluded.order_id, order_id), name=excluded.name,"
        " bound_at=excluded.bound_at, last_inbound_at=MAX(COALESCE(last_inbound_at, 0), excluded.last_inbound_at),"
        " updated_at=excluded.updated_at",
        (psid, phone, email or None, customer_id, order_id, name, at, at, at))
    return ", ".join(x for x in (name, phone, email) if x) or f"order {order_id}"


def touch(c: sqlite3.Connection, psid: str, at: float) -> None:
    """The customer wrote to the page: the 24 h window opens again (an unknown PSID is kept too,
    so that binding it later finds the window already open)."""
    c.execute("INSERT INTO messenger_contacts(psid, last_inbound_at, updated_at) VALUES (?,?,?)"
              " ON CONFLICT(psid) DO UPDATE SET last_inbound_at=MAX(COALESCE(last_inbound_at, 0), excluded.last_inbound_at),"
              " updated_at=excluded.updated_at", (psid, at, at))


def find(db: Database, phone_e164: str | None, meta: dict[str, Any]) -> Contact | None:
    """The customer's Messenger contact: by phone, else by the email of the order or customer."""
    row = None
    if phone_e164:
        row = db.one("SELECT * FROM messenger_contacts WHERE phone_e164=? ORDER BY last_inbound_at DESC LIMIT 1",
                     (phone_e164,))
    if row is None:
        email = None
        if meta.get("order_id"):
            email = db.scalar("SELECT email FROM orders WHERE id=?", (meta["order_id"],))
        elif meta.get("customer_id"):
            email = db.scalar("SELECT email FROM customers WHERE id=?", (meta["customer_id"],))
        if email:
            row = db.one("SELECT * FROM messenger_contacts WHERE email=? ORDER BY last_inbound_at DESC LIMIT 1",
                         (email,))
    if row is None:
        return None
    return Contact(row["psid"], row["phone_e164"], row["email"], row["last_inbound_at"])

"""Who a Messenger user is, and whether we may write to them now.

Messenger gives us a page-scoped id (PSID) and nothing else. The customer tells us who they
are by opening an `m.me/<page>?ref=<token>` link that we gave them in an order message or on
the pay page: the token is signed with our secret, so nobody can bind their PSID to someone
else's orders by guessing a ref. Meta only lets a page write freely within 24 hours of the
user's last message (or referral); outside that, a message needs an allowed tag or another channel.

A ref is seen by more people than its customer (a forwarded SMS, a shared screenshot of the pay
page), so seeing one must not be enough to receive that customer's notices:

* it expires: MESSENGER_REF_TTL seconds after it was made (signed with its time);
* it binds once: the first PSID that opens it owns it (`messenger_refs`); another is refused;
* a phone (or email) already bound to one PSID is never moved silently to another: the new
  binding waits in `messenger_pending` for the admin (admin page > Messenger) to approve or
  refuse. Meanwhile the notices keep going to the PSID the phone already had.
"""
from __future__ import annotations

import hashlib
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Callable

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from ...config import Settings
from ...db import Database, now

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


def _serializer(settings: Settings, clock: Callable[[], float] = time.time) -> URLSafeTimedSerializer:
    """Timed refs; `clock` is the time the serializer signs with and checks against (tests)."""
    signer = type("ClockSigner", (TimestampSigner,), {"get_timestamp": lambda self: int(clock())})
    return URLSafeTimedSerializer(settings.secret_key, salt=_SALT, signer=signer)


def make_ref(settings: Settings, order_id: int | None = None, customer_id: int | None = None,
             at: float | None = None) -> str:
    """A signed ref naming the order or customer, stamped with `at` (now by default)."""
    data: dict[str, int] = {}
    if order_id:
        data["o"] = int(order_id)
    if customer_id:
        data["c"] = int(customer_id)
    return _serializer(settings, (lambda: at) if at is not None else time.time).dumps(data)


def check_ref(settings: Settings, token: str, at: float | None = None) -> tuple[dict[str, int] | None, str]:
    """(what the ref names, '') or (None, why it is refused: not ours, or expired)."""
    clock = (lambda: at) if at is not None else time.time
    try:
        data = _serializer(settings, clock).loads(token, max_age=settings.messenger_ref_ttl)
    except SignatureExpired:
        return None, f"expired (older than MESSENGER_REF_TTL={settings.messenger_ref_ttl:g} s)"
    except BadSignature:
        return None, "not signed by us"
    if not isinstance(data, dict) or not data or not all(k in ("o", "c") and isinstance(v, int) and
                                                         not isinstance(v, bool) for k, v in data.items()):
        return None, "not signed by us"
    return data, ""


def read_ref(settings: Settings, token: str, at: float | None = None) -> dict[str, int] | None:
    """The order/customer a ref names, or None when it was not made by us or has expired."""
    return check_ref(settings, token, at)[0]


def ref_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def messenger_link(settings: Settings, order_id: int | None = None, customer_id: int | None = None) -> str:
    """The link that binds whoever opens it to this order's customer; empty when no page is set."""
    if not settings.messenger_page or not settings.secret_key or not (order_id or customer_id):
        return ""
    return f"https://m.me/{settings.messenger_page}?ref={make_ref(settings, order_id, customer_id)}"


@dataclass(frozen=True)
class Binding:
    """What a referral did: 'bound', 'pending' (waits for the admin), 'used' (the ref belongs
    to another PSID) or 'unknown' (names nothing we know)."""
    kind: str
    who: str = ""
    other_psid: str = ""


def _named(c: sqlite3.Connection, ref: dict[str, int]) -> tuple[str | None, str | None, str | None] | None:
    """(phone, email, name) of the order or customer a ref names; None when we do not know it."""
    if ref.get("o"):
        row = c.execute("SELECT phone_e164, email, customer_name FROM orders WHERE id=?", (ref["o"],)).fetchone()
    elif ref.get("c"):
        row = c.execute("SELECT phone_e164, email, name FROM customers WHERE id=?", (ref["c"],)).fetchone()
    else:
        return None
    return None if row is None else (row[0], row[1] or None, row[2])


def _attach(c: sqlite3.Connection, psid: str, phone: str | None, email: str | None, customer_id: int | None,
            order_id: int | None, name: str | None, at: float) -> None:
    c.execute(
        "INSERT INTO messenger_contacts(psid, phone_e164, email, customer_id, order_id, name, bound_at,"
        " last_inbound_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(psid) DO UPDATE SET"
        " phone_e164=excluded.phone_e164, email=excluded.email, customer_id=COALESCE(excluded.customer_id,"
        " customer_id), order_id=COALESCE(excluded.order_id, order_id), name=excluded.name,"
        " bound_at=excluded.bound_at, last_inbound_at=MAX(COALESCE(last_inbound_at, 0), excluded.last_inbound_at),"
        " updated_at=excluded.updated_at",
        (psid, phone, email, customer_id, order_id, name, at, at, at))


def _holder(c: sqlite3.Connection, psid: str, phone: str | None, email: str | None) -> str | None:
    """Another PSID that already receives this phone's (or email's) notices."""
    for column, value in (("phone_e164", phone), ("email", email)):
        if value:
            row = c.execute(f"SELECT psid FROM messenger_contacts WHERE {column}=? AND psid<>? ORDER BY bound_at"
                            " LIMIT 1", (value, psid)).fetchone()
            if row is not None:
                return row["psid"]
    return None


def bind(c: sqlite3.Connection, psid: str, ref: dict[str, int], at: float, token: str = "") -> Binding:
    """Attach a PSID to the phone and email of the order or customer the ref names, unless the
    ref already belongs to another PSID (refused) or the phone already has one (pending)."""
    named = _named(c, ref)
    if named is None:
        return Binding("unknown")
    phone, email, name = named
    who = ", ".join(x for x in (name, phone, email) if x) or f"order {ref.get('o')}"
    if token:
        digest = ref_hash(token)
        owner = c.execute("SELECT psid FROM messenger_refs WHERE ref_hash=?", (digest,)).fetchone()
        if owner is not None and owner["psid"] != psid:
            return Binding("used", who, owner["psid"])
        if owner is None:
            c.execute("INSERT INTO messenger_refs(ref_hash, psid, used_at) VALUES (?,?,?)", (digest, psid, at))
    holder = _holder(c, psid, phone, email)
    if holder is not None:
        waiting = c.execute("SELECT id FROM messenger_pending WHERE psid=? AND COALESCE(phone_e164,'')=?"
                            " AND COALESCE(email,'')=? AND decision IS NULL",
                            (psid, phone or "", email or "")).fetchone()
        if waiting is None:
            c.execute("INSERT INTO messenger_pending(psid, phone_e164, email, customer_id, order_id, name, bound_psid,"
                      " requested_at) VALUES (?,?,?,?,?,?,?,?)",
                      (psid, phone, email, ref.get("c"), ref.get("o"), name, holder, at))
        touch(c, psid, at)
        return Binding("pending", who, holder)
    _attach(c, psid, phone, email, ref.get("c"), ref.get("o"), name, at)
    return Binding("bound", who)


def pending(db: Database) -> list[sqlite3.Row]:
    """Bindings waiting for the admin, oldest first."""
    return db.query("SELECT * FROM messenger_pending WHERE decision IS NULL ORDER BY requested_at, id")


def decide(c: sqlite3.Connection, pending_id: int, approve: bool, by: str, at: float) -> sqlite3.Row | None:
    """Approve (the phone's notices move to the new PSID; the PSIDs that had the phone or email
    lose it) or refuse a waiting binding. None when there is no such undecided binding."""
    row = c.execute("SELECT * FROM messenger_pending WHERE id=? AND decision IS NULL", (pending_id,)).fetchone()
    if row is None:
        return None
    if approve:
        for column in ("phone_e164", "email"):
            if row[column]:
                c.execute(f"UPDATE messenger_contacts SET {column}=NULL, updated_at=? WHERE {column}=? AND psid<>?",
                          (at, row[column], row["psid"]))
        _attach(c, row["psid"], row["phone_e164"], row["email"], row["customer_id"], row["order_id"], row["name"], at)
    c.execute("UPDATE messenger_pending SET decision=?, decided_at=?, decided_by=? WHERE id=?",
              ("approved" if approve else "refused", at, by, pending_id))
    return row


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

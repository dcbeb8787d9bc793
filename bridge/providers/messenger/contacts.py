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

import requests
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from ...config import Settings
from ...store.db import Database, now
from ...events import ChatLinked, ChatRead, ChatSeen, LinkResult
from ...store import messenger as store

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
        row = store.named_by_order(c, ref["o"])
    elif ref.get("c"):
        row = store.named_by_customer(c, ref["c"])
    else:
        return None
    return None if row is None else (row["phone_e164"], row["email"] or None, row["name"])


def _holder(c: sqlite3.Connection, psid: str, phone: str | None, email: str | None) -> str | None:
    """Another PSID that already receives this phone's (or email's) notices."""
    return ((store.holder_of_phone(c, phone, psid) if phone else None)
            or (store.holder_of_email(c, email, psid) if email else None))


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
        owner = store.ref_owner(c, digest)
        if owner is not None and owner != psid:
            return Binding("used", who, owner)
        if owner is None:
            store.record_ref_use(c, digest, psid, at)
    holder = _holder(c, psid, phone, email)
    if holder is not None:
        if not store.pending_exists(c, psid, phone, email):
            store.add_pending(c, psid, phone, email, ref.get("c"), ref.get("o"), name, holder, at)
        store.touch(c, psid, at)
        return Binding("pending", who, holder)
    store.attach(c, psid, phone, email, ref.get("c"), ref.get("o"), name, at)
    return Binding("bound", who)


def pending(db: Database) -> list[sqlite3.Row]:
    """Bindings waiting for the admin, oldest first."""
    return store.waiting(db)


def decide(c: sqlite3.Connection, pending_id: int, approve: bool, by: str, at: float) -> sqlite3.Row | None:
    """Approve (the phone's notices move to the new PSID; the PSIDs that had the phone or email
    lose it) or refuse a waiting binding. None when there is no such undecided binding."""
    row = store.undecided(c, pending_id)
    if row is None:
        return None
    if approve:
        if row["phone_e164"]:
            store.release_phone(c, row["phone_e164"], row["psid"], at)
        if row["email"]:
            store.release_email(c, row["email"], row["psid"], at)
        store.attach(c, row["psid"], row["phone_e164"], row["email"], row["customer_id"], row["order_id"], row["name"],
                     at)
    store.record_decision(c, pending_id, "approved" if approve else "refused", by, at)
    return row


def find(db: Database, phone_e164: str | None, meta: dict[str, Any]) -> Contact | None:
    """The customer's Messenger contact: by phone, else by the email of the order or customer."""
    row = store.by_phone(db, phone_e164) if phone_e164 else None
    if row is None:
        email = None
        if meta.get("order_id"):
            email = store.order_email(db, meta["order_id"])
        elif meta.get("customer_id"):
            email = store.customer_email(db, meta["customer_id"])
        if email:
            row = store.by_email(db, email)
    if row is None:
        return None
    return Contact(row["psid"], row["phone_e164"], row["email"], row["last_inbound_at"])


def template_vars(settings: Settings, order_id: int | None = None, customer_id: int | None = None) -> dict[str, str]:
    """`{{ messenger_link }}` in rules (README: template variables)."""
    return {"messenger_link": messenger_link(settings, order_id=order_id, customer_id=customer_id)}


def pay_links(settings: Settings, order_id: int) -> list[tuple[str, str]]:
    """The pay page offers the link too: a customer who pays there keeps getting notices."""
    link = messenger_link(settings, order_id=order_id)
    return [("Nhận thông báo đơn hàng qua Messenger", link)] if link else []


class Identities:
    """The core's questions about Messenger users (bridge.events ChatLinked, ChatSeen, ChatRead),
    answered by the rules above."""

    channel = "messenger"   # the channel that writes to these identities

    def message_text(self, settings: Settings, mid: str) -> str | None:
        """The text Messenger holds under a message id (Conversations API), to tell our lost
        message from anything else the page sent; None when it cannot be read."""
        try:
            r = requests.get(f"{settings.graph_base_url}/{mid}", params={"fields": "message"},
                             headers={"Authorization": f"Bearer {settings.messenger_page_token}"},
                             timeout=(5, settings.messenger_timeout))
            data = r.json() if r.status_code == 200 else None
        except (requests.RequestException, ValueError):
            return None
        text = data.get("message") if isinstance(data, dict) else None
        return text if isinstance(text, str) and text else None

    def phone_of(self, db: Database, psid: str) -> str | None:
        """The phone a PSID is bound to: our messages are addressed by phone."""
        return store.phone_of(db, psid)

    def link(self, db: Database, settings: Settings, event: ChatLinked, at: float) -> LinkResult:
        """Bind the PSID to the customer a ref names, by the rules in this module's docstring;
        `at` is now, for the ref's expiry."""
        psid = event.identity
        ref, why = check_ref(settings, event.token, at=at)
        if ref is None:
            what = "with a ref we did not sign" if why == "not signed by us" else f"with a ref that is {why}"
            return LinkResult("refused", f"Messenger referral from PSID {psid} {what}", 400)
        with db.tx() as c:
            result = bind(c, psid, ref, event.at, event.token)
        if result.kind == "unknown":
            return LinkResult("refused", f"Messenger referral from PSID {psid} names {ref}, which we do not know", 400)
        if result.kind == "used":
            return LinkResult("refused", f"Messenger referral from PSID {psid}: this ref was already used by PSID "
                                         f"{result.other_psid}; a ref binds once", 409)
        if result.kind == "pending":
            return LinkResult("pending", f"Messenger PSID {psid} asks for {result.who}, already bound to PSID "
                                         f"{result.other_psid}: waiting for the admin (admin page > Messenger)")
        return LinkResult("bound", f"Messenger PSID {psid} bound to {result.who}")

    def seen(self, db: Database, event: ChatSeen) -> None:
        with db.tx() as c:
            store.touch(c, event.identity, event.at)

    def read(self, db: Database, event: ChatRead) -> list[str]:
        """Provider ids of the messages a read receipt covers (sent to this PSID's phone by then)."""
        return store.sent_unread(db, "messenger", event.identity, event.up_to)


identities = Identities()

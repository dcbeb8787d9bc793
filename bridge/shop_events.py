"""What the shop tells us (orders and customers changed): store, then decide what to notify.

The raw delivery is committed before the HTTP answer (the shop does not retry), in state
'received'; everything decided from it (order state, outbox rows) is committed together right
after the answer by the decider (bridge/intake.py), exactly once, never half-applied. If
deciding fails, the raw delivery is still kept, marked `error` with the reason, for an admin.

Decisions come from the last status seen and the last status notified per order, never from
the topic: WooCommerce sends `order.updated` before `order.created`, coalesces quick changes
into one delivery, and builds every payload at delivery time (PROTOCOLS §1).

The shop provider reads its own headers and JSON; this module sees a ShopDelivery (bridge/events.py).
"""
from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from typing import Any, Callable

from . import bank_details, cod, providers, reasons
from .config import Settings
from .context import customer_context, order_context
from .intake import decide_rows
from .events import CUSTOMER_CREATED, CUSTOMER_UPDATED, ORDER_CHANGED, ORDER_DELETED, PASSWORD_RESET, ShopDelivery
from .orders import OrderSnapshot
from .store import customers, deliveries, orders
from .store.db import Database, dumps, now
from .outbox import Draft, enqueue
from .phones import normalize_phone
from .reasons import N_
from .rules import Rule, RuleSet
from .smstext import prepare

log = logging.getLogger(__name__)

RECEIVED, PROCESSED, IGNORED, STALE, ERROR = "received", "processed", "ignored", "stale", "error"

# What was decided from a delivery (deliveries.reason) and why a welcome was skipped
# (customers.welcome_skipped), as codes (bridge/reasons.py). Statuses are WooCommerce's codes.
reasons.register({
    "shop.processing_failed": N_("processing failed: %(error)s"),
    "shop.topic_ignored": N_("topic %(topic)s is not handled; ignored"),
    "shop.stale": N_("order %(order)s: this delivery (modified %(modified)s) is older than the one already seen "
                     "(%(seen)s, %(status)s); ignored"),
    "shop.before_ours": N_("order %(order)s: this delivery (modified %(modified)s) was built before our own change "
                           "to %(status)s; ignored"),
    "shop.imported": N_("order %(order)s: imported (%(status)s) without notifying"),
    "shop.order_new": N_("order %(order)s: new order (%(status)s); %(n)s message(s)"),
    "shop.order_status": N_("order %(order)s: status %(old)s -> %(status)s; %(n)s message(s)"),
    "shop.order_phone_fixed": N_("order %(order)s: phone corrected to %(phone)s, %(status)s sent again; "
                                 "%(n)s message(s)"),
    "shop.order_already": N_("order %(order)s: status %(status)s already notified; %(n)s message(s)"),
    "shop.order_rounded": N_("%(then)s (total %(total)s has fractions of a dong: %(expected)s expected by transfer)"),
    "shop.reset_unknown": N_("password reset for %(login)s: no customer with that login or e-mail known; "
                             "nothing sent"),
    "shop.reset_unreadable": N_("password reset: the customer could not be read (%(error)s)"),
    "shop.reset_no_phone": N_("password reset for customer %(customer)s: no phone number known; nothing sent"),
    "shop.reset_sent": N_("password reset for customer %(customer)s; %(n)s message(s)"),
    "shop.order_trashed": N_("order %(order)s moved to the trash; nothing to send"),
    "shop.order_trashed_unknown": N_("order %(order)s moved to the trash (not seen before); nothing to send"),
    "shop.customer_updated": N_("customer %(customer)s updated; nothing to send"),
    "shop.customer_welcomed": N_("customer %(customer)s already welcomed"),
    "shop.customer_too_old": N_("customer %(customer)s registered too long ago to be welcomed now"),
    "shop.customer_no_phone": N_("customer %(customer)s registered without a phone number: welcome skipped"),
    "shop.customer_created": N_("customer %(customer)s created; %(n)s message(s)"),
})


# Deliveries read (JSON, the order with its phones and amounts) before a deciding transaction
# takes the write lock: more than one transaction decides within its budget, and what it leaves
# stays read for the next (a delivery's bytes never change), up to PREPARED_MAX of them.
READ_AHEAD = 8
PREPARED_MAX = 64


@dataclass(frozen=True)
class Stored:
    row_id: int
    duplicate: bool
    state: str = RECEIVED
    messages: int = 0


def _insert_delivery(c: sqlite3.Connection, d: ShopDelivery, state: str, reason: str) -> Stored:
    if d.replay_key and d.resource_id is None:   # NULLs never meet in the unique index: looked up
        row = deliveries.replayed(c, d.resource_id, d.replay_key)
        if row:
            return Stored(row["id"], True)
    row_id = deliveries.insert(c, now(), d.delivery_id, d.webhook, d.topic, d.resource, d.resource_id, d.source_url,
                               dumps(dict(d.headers)), d.raw, state, reason, d.replay_key)
    if row_id is None:   # the same delivery again (resource id and replay key)
        return Stored(deliveries.replayed(c, d.resource_id, d.replay_key)["id"], True)
    return Stored(row_id, False, state)


def store_delivery(db: Database, d: ShopDelivery, state: str = RECEIVED, reason: str = "") -> Stored:
    """Commit the raw delivery. An exact replay (the same replay key) is reported, not stored twice."""
    with db.tx() as c:
        return _insert_delivery(c, d, state, reason)


class ShopEvents:
    """Turns stored deliveries into order/customer state and outbox rows."""

    def __init__(self, db: Database, settings: Settings, rules: RuleSet,
                 alert: Callable[[str, str, str], Any] | None = None, clock: Callable[[], float] = now):
        self.db = db
        self.clock = clock   # the COD question's times, which its periodic job compares with the same clock
        self.settings = settings
        self.rules = rules
        # (kind, subject, text) -> tell the owner once; joins the deciding transaction
        self.alert = alert
        # deliveries read ahead and not decided yet, by row id (decide_pending; its passes run one
        # at a time, under the Decider's lock)
        self._prepared: dict[int, ShopDelivery] = {}

    def accept(self, delivery: ShopDelivery, notify: bool = True) -> Stored:
        """Store a verified delivery and decide from it in one transaction (one commit): the
        reconcile job's path (`notify` is not stored, so its rows cannot wait for the decider).

        The decision runs inside a savepoint: if it fails, the delivery is still committed,
        marked `error` with the reason, and nothing half-decided is kept.
        """
        with self.db.tx() as c:
            stored = _insert_delivery(c, delivery, RECEIVED, "")
            if stored.duplicate:
                return stored
            state, n = self._decide_in_savepoint(c, stored.row_id, delivery, notify)
            return Stored(stored.row_id, False, state, n)

    def _decide_in_savepoint(self, c: sqlite3.Connection, row_id: int, d: ShopDelivery,
                             notify: bool = True) -> tuple[str, int]:
        deliveries.savepoint(c, "decide")
        try:
            state, reason, n = self._decide(c, row_id, d, notify)
        except Exception as exc:  # a bug must not lose the delivery: keep it, marked for an admin
            log.exception("processing delivery %s failed", row_id)
            deliveries.rollback_to(c, "decide")
            state, reason, n = ERROR, reasons.encode("shop.processing_failed", error=f"{type(exc).__name__}: {exc}"), 0
        deliveries.release(c, "decide")
        deliveries.set_outcome(c, row_id, state, reason, now())
        return state, n

    def decide_pending(self, limit: int, budget: float, until: float | None = None) -> int:
        """Decide the oldest acknowledged deliveries (bridge/intake.py), from their stored headers
        and body read again by the shop provider, exactly as the request would have; with `until`,
        only those acknowledged no later than it (what arrived after waits for older rows)."""
        ahead = [r["id"] for r in deliveries.undecided_ids(self.db, READ_AHEAD, until)]
        if not ahead:   # the common pass: nothing waits
            return 0
        if self._prepared and (min(self._prepared) < ahead[0] or len(self._prepared) > PREPARED_MAX):
            # decided elsewhere (another process): ids below the oldest undecided are all decided,
            # and one of them freed by retention may be given to a new delivery
            self._prepared = {i: d for i, d in self._prepared.items() if i in ahead}
        for row_id in ahead:
            if row_id not in self._prepared:
                d = self._read_ahead(deliveries.get(self.db.conn(), row_id))
                if d is not None:
                    self._prepared[row_id] = d
        return decide_rows(self.db, lambda c, n: deliveries.undecided_ids(c, min(n, READ_AHEAD), until),
                           self._decide_stored, self._failed, limit, budget, look_first=False)

    @classmethod
    def _read_ahead(cls, row: sqlite3.Row) -> ShopDelivery | None:
        """None when the row cannot be read: it is read again inside its savepoint, where a
        failure marks that row `error` and the others are decided."""
        try:
            return cls._read(row)
        except Exception:   # noqa: BLE001 - decided (as an error, with the reason) in decide_rows
            return None

    @staticmethod
    def _read(row: sqlite3.Row) -> ShopDelivery:
        return providers.shop().stored_delivery(json.loads(row["headers"] or "{}"), deliveries.raw_body(row))

    def _decide_stored(self, c: sqlite3.Connection, row: sqlite3.Row) -> None:
        """The delivery as read before the write lock was taken, so the lock is held for the
        decision only; read here when it was not (or could not be: the error is this row's)."""
        d = self._prepared.pop(row["id"], None)
        if d is None:
            d = self._read(deliveries.get(c, row["id"]))
        state, reason, _ = self._decide(c, row["id"], d)
        deliveries.set_outcome(c, row["id"], state, reason, now())

    @staticmethod
    def _failed(c: sqlite3.Connection, row: sqlite3.Row, exc: Exception) -> None:
        deliveries.set_outcome(c, row["id"], ERROR, reasons.encode("shop.processing_failed",
                                                                  error=f"{type(exc).__name__}: {exc}"), now())

    # -- decisions ---------------------------------------------------------------------
    def _decide(self, c: sqlite3.Connection, row_id: int, d: ShopDelivery, notify: bool = True) -> tuple[str, str, int]:
        if d.problem:
            return ERROR, d.problem, 0
        if d.kind == ORDER_CHANGED and d.order is not None:
            return self._order(c, row_id, d, d.order, notify)
        if d.kind == ORDER_DELETED and d.resource_id is not None:
            return self._order_deleted(c, d.resource_id)
        if d.kind in (CUSTOMER_CREATED, CUSTOMER_UPDATED) and d.customer is not None:
            return self._customer(c, row_id, d, created=d.kind == CUSTOMER_CREATED, notify=notify)
        if d.kind == PASSWORD_RESET:
            return self._password_reset(c, row_id, d)
        return IGNORED, d.ignored or reasons.encode("shop.topic_ignored", topic=d.topic or "-"), 0

    def _order(self, c: sqlite3.Connection, row_id: int, d: ShopDelivery, snap: OrderSnapshot,
               notify: bool = True) -> tuple[str, str, int]:
        existing = orders.get(c, snap.id)
        if existing and existing["date_modified_gmt"] and snap.date_modified_gmt \
                and snap.date_modified_gmt < existing["date_modified_gmt"]:
            return STALE, reasons.encode("shop.stale", order=snap.id, modified=snap.date_modified_gmt,
                                         seen=existing["date_modified_gmt"], status=existing["status"]), 0
        if existing and snap.date_modified_gmt and snap.date_modified_gmt == existing["date_modified_gmt"] \
                and orders.changed_by_us(existing):
            return STALE, reasons.encode("shop.before_ours", order=snap.id, modified=snap.date_modified_gmt,
                                         status=existing["status"]), 0
        t = now()
        orders.save(c, snap, d.source_url, d.raw.decode("utf-8", "replace"), t)
        ctx = order_context(self.settings, snap, d.source_url or "")
        n = 0
        if snap.total_rounded:
            self._tell_rounded(snap)
        if not notify:   # an import of old orders: known from now on, nobody is told about the past
            orders.set_notified(c, snap.id, snap.status, t)
            return PROCESSED, self._rounded(snap, reasons.encode("shop.imported", order=snap.id, status=snap.status)), 0
        if existing is None:
            for rule in self.rules.matching("order.new", payment_method=snap.payment_method):
                n += self._to_audience(c, rule, ctx, row_id, snap.phone_raw, order_id=snap.id,
                                       key=f"order:{snap.id}:new")
            n += cod.ask(c, self.settings, self.rules, snap, d.source_url or "", row_id, self.clock())
        else:
            n += cod.order_saved(c, self.settings, self.rules, snap, d.source_url or "", row_id, self.clock(),
                                 was=existing["status"] or "")
        last = existing["notified_status"] if existing else None
        # The shop corrected an unusable phone: the customer never got this status's message.
        phone_fixed = existing is not None and snap.status == last and not existing["phone_e164"] and snap.phone.ok
        if snap.status != last or phone_fixed:
            for rule in self.rules.matching("order.status", status=snap.status, payment_method=snap.payment_method):
                if phone_fixed and rule.to != "customer":
                    continue
                n += self._to_audience(c, rule, ctx, row_id, snap.phone_raw, order_id=snap.id,
                                       key=f"order:{snap.id}:status:{row_id}")
            orders.set_notified(c, snap.id, snap.status, t)
        if existing is None:
            reason = reasons.encode("shop.order_new", order=snap.id, status=snap.status, n=n)
        elif phone_fixed:
            reason = reasons.encode("shop.order_phone_fixed", order=snap.id, phone=snap.phone.e164,
                                    status=snap.status, n=n)
        elif snap.status != last:
            reason = reasons.encode("shop.order_status", order=snap.id, old=last or "-", status=snap.status, n=n)
        else:
            reason = reasons.encode("shop.order_already", order=snap.id, status=snap.status, n=n)
        return PROCESSED, self._rounded(snap, reason), n

    @staticmethod
    def _rounded(snap: OrderSnapshot, reason: str) -> str:
        """The reason, with the warning that the shop's total had fractions of a dong."""
        if not snap.total_rounded:
            return reason
        return reasons.encode("shop.order_rounded", then=reason, total=snap.total_raw, expected=snap.total_minor)

    def _tell_rounded(self, snap: OrderSnapshot) -> None:
        """A VND shop set to 2 decimals sends totals like "150750.50". The order is kept (it was
        refused once, and then nothing at all happened to it); the owner hears once that the
        currency setting is wrong, since no bank transfer can carry half a dong."""
        log.warning("order %s: total %s has fractions of a dong; the shop's price decimals should be 0 for VND",
                    snap.id, snap.total_raw)
        if self.alert is not None:
            self.alert("currency-decimals", "shop", providers.shop().decimals_advice(snap))

    def _password_reset(self, c: sqlite3.Connection, row_id: int, d: ShopDelivery) -> tuple[str, str, int]:
        """A password reset was asked on the shop: tell the account's phone, so a customer who
        did not ask knows at once."""
        login = d.login
        found = customers.by_login(c, login)
        if found is None:
            return PROCESSED, reasons.encode("shop.reset_unknown", login=repr(login)), 0
        try:
            snap = providers.shop().customer(found["body"])
        except ValueError as exc:
            return ERROR, reasons.encode("shop.reset_unreadable", error=str(exc)), 0
        if not snap.phone_raw.strip():
            return PROCESSED, reasons.encode("shop.reset_no_phone", customer=snap.id), 0
        ctx = customer_context(self.settings, snap)
        n = 0
        for rule in self.rules.matching("account.password_reset"):
            n += self._to_audience(c, rule, ctx, row_id, snap.phone_raw, customer_id=snap.id,
                                   key=f"customer:{snap.id}:password-reset:{row_id}")
        return PROCESSED, reasons.encode("shop.reset_sent", customer=snap.id, n=n), n

    def _order_deleted(self, c: sqlite3.Connection, oid: int) -> tuple[str, str, int]:
        known = orders.mark_deleted(c, oid, now())
        return PROCESSED, reasons.encode("shop.order_trashed" if known else "shop.order_trashed_unknown", order=oid), 0

    def _customer(self, c: sqlite3.Connection, row_id: int, d: ShopDelivery, created: bool,
                  notify: bool = True) -> tuple[str, str, int]:
        snap = d.customer
        assert snap is not None
        existing = customers.get(c, snap.id)
        t = now()
        customers.save(c, snap, d.raw.decode("utf-8", "replace"), t)
        if not created:
            return PROCESSED, reasons.encode("shop.customer_updated", customer=snap.id), 0
        if existing is not None and existing["welcomed_at"]:
            return PROCESSED, reasons.encode("shop.customer_welcomed", customer=snap.id), 0
        skipped = ""
        if not notify:
            skipped = reasons.encode("shop.customer_too_old", customer=snap.id)
        elif not snap.phone_raw.strip():
            # My Account registration asks for an e-mail only. Nothing is sent, and the welcome is
            # not sent later when an order brings a phone: that order's own message is the first
            # word the customer gets, and a "welcome" after it would be noise they pay for in trust.
            skipped = reasons.encode("shop.customer_no_phone", customer=snap.id)
        if skipped:
            customers.mark_welcomed(c, snap.id, t, skipped)
            return PROCESSED, skipped, 0
        ctx = customer_context(self.settings, snap)
        n = 0
        for rule in self.rules.matching("customer.created"):
            n += self._to_audience(c, rule, ctx, row_id, snap.phone_raw, customer_id=snap.id,
                                   key=f"customer:{snap.id}:created")
        customers.mark_welcomed(c, snap.id, t)
        return PROCESSED, reasons.encode("shop.customer_created", customer=snap.id, n=n), n

    # -- outbox ------------------------------------------------------------------------
    def _to_audience(self, c: sqlite3.Connection, rule: Rule, ctx: dict[str, Any], delivery_ref: int,
                     customer_phone: str, key: str, order_id: int | None = None,
                     customer_id: int | None = None) -> int:
        if rule.to == "owner":
            phones = list(self.settings.owner_phones)
            if not phones:
                return 0
        else:
            phones = [customer_phone]
        text = self.rules.render(rule, ctx)
        needed = bank_details.needs(lambda v: self.rules.render(rule, v), ctx)
        if needed:
            log.warning("rule %s: held, not sent: its text prints %s, empty now", rule.name, ", ".join(needed))
        n = 0
        for raw in phones:
            draft = Draft.to_phone(
                normalize_phone(raw), dedupe_key=f"{key}:{rule.name}:{raw}", rule=rule.name, event=rule.event,
                audience=rule.to, channels=rule.channels, sms=prepare(text, rule.unicode), order_id=order_id,
                customer_id=customer_id, delivery_ref=delivery_ref, urgent=rule.urgent,
                payload=self.rules.extras(rule, ctx), fallback_after=rule.fallback_after,
                held=bank_details.held_reason(needed) if needed else "")
            if enqueue(c, draft, self.settings.quiet_hours, self.settings.timezone):
                n += 1
        return n

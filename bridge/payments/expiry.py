"""Payment expiry (PAYMENT_EXPIRE_HOURS): a bank-transfer order still unpaid that long after the
shop created it is cancelled in the shop, and its customer is told, once.

WooCommerce's own "hold stock" timer cancels only *pending* checkout orders; a bank transfer
waits on-hold for ever, holding its stock. Cancelling it in WooCommerce gives the stock back
(WooCommerce restores it on the move to cancelled).

Once, and never against a payment: the order row's `expired_at` is set by an UPDATE that re-checks
our row (still awaiting, not paid, no credit recorded) in the same transaction that queues the
cancel (an outbox job; the shop provider re-reads the shop's status before it writes) and the
customer's `payment.expired` message. Payments are decided in write transactions too, so one of
the two comes first: a payment decided first wins (the order is paid, nothing expires); a payment
decided after finds an expired order and waits for a person as "paid after expiry"
(payments/review.py: restore and confirm).
"""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from .. import providers
from ..context import order_context
from ..outbox import ORDER_UPDATE, Draft, Job, enqueue, enqueue_job
from ..phones import normalize_phone
from ..smstext import prepare
from ..store import orders as stored_orders

log = logging.getLogger(__name__)

EVERY = 300.0               # seconds between passes of the scheduler's job
AWAITING = ("on-hold", "pending")
EVENT = "payment.expired"


def expired(order: Any) -> bool:
    """Cancelled by us for want of payment and still so: not paid since, not moved on by the shop
    (a shop that restored it to on-hold takes it back into the normal flow)."""
    return bool(order["expired_at"]) and not order["paid_at"] and order["status"] == "cancelled" \
        and not order["deleted"]


def created_at(row: Any) -> float | None:
    """When the shop created the order: its `date_created_gmt` (UTC; the `date_created` beside it is
    the shop's local time, 7 hours ahead in Vietnam), else when we first saw it (never earlier)."""
    raw = row["created"]
    if raw:
        try:
            return datetime.fromisoformat(str(raw)[:19]).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            pass
    return row["first_seen_at"]


def run(bridge: Any) -> int:
    """One pass at the bridge's clock: expire what is due, return how many orders were expired.

    Before its transaction each order is asked of the shop: one the shop no longer holds as
    awaiting payment (paid by hand, cancelled, a webhook we missed) or that cannot be asked now is
    left alone; the reconcile brings its news, the next pass asks again."""
    s = bridge.settings
    if s.payment_expire_hours <= 0:
        return 0
    t = bridge.clock()
    cutoff = t - s.payment_expire_hours * 3600
    n = 0
    for row in stored_orders.expiry_candidates(bridge.db):
        created = created_at(row)
        if created is None or created > cutoff:
            continue
        found = providers.shop().order_now(s, row["id"])
        if found is None or found.snapshot.status not in AWAITING:
            why = "the shop cannot be asked" if found is None else f"the shop holds it {found.snapshot.status}"
            log.info("order %s is past PAYMENT_EXPIRE_HOURS but %s: not expired", row["number"], why)
            continue
        with bridge.db.tx() as c:
            if expire(bridge, c, row["id"], t):
                n += 1
    if n:
        log.info("%d unpaid bank-transfer order(s) expired", n)
        bridge.wake_worker()
    return n


def expire(bridge: Any, c: sqlite3.Connection, order_id: int, t: float) -> bool:
    """Expire one order inside the caller's transaction: False (nothing queued) when it no longer
    may be."""
    if not stored_orders.expire(c, order_id, t):
        return False
    hours = f"{bridge.settings.payment_expire_hours:g}"
    note = (f"woo-bridge: đơn bị hủy vì chưa nhận được chuyển khoản sau {hours} giờ (PAYMENT_EXPIRE_HOURS). "
            "Nếu khách chuyển khoản sau khi hủy, giao dịch chờ duyệt với nút \"Khôi phục và xác nhận\".")
    enqueue_job(c, Job(kind=ORDER_UPDATE, dedupe_key=cancel_key(order_id), rule="payment-expiry",
                       event="order.update", audience="shop", target=str(order_id), target_label=f"order {order_id}",
                       payload={"order_id": order_id, "action": "cancel", "note": note}, summary=f"cancel: {note}",
                       order_id=order_id))
    _tell(bridge, c, order_id, hours)
    return True


def cancel_key(order_id: int) -> str:
    """The dedupe key of an order's cancel job: one per order, ever."""
    return f"order:{order_id}:expire"


def _tell(bridge: Any, c: sqlite3.Connection, order_id: int, hours: str) -> None:
    """The `payment.expired` rules' messages, keyed on the order: queued once whatever happens next."""
    order = stored_orders.get(c, order_id)
    try:
        snap = replace(providers.shop().order(stored_orders.body(order)), status="cancelled")
    except (ValueError, TypeError):
        log.warning("order %s expired, but its stored body is unreadable: nobody is told", order_id)
        return
    s = bridge.settings
    ctx = {**order_context(s, snap, order["source_url"] or ""), "expire_hours": hours}
    for rule in bridge.rules.matching(EVENT, payment_method=snap.payment_method):
        phones = list(s.owner_phones) if rule.to == "owner" else [snap.phone_raw]
        text = bridge.rules.render(rule, ctx)
        for raw in phones:
            enqueue(c, Draft.to_phone(normalize_phone(raw), dedupe_key=f"order:{order_id}:expired:{rule.name}:{raw}",
                                      rule=rule.name, event=rule.event, audience=rule.to, channels=rule.channels,
                                      sms=prepare(text, rule.unicode), order_id=order_id, urgent=rule.urgent,
                                      payload=bridge.rules.extras(rule, ctx), fallback_after=rule.fallback_after),
                    s.quiet_hours, s.timezone)

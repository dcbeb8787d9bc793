"""The bank-transfer details customers are told to pay into (TRANSFER_BANK, TRANSFER_ACCOUNT,
TRANSFER_HOLDER): what is missing, and the messages that wait for them.

A fresh install has none, and the transfer SMS used to go out reading "chuyen khoan 513.000d
den  STK": a customer who cannot pay, and an owner who learns it from them. So a message whose
text would print a missing bank or account is held (status `held`, reason `bank_details_missing`)
instead of sent. The details come from the environment, so they change with a restart: at start
(and every few minutes) `release` renders each held message again from its order as it is now and
lets it go, or cancels it when the order no longer waits for a transfer. The owner can cancel a
held message from its page like any message that has not gone out.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Callable

from . import providers, reasons
from .context import customer_context, order_context
from .quiet import quiet_until
from .reasons import N_
from .smstext import prepare
from .store import customers, held as store, orders
from .store.db import now

log = logging.getLogger(__name__)

HELD = store.HELD
# template variable -> (settings field, environment variable)
FIELDS = {"bank": ("transfer_bank", "TRANSFER_BANK"), "account": ("transfer_account", "TRANSFER_ACCOUNT"),
          "holder": ("transfer_holder", "TRANSFER_HOLDER")}
# What a text cannot do without: the holder is printed only when known ({% if holder %} in the default).
REQUIRED = ("bank", "account")
EVERY = 300.0   # seconds between two looks at the held messages (the details change with a restart)

reasons.register({
    "bank_details_missing": N_("waits for the bank-transfer details (%(missing)s): its text would be sent without "
                               "them. It goes out once they are set, or cancel it"),
    "bank_details_released": N_("held until the bank-transfer details were set"),
    "held_order_settled": N_("not sent: order #%(number)s no longer waits for a bank transfer"),
    "held_rule_gone": N_("not sent: rule %(rule)s is gone or switched off"),
    "held_unreadable": N_("not sent: the stored order or customer cannot be read again"),
})


def missing(settings: Any) -> list[str]:
    """The environment variables of the empty details, in the order of FIELDS."""
    return [env for attr, env in FIELDS.values() if not getattr(settings, attr).strip()]


def warning(settings: Any, waiting: int) -> str:
    """For check-config and the banner: '' when every detail is set."""
    empty = missing(settings)
    if not empty:
        return ""
    return (f"{', '.join(empty)} {'is' if len(empty) == 1 else 'are'} empty: transfer instructions and the pay page "
            "cannot tell customers where to pay; a message whose text prints the bank or the account is held, "
            f"not sent ({waiting} held now), until they are set")


def needs(render: Callable[[dict[str, Any]], str], ctx: dict[str, Any]) -> list[str]:
    """The environment variables of the empty details that `render` (the rule's template) would
    print empty: rendered once more with a marker in each empty one. A template that writes
    something else when a detail is empty (`{% if account %}...{% else %}...{% endif %}`) is
    sent as it is."""
    empty = [k for k in REQUIRED if not str(ctx.get(k) or "").strip()]
    if not empty:
        return []
    markers = {k: f"\x00{i}\x00" for i, k in enumerate(empty)}   # digits: |upper or |lower keep them
    text = render({**ctx, **markers})
    printed = [k for k in empty if markers[k] in text]
    bare = text
    for marker in markers.values():
        bare = bare.replace(marker, "")
    if printed and bare != str(render(ctx)):
        return []   # the text is another one when the details are empty: the template has its own way
    return [FIELDS[k][1] for k in printed]


def held_reason(needed: list[str]) -> str:
    return reasons.encode("bank_details_missing", missing=", ".join(needed))


def count(db: Any) -> int:
    return store.count(db)


def release(bridge: Any) -> int:
    """Send what was held once its text no longer needs a missing detail; cancel what no longer
    applies. Returns how many went back to the outbox."""
    released = 0
    for row in store.held(bridge.db):
        with bridge.db.tx() as c:
            released += _one(bridge, c, row)
    if released:
        log.info("%d message(s) held for the bank-transfer details go out now", released)
        bridge.wake_worker()
    return released


def _context(bridge: Any, c: Any, row: Any) -> tuple[dict[str, Any] | None, str, Any]:
    """(the rule's variables now, why not, the order snapshot) for a held message."""
    shop = providers.shop()
    try:
        if row["order_id"] is not None:
            order = orders.get(c, row["order_id"])
            if order is None:
                return None, reasons.encode("held_unreadable"), None
            snap = shop.order(orders.body(order))
            return order_context(bridge.settings, snap, order["source_url"] or ""), "", (snap, order)
        if row["customer_id"] is not None:
            customer = customers.get(c, row["customer_id"])
            if customer is None:
                return None, reasons.encode("held_unreadable"), None
            return customer_context(bridge.settings, shop.customer(customer["body"])), "", None
    except (ValueError, TypeError):
        pass
    return None, reasons.encode("held_unreadable"), None


def _one(bridge: Any, c: Any, row: Any) -> int:
    from .outbox import CANCELLED, FAILED, PENDING, SCHEDULED, unwritten
    t = now()
    rule = bridge.rules.by_name(row["rule"])
    if rule is None or not rule.enabled:
        store.drop(c, row["id"], CANCELLED, reasons.encode("held_rule_gone", rule=row["rule"]), t)
        return 0
    ctx, why, found = _context(bridge, c, row)
    if ctx is None:
        store.drop(c, row["id"], CANCELLED, why, t)
        return 0
    if found is not None:
        snap, order = found
        if order["paid_at"] or not rule.matches(row["event"], status=snap.status, payment_method=snap.payment_method):
            store.drop(c, row["id"], CANCELLED, reasons.encode("held_order_settled", number=snap.number), t)
            return 0
    if needs(lambda v: bridge.rules.render(rule, v), ctx):
        return 0
    sms = prepare(bridge.rules.render(rule, ctx), rule.unicode)
    if not sms.text:   # the template cannot be written for this order now: failed, with the rules' reason
        store.drop(c, row["id"], FAILED, unwritten(sms), t)
        return 0
    extras = bridge.rules.extras(rule, ctx)
    due = t if rule.urgent else (quiet_until(t, bridge.settings.quiet_hours, bridge.settings.timezone) or t)
    return int(store.release(c, row["id"], sms.text, sms.encoding, sms.length, sms.segments,
                             json.dumps(extras, ensure_ascii=False) if extras else None,
                             PENDING if due <= t else SCHEDULED, due, sms.note or reasons.encode("bank_details_released"), t))

"""What a person does with a transaction the matcher would not decide: confirm it against an
order they chose, reject it, or mark it not a payment. Each action records who and when; the
admin web calls these functions."""
from __future__ import annotations

import sqlite3
from typing import Any

from .. import reasons
from ..outbox import CANCELLED, WAITING
from ..reasons import N_
from ..store import messages as stored_messages, orders as stored_orders, payments as stored_payments
from ..store.db import now
from ..money import format_vnd
from .expiry import cancel_key, expired
from .handler import PAID_AFTER_EXPIRY, REVIEW, confirm_orders, not_awaiting

CONFIRMED, REJECTED, NOT_A_PAYMENT = "confirmed", "rejected", "not_a_payment"
RESTORED = "restored"   # an order cancelled by payment expiry, restored and confirmed with the late transfer
# The note a review action keeps when the person wrote none, and the reason of a cancel not sent.
reasons.register({
    "review.confirmed": N_("confirmed against order %(order)s"),
    "review.restored": N_("order %(number)s restored after expiry and confirmed"),
    "review.cancel_not_needed": N_("not sent: the order was restored and confirmed by %(who)s"),
})


class ReviewError(ValueError):
    """A refused review action. `kind` and `params` let the admin page say why in the reader's
    language (the English message is for logs, the CLI and tests)."""

    def __init__(self, message: str, kind: str = "", **params: Any):
        super().__init__(message)
        self.kind = kind
        self.params = params


def review_queue(db: Any) -> list[sqlite3.Row]:
    return stored_payments.review_queue(db, REVIEW)


def _open(c: sqlite3.Connection, tx_id: int) -> sqlite3.Row:
    tx = stored_payments.get(c, tx_id)
    if tx is None:
        raise ReviewError(f"no transaction #{tx_id}", "no_transaction", tx=tx_id)
    if tx["review_action"]:
        raise ReviewError(f"transaction #{tx_id} was already {tx['review_action']} by {tx['reviewed_by']}",
                          "reviewed", tx=tx_id, action=tx["review_action"], who=tx["reviewed_by"])
    if tx["decision"] not in REVIEW:
        raise ReviewError(f"transaction #{tx_id} ({tx['decision']}) is not waiting for review", "not_queued",
                          tx=tx_id, decision=tx["decision"])
    return tx


def _mark(c: sqlite3.Connection, tx_id: int, action: str, who: str, note: str) -> None:
    stored_payments.mark_reviewed(c, tx_id, action, who, now(), note)


def confirm(bridge: Any, tx_id: int, order_id: int, who: str, note: str = "") -> None:
    """Confirm against a chosen order: the same WooCommerce update as an automatic match."""
    if not who:
        raise ReviewError("say who confirms", "no_who")
    with bridge.db.tx() as c:
        tx = _open(c, tx_id)
        if tx["direction"] != "in":
            raise ReviewError("only a credit can pay an order", "not_credit")
        order = stored_orders.get(c, order_id)
        if order is None:
            raise ReviewError(f"no order {order_id} known", "no_order", order=order_id)
        # exactly what the automatic match refuses: paid, deleted, or not on-hold/pending
        why = not_awaiting(order)
        number = order["number"] or str(order_id)
        if why == "paid":
            raise ReviewError(f"order {number} is already paid (transaction #{order['paid_transaction']})",
                              "order_paid", number=number, tx=order["paid_transaction"])
        if why == "deleted":
            raise ReviewError(f"order {number} was deleted in WooCommerce: not awaiting payment", "order_deleted",
                              number=number)
        if why == "status":
            raise ReviewError(f"order {number} is {order['status']}, not awaiting payment (on-hold or pending): "
                              "nothing changed", "order_status", number=number, status=order["status"])
        text = (f"woo-bridge: {who} xác nhận {format_vnd(tx['amount'] or 0)} ({tx['bank']}"
                f"{', TK ' + tx['account'] if tx['account'] else ''}) cho đơn này. {note}".strip()
                + f"\nTin nhắn: {tx['text']}")
        confirm_orders(bridge, c, order, tx_id, tx["reference"], tx["amount"] or 0, text, paid_bank=tx["bank"] or "",
                       by=who)
        _mark(c, tx_id, CONFIRMED, who, note or reasons.encode("review.confirmed", order=order_id))
    bridge.wake_worker()


def restore_and_confirm(bridge: Any, tx_id: int, who: str, note: str = "") -> None:
    """A transfer that came after its order was cancelled for want of payment: restore the order
    and confirm it, in one step. Only what review.confirm would confirm had the order not expired:
    the transfer's order, still cancelled by expiry (not paid, deleted or moved on by the shop
    since), and exactly its total. The shop's status goes back to PAYMENT_PAID_STATUS through the
    same WooCommerce update as any confirmation (WooCommerce takes the stock again on that move)
    and the customer hears payment.confirmed."""
    if not who:
        raise ReviewError("say who confirms", "no_who")
    with bridge.db.tx() as c:
        tx = _open(c, tx_id)
        if tx["decision"] != PAID_AFTER_EXPIRY:
            raise ReviewError(f"transaction #{tx_id} ({tx['decision']}) is not a payment after expiry", "not_expiry",
                              tx=tx_id, decision=tx["decision"])
        order = stored_orders.get(c, tx["order_id"]) if tx["order_id"] else None
        if order is None:
            raise ReviewError(f"no order {tx['order_id']} known", "no_order", order=tx["order_id"])
        number = order["number"] or str(order["id"])
        if order["paid_at"]:
            raise ReviewError(f"order {number} is already paid (transaction #{order['paid_transaction']})",
                              "order_paid", number=number, tx=order["paid_transaction"])
        if not expired(order):
            raise ReviewError(f"order {number} is {order['status']}{' (deleted)' if order['deleted'] else ''}, no longer "
                              "cancelled by payment expiry: nothing changed", "not_expired", number=number,
                              status=order["status"])
        if (tx["amount"] or 0) != order["total_minor"]:
            raise ReviewError(f"{format_vnd(tx['amount'] or 0)} is not the total of order {number} "
                              f"({format_vnd(order['total_minor'])}): nothing changed", "amount_differs",
                              number=number, amount=format_vnd(tx["amount"] or 0), total=format_vnd(order["total_minor"]))
        text = (f"woo-bridge: {who} khôi phục đơn (đã hủy vì quá hạn thanh toán) và xác nhận "
                f"{format_vnd(tx['amount'] or 0)} ({tx['bank']}{', TK ' + tx['account'] if tx['account'] else ''}). "
                f"{note}".strip() + f"\nTin nhắn: {tx['text']}")
        # a cancel that has not gone out (the shop was down) is not needed any more
        stored_messages.stop_unsent(c, cancel_key(order["id"]), CANCELLED, WAITING,
                                    reasons.encode("review.cancel_not_needed", who=who), now())
        confirm_orders(bridge, c, order, tx_id, tx["reference"], tx["amount"] or 0, text, paid_bank=tx["bank"] or "",
                       by=who)
        _mark(c, tx_id, RESTORED, who, note or reasons.encode("review.restored", number=number))
    bridge.wake_worker()


def reject(bridge: Any, tx_id: int, who: str, note: str = "") -> None:
    with bridge.db.tx() as c:
        _open(c, tx_id)
        _mark(c, tx_id, REJECTED, who, note)


def not_a_payment(bridge: Any, tx_id: int, who: str, note: str = "") -> None:
    with bridge.db.tx() as c:
        _open(c, tx_id)
        _mark(c, tx_id, NOT_A_PAYMENT, who, note)

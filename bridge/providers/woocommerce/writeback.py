"""WooCommerce order updates as outbox messages: mark an order paid, add a private note.

Through the outbox so that a WooCommerce outage delays the update but never loses it. A
retry after a lost answer must not double the note: each note carries our message id and is
only posted when the order's notes do not hold it yet. Marking paid is naturally repeatable.
"""
from __future__ import annotations

from typing import Any

from .client import WooAnswer, WooClient
from ..base import Channel, OutgoingMessage, Outcome, SendResult


class WooCommerceChannel(Channel):
    def __init__(self, name: str, settings: Any, db: Any = None):
        super().__init__(name, settings, db)
        self.client = WooClient(settings) if settings.woo_configured else None

    @property
    def configured(self) -> bool:
        return self.client is not None

    @property
    def why_not_configured(self) -> str:
        return "" if self.configured else "WOO_URL, WOO_CONSUMER_KEY and WOO_CONSUMER_SECRET are not set"

    @staticmethod
    def _failed(a: WooAnswer, what: str) -> SendResult:
        return SendResult(Outcome.TRANSIENT if a.transient else Outcome.PERMANENT, code=str(a.status or "connection"),
                          detail=f"{what}: {a.detail}")

    def send(self, msg: OutgoingMessage) -> SendResult:
        assert self.client is not None
        try:
            action = msg.meta["job"]
            order_id = int(action["order_id"])
        except (ValueError, KeyError, TypeError):
            return SendResult(Outcome.PERMANENT, code="bad-action", detail="not a WooCommerce action")
        if action.get("action") == "mark_paid":
            a = self.client.mark_paid(order_id, action.get("status", "processing"), action.get("transaction_id"))
            if not a.ok:
                return self._failed(a, f"marking order {order_id} paid")
        note = action.get("note")
        if note:
            marker = f"[{msg.id[:12]}]"
            existing = self.client.notes(order_id)
            if not existing.ok:
                return self._failed(existing, f"reading notes of order {order_id}")
            if not any(marker in str(n.get("note", "")) for n in existing.data or [] if isinstance(n, dict)):
                a = self.client.add_note(order_id, f"{note} {marker}")
                if not a.ok:
                    return self._failed(a, f"adding a note to order {order_id}")
        done = "marked paid" if action.get("action") == "mark_paid" else "note added"
        return SendResult(Outcome.ACCEPTED, code="200", detail=f"order {order_id} {done}", delivered=True)

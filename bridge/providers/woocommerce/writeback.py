"""WooCommerce order updates as outbox messages: mark an order paid, cancel an unpaid one (payment
expiry), add a private note.

Through the outbox so that a WooCommerce outage delays the update but never loses it. A
retry after a lost answer must not double the note: each note carries our message id and is
only posted when the order's notes do not hold it yet. Marking paid is naturally repeatable; a
cancel reads the order first and cancels only one still awaiting payment (a retry finds it
cancelled and goes on to the note).

A shop connected from the admin whose keys cannot be read now (SECRET_KEY changed, the key file
beside the database lost) is not "no shop": its updates wait, deferred with the reason, until it
is connected again, never recorded as dry-run (final, never retried). A process whose cached view
of the connection is a few seconds old reads it afresh before calling the shop unconnected.
"""
from __future__ import annotations

from typing import Any

from ... import reasons
from ...reasons import N_
from .client import WooAnswer, WooClient
from .connection import effective, env_set, stored
from ..base import Channel, OutgoingMessage, Outcome, SendResult

reasons.register({
    "woo.job.not_connected": N_("waits for the shop: its stored keys cannot be read (SECRET_KEY changed or the key "
                                "file beside the database is missing); connect the shop again and it goes out"),
})

AWAITING = ("on-hold", "pending")   # the statuses of an order still waiting for its money


class WooCommerceChannel(Channel):
    def _effective(self) -> Any:
        """The settings in force now: a shop connected from the admin since the start counts, even
        when this process's cached view predates it."""
        s = effective(self.settings)
        if not s.woo_configured and not env_set(self.settings):
            s = effective(self.settings, fresh=True)
        return s

    @property
    def client(self) -> WooClient | None:
        s = self._effective()
        return WooClient(s) if s.woo_configured else None

    @property
    def configured(self) -> bool:
        return self._effective().woo_configured

    @property
    def waiting(self) -> bool:
        return not env_set(self.settings) and stored(self.settings) is not None

    @property
    def why_not_configured(self) -> str:
        if self.configured:
            return ""
        if self.waiting:
            return reasons.english(reasons.encode("woo.job.not_connected"))
        return ("the shop is not connected (admin > Connect WooCommerce) and WOO_URL, WOO_CONSUMER_KEY and "
                "WOO_CONSUMER_SECRET are not set")

    @staticmethod
    def _failed(a: WooAnswer, what: str) -> SendResult:
        return SendResult(Outcome.TRANSIENT if a.transient else Outcome.PERMANENT, code=str(a.status or "connection"),
                          detail=f"{what}: {a.detail}")

    def send(self, msg: OutgoingMessage) -> SendResult:
        client = self.client
        if client is None:   # routed here because it waits (`waiting`): not an attempt, tried again later
            return SendResult(Outcome.DEFERRED, code="not-connected", detail=reasons.encode("woo.job.not_connected"))
        try:
            action = msg.meta["job"]
            order_id = int(action["order_id"])
        except (ValueError, KeyError, TypeError):
            return SendResult(Outcome.PERMANENT, code="bad-action", detail="not a WooCommerce action")
        if action.get("action") == "mark_paid":
            a = client.mark_paid(order_id, action.get("status", "processing"), action.get("transaction_id"))
            if not a.ok:
                return self._failed(a, f"marking order {order_id} paid")
        if action.get("action") == "cancel":
            refused = self._cancel(client, order_id)
            if refused is not None:
                return refused
        if action.get("action") == "set_status":
            refused = self._set_status(client, order_id, str(action.get("status") or ""),
                                       tuple(action.get("from") or ()))
            if refused is not None:
                return refused
        note = action.get("note")
        if note:
            marker = f"[{msg.id[:12]}]"
            existing = client.notes(order_id)
            if not existing.ok:
                return self._failed(existing, f"reading notes of order {order_id}")
            if not any(marker in str(n.get("note", "")) for n in existing.data or [] if isinstance(n, dict)):
                a = client.add_note(order_id, f"{note} {marker}")
                if not a.ok:
                    return self._failed(a, f"adding a note to order {order_id}")
        done = {"mark_paid": "marked paid", "cancel": "cancelled",
                "set_status": f"set to {action.get('status')}"}.get(action.get("action"), "note added")
        return SendResult(Outcome.ACCEPTED, code="200", detail=f"order {order_id} {done}", delivered=True)

    def _cancel(self, client: WooClient, order_id: int) -> SendResult | None:
        """Cancel an order the shop still holds as awaiting payment; None when it is cancelled now.

        The shop may have moved it on since the bridge decided (paid by hand, another gateway): then
        nothing is written and the job fails for good with the reason, for the owner to see. Between
        this read and the write WooCommerce offers no condition, so a change in that instant is not
        seen."""
        now = client.get_order(order_id)
        if not now.ok:
            return self._failed(now, f"reading order {order_id}")
        data = now.data if isinstance(now.data, dict) else {}
        status, paid = data.get("status", "unreadable"), data.get("date_paid_gmt")
        if status == "cancelled":
            return None
        if status not in AWAITING or paid:
            return SendResult(Outcome.PERMANENT, code="moved-on",
                              detail=f"order {order_id} is {status}{' and paid' if paid else ''} in WooCommerce: "
                                     "changed by the shop meanwhile, not cancelled")
        a = client.cancel(order_id)
        if not a.ok:
            return self._failed(a, f"cancelling order {order_id}")
        return None

    def _set_status(self, client: WooClient, order_id: int, status: str, from_: tuple[str, ...]) -> SendResult | None:
        """Move an order to `status` only from one of `from_` (what the bridge saw when it decided:
        a COD order being confirmed, a delivered parcel's order); None when it is at `status` now.

        An order the shop moved on meanwhile (cancelled by hand, refunded) is left alone and the
        job fails for good with the reason, for the owner to see; a retry after a lost answer finds
        the status already set and goes on to the note."""
        if not status:
            return SendResult(Outcome.PERMANENT, code="bad-action", detail="set_status without a status")
        now = client.get_order(order_id)
        if not now.ok:
            return self._failed(now, f"reading order {order_id}")
        data = now.data if isinstance(now.data, dict) else {}
        current = data.get("status", "unreadable")
        if current == status:
            return None
        if from_ and current not in from_:
            return SendResult(Outcome.PERMANENT, code="moved-on",
                              detail=f"order {order_id} is {current} in WooCommerce, not {' or '.join(from_)}: "
                                     f"changed by the shop meanwhile, not set to {status}")
        a = client.set_status(order_id, status)
        if not a.ok:
            return self._failed(a, f"setting order {order_id} to {status}")
        return None

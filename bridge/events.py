"""What the outside world tells us, in our words: the normalized events every webhook's `parse`
produces and the core (Bridge.accept) acts on. Each carries the raw payload it came from, so the
admin can always see what the provider actually sent."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .orders import CustomerSnapshot, OrderSnapshot
from .sending import StatusReport


@dataclass(frozen=True)
class DeliveryReport:
    """A provider's word on one of our messages, found by its id there or by our id."""
    source: str                      # e.g. "<provider>-callback": kept with the event row
    report: StatusReport
    provider_id: str | None = None
    send_key: str | None = None      # our id as the provider echoes it (RequestId, message id)


@dataclass(frozen=True)
class ReceivedText:
    """A text that reached the shop: an SMS on its phone, an app notification. Payments and
    keyword forwards read these."""
    source: str
    external_id: str
    sender: str
    text: str
    raw: Any
    device: str = ""
    sim: int | None = None
    recipient: str = ""
    received_at: float | None = None
    package: str | None = None
    title: str | None = None


# What a shop delivery asks the core to do (ShopDelivery.kind).
ORDER_CHANGED, ORDER_DELETED, CUSTOMER_CREATED, CUSTOMER_UPDATED, PASSWORD_RESET = (
    "order.changed", "order.deleted", "customer.created", "customer.updated", "account.password_reset")


@dataclass(frozen=True)
class ShopDelivery:
    """A shop webhook delivery (an order or customer changed, a password reset was asked), stored
    raw before it is decided. The provider reads its own headers and JSON; the core sees only
    these fields, and keeps `headers` and `raw` as they came for the admin to read."""
    kind: str                        # one of the constants above, or "" when there is nothing to do
    topic: str                       # the shop's name of the event, as stored and shown
    resource: str                    # "order", "customer", ...
    resource_id: int | None          # the order or customer it is about, when the body says
    webhook: str                     # which of the shop's webhooks sent it
    source_url: str                  # the shop that sent it
    headers: Mapping[str, str]
    raw: bytes
    delivery_id: str | None = None   # the shop's id of the delivery; None: not replay-checked
    replay_key: str | None = None    # the same key again is the same delivery (stored once)
    order: OrderSnapshot | None = None
    customer: CustomerSnapshot | None = None
    login: str = ""                  # PASSWORD_RESET: the account's login or e-mail
    ignored: str = ""                # kind "": why nothing is done
    problem: str = ""                # the body is not what the event says: kept, marked error with this


@dataclass(frozen=True)
class ShopPing:
    """The shop checking that our URL answers (a webhook being saved): stored, never decided."""
    delivery: ShopDelivery
    webhook_id: str

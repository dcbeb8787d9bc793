"""What the outside world tells us, in our words: the normalized events every webhook's `parse`
produces and the core (Bridge.accept) acts on. Each carries the raw payload it came from, so the
admin can always see what the provider actually sent."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

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


@dataclass(frozen=True)
class ShopDelivery:
    """A shop webhook delivery (order or customer changed), stored before it is decided."""
    headers: Mapping[str, str]
    raw: bytes
    body: dict[str, Any]


@dataclass(frozen=True)
class ShopPing:
    """The shop checking that our URL answers (a webhook being saved)."""
    headers: Mapping[str, str]
    raw: bytes
    webhook_id: str


@dataclass(frozen=True)
class Acknowledged:
    """A notification that asks nothing of us (a provider's ping, an event we did not subscribe
    to): answered as received, so the provider does not retry it for days."""
    source: str
    what: str
    ignored: bool = False

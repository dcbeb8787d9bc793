"""Our order vocabulary: an order and a customer as the rules, the templates and the payment
matcher see them, whatever shop delivered them.

The shop provider (providers/<name>/, declared with `shop=` in the registry) turns its own JSON into
these records and answers the one question only it can: which order a payment code names.

Order identity: a payment code (`DH1234`) names the order NUMBER the customer was shown, never the
shop's internal id. A shop's number may differ from its id (sequential-number plugins, an offset),
so a code is matched against `number` only, here and in the shop's lookup; an order reached
through its id would let a transfer pay the wrong order.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from .phones import PhoneResult


@dataclass(frozen=True)
class LineItem:
    name: str
    quantity: int
    total_minor: int


@dataclass(frozen=True)
class OrderSnapshot:
    id: int
    number: str
    order_key: str
    status: str
    currency: str
    total_minor: int
    refunded_minor: int
    date_modified_gmt: str
    payment_method: str
    payment_method_title: str
    first_name: str
    last_name: str
    email: str
    phone_raw: str
    phone: PhoneResult
    items: tuple[LineItem, ...] = field(default_factory=tuple)
    customer_note: str = ""
    total_rounded: bool = False    # the shop sent fractions of the smallest unit (VND on 2 decimals)
    total_raw: str = ""
    area: str = ""                 # where it goes: district and province as the shop has them (the COD confirm page)
    payment_url: str = ""          # the shop's own order-pay link: carries the checkout page's real slug
    tracking_codes: tuple[str, ...] = ()   # carriers' tracking codes the shop stored on the order (upper case)

    @property
    def customer_name(self) -> str:
        # Vietnamese order: family name first ("Nguyễn Văn An"); shops split it as
        # first_name "Văn An", last_name "Nguyễn".
        return " ".join(p for p in (self.last_name, self.first_name) if p).strip()


@dataclass(frozen=True)
class CustomerSnapshot:
    id: int
    first_name: str
    last_name: str
    email: str
    phone_raw: str
    phone: PhoneResult
    date_modified_gmt: str
    username: str = ""

    @property
    def customer_name(self) -> str:
        return " ".join(p for p in (self.last_name, self.first_name) if p).strip()


@dataclass(frozen=True)
class FoundOrder:
    """An order the shop answered for a payment code: ours to keep, with its body as the shop sent it."""
    snapshot: OrderSnapshot
    body: dict[str, Any]


class Shop(Protocol):
    """What the core asks the shop provider (a module declared with `shop=` in the registry)."""

    def order(self, body: Any) -> OrderSnapshot:
        """A stored order body (the shop's JSON) as our record; ValueError when it is not one."""

    def customer(self, body: Any) -> CustomerSnapshot:
        """A stored customer body as our record; ValueError when it is not one."""

    def order_named(self, settings: Any, number: str) -> FoundOrder | None:
        """The order whose NUMBER is `number`, asked of the shop (never the order with that id)."""

    def order_now(self, settings: Any, order_id: int) -> FoundOrder | None:
        """The order with this shop id as the shop holds it now, asked of the shop; None when it
        cannot be asked or does not know it. Only for an order we already hold by its id, never
        for a payment code (a code names a NUMBER)."""

    def order_link(self, settings: Any, order: OrderSnapshot, source_url: str = "") -> str:
        """The customer's own page for the order on the shop."""

    def decimals_advice(self, order: OrderSnapshot) -> str:
        """The owner's alert (SMS text) when the shop sends totals with fractions of a dong."""

"""What the outside world tells us, in our words: the normalized events every webhook's `parse`
produces and the core (Bridge.accept) acts on. Each carries the raw payload it came from, so the
admin can always see what the provider actually sent."""
from __future__ import annotations

from dataclasses import dataclass, field
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
    # For a report naming an id we never got back (the send's answer was lost): who it reached in a
    # chat app (provider, identity) and when, so an in-doubt message to that person is settled.
    chat: tuple[str, str] | None = None
    seen_at: float | None = None


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
    payload: str | None = None       # a chat app's button answer (Messenger quick reply), beside its title in `text`


@dataclass(frozen=True)
class BankTransaction:
    """A bank transaction that a bank-data service (SePay, Casso) or a payment gateway (payOS)
    reports as fields, not as a text to read. It is stored (deduplicated on `source` +
    `external_id`) before anything is decided, and decided by the same payment rules as a bank
    SMS: the provider's own reading of a payment code is only a hint (`code_hint`), shown to a
    person; our code reading of `memo` decides."""
    source: str                      # the provider's name ("sepay", "casso", "payos")
    external_id: str                 # the provider's transaction id: the same id again is the same event
    bank: str                        # the bank as the provider names it ("Vietcombank", "MBB"); the core canonicalises
    account: str                     # the receiving account as given (full, masked, or a virtual account)
    direction: str                   # "in" (credit) or "out" (debit, never acts on an order)
    amount: int                      # VND, positive
    memo: str                        # the transfer content as the bank gave it
    raw: Any                         # the provider's JSON for this transaction, as it came
    reference: str = ""              # the bank's reference of the transfer
    balance: int | None = None       # the account's balance after it, when the provider gives it
    bank_time: float | None = None   # when the bank booked it (Unix seconds), when the provider says
    code_hint: str = ""              # the provider's own reading of a payment code (never decides)
    # An order number the provider binds this payment to by a link we created for that order
    # (payOS orderCode), under the provider's signature: it counts like a payment code read from
    # the memo; a memo naming another order makes the credit ambiguous.
    order_hint: str = ""
    payer: str = ""                  # the payer's name and/or account as given, for a person reviewing
    virtual_account: str = ""        # the virtual (sub) account it was paid to, when any


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


@dataclass(frozen=True)
class Acknowledged:
    """A notification that asks nothing of us (a provider's ping, an event we did not subscribe
    to): answered as received, so the provider does not retry it for days."""
    source: str
    what: str
    ignored: bool = False


@dataclass(frozen=True)
class ChatLinked:
    """Someone opened, in a chat app, a link we gave a customer (an m.me link with a signed ref):
    their id there asks to receive that order's or customer's notices. Whether it may is the
    provider's rule (its `chat` hook); what the rule refuses is recorded where the admin sees
    refusals, with where the request came from."""
    provider: str
    identity: str                    # the person's id in the chat app (Messenger: the PSID)
    token: str                       # the ref, as the chat app passed it on
    at: float
    raw: Any
    endpoint: str = ""
    remote_addr: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LinkResult:
    """What became of a ChatLinked: "bound", "pending" (the admin decides) or "refused"."""
    kind: str
    detail: str                      # who was bound, or why it was refused
    status: int = 200                # the HTTP status a refusal is recorded with


@dataclass(frozen=True)
class ChatSeen:
    """A person wrote to the shop in a chat app: the provider may write to them freely again for
    a while (Messenger: 24 h)."""
    provider: str
    identity: str
    at: float


@dataclass(frozen=True)
class ChatRead:
    """A person read the chat up to `up_to`: whatever we sent them there before has reached them,
    though the chat app names no message."""
    provider: str
    source: str
    identity: str
    up_to: float
    detail: str
    raw: str


@dataclass(frozen=True)
class ShipmentUpdate:
    """A carrier's word on a parcel (GHN, GHTK): its status in our words (bridge.shipments
    SHIPMENT_STATUSES) and in the carrier's, when it happened, the COD it will collect. Stored
    raw (deduplicated on `dedupe_key`) before anything is decided; matched to an order by the
    shop's own order code the carrier echoes (`order_ref`) or by the tracking code stored on an
    order."""
    carrier: str                     # the provider's name ("ghn", "ghtk")
    tracking: str                    # the carrier's code of the parcel
    order_ref: str                   # the shop's order code as the carrier echoes it ("" when none)
    status: str                      # ours: one of bridge.shipments.SHIPMENT_STATUSES, or "" (no status change)
    carrier_status: str              # the carrier's own word or number, as it came
    event_at: float | None           # when it happened at the carrier (Unix seconds), when it says
    raw: Any                         # the call as it came (JSON text or the form as a dict)
    dedupe_key: str                  # the same call again has the same key
    cod_amount: int | None = None    # the COD the carrier will collect (VND), when it says
    reason: str = ""                 # the carrier's reason text (a failed delivery), as given
    kind: str = ""                   # the carrier's event type (GHN Type), when it has one

"""Words the service stores as codes (a message's status, a payment's decision, an order's
WooCommerce status, a payment method) shown as words in the reader's language.

The code stays in the page's markup (CSS classes, filters in URLs); only what a person reads is
translated. One table per kind of code, each extended by the feature that adds codes to it; a
code no table knows is shown as it is.
"""
from __future__ import annotations

from flask_babel import gettext as _

from ...reasons import N_
from . import bp

MESSAGE_STATUSES = {
    "pending": N_("waiting"), "scheduled": N_("scheduled"), "queued": N_("accepted by the provider"),
    "sent": N_("sent"), "delivered": N_("delivered"), "failed": N_("failed"), "dry-run": N_("dry-run (not sent)"),
    "cancelled": N_("cancelled"), "in-doubt": N_("in doubt"),
    "held": N_("held: bank details missing"),
}

PAYMENT_DECISIONS = {
    "confirm": N_("confirmed automatically"), "ignore_debit": N_("money out"),
    "ignore_non_transaction": N_("not a transfer"), "reject_spoof": N_("not from the bank"),
    "no_code": N_("no payment code"), "ambiguous": N_("needs a person"), "duplicate": N_("repeat"),
    "underpaid": N_("underpaid"), "overpaid": N_("overpaid"), "wrong_account": N_("another account"),
    "unverified_source": N_("unverified source"), "already_paid": N_("order already paid"),
    "paid_after_expiry": N_("paid after expiry"), "unknown_layout": N_("unknown bank layout"),
    "confirmed": N_("confirmed by hand"), "rejected": N_("rejected"), "not_a_payment": N_("not a payment"),
    "restored": N_("restored and confirmed"), "added_up": N_("added up with a later transfer"),
}

ORDER_STATUSES = {   # WooCommerce's own
    "pending": N_("pending payment"), "processing": N_("processing"), "on-hold": N_("on hold"),
    "completed": N_("completed"), "cancelled": N_("cancelled"), "refunded": N_("refunded"),
    "failed": N_("failed"), "checkout-draft": N_("draft"), "trash": N_("in the trash"),
}

PAYMENT_METHODS = {   # WooCommerce's gateway ids
    "bacs": N_("bank transfer"), "cod": N_("cash on delivery"), "cheque": N_("cheque"),
}

SHIPMENT_STATUSES = {   # a parcel's status in our words (bridge.rules.SHIPMENT_STATUSES), whichever carrier
    "created": N_("label created"), "picking": N_("being picked up"), "picked": N_("picked up"),
    "in_transit": N_("in transit"), "delivering": N_("out for delivery"), "delivery_failed": N_("delivery failed"),
    "delivered": N_("delivered to the customer"), "returning": N_("returning to the shop"),
    "returned": N_("returned to the shop"), "cancelled": N_("shipment cancelled"), "lost": N_("lost or damaged"),
}

SHIPMENT_FLAGS = {   # why a parcel waits for the owner's look (shipments.flag)
    "returned": N_("Back at the shop: check the parcel and the order"),
    "order_cancelled": N_("The order is cancelled but its shipment is still live: cancel it with the carrier"),
}

DELIVERY_STATES = {
    "received": N_("received"), "processed": N_("processed"), "ignored": N_("ignored"),
    "stale": N_("older than what we have"), "error": N_("error"),
}

SECRET_ORIGINS = {   # where a secret the service needs came from (bridge/service.py resolve_secrets)
    "configured": N_("from the environment"), "stored": N_("generated earlier, kept in the database"),
    "generated": N_("generated now"),
}

INBOUND_HANDLERS = {   # the default INBOUND_HANDLERS names; a shop's own handler shows its name
    "payments": N_("payment matching"), "forward": N_("keyword forward"), "cod": N_("COD confirmation"),
}

COD_STATES = {   # cod_confirmations.state (issue 16)
    "asked": N_("waiting for the answer"), "call": N_("to call"), "confirmed": N_("confirmed by the customer"),
    "cancelled": N_("cancelled by the customer"), "closed": N_("closed without an answer"),
}

COD_VIA = {"page": N_("confirmation page"), "sms": N_("SMS"), "messenger": N_("Messenger")}

COD_ANSWERS = {"confirm": N_("confirm"), "cancel": N_("cancel the order"), "unclear": N_("unclear reply")}

SHIPMENT_EVENT_STATES = {   # shipment_events.state: what became of a carrier's call
    "applied": N_("applied"), "duplicate": N_("repeat"), "stale": N_("older than what we have"),
    "unmatched": N_("no order found"), "ignored": N_("no status change"), "error": N_("error"),
    "received": N_("received, not decided yet"), "unverified": N_("waiting for the carrier's check"),
    "contradicted": N_("contradicted by the carrier's own record: not applied"),
}

TABLES = {"message": MESSAGE_STATUSES, "decision": PAYMENT_DECISIONS, "order": ORDER_STATUSES,
          "method": PAYMENT_METHODS, "delivery": DELIVERY_STATES, "secret": SECRET_ORIGINS,
          "handler": INBOUND_HANDLERS, "cod": COD_STATES, "via": COD_VIA, "answer": COD_ANSWERS,
          "shipment": SHIPMENT_STATUSES, "carrier_event": SHIPMENT_EVENT_STATES, "shipment_flag": SHIPMENT_FLAGS}


def word(table: dict[str, str], code: str | None) -> str:
    """The translated word `table` has for `code`; the code itself when it has none."""
    text = table.get(code or "")
    return _(text) if text else (code or "")


@bp.app_template_filter("label")
def label(code: str | None, kind: str) -> str:
    """`{{ m.status|label("message") }}`: the word for a code, translated."""
    return word(TABLES[kind], code)

"""POST /webhooks/woocommerce: WooCommerce's signed deliveries and its unsigned creation ping.

Validate: the body's HMAC-SHA256 under our secret in X-WC-Webhook-Signature (base64); the one
unsigned request answered is the ping WooCommerce sends when a webhook is saved (a form body
`webhook_id=N` and no X-WC-* header), which is stored and decides nothing. Parse: the X-WC-*
headers and the JSON body become a ShopDelivery in our words; the core stores it before we answer
(WooCommerce never retries, PROTOCOLS §1) and decides from it right after (bridge/intake.py).

The reconcile job feeds orders read over REST through `delivery()` too, as if delivered.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import replace
from typing import Any, Mapping

from ... import reasons
from ...config import Settings
from ...reasons import N_
from ...events import (CUSTOMER_CREATED, CUSTOMER_UPDATED, ORDER_CHANGED, ORDER_DELETED, PASSWORD_RESET,
                       ShopDelivery, ShopPing)
from ..base import Refused, Request, Webhook
from .payload import PayloadError, parse_customer, parse_order, resource_id

PING_RE = re.compile(rb"^webhook_id=(\d{1,18})$")   # more digits than any id: not a ping
# How WooCommerce begins every resource it delivers (wp_json_encode of the REST answer: the id
# first, no spaces): the id read from there, the body is parsed once, when it is decided.
LEADING_ID = re.compile(rb'\{"id":([1-9]\d{0,17}),"')
ORDER_TOPICS = ("order.created", "order.updated", "order.restored")
# WordPress hooks a shop can deliver as WooCommerce "Action" webhooks when a password reset is asked.
# a delivery ignored (deliveries.reason), in the owner's language where it is shown
reasons.register({
    "woocommerce.no_status": N_("topic %(topic)s carries no order status; ignored"),
    "woocommerce.topic_ignored": N_("topic %(topic)s is not handled; ignored"),
})
PASSWORD_RESET_TOPICS = ("action.woocommerce_reset_password_notification", "action.retrieve_password")


def sign(body: bytes, secret: str) -> str:
    """X-WC-Webhook-Signature of `body`: base64 of its HMAC-SHA256 under the webhook's secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def signature_ok(body: bytes, signature: str | None, secret: str) -> bool:
    if not signature or not secret:
        return False
    return hmac.compare_digest(sign(body, secret), signature.strip())


def ping_of(body: bytes, headers: Mapping[str, str]) -> int | None:
    """The webhook id of WooCommerce's creation ping (form-encoded `webhook_id=N`, no X-WC-* headers)."""
    if headers.get("X-WC-Webhook-Topic") or headers.get("X-WC-Webhook-Signature"):
        return None
    m = PING_RE.match(body.strip())
    if m and "application/x-www-form-urlencoded" in headers.get("Content-Type", ""):
        return int(m.group(1))
    return None


def replay_key(headers: Mapping[str, str], body: bytes) -> str:
    """What makes a delivery the same delivery: the webhook, its delivery id and the exact body.

    WooCommerce's X-WC-Webhook-Delivery-ID is `wp_hash(webhook id . current second)`, so every
    delivery one webhook sends within a second shares it, even for different orders: alone it
    identifies nothing. An exact replay (same webhook, same id, same bytes) is caught here
    cheaply; anything else is decided from the body, where the per-order state (last status seen
    and notified, date_modified_gmt) makes a replayed order version harmless.
    """
    h = hashlib.sha256()
    for part in (headers.get("X-WC-Webhook-ID") or "", headers.get("X-WC-Webhook-Delivery-ID") or ""):
        h.update(part.encode("utf-8", "replace") + b"\0")
    h.update(body)
    return h.hexdigest()


def _stored_id(body: Any) -> int | None:
    try:
        rid = resource_id(body)
    except ValueError:   # an "arg" of more digits than int() reads
        return None
    if rid is not None and not 0 < rid < 2**63:   # SQLite stores 64 bits: kept, the decision says why
        return None
    return rid


def _meaning(topic: str, body: Any) -> dict[str, Any]:
    """What the delivery asks of the core, read from the topic and the body."""
    try:
        if topic in ORDER_TOPICS:
            return {"kind": ORDER_CHANGED, "order": parse_order(body)}
        if topic == "order.deleted":
            oid = resource_id(body)
            if oid is None:
                raise PayloadError("field 'id' must be a positive integer")
            if _stored_id(body) is None:
                raise PayloadError(f"field 'id' {oid} is beyond any order id")
            return {"kind": ORDER_DELETED}
        if topic in ("customer.created", "customer.updated"):
            return {"kind": CUSTOMER_CREATED if topic == "customer.created" else CUSTOMER_UPDATED,
                    "customer": parse_customer(body)}
        if topic in PASSWORD_RESET_TOPICS:
            login = body.get("arg") if isinstance(body, dict) else None
            if not isinstance(login, str) or not login.strip():
                raise PayloadError("field 'arg' must be the account's login or email")
            return {"kind": PASSWORD_RESET, "login": login.strip()}
    except PayloadError as exc:
        return {"kind": "", "problem": f"{topic}: {exc}"}
    except Exception as exc:   # noqa: BLE001 - a signed delivery is stored whatever its body holds
        # (an id of 5,000 digits, a shape no parser expected): kept as `error` with the reason,
        # never a 500 that loses it, since WooCommerce does not retry
        return {"kind": "", "problem": f"{topic}: processing failed: {type(exc).__name__}: {str(exc)[:200]}"}
    if topic.startswith("action."):
        return {"kind": "", "ignored": reasons.encode("woocommerce.no_status", topic=topic)}
    return {"kind": "", "ignored": reasons.encode("woocommerce.topic_ignored", topic=topic or "-")}


def received(headers: Mapping[str, str], raw: bytes, body: Any) -> ShopDelivery:
    """What acknowledging a delivery stores: where it came from, what it is about, its bytes.
    Its meaning (the order it describes, with phones and amounts read) is read when it is
    decided (`delivery`, through shop.stored_delivery), not before the answer."""
    topic = headers.get("X-WC-Webhook-Topic", "")
    delivery_id = headers.get("X-WC-Webhook-Delivery-ID") or None
    return ShopDelivery(
        kind="", resource_id=_stored_id(body), topic=topic,
        resource=headers.get("X-WC-Webhook-Resource") or topic.partition(".")[0],
        webhook=headers.get("X-WC-Webhook-ID", ""), source_url=headers.get("X-WC-Webhook-Source", ""),
        headers=headers, raw=raw, delivery_id=delivery_id,
        replay_key=replay_key(headers, raw) if delivery_id else None)


def delivery(headers: Mapping[str, str], raw: bytes, body: Any) -> ShopDelivery:
    """A WooCommerce delivery (its X-WC-* headers, its bytes, its JSON) in our words."""
    return replace(received(headers, raw, body), **_meaning(headers.get("X-WC-Webhook-Topic", ""), body))


class WooCommerceWebhook(Webhook):
    rule = "/webhooks/woocommerce"

    def validate(self, req: Request, settings: Settings) -> None:
        if ping_of(req.body, req.headers) is not None:
            return   # WooCommerce's creation ping is never signed; it decides nothing
        sig = req.headers.get("X-WC-Webhook-Signature")
        if not sig:
            raise Refused(401, "missing X-WC-Webhook-Signature: unsigned webhooks are not accepted")
        if not signature_ok(req.body, sig, settings.woo_webhook_secret):
            raise Refused(401, "X-WC-Webhook-Signature does not match: the webhook secret in WooCommerce differs "
                               "from ours")

    def parse(self, req: Request, settings: Settings) -> list[Any]:
        ping = ping_of(req.body, req.headers)
        if ping is not None:
            headers = {**req.headers, "X-WC-Webhook-Topic": "ping", "X-WC-Webhook-ID": str(ping)}
            return [ShopPing(delivery(headers, req.body, None), str(ping))]
        if not req.headers.get("X-WC-Webhook-Topic", ""):
            raise Refused(400, "missing X-WC-Webhook-Topic header")
        lead = LEADING_ID.match(req.body)
        if lead is not None:
            return [received(req.headers, req.body, {"id": int(lead.group(1))})]
        return [received(req.headers, req.body, req.json_object())]

    def answer(self, events: list[Any], results: list[Any]) -> tuple[Any, int]:
        return {"ok": True, **results[0]}, 200


webhook = WooCommerceWebhook()

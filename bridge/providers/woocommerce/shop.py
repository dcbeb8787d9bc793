"""WooCommerce as the shop the core asks (bridge.orders.Shop): stored bodies as our records, the
order a payment code names, and the customer's order page.

Order identity is decided here for the shop side: a code names an order NUMBER. WooCommerce's
`number` equals its `id` in a plain shop, but sequential-number plugins and offsets make them
differ, so every answer is checked against `number` and an order is never taken by its id alone.
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ...events import ShopDelivery
from ...orders import CustomerSnapshot, FoundOrder, OrderSnapshot
from ..base import HeaderMap, Refused, json_of
from .client import WooClient
from .connection import effective
from .payload import PayloadError, parse_customer, parse_order


def _json(body: Any) -> Any:
    return json.loads(body) if isinstance(body, (str, bytes)) else body


def order(body: Any) -> OrderSnapshot:
    """A stored order body (text or parsed) as our record; ValueError when it is not one."""
    return parse_order(_json(body))


def customer(body: Any) -> CustomerSnapshot:
    return parse_customer(_json(body))


def stored_delivery(headers: Mapping[str, str], raw: bytes) -> ShopDelivery:
    """A delivery as it was stored when acknowledged (its headers and bytes), in our words again:
    what the core decides from after the answer."""
    from .webhook import delivery
    try:
        body = json_of(raw)
    except Refused as refused:
        # the acknowledgement read only the leading id (webhook.LEADING_ID): kept, with the reason
        found = delivery(HeaderMap(headers), raw, None)
        return replace(found, problem=f"{found.topic}: {refused.reason}") if found.problem else found
    return delivery(HeaderMap(headers), raw, body)


def order_named(settings: Any, number: str) -> FoundOrder | None:
    """The order whose number is `number`, asked of the shop; None when REST is not configured,
    the shop does not know it, or more than one order claims it (a person decides then)."""
    settings = effective(settings)
    if not settings.woo_configured:
        return None
    found = WooClient(settings).find_order_by_number(number)
    if found is None:
        return None
    try:
        return FoundOrder(parse_order(found), found)
    except PayloadError:
        return None


def order_now(settings: Any, order_id: int) -> FoundOrder | None:
    """The order with this id as WooCommerce holds it now; None when REST is not configured, the
    shop cannot be reached or does not know it."""
    settings = effective(settings)
    if not settings.woo_configured:
        return None
    answer = WooClient(settings).get_order(order_id)
    if not answer.ok or not isinstance(answer.data, dict):
        return None
    try:
        return FoundOrder(parse_order(answer.data), answer.data)
    except PayloadError:
        return None


def order_link(settings: Any, order: OrderSnapshot, source_url: str = "") -> str:
    """The customer's "order received" page, built from WooCommerce's own `payment_url`.

    That link is the checkout page's real address plus the order-pay endpoint, so it carries the
    shop's slug (`thanh-toan`, not always `checkout`) and permalink style; swapping the endpoint
    gives the order-received page. Without it (an old capture) the English default is assumed.
    """
    key = order.order_key
    received = settings.woo_order_received_endpoint or "order-received"
    parts = urlsplit(order.payment_url or "")
    if parts.scheme in ("http", "https") and parts.netloc:
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("pay_for_order", "key")]
        pay_arg = next((k for k, v in query if v == str(order.id)), None)
        if pay_arg is not None:   # plain permalinks: ?page_id=7&order-pay=31
            query = [(received if k == pay_arg else k, v) for k, v in query]
            return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query + [("key", key)]), ""))
        segs = parts.path.rstrip("/").split("/")
        if len(segs) >= 2 and segs[-1] == str(order.id):   # pretty: /thanh-toan/order-pay/31/
            path = "/".join(segs[:-2] + [received, str(order.id)]) + "/"
            return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query + [("key", key)]), ""))
    base = (effective(settings).woo_url or source_url or "").rstrip("/")
    if not base:
        return ""
    return f"{base}/checkout/{received}/{order.id}/?key={key}"


def decimals_advice(order: OrderSnapshot) -> str:
    """The owner's alert when the shop sends fractions of a dong: where WooCommerce sets the decimals."""
    return (f"WooCommerce dang de {order.currency} voi so le (don #{order.number}: {order.total_raw}). "
            "Vao WooCommerce > Cai dat > Chung, dat So chu so thap phan = 0. "
            f"Khach can chuyen {order.total_minor} (lam tron len).")

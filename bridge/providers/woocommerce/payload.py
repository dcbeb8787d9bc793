"""Translation of WooCommerce webhook bodies (REST v3 resources) into our records.

WooCommerce's vocabulary stays in this module: string totals, `date_*_gmt`, free-text phones,
`line_items`, `refunds`. The rest of the bridge sees OrderSnapshot and CustomerSnapshot
(bridge/orders.py).
"""
from __future__ import annotations

import html
import re
from typing import Any

from ...money import to_minor_rounded_up
from ...orders import CustomerSnapshot, LineItem, OrderSnapshot
from ...phones import normalize_phone


# Where shops keep a parcel's tracking code in the order's meta data (UNCERTAIN: the carriers'
# WordPress plugins do not document their keys; these are the names they and shop themes use):
# Advanced Shipment Tracking's list, and any key naming a tracking code, a waybill ("vận đơn") or a
# carrier's label / order code ("ghn_order_code", "_ghtk_label_id", "tracking_number", ...).
TRACKING_LIST_KEY = "_wc_shipment_tracking_items"
TRACKING_KEY = re.compile(r"(?i)(tracking|order_code|label|van_?don|waybill|shipping_code|ma_?don)")
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{3,39}$")


def tracking_codes(meta: Any) -> tuple[str, ...]:
    """The tracking codes in an order's `meta_data`, upper case, each once; a value that does not
    look like a code (a sentence, a date, an id list) is not one."""
    found: list[str] = []
    for m in meta if isinstance(meta, list) else ():
        if not isinstance(m, dict) or not isinstance(m.get("key"), str):
            continue
        key, value = m["key"], m.get("value")
        if key == TRACKING_LIST_KEY:
            values = [i.get("tracking_number") for i in value if isinstance(i, dict)] if isinstance(value, list) else []
        elif TRACKING_KEY.search(key):
            values = [value]
        else:
            continue
        for v in values:
            v = str(v).strip() if isinstance(v, (str, int)) and not isinstance(v, bool) else ""
            if CODE.match(v) and v.upper() not in found:
                found.append(v.upper())
    return tuple(found)


class PayloadError(ValueError):
    """The body is JSON but not the resource its topic says."""


def _str(d: dict[str, Any], key: str) -> str:
    v = d.get(key)
    return "" if v is None else str(v)


def _int_id(body: dict[str, Any]) -> int:
    raw = body.get("id")
    if isinstance(raw, bool) or not isinstance(raw, (int, str)) or not str(raw).isdigit() or int(raw) <= 0:
        raise PayloadError(f"field 'id' must be a positive integer (got {raw!r})")
    return int(raw)


def resource_id(body: Any) -> int | None:
    """The id a delivery is about, for any topic (order.deleted bodies carry only `id`)."""
    if isinstance(body, dict):
        try:
            if "id" in body:
                return _int_id(body)
            if "arg" in body and str(body["arg"]).isdigit():
                return int(body["arg"])
        except PayloadError:
            return None
    return None


def parse_order(body: Any) -> OrderSnapshot:
    if not isinstance(body, dict):
        raise PayloadError("order body must be a JSON object")
    oid = _int_id(body)
    status = body.get("status")
    if not isinstance(status, str) or not status:
        raise PayloadError("field 'status' is missing")
    currency = _str(body, "currency") or "VND"
    try:
        total, rounded = to_minor_rounded_up(body.get("total", "0"), currency)
        refunded = sum(to_minor_rounded_up(_abs_text(r.get("total", "0")), currency)[0]
                       for r in body.get("refunds") or [] if isinstance(r, dict))
    except ValueError as exc:
        raise PayloadError(f"order {oid}: {exc}") from exc
    billing = body.get("billing") if isinstance(body.get("billing"), dict) else {}
    shipping = body.get("shipping") if isinstance(body.get("shipping"), dict) else {}
    phone_raw = _str(billing, "phone") or _str(shipping, "phone")
    items = []
    for li in body.get("line_items") or []:
        if not isinstance(li, dict):
            continue
        try:
            qty = int(li.get("quantity") or 0)
            line_total = to_minor_rounded_up(li.get("total", "0"), currency)[0]
        except (TypeError, ValueError):
            qty, line_total = 0, 0
        items.append(LineItem(name=html.unescape(_str(li, "name")), quantity=qty, total_minor=line_total))
    return OrderSnapshot(
        id=oid,
        number=_str(body, "number") or str(oid),
        order_key=_str(body, "order_key"),
        status=status,
        currency=currency,
        total_minor=total,
        refunded_minor=refunded,
        date_modified_gmt=_str(body, "date_modified_gmt") or _str(body, "date_created_gmt"),
        payment_method=_str(body, "payment_method"),
        payment_method_title=_str(body, "payment_method_title"),
        first_name=_str(billing, "first_name").strip(),
        last_name=_str(billing, "last_name").strip(),
        email=_str(billing, "email"),
        phone_raw=phone_raw,
        phone=normalize_phone(phone_raw),
        items=tuple(items),
        customer_note=_str(body, "customer_note"),
        total_rounded=rounded,
        total_raw=_str(body, "total"),
        payment_url=_str(body, "payment_url"),
        area=_area(shipping) or _area(billing),
        tracking_codes=tracking_codes(body.get("meta_data")),
    )


def _area(address: dict[str, Any]) -> str:
    """District and province of an address (`city`, `state`), without the street: enough for the
    customer to recognise their order on a page anyone holding its link can open."""
    return ", ".join(dict.fromkeys(p for p in (_str(address, "city").strip(), _str(address, "state").strip()) if p))


def _abs_text(value: Any) -> Any:
    """A refund total without its sign ("-150000" -> "150000"), left alone when not text."""
    return value.strip().lstrip("-") if isinstance(value, str) else (abs(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value)


def parse_customer(body: Any) -> CustomerSnapshot:
    if not isinstance(body, dict):
        raise PayloadError("customer body must be a JSON object")
    cid = _int_id(body)
    billing = body.get("billing") if isinstance(body.get("billing"), dict) else {}
    shipping = body.get("shipping") if isinstance(body.get("shipping"), dict) else {}
    phone_raw = _str(billing, "phone") or _str(shipping, "phone")
    return CustomerSnapshot(
        id=cid,
        first_name=(_str(body, "first_name") or _str(billing, "first_name")).strip(),
        last_name=(_str(body, "last_name") or _str(billing, "last_name")).strip(),
        email=_str(body, "email") or _str(billing, "email"),
        phone_raw=phone_raw,
        phone=normalize_phone(phone_raw),
        date_modified_gmt=_str(body, "date_modified_gmt") or _str(body, "date_created_gmt"),
        username=_str(body, "username"),
    )

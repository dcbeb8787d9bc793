"""Synthetic WooCommerce orders built from a real captured body, for bursts and benchmarks."""
from __future__ import annotations

import json
from pathlib import Path

_BASE = json.loads((Path(__file__).resolve().parent.parent / "bridge" / "providers" / "woocommerce" / "fixtures" /
                    "002-order.created-o20-bacs-on-hold-phone-spaces.body").read_bytes())


def order_body(order_id: int, status: str = "on-hold", total: int = 513000, phone: str = "0912 345 678",
               modified: str = "2026-11-23T02:41:58") -> bytes:
    body = dict(_BASE)
    body.update(id=order_id, number=str(order_id), status=status, total=str(total), date_modified_gmt=modified,
                order_key=f"wc_order_{order_id:08d}")
    body["billing"] = {**_BASE["billing"], "phone": phone}
    # WooCommerce's wp_json_encode style: escaped slashes and non-ASCII
    return json.dumps(body, separators=(",", ":")).replace("/", "\\/").encode()

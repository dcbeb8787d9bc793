"""payOS's webhook signature: hex HMAC-SHA256 (PAYOS_CHECKSUM_KEY) over `data`, its keys sorted and
joined `k=v&k=v`, as its SDKs compute it (PAYMENT_SOURCES.md §3). The requests we send and the
answers' signatures are the SDK's work (client.py).

Written here rather than taken from the SDK because the webhook is checked on `data` exactly as
it arrived: the SDK's `webhooks.verify` first rebuilds `data` through a schema that forbids
fields it does not know and requires every field it does, so a payload payOS extends later (or
its URL check's sample) would be refused with a schema error instead of a signature verdict.
Tests hold it equal to the SDK's own (bridge/providers/payos/tests)."""
from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, Mapping


def _text(value: Any) -> str:
    if value is None or value in ("null", "undefined"):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):   # each object's keys sorted, compact JSON, non-ASCII kept
        items = [dict(sorted(v.items())) if isinstance(v, dict) else v for v in value]
        return json.dumps(items, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return str(value)


def signed_string(data: Mapping[str, Any]) -> str:
    """What payOS signs of an object: `k=v` for every key in ascending order, joined by `&`, no
    URL-encoding; null (and the strings "null"/"undefined") sign as empty."""
    return "&".join(f"{k}={_text(data[k])}" for k in sorted(data))


def sign_data(data: Mapping[str, Any], key: str) -> str:
    return hmac.new(key.encode("utf-8"), signed_string(data).encode("utf-8"), hashlib.sha256).hexdigest()


def data_signed(data: Mapping[str, Any], signature: str, key: str) -> bool:
    """Constant-time check of `signature` over `data`; an empty key never verifies."""
    return bool(key) and isinstance(signature, str) and hmac.compare_digest(
        sign_data(data, key), signature.strip().lower())

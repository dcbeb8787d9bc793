"""Casso's Webhook V2 signature: `X-Casso-Signature: t=<ms>,v1=<hex>`, where v1 is the hex
HMAC-SHA512, keyed with the integration's "Key bảo mật", of `str(t) + "." + the body as compact
JSON with its keys sorted A -> Z (recursively)` (CassoHQ/casso-webhook-v2-verify-signature).

Casso signs a re-serialisation, not the bytes it sends, so we rebuild that string from the parsed
body. Which serialiser Casso runs is not published: its JavaScript sample (JSON.stringify) keeps
Vietnamese letters as they are, its Python sample (json.dumps) escapes them as \\uXXXX. Both are
tried, the JavaScript form first; for ASCII bodies (the published vector) they are the same."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

HEADER = "X-Casso-Signature"
_HEX = re.compile(r"[0-9a-f]{128}")


class BadHeader(ValueError):
    """X-Casso-Signature is not `t=<digits>,v1=<128 hex digits>`; the message says what is wrong."""


def parse_header(value: str) -> tuple[int, str]:
    """(t in milliseconds, v1 lower-case hex) from the header's value."""
    parts: dict[str, str] = {}
    for item in value.split(","):
        name, sep, val = item.partition("=")
        if sep:
            parts[name.strip().lower()] = val.strip()
    t, v1 = parts.get("t", ""), parts.get("v1", "").lower()
    if not t.isascii() or not t.isdigit() or len(t) > 15:
        raise BadHeader(f"{HEADER} must carry t=<Unix milliseconds>, got {value[:40]!r}")
    if not _HEX.fullmatch(v1):
        raise BadHeader(f"{HEADER} must carry v1=<128 hex digits of HMAC-SHA512>")
    return int(t), v1


def _sorted(value: Any) -> Any:
    """Keys A -> Z into nested objects, as Casso's samples sort (objects inside a list keep their
    order there; a V2 body has no list)."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    return value


def _js_numbers(value: Any) -> Any:
    """What JSON.stringify prints for a parsed number: 1.0 is 1 there."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _js_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_js_numbers(v) for v in value]
    return value


def signed_text(body: Any, t: int, ascii_only: bool = False) -> str:
    """The string Casso signs: `t.` + the body with sorted keys, compact; `ascii_only` escapes
    non-ASCII letters as Python's json.dumps does by default (its sample), otherwise they stay
    as JSON.stringify leaves them."""
    data = _sorted(body if ascii_only else _js_numbers(body))
    return f"{t}." + json.dumps(data, separators=(",", ":"), ensure_ascii=ascii_only)


def sign(body: Any, t: int, key: str, ascii_only: bool = False) -> str:
    # surrogatepass: a lone surrogate (valid in JSON text, not in UTF-8) gives a signature that
    # matches nothing instead of an exception
    return hmac.new(key.encode("utf-8", "surrogatepass"), signed_text(body, t, ascii_only).encode("utf-8", "surrogatepass"),
                    hashlib.sha512).hexdigest()


def matches(body: Any, t: int, v1: str, key: str) -> bool:
    """Whether v1 signs this body at t under key, in either serialisation (see the module's note)."""
    if not key:
        return False
    return any(hmac.compare_digest(sign(body, t, key, ascii_only), v1) for ascii_only in (False, True))

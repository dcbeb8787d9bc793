"""What the webhooks from the shop's phone share (SMSGate, FiboSMS, app notifications): the signed
request check, the reading of their timestamps, and the hint for a sender still using the old
single INBOUND_TOKEN. Kept here so no provider imports another and the core names none."""
from __future__ import annotations

import hashlib
import hmac
import math
import time
from datetime import datetime
from typing import Any

from .base import Request, secret_matches

MAX_SKEW = 300  # seconds either side of our clock for X-Timestamp

EARLIEST = 946_684_800.0     # 2000-01-01 UTC: no bank or MoMo message in this shop is older
AHEAD = 86_400.0            # a phone's clock may run ahead; more than a day ahead is not a time


def signature_ok(body: bytes, timestamp: str, signature: str, key: str) -> bool:
    """SMSGate's scheme: hex HMAC-SHA256(key, raw body + X-Timestamp)."""
    expected = hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())


def timestamp_problem(ts: str) -> str | None:
    """Why X-Timestamp cannot be trusted (not Unix seconds, or too far from our clock), or None:
    a signature over an old timestamp must not let a captured request be replayed later."""
    if not ts.strip().isdigit() or len(ts.strip()) > 12:   # "1e20", "NaN", 10**400: not Unix seconds
        return f"X-Timestamp {ts[:20]!r} is not Unix seconds"
    skew = abs(time.time() - int(ts))
    if skew > MAX_SKEW:
        return f"X-Timestamp is {int(skew)} s away from our clock (more than {MAX_SKEW} s)"
    return None


def signed_headers(req: Request) -> tuple[str, str]:
    return req.headers.get("X-Signature", ""), req.headers.get("X-Timestamp", "")


class BadTime(ValueError):
    """A timestamp field that is not a plausible moment; the message names the field."""


def parse_time(value: object, name: str) -> float | None:
    """A timestamp field of an inbound body as Unix seconds, or None when absent.

    ISO 8601 text, or epoch seconds / milliseconds as a number. Anything else (NaN, Infinity,
    1e20, negative, before 2000 or more than a day ahead, unparseable text) raises BadTime:
    stored, such a value broke every page that shows the row, or made the payment handler fail
    without leaving a review item. Refusing it with a reason lets the sender see its bug."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadTime(f"{name} must be an ISO 8601 time or epoch seconds/milliseconds, not {value!r}")
    if isinstance(value, str):
        try:
            t = datetime.fromisoformat(value.strip()).timestamp()
        except (ValueError, OverflowError, OSError):
            raise BadTime(f"{name} {value[:40]!r} is not an ISO 8601 time (e.g. 2026-11-23T09:15:00+07:00)") from None
    elif isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise BadTime(f"{name} must be a finite number of epoch seconds or milliseconds, not {value!r}")
        t = float(value) / 1000 if value > 10**11 else float(value)
    else:
        raise BadTime(f"{name} must be an ISO 8601 time or epoch seconds/milliseconds")
    if not math.isfinite(t) or not EARLIEST <= t <= time.time() + AHEAD:
        raise BadTime(f"{name} {str(value)[:40]!r} is not a plausible time (before 2000 or more than a day ahead)")
    return t


def legacy_hint(given: str | None, settings: Any) -> str:
    """A hint when a sender still uses the old single INBOUND_TOKEN (it opens no ingest now)."""
    legacy = settings.inbound_token
    return (" (INBOUND_TOKEN no longer opens payment ingest: see admin page > Settings)"
            if given and legacy and secret_matches(given, legacy) else "")

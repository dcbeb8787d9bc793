"""Refusals kept where the admin sees them: whoever is refused is by definition not trusted, so
what is kept is bounded (excerpts, one row per repeated refusal, pruned by age and count)."""
from __future__ import annotations

import re
from typing import Mapping

from .store import deliveries
from .store.db import Database, dumps, now

MAX_BODY = 1024 * 1024            # the largest request body any endpoint reads
REJECTION_HEADERS_MAX = 2048      # all kept headers together, as JSON
REJECTION_HEADER_VALUE_MAX = 256
REJECTION_BODY_MAX = 1024
REJECTION_REASON_MAX = 500
REJECTION_REPEAT_WINDOW = 600.0   # the same refusal again within this: one more on the existing row
REJECTION_KEEP_DAYS = 30
REJECTION_KEEP_ROWS = 10_000
_SECRET_HEADERS = ("authorization", "cookie")   # and every header naming a signature (each provider's own)
# A header whose name says it carries a credential (X-API-Key, Api-Key, X-Auth-Token, X-Secret...):
# its value is replaced, kept as "[redacted]" so the admin still sees which header was sent.
_SECRET_NAME = re.compile(r"(?i)key|token|auth|secret|passw")
# Our own API key wherever it is (a caller who put it in an unusual header, or in any value).
API_KEY_VALUE = re.compile(r"wb_live_[0-9A-Za-z_-]*")
_API_KEY_BYTES = re.compile(rb"wb_live_[0-9A-Za-z_-]*")
REDACTED = "[redacted]"


def _excerpt_headers(headers: Mapping[str, str]) -> str:
    """The headers, bounded: each value cut, the whole capped, credentials left out or redacted."""
    kept: dict[str, str] = {}
    size = 2
    for k, v in headers.items():
        if k.lower() in _SECRET_HEADERS or "signature" in k.lower():
            continue
        v = REDACTED if _SECRET_NAME.search(k) else API_KEY_VALUE.sub(REDACTED, str(v))
        if len(v) > REJECTION_HEADER_VALUE_MAX:
            v = v[:REJECTION_HEADER_VALUE_MAX] + f"…(+{len(v) - REJECTION_HEADER_VALUE_MAX})"
        k = str(k)[:100]
        size += len(k) + len(v) + 6
        if size > REJECTION_HEADERS_MAX:
            kept["…"] = f"{len(headers) - len(kept)} more header(s) left out"
            break
        kept[k] = v
    return dumps(kept)


def record_rejection(db: Database, endpoint: str, status: int, reason: str, remote_addr: str | None,
                     headers: Mapping[str, str], body: bytes, at: float | None = None) -> None:
    """Keep what we refused, so an admin can see a misconfigured secret or a probe.

    Bounded, because whoever is refused is by definition not trusted: a bounded excerpt of the
    headers and body, and the same refusal (endpoint, reason, address) repeated within
    REJECTION_REPEAT_WINDOW only counts up on its row. Without this, 200 requests with 240 KB of
    headers each grew the database by 50 MB. Old rows are pruned (REJECTION_KEEP_DAYS,
    REJECTION_KEEP_ROWS) whenever a new row is added."""
    t = now() if at is None else at
    endpoint = endpoint[:200]
    reason = reason[:REJECTION_REASON_MAX]
    remote = (remote_addr or "")[:64]
    with db.tx() as c:
        if deliveries.count_repeat_rejection(c, endpoint, reason, remote, t - REJECTION_REPEAT_WINDOW, t):
            return
        deliveries.add_rejection(c, t, endpoint, status, reason, remote, _excerpt_headers(headers),
                                 _API_KEY_BYTES.sub(REDACTED.encode(), bytes(body[:REJECTION_BODY_MAX])))
        deliveries.prune_rejections(c, t - REJECTION_KEEP_DAYS * 86_400, REJECTION_KEEP_ROWS)

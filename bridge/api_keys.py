"""API keys for /api/v1/: made in the admin, shown once, stored as a SHA-256 hash.

A key is `wb_live_<public id>_<secret>`: the public id (8 hex characters) finds its row without
scanning, and the secret (32 random bytes) is what is checked. A fast hash is right here: the
secret is random, so there is nothing to guess from the hash (a slow hash protects weak
passwords, not 256-bit tokens), and every call pays for the check. The comparison is constant
time. The rate limit is a token bucket on the key's row, taken inside a write transaction, so
every web process (gunicorn workers) counts against the same bucket.
"""
from __future__ import annotations

import hashlib
import math
import re
import secrets
from dataclasses import dataclass

from .store import api_keys as q
from .store.db import Database

PREFIX = "wb_live_"
SCOPES = ("send", "read")
NAME_MAX = 80
RATE_MAX = 100_000
_TOKEN = re.compile(r"wb_live_([0-9a-f]{8})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class ApiKey:
    id: int
    public_id: str
    name: str
    scopes: tuple[str, ...]
    rate_per_minute: int | None   # None: API_RATE_PER_MINUTE

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


@dataclass(frozen=True)
class Created:
    key: ApiKey
    token: str   # shown once, never stored


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _of(row) -> ApiKey:
    return ApiKey(row["id"], row["public_id"], row["name"], tuple(s for s in row["scopes"].split(",") if s),
                  row["rate_per_minute"])


def create(db: Database, name: str, scopes: tuple[str, ...], rate_per_minute: int | None, t: float) -> Created:
    """A new key; its token is returned here and nowhere else ever again."""
    name = name.strip()[:NAME_MAX]
    if not name:
        raise ValueError("a key needs a name")
    scopes = tuple(s for s in SCOPES if s in scopes)
    if not scopes:
        raise ValueError("a key needs at least one scope")
    if rate_per_minute is not None and not 1 <= rate_per_minute <= RATE_MAX:
        raise ValueError(f"the rate limit is between 1 and {RATE_MAX} calls per minute")
    with db.tx() as c:
        while True:
            public_id = secrets.token_hex(4)
            if q.key_by_public_id(c, public_id) is None:
                break
        token = f"{PREFIX}{public_id}_{secrets.token_urlsafe(32)}"
        key_id = q.add_key(c, public_id, name, ",".join(scopes), _hash(token), rate_per_minute, t)
    return Created(ApiKey(key_id, public_id, name, scopes, rate_per_minute), token)


def verify(db: Database, token: str) -> ApiKey | None:
    """The live key this token is, or None (malformed, unknown, wrong secret, revoked)."""
    m = _TOKEN.fullmatch(token)
    if not m:
        return None
    row = q.key_by_public_id(db, m.group(1))
    if row is None or not secrets.compare_digest(row["secret_hash"], _hash(token)) or row["revoked_at"] is not None:
        return None
    return _of(row)


def revoke(db: Database, key_id: int, t: float) -> bool:
    with db.tx() as c:
        return q.revoke(c, key_id, t)


def take(db: Database, key: ApiKey, default_rate: int, t: float) -> float:
    """Take one call from the key's bucket (capacity: a minute's calls, refilled continuously).
    Returns 0 when the call may go ahead, else the seconds until one is available."""
    rate = key.rate_per_minute or default_rate
    with db.tx() as c:
        row = q.bucket(c, key.id)
        tokens = rate if row["bucket_tokens"] is None else row["bucket_tokens"]
        at = t if row["bucket_at"] is None else min(row["bucket_at"], t)
        tokens = min(float(rate), tokens + (t - at) * rate / 60.0)
        if tokens < 1.0:
            q.set_bucket(c, key.id, tokens, t)
            return max(1.0, math.ceil((1.0 - tokens) * 60.0 / rate))
        q.set_bucket(c, key.id, tokens - 1.0, t)
        return 0.0


def record(db: Database, key: ApiKey, method: str, path: str, status: int, message_id: str | None, error: str,
           keep: int, t: float) -> None:
    with db.tx() as c:
        q.add_call(c, t, key.id, method, path[:200], status, message_id, error[:80], keep)

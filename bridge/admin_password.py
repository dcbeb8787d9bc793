"""The admin password: only its hash is ever stored.

With ADMIN_PASSWORD set, that is the password (hashed in memory at start). Without it, one is
generated on first start, its hash stored in the database and the password printed once in the
start-up banner; later starts only say that one is stored.
"""
from __future__ import annotations

import secrets

from werkzeug.security import check_password_hash, generate_password_hash

from .db import Database

KEY = "admin.password_hash"


def resolve(db: Database, configured: str) -> tuple[str, str | None]:
    """(hash to check against, the new password to print once or None)."""
    if configured:
        return generate_password_hash(configured), None
    stored = db.kv_get(KEY)
    if stored:
        return stored, None
    password = secrets.token_urlsafe(12)
    winner = db.kv_setdefault(KEY, generate_password_hash(password))
    return winner, password if check_password_hash(winner, password) else None


def reset(db: Database) -> str:
    """A new generated password (the CLI's `admin-password`): the old one stops working."""
    password = secrets.token_urlsafe(12)
    db.kv_set(KEY, generate_password_hash(password))
    return password


def verify(password_hash: str, given: str) -> bool:
    return bool(given) and check_password_hash(password_hash, given)

"""The admin password: only its hash is ever stored.

With ADMIN_PASSWORD set, that is the password (hashed in memory at start). Without it, one is
generated on first start, its hash stored in the database and the password printed once in the
start-up banner; later starts only say that one is stored.

Sessions: the signed cookie carries a generation that must equal the one in the database
(`admin.session_generation`). Signing out, a new password (CLI or a changed ADMIN_PASSWORD) and
`rotate-secret` write a new generation, so every copy of an older cookie stops working at once,
in every web process.
"""
from __future__ import annotations

import secrets

from werkzeug.security import check_password_hash, generate_password_hash

from .store.db import Database

KEY = "admin.password_hash"
GENERATION = "admin.session_generation"


def session_generation(db: Database) -> str:
    """The current session generation (made on first use)."""
    return db.kv_get(GENERATION) or db.kv_setdefault(GENERATION, secrets.token_urlsafe(16))


def end_sessions(db: Database) -> None:
    """Every admin session signed so far stops working."""
    db.kv_set(GENERATION, secrets.token_urlsafe(16))


def resolve(db: Database, configured: str, method: str = "scrypt", generate: bool = True) -> tuple[str, str | None]:
    """(hash to check against, the new password to print once or None).

    A configured password different from the one last seen ends the sessions opened with it.
    `method` is werkzeug's hash method for a new hash (Settings.password_hash_method).
    `generate` False (a command that prints no banner): none is made, so the first start still
    shows one; the hash is then "" (nobody can sign in with it)."""
    if configured:
        stored = db.kv_get(KEY)
        if stored and check_password_hash(stored, configured):
            return stored, None
        new_hash = generate_password_hash(configured, method=method)
        db.kv_set(KEY, new_hash)
        if stored:
            end_sessions(db)
        return new_hash, None
    stored = db.kv_get(KEY)
    if stored or not generate:
        return stored or "", None
    password = secrets.token_urlsafe(12)
    winner = db.kv_setdefault(KEY, generate_password_hash(password, method=method))
    return winner, password if check_password_hash(winner, password) else None


def reset(db: Database) -> str:
    """A new generated password (the CLI's `admin-password`): the old one stops working."""
    password = secrets.token_urlsafe(12)
    db.kv_set(KEY, generate_password_hash(password))
    end_sessions(db)
    return password


def verify(password_hash: str, given: str) -> bool:
    return bool(given) and bool(password_hash) and check_password_hash(password_hash, given)

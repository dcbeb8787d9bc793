"""Template overrides the owner saves in the admin: every saved version is a row, the newest row
of a rule is what its messages use, and a row without text means "back to the YAML default".

Rows are only ever added (a restore is a new row naming the version it copied), so the history
shows who changed what and when, and the highest id is a version number every process compares
to know when its cached overrides are stale."""
from __future__ import annotations

import sqlite3
import threading

from .db import Database, now


def save(db: Database, rule: str, template: str | None, by: str, restored_from: int | None = None) -> int:
    """Record a new version of `rule`'s text (None: the YAML default again); returns its id."""
    with db.tx() as c:
        cur = c.execute("INSERT INTO template_versions(rule, template, saved_at, saved_by, restored_from)"
                        " VALUES (?,?,?,?,?)", (rule, template, now(), by, restored_from))
        return int(cur.lastrowid)


def history(db: Database, rule: str, limit: int = 50) -> list[sqlite3.Row]:
    """The newest versions of one rule first."""
    return db.query("SELECT * FROM template_versions WHERE rule=? ORDER BY id DESC LIMIT ?", (rule, limit))


def count(db: Database, rule: str) -> int:
    return db.scalar("SELECT COUNT(*) FROM template_versions WHERE rule=?", (rule,))


def version(db: Database, version_id: int) -> sqlite3.Row | None:
    return db.one("SELECT * FROM template_versions WHERE id=?", (version_id,))


def latest_id(db: Database) -> int:
    """The newest version's id (0 without any): changes whenever any rule's text changes."""
    return db.scalar("SELECT MAX(id) FROM template_versions") or 0


def current(db: Database) -> dict[str, str]:
    """Each rule's override in force (rules whose newest row is the default are left out)."""
    rows = db.query("SELECT v.rule, v.template FROM template_versions v"
                    " JOIN (SELECT rule, MAX(id) AS id FROM template_versions GROUP BY rule) m ON m.id = v.id"
                    " WHERE v.template IS NOT NULL")
    return {r["rule"]: r["template"] for r in rows}


class Overrides:
    """The overrides in force, read again only when the version number moved: one indexed
    lookup per rendered message, so a save in the web process is used by the worker's next
    message without a restart."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._seen = -1
        self._texts: dict[str, str] = {}

    def __call__(self) -> dict[str, str]:
        v = latest_id(self.db)
        with self._lock:
            if v != self._seen:
                self._texts, self._seen = current(self.db), v
            return self._texts

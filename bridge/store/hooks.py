"""Outgoing events (bridge/outgoing.py): the owner's endpoints and what each wants, the events,
one delivery per (event, endpoint), and the status changes the triggers captured. Only reads and
writes rows; what they mean is decided in bridge/outgoing.py."""
from __future__ import annotations

import sqlite3
from typing import Iterable, Sequence

from .db import Database, fetch_one, marks

WAITING, SENDING, DONE = "waiting", "sending", "done"


# -- endpoints ---------------------------------------------------------------------------------
def add_endpoint(c: sqlite3.Connection, url: str, secret: str, events: Sequence[str], t: float) -> int:
    cur = c.execute("INSERT INTO hook_endpoints(url, secret, enabled, created_at, updated_at) VALUES (?,?,1,?,?)",
                    (url, secret, t, t))
    endpoint_id = int(cur.lastrowid)
    set_events(c, endpoint_id, events, t)
    return endpoint_id


def set_events(c: sqlite3.Connection, endpoint_id: int, events: Sequence[str], t: float) -> None:
    c.execute("DELETE FROM hook_subscriptions WHERE endpoint_id=?", (endpoint_id,))
    c.executemany("INSERT INTO hook_subscriptions(event, endpoint_id) VALUES (?,?)",
                  [(e, endpoint_id) for e in events])
    c.execute("UPDATE hook_endpoints SET updated_at=? WHERE id=?", (t, endpoint_id))


def set_enabled(c: sqlite3.Connection, endpoint_id: int, enabled: bool, t: float) -> bool:
    cur = c.execute("UPDATE hook_endpoints SET enabled=?, updated_at=? WHERE id=?", (int(enabled), t, endpoint_id))
    return cur.rowcount == 1


def set_secret(c: sqlite3.Connection, endpoint_id: int, secret: str, t: float) -> bool:
    cur = c.execute("UPDATE hook_endpoints SET secret=?, updated_at=? WHERE id=?", (secret, t, endpoint_id))
    return cur.rowcount == 1


def delete_endpoint(c: sqlite3.Connection, endpoint_id: int) -> bool:
    """The endpoint and what it wants. Its deliveries and the events only it got stay until
    `purge_batch` takes them a batch at a time: a year of history never holds the write lock."""
    c.execute("DELETE FROM hook_subscriptions WHERE endpoint_id=?", (endpoint_id,))
    return c.execute("DELETE FROM hook_endpoints WHERE id=?", (endpoint_id,)).rowcount == 1


def deleted_endpoint_ids(db_or_c: Database | sqlite3.Connection) -> list[int]:
    """Endpoints deleted whose deliveries are still stored: one index seek per endpoint id present."""
    ids, after = [], -1
    while True:
        row = fetch_one(db_or_c, "SELECT MIN(endpoint_id) AS e FROM hook_deliveries WHERE endpoint_id > ?", (after,))
        if row is None or row["e"] is None:
            return ids
        after = row["e"]
        if fetch_one(db_or_c, "SELECT 1 FROM hook_endpoints WHERE id=?", (after,)) is None:
            ids.append(after)


def purge_batch(c: sqlite3.Connection, endpoint_id: int, limit: int) -> int:
    """At most `limit` deliveries of a deleted endpoint, and the events no other delivery keeps."""
    rows = c.execute("SELECT id, event_id FROM hook_deliveries WHERE endpoint_id=? ORDER BY id LIMIT ?",
                     (endpoint_id, limit)).fetchall()
    if not rows:
        return 0
    c.executemany("DELETE FROM hook_deliveries WHERE id=?", [(r["id"],) for r in rows])
    c.executemany("DELETE FROM hook_events WHERE id=? AND NOT EXISTS (SELECT 1 FROM hook_deliveries d"
                  " WHERE d.event_id = hook_events.id)", [(e,) for e in {r["event_id"] for r in rows}])
    return len(rows)


def endpoints(db: Database) -> list[sqlite3.Row]:
    """Every endpoint (the secret left out) with the events it wants, comma-separated."""
    return db.query("SELECT e.id, e.url, e.enabled, e.created_at, e.updated_at,"
                    " (SELECT group_concat(s.event, ',') FROM hook_subscriptions s WHERE s.endpoint_id = e.id) AS events"
                    " FROM hook_endpoints e ORDER BY e.id")


def endpoint(db_or_c: Database | sqlite3.Connection, endpoint_id: int) -> sqlite3.Row | None:
    """One endpoint without its secret."""
    return fetch_one(db_or_c, "SELECT e.id, e.url, e.enabled, e.created_at, e.updated_at,"
                     " (SELECT group_concat(s.event, ',') FROM hook_subscriptions s WHERE s.endpoint_id = e.id)"
                     " AS events FROM hook_endpoints e WHERE e.id=?", (endpoint_id,))


def signing(db: Database, endpoint_id: int) -> sqlite3.Row | None:
    """What the sender needs at send time: the secret, the URL and whether the endpoint is enabled."""
    return db.one("SELECT secret, url, enabled FROM hook_endpoints WHERE id=?", (endpoint_id,))


def sending_of_endpoint(c: sqlite3.Connection, endpoint_id: int) -> list[sqlite3.Row]:
    """The endpoint's deliveries that have an outbox job not known to be done."""
    return c.execute("SELECT id, event_id, job_id FROM hook_deliveries WHERE endpoint_id=? AND state = 'sending'",
                     (endpoint_id,)).fetchall()


def set_waiting(c: sqlite3.Connection, delivery_id: int) -> None:
    """Back to waiting, its job withdrawn: it gets a new job when its endpoint is enabled again."""
    c.execute("UPDATE hook_deliveries SET state=?, job_id=NULL WHERE id=?", (WAITING, delivery_id))


def failed_of_endpoint(c: sqlite3.Connection, endpoint_id: int, limit: int) -> list[sqlite3.Row]:
    """The endpoint's deliveries whose job failed or was cancelled and that were not replayed
    since, oldest first (the order a replay keeps)."""
    return c.execute("SELECT d.id, d.event_id, d.subject FROM hook_deliveries d JOIN messages m ON m.id = d.job_id"
                     " WHERE d.endpoint_id=? AND d.state = 'done' AND m.status IN ('failed', 'cancelled')"
                     " AND NOT EXISTS (SELECT 1 FROM hook_deliveries r WHERE r.endpoint_id = d.endpoint_id"
                     " AND r.replay_of = d.id) ORDER BY d.id LIMIT ?", (endpoint_id, limit)).fetchall()


def subscribers(c: sqlite3.Connection, event: str) -> list[sqlite3.Row]:
    """Enabled endpoints that want `event`: a range of the subscriptions' primary key."""
    return c.execute("SELECT e.id, e.url FROM hook_subscriptions s JOIN hook_endpoints e ON e.id = s.endpoint_id"
                     " WHERE s.event=? AND e.enabled=1 ORDER BY e.id", (event,)).fetchall()


# -- events and deliveries ---------------------------------------------------------------------
def add_event(c: sqlite3.Connection, event_id: str, kind: str, subject: str, t: float, body: str) -> None:
    c.execute("INSERT INTO hook_events(id, type, subject, created_at, body) VALUES (?,?,?,?,?)",
              (event_id, kind, subject, t, body))


def add_delivery(c: sqlite3.Connection, endpoint_id: int, event_id: str, subject: str, t: float,
                 replay_of: int | None = None) -> int:
    cur = c.execute("INSERT INTO hook_deliveries(endpoint_id, event_id, subject, state, created_at, replay_of)"
                    " VALUES (?,?,?,?,?,?)", (endpoint_id, event_id, subject, WAITING, t, replay_of))
    return int(cur.lastrowid)


def open_deliveries(c: sqlite3.Connection, endpoint_id: int, subject: str) -> list[sqlite3.Row]:
    """The subject's deliveries to this endpoint not done yet, oldest first, each with its job's
    status (None: no job yet, or the job is gone)."""
    return c.execute("SELECT d.id, d.state, d.event_id, d.job_id, m.status AS job_status FROM hook_deliveries d"
                     " LEFT JOIN messages m ON m.id = d.job_id WHERE d.endpoint_id=? AND d.subject=?"
                     " AND d.state != 'done' ORDER BY d.id", (endpoint_id, subject)).fetchall()


def for_job(c: sqlite3.Connection, delivery_id: int) -> sqlite3.Row | None:
    """A delivery with its endpoint's URL and its event's type and body: what its job carries."""
    return c.execute("SELECT d.id, d.endpoint_id, d.event_id, e.url, v.type, v.body FROM hook_deliveries d"
                     " JOIN hook_endpoints e ON e.id = d.endpoint_id JOIN hook_events v ON v.id = d.event_id"
                     " WHERE d.id=?", (delivery_id,)).fetchone()


def set_sending(c: sqlite3.Connection, delivery_id: int, job_id: str) -> None:
    c.execute("UPDATE hook_deliveries SET state=?, job_id=? WHERE id=?", (SENDING, job_id, delivery_id))


def set_done(c: sqlite3.Connection, delivery_id: int) -> None:
    c.execute("UPDATE hook_deliveries SET state=? WHERE id=?", (DONE, delivery_id))


def groups_to_advance(db_or_c: Database | sqlite3.Connection, final: Sequence[str]) -> list[sqlite3.Row]:
    """(endpoint, subject) pairs where something can move: a delivery being sent whose job is final
    (or gone), or a waiting delivery of an enabled endpoint with nothing open before it. Reads
    only the open deliveries, through the partial indexes of each state (store/schema.py), never
    the done ones however many a year left (tests/test_outgoing_events.py checks the plan)."""
    places = marks(final)
    sql = ("SELECT d.endpoint_id, d.subject FROM hook_deliveries d INDEXED BY idx_hook_deliveries_sending"
           " LEFT JOIN messages m ON m.id = d.job_id"
           f" WHERE d.state = 'sending' AND (m.status IS NULL OR m.status IN ({places}))"
           " UNION SELECT d.endpoint_id, d.subject FROM hook_deliveries d INDEXED BY idx_hook_deliveries_waiting"
           " WHERE d.state = 'waiting'"
           " AND EXISTS (SELECT 1 FROM hook_endpoints e WHERE e.id = d.endpoint_id AND e.enabled = 1) AND NOT EXISTS"
           " (SELECT 1 FROM hook_deliveries p WHERE p.endpoint_id = d.endpoint_id AND p.subject = d.subject"
           " AND p.state != 'done' AND p.id < d.id)")
    if isinstance(db_or_c, Database):
        return db_or_c.query(sql, tuple(final))
    return db_or_c.execute(sql, tuple(final)).fetchall()


def groups_of_jobs(db: Database, job_ids: Iterable[str]) -> list[sqlite3.Row]:
    ids = list(job_ids)
    if not ids:
        return []
    places = marks(ids)
    return db.query(f"SELECT DISTINCT endpoint_id, subject FROM hook_deliveries WHERE job_id IN ({places})", ids)


def delivery(db_or_c: Database | sqlite3.Connection, delivery_id: int) -> sqlite3.Row | None:
    return fetch_one(db_or_c, "SELECT * FROM hook_deliveries WHERE id=?", (delivery_id,))


def recent(db: Database, endpoint_id: int, limit: int) -> list[sqlite3.Row]:
    """The endpoint's latest deliveries, newest first, with their event, their job's status and
    attempts, and the last answer (attempts.code is the HTTP status, detail the bounded excerpt)."""
    return db.query(
        "SELECT d.id, d.event_id, d.subject, d.state, d.job_id, d.created_at, d.replay_of, v.type,"
        " m.status AS job_status, m.attempts, m.updated_at AS job_updated_at,"
        " a.code AS last_code, a.detail AS last_detail, a.at AS last_at"
        " FROM hook_deliveries d JOIN hook_events v ON v.id = d.event_id LEFT JOIN messages m ON m.id = d.job_id"
        " LEFT JOIN attempts a ON a.id = (SELECT MAX(x.id) FROM attempts x WHERE x.message_id = d.job_id)"
        " WHERE d.endpoint_id=? ORDER BY d.id DESC LIMIT ?", (endpoint_id, limit))


def prune(c: sqlite3.Connection, before: float, limit: int) -> int:
    """Done deliveries created before `before` (at most `limit`), then the events of those left
    without a delivery. Returns the deliveries deleted (`limit`: call again)."""
    rows = c.execute("SELECT id, event_id FROM hook_deliveries WHERE created_at < ? AND state='done'"
                     " ORDER BY created_at LIMIT ?", (before, limit)).fetchall()
    c.executemany("DELETE FROM hook_deliveries WHERE id=?", [(r["id"],) for r in rows])
    c.executemany("DELETE FROM hook_events WHERE id=? AND NOT EXISTS (SELECT 1 FROM hook_deliveries d"
                  " WHERE d.event_id = hook_events.id)", [(e,) for e in {r["event_id"] for r in rows}])
    return len(rows)


# -- a new secret shown once after its POST (bridge/web/admin/hooks.py)
REVEAL = "hooks.reveal."


def stash_reveal(c: sqlite3.Connection, token: str, value: str, t: float, stale_before: float) -> None:
    """Keep what the page after the redirect shows once; drop what was never shown in time."""
    c.execute("DELETE FROM kv WHERE key >= ? AND key < ? AND updated_at < ?", (REVEAL, REVEAL + "\uffff", stale_before))
    c.execute("INSERT INTO kv(key, value, updated_at) VALUES (?,?,?)", (REVEAL + token, value, t))


def take_reveal(c: sqlite3.Connection, token: str, stale_before: float) -> str | None:
    """What was stashed under `token`, once: read and deleted in the same transaction."""
    row = c.execute("SELECT value, updated_at FROM kv WHERE key=?", (REVEAL + token,)).fetchone()
    if row is None:
        return None
    c.execute("DELETE FROM kv WHERE key=?", (REVEAL + token,))
    return row["value"] if row["updated_at"] >= stale_before else None


# -- status changes captured by the triggers (store/schema.py) --------------------------------
def any_pending(db_or_c: Database | sqlite3.Connection) -> bool:
    return fetch_one(db_or_c, "SELECT 1 FROM hook_pending LIMIT 1", ()) is not None


def pending(c: sqlite3.Connection, limit: int) -> list[sqlite3.Row]:
    return c.execute("SELECT * FROM hook_pending ORDER BY id LIMIT ?", (limit,)).fetchall()


def drop_pending(c: sqlite3.Connection, up_to: int) -> None:
    c.execute("DELETE FROM hook_pending WHERE id <= ?", (up_to,))


def message_facts(c: sqlite3.Connection, mid: str) -> sqlite3.Row | None:
    """What a status event says of its message besides the status (never its text)."""
    return c.execute("SELECT m.id, m.recipient, m.order_id, m.rule, m.event, m.audience, m.provider_id, o.number"
                     " FROM messages m LEFT JOIN orders o ON o.id = m.order_id WHERE m.id=?", (mid,)).fetchone()


def order_number(c: sqlite3.Connection, order_id: int | None) -> str | None:
    if order_id is None:
        return None
    row = c.execute("SELECT number FROM orders WHERE id=?", (order_id,)).fetchone()
    return row["number"] if row else None

"""The outbox tables: messages (every job: an SMS or chat message, or another kind with its own
payload), attempts, message_events (delivery reports) and message_legs (channels a message fell
through). The outbox module decides; these queries only read and write rows."""
from __future__ import annotations

import sqlite3
from typing import Any, Sequence

from .db import Database, fetch_one, marks

# Rows written before job kinds existed, or by an older process during a deploy, have no kind:
# they are messages.
IS_MESSAGE = "COALESCE(kind, 'message') = 'message'"

_COLUMNS = ("id", "created_at", "updated_at", "dedupe_key", "delivery_ref", "order_id", "customer_id", "rule",
            "event", "audience", "channel", "fallback", "urgent", "recipient_raw", "recipient", "text", "encoding",
            "length", "segments", "status", "reason", "attempts", "due_at", "payload", "leg", "fallback_after",
            "kind")


# -- new rows --------------------------------------------------------------------------------
def insert(c: sqlite3.Connection, row: dict[str, Any], ignore_duplicate: bool) -> bool:
    """One outbox row, inside the caller's transaction. With `ignore_duplicate` an existing
    dedupe key makes it a no-op (False)."""
    cols = [k for k in _COLUMNS if k in row]
    verb = "INSERT OR IGNORE" if ignore_duplicate else "INSERT"
    cur = c.execute(f"{verb} INTO messages({', '.join(cols)}) VALUES ({marks(cols)})",
                    tuple(row[k] for k in cols))
    return bool(cur.rowcount)


# A resend's dedupe key is "resend:<id>:<n>": the copies of a message are the keys between
# "resend:<id>:" and "resend:<id>;" (';' follows ':'), a range of the unique index (a LIKE,
# case-insensitive, could not use it and read every row).
def _copies_range(mid: str) -> tuple[str, str]:
    return f"resend:{mid}:", f"resend:{mid};"


def count_copies(c: sqlite3.Connection, mid: str) -> int:
    return c.execute("SELECT COUNT(*) FROM messages WHERE dedupe_key >= ? AND dedupe_key < ?",
                     _copies_range(mid)).fetchone()[0]


def copies(db: Database, mid: str) -> list[sqlite3.Row]:
    return db.query("SELECT id, status, channel, created_at FROM messages WHERE dedupe_key >= ? AND dedupe_key < ?"
                    " ORDER BY created_at", _copies_range(mid))


# -- reading one ------------------------------------------------------------------------------
def get(db_or_c: Database | sqlite3.Connection, mid: str) -> sqlite3.Row | None:
    return fetch_one(db_or_c, "SELECT * FROM messages WHERE id=?", (mid,))


def attempts_of(db: Database, mid: str) -> list[sqlite3.Row]:
    return db.query("SELECT * FROM attempts WHERE message_id=? ORDER BY id", (mid,))


def events_of(db: Database, mid: str) -> list[sqlite3.Row]:
    return db.query("SELECT * FROM message_events WHERE message_id=? ORDER BY id", (mid,))


def event_summaries(db: Database, mid: str) -> list[sqlite3.Row]:
    return db.query("SELECT at, source, event FROM message_events WHERE message_id=? ORDER BY id", (mid,))


def of_order(db: Database, order_id: int) -> list[sqlite3.Row]:
    """Every outbox row of an order, messages and jobs alike (the order's timeline)."""
    return db.query("SELECT * FROM messages WHERE order_id=? ORDER BY created_at", (order_id,))


def set_reason(c: sqlite3.Connection, mid: str, reason: str) -> None:
    c.execute("UPDATE messages SET reason=? WHERE id=?", (reason, mid))


# -- claiming ---------------------------------------------------------------------------------
def due_ids(c: sqlite3.Connection, t: float, limit: int, only: str | None = None,
            quotas: dict[str, int] | None = None) -> list[str]:
    """Waiting rows due at `t` and not leased, oldest due first (`only`: just that one;
    `quotas`: at most that many rows of each of these channels)."""
    quotas = quotas or {}
    which, args = (" AND id = ?", (only,)) if only else ("", ())
    base = ("SELECT id, due_at FROM messages WHERE status IN ('pending','scheduled') AND due_at <= ?"
            f" AND (lease_until IS NULL OR lease_until < ?){which}")
    others = f" AND channel NOT IN ({marks(quotas)})" if quotas else ""
    rows = c.execute(f"{base}{others} ORDER BY due_at LIMIT ?", (t, t, *args, *quotas, limit)).fetchall()
    for channel, n in quotas.items():
        if n > 0:
            rows += c.execute(f"{base} AND channel = ? ORDER BY due_at LIMIT ?",
                              (t, t, *args, channel, min(n, limit))).fetchall()
    return [r["id"] for r in sorted(rows, key=lambda r: r["due_at"])[:limit]]


def lease(c: sqlite3.Connection, ids: list[str], until: float, t: float) -> list[sqlite3.Row]:
    """Lease the rows until `until`, count the attempt; return them, oldest due first."""
    places = marks(ids)
    c.execute(f"UPDATE messages SET lease_until=?, attempts=attempts+1, updated_at=? WHERE id IN ({places})",
              (until, t, *ids))
    return c.execute(f"SELECT * FROM messages WHERE id IN ({places}) ORDER BY due_at", ids).fetchall()


# -- recording an attempt ---------------------------------------------------------------------
# A row cancelled while it was being sent (a shop switch cancels its waiting write-backs, leased or
# not) stays cancelled: the attempt is recorded, the row never comes back to be tried again.
def give_back(c: sqlite3.Connection, mid: str, status: str, due: float, reason: str, t: float,
              waited: float | None = None) -> None:
    """Not an attempt after all (no capacity): the claim is returned and the count undone.
    `waited`: the provider asked us to wait, now; `waited_since` keeps when it first did."""
    c.execute("UPDATE messages SET status=?, due_at=?, attempts=MAX(0, attempts-1), lease_until=NULL, reason=?,"
              " waited_since=COALESCE(waited_since, ?), updated_at=? WHERE id=? AND status != 'cancelled'",
              (status, due, reason, waited, t, mid))


def end_wait(c: sqlite3.Connection, mid: str) -> None:
    """An attempt was made: a later "wait" from a provider starts a new count."""
    c.execute("UPDATE messages SET waited_since=NULL WHERE id=? AND waited_since IS NOT NULL", (mid,))


def add_attempt(c: sqlite3.Connection, mid: str, t: float, channel: str, outcome: str, code: str | None,
                detail: str, duration_ms: float) -> None:
    c.execute("INSERT INTO attempts(message_id, at, channel, outcome, code, detail, duration_ms)"
              " VALUES (?,?,?,?,?,?,?)", (mid, t, channel, outcome, code, detail, duration_ms))


def status_and_attempts(c: sqlite3.Connection, mid: str) -> sqlite3.Row:
    return c.execute("SELECT status, attempts FROM messages WHERE id=?", (mid,)).fetchone()


def mark_taken(c: sqlite3.Connection, mid: str, status: str, channel: str, fallback: str, device: str | None,
               provider_id: str | None, reason: str, t: float) -> None:
    """The provider took it: where it went, its id there, first sent time; delivered_at when `status`
    is delivered."""
    c.execute("UPDATE messages SET status=?, channel=?, fallback=?, device=COALESCE(?, device),"
              " provider_id=COALESCE(?, provider_id), sent_at=COALESCE(sent_at, ?), lease_until=NULL, reason=?,"
              " delivered_at=CASE WHEN ?='delivered' THEN ? ELSE delivered_at END, updated_at=? WHERE id=?"
              " AND status != 'cancelled'",
              (status, channel, fallback, device, provider_id, t, reason, status, t, t, mid))


def finish(c: sqlite3.Connection, mid: str, status: str, channel: str, reason: str, t: float) -> None:
    """A final status without a provider id (failed, dry-run), shown against `channel`."""
    c.execute("UPDATE messages SET status=?, channel=?, reason=?, lease_until=NULL, updated_at=? WHERE id=?"
              " AND status != 'cancelled'", (status, channel, reason, t, mid))


def pin_device(c: sqlite3.Connection, mid: str, device: str | None) -> None:
    c.execute("UPDATE messages SET device=? WHERE id=?", (device, mid))


def retry_at(c: sqlite3.Connection, mid: str, status: str, due: float, reason: str, t: float) -> None:
    c.execute("UPDATE messages SET status=?, due_at=?, lease_until=NULL, reason=?, updated_at=? WHERE id=?"
              " AND status != 'cancelled'", (status, due, reason, t, mid))


def early_events(c: sqlite3.Connection, provider_id: str) -> list[sqlite3.Row]:
    """Reports kept without a message (they arrived before the provider's id was recorded)."""
    return c.execute("SELECT event FROM message_events WHERE provider_id=? AND message_id IS NULL",
                     (provider_id,)).fetchall()


def adopt_events(c: sqlite3.Connection, mid: str, provider_id: str) -> None:
    c.execute("UPDATE message_events SET message_id=? WHERE provider_id=? AND message_id IS NULL", (mid, provider_id))


def advance(c: sqlite3.Connection, mid: str, status: str, t: float) -> None:
    c.execute("UPDATE messages SET status=?, delivered_at=CASE WHEN ?='delivered' THEN ? ELSE delivered_at END,"
              " updated_at=? WHERE id=?", (status, status, t, t, mid))


# -- channel chains ---------------------------------------------------------------------------
def current_leg(c: sqlite3.Connection, mid: str) -> sqlite3.Row:
    return c.execute("SELECT leg, provider_id, sent_at, created_at FROM messages WHERE id=?", (mid,)).fetchone()


def add_leg(c: sqlite3.Connection, mid: str, leg: int, channel: str, provider_id: str | None,
            started_at: float | None, ended_at: float, outcome: str, reason: str) -> None:
    c.execute("INSERT INTO message_legs(message_id, leg, channel, provider_id, started_at, ended_at, outcome, reason)"
              " VALUES (?,?,?,?,?,?,?,?)", (mid, leg, channel, provider_id, started_at, ended_at, outcome, reason))


def next_leg(c: sqlite3.Connection, mid: str, status: str, channel: str, fallback: str, reason: str,
             t: float) -> None:
    """Hand the message to `channel`: a fresh leg, nothing kept of the last provider's."""
    c.execute("UPDATE messages SET status=?, channel=?, fallback=?, attempts=0, due_at=?, lease_until=NULL,"
              " provider_id=NULL, device=NULL, sent_at=NULL, leg=COALESCE(leg, 0)+1, reason=?, updated_at=?"
              " WHERE id=?", (status, channel, fallback, t, reason, t, mid))


def stalled(c: sqlite3.Connection, t: float) -> list[sqlite3.Row]:
    """Taken by a channel, with a next channel and no delivery report within the rule's time."""
    # INDEXED BY: the planner, without statistics, prefers (status, created_at, kind) and reads
    # every message in flight; the partial index holds only those this may act on (schema.py).
    return c.execute(
        "SELECT id, channel, fallback, fallback_after FROM messages INDEXED BY idx_messages_fallback_due"
        " WHERE status IN ('queued','sent') AND fallback_after IS NOT NULL AND fallback != ''"
        " AND sent_at + fallback_after <= ?", (t,)).fetchall()


def legs(db: Database, mid: str) -> list[sqlite3.Row]:
    return db.query("SELECT leg, channel, provider_id, started_at, ended_at, outcome, reason"
                    " FROM message_legs WHERE message_id=? ORDER BY leg", (mid,))


def leg_now(db: Database, mid: str) -> sqlite3.Row | None:
    return db.one("SELECT leg, channel, provider_id, sent_at, status, reason FROM messages WHERE id=?", (mid,))


# -- delivery reports -------------------------------------------------------------------------
def by_provider_id(db_or_c: Database | sqlite3.Connection, provider_id: str) -> sqlite3.Row | None:
    return fetch_one(db_or_c, "SELECT id, status, channel FROM messages WHERE provider_id=?", (provider_id,))


def for_report(c: sqlite3.Connection, mid: str) -> sqlite3.Row | None:
    return c.execute("SELECT id, status, leg FROM messages WHERE id=?", (mid,)).fetchone()


def leg_by_provider_id(c: sqlite3.Connection, provider_id: str) -> sqlite3.Row | None:
    return c.execute("SELECT message_id, channel FROM message_legs WHERE provider_id=?", (provider_id,)).fetchone()


def leg_by_number(c: sqlite3.Connection, mid: str, leg: int) -> sqlite3.Row | None:
    return c.execute("SELECT message_id, channel FROM message_legs WHERE message_id=? AND leg=?", (mid, leg)).fetchone()


def add_event(c: sqlite3.Connection, t: float, mid: str | None, source: str, provider_id: str | None, event: str,
              raw: str) -> None:
    c.execute("INSERT INTO message_events(at, message_id, source, provider_id, event, raw) VALUES (?,?,?,?,?,?)",
              (t, mid, source, provider_id, event, raw))


def delivered_earlier(c: sqlite3.Connection, mid: str, status: str, reason: str, t: float) -> None:
    """An earlier channel of the chain reported delivery: the message is delivered."""
    c.execute("UPDATE messages SET status=?, delivered_at=?, reason=?, updated_at=? WHERE id=?"
              " AND status NOT IN ('delivered')", (status, t, reason, t, mid))


def chain(c: sqlite3.Connection, mid: str) -> sqlite3.Row:
    return c.execute("SELECT channel, fallback FROM messages WHERE id=?", (mid,)).fetchone()


def report_moves(c: sqlite3.Connection, mid: str, status: str, provider_status: str, reason: str, t: float,
                 delivered: bool, provider_id: str | None) -> None:
    """A report moved the message forward to `status`."""
    sets = "status=?, provider_status=?, reason=?, updated_at=?"
    args: list[object] = [status, provider_status, reason, t]
    if delivered:
        sets += ", delivered_at=?"
        args.append(t)
    if provider_id:
        sets += ", provider_id=COALESCE(provider_id, ?)"
        args.append(provider_id)
    c.execute(f"UPDATE messages SET {sets} WHERE id=?", (*args, mid))


def report_seen(c: sqlite3.Connection, mid: str, provider_status: str, t: float) -> None:
    c.execute("UPDATE messages SET provider_status=?, updated_at=? WHERE id=?", (provider_status, t, mid))


# -- cancelling, polling, counting ------------------------------------------------------------
def lease_state(c: sqlite3.Connection, mid: str) -> sqlite3.Row | None:
    return c.execute("SELECT status, lease_until FROM messages WHERE id=?", (mid,)).fetchone()


def set_status(c: sqlite3.Connection, mid: str, status: str, reason: str, t: float) -> None:
    c.execute("UPDATE messages SET status=?, reason=?, updated_at=? WHERE id=?", (status, reason, t, mid))


def stop_unsent(c: sqlite3.Connection, dedupe_key: str, status: str, waiting: Sequence[str], reason: str,
                t: float) -> bool:
    """Give the row with this dedupe key `status` if it is still waiting and no worker claimed it;
    False when it is gone out, being sent, or not there. A claim whose lease ran out without a
    record (the worker died during the call) may have gone out: it is left to the outbox, which
    puts it in doubt or sends it again, never withdrawn as "not sent" (every record of an attempt
    clears lease_until, so a row never tried or tried and recorded has none). `t`: when."""
    places = marks(waiting)
    cur = c.execute(f"UPDATE messages SET status=?, reason=?, updated_at=? WHERE dedupe_key=? AND status IN ({places})"
                    " AND lease_until IS NULL", (status, reason, t, dedupe_key, *waiting))
    return cur.rowcount != 0


def waiting_for_order(c: sqlite3.Connection, order_id: int, event: str, waiting: Sequence[str]) -> list[sqlite3.Row]:
    """The order's messages of `event` that have not gone out yet."""
    places = marks(waiting)
    return c.execute(f"SELECT id, dedupe_key FROM messages WHERE order_id=? AND event=? AND status IN ({places})",
                     (order_id, event, *waiting)).fetchall()


def to_poll(db: Database, channel: str, sent_before: float, sent_after: float, polled_before: float,
            limit: int = 200) -> list[sqlite3.Row]:
    """Taken by `channel` between the two times, no final report yet, not polled recently."""
    return db.query(
        "SELECT id, provider_id, device FROM messages WHERE channel=? AND status IN ('queued','sent')"
        " AND provider_id IS NOT NULL AND sent_at <= ? AND sent_at >= ?"
        " AND (last_polled_at IS NULL OR last_polled_at <= ?) ORDER BY sent_at LIMIT ?",
        (channel, sent_before, sent_after, polled_before, limit))


def mark_polled(c: sqlite3.Connection, mid: str, t: float) -> None:
    c.execute("UPDATE messages SET last_polled_at=? WHERE id=?", (t, mid))


def counts(db: Database) -> dict[str, int]:
    """Every outbox row (messages and jobs) by status, from the counts kept by triggers."""
    return {r["status"]: r["n"] for r in db.query("SELECT status, SUM(n) AS n FROM message_counts GROUP BY status"
                                                  " HAVING SUM(n) != 0")}


def failed_since(db: Database, rule: str, since: float) -> list[sqlite3.Row]:
    """Rows of `rule` that failed for good, updated since `since`, with their order's number
    (INDEXED BY: the planner, without statistics, read every failed message by status)."""
    return db.query("SELECT m.id, m.order_id, m.reason, o.number FROM messages m INDEXED BY idx_messages_failed_rule"
                    " LEFT JOIN orders o ON o.id=m.order_id"
                    " WHERE m.rule=? AND m.status='failed' AND m.updated_at > ?", (rule, since))


# The reasons of a template that could not be written (bridge/rules.py): a partial index holds
# the messages with one (schema.py), so the owner-alert pass never reads the others.
TEMPLATE_FAILURES = '{"code":"rules.%'


def with_reason_since(db: Database, code: str, since: float) -> list[sqlite3.Row]:
    """Rows whose stored reason has `code` (a template failure, "rules.*"), updated since `since`,
    with their order's number."""
    if not code.startswith("rules."):
        raise ValueError(f"only template failures (rules.*) are indexed, not {code}")
    return db.query("SELECT m.id, m.rule, m.order_id, m.reason, o.number FROM messages m"
                    " INDEXED BY idx_messages_template_failed LEFT JOIN orders o ON o.id=m.order_id"
                    f" WHERE m.reason LIKE '{TEMPLATE_FAILURES}' AND m.updated_at > ? AND m.reason LIKE ?",
                    (since, '{"code":"' + code + '"%'))


def recent_channels(db: Database, since: float) -> list[str]:
    """The channels with an attempt since `since`: each channel's newest attempt, one index seek
    apiece (the channels walked in the index by a recursive query: DISTINCT read every attempt)."""
    return [r[0] for r in db.query(
        "WITH RECURSIVE ch(c) AS (SELECT MIN(channel) FROM attempts UNION ALL"
        " SELECT (SELECT MIN(channel) FROM attempts WHERE channel > ch.c) FROM ch WHERE ch.c IS NOT NULL)"
        " SELECT c FROM ch WHERE c IS NOT NULL"
        " AND (SELECT MAX(at) FROM attempts WHERE channel = ch.c) > ?", (since,))]


def last_attempts(db: Database, channel: str, since: float, n: int) -> list[sqlite3.Row]:
    """The channel's newest `n` attempts since `since`, newest first."""
    return db.query("SELECT outcome, detail FROM attempts INDEXED BY idx_attempts_channel_at"
                    " WHERE channel=? AND at > ? ORDER BY at DESC, id DESC LIMIT ?", (channel, since, n))


def set_in_doubt(c: sqlite3.Connection, mid: str, status: str, channel: str, fallback: str, started: float,
                 due: float, reason: str, t: float) -> None:
    """`sent_at` keeps when the doubtful attempt began; `due_at` when the next channel may take over."""
    c.execute("UPDATE messages SET status=?, channel=?, fallback=?, sent_at=COALESCE(sent_at, ?), due_at=?,"
              " lease_until=NULL, reason=?, updated_at=? WHERE id=?",
              (status, channel, fallback, started, due, reason, t, mid))


def abandoned_claims(c: sqlite3.Connection, t: float) -> list[sqlite3.Row]:
    """Claims whose lease ran out with nothing recorded (a record always clears lease_until)."""
    return c.execute("SELECT id, channel, fallback, updated_at FROM messages WHERE status IN ('pending','scheduled')"
                     " AND lease_until IS NOT NULL AND lease_until < ?", (t,)).fetchall()


def doubts_due(c: sqlite3.Connection, t: float) -> list[sqlite3.Row]:
    """In-doubt messages with a next channel whose time to wait for a receipt is over (INDEXED BY:
    the partial index of only those; (status, due_at) also read every in-doubt one without a next
    channel, which waits for a person)."""
    return c.execute("SELECT id, channel, fallback FROM messages INDEXED BY idx_messages_doubts_due"
                     " WHERE status='in-doubt' AND fallback != '' AND due_at <= ?", (t,)).fetchall()


def doubts_of(c: sqlite3.Connection, channel: str, recipient: str, seen_at: float) -> list[sqlite3.Row]:
    return c.execute("SELECT id, text FROM messages WHERE status='in-doubt' AND channel=? AND recipient=?"
                     " AND sent_at <= ?", (channel, recipient, seen_at)).fetchall()


def set_delivered(c: sqlite3.Connection, mid: str, status: str, reason: str, t: float) -> None:
    c.execute("UPDATE messages SET status=?, delivered_at=?, reason=?, updated_at=? WHERE id=?",
              (status, t, reason, t, mid))

"""Parcels as their carriers report them (shipments), every call a carrier made (shipment_events,
stored raw before anything is decided) and the tracking codes orders carry (shipment_codes).

The owner's views (bridge/web/admin) read them through the queries at the end."""
from __future__ import annotations

import sqlite3
from typing import Any, Iterable

from .db import Database, fetch_all, fetch_one, marks, now

EVENT_COLUMNS = ("received_at", "carrier", "tracking", "order_ref", "order_id", "carrier_status", "status",
                 "event_at", "cod_amount", "state", "reason", "dedupe_key", "raw", "kind", "carrier_reason", "happened")
# kv key: a number raised whenever what a call is matched by changes (an order or the tracking
# codes it carries saved, a parcel first tied to an order); the unmatched calls are tried again
# only when it has moved since their last pass.
MATCH_GENERATION = "shipments.match_generation"


def insert_event(c: sqlite3.Connection, row: dict[str, Any]) -> int | None:
    """The call's row id; None when a call with its dedupe key is stored already."""
    row = {**row, "happened": row["event_at"] if row.get("event_at") is not None else row["received_at"]}
    cur = c.execute(f"INSERT OR IGNORE INTO shipment_events({', '.join(EVENT_COLUMNS)})"
                    f" VALUES ({marks(EVENT_COLUMNS)})", tuple(row.get(k) for k in EVENT_COLUMNS))
    return cur.lastrowid if cur.rowcount else None


def event_by_key(db_or_c: Database | sqlite3.Connection, dedupe_key: str) -> sqlite3.Row | None:
    return fetch_one(db_or_c, "SELECT * FROM shipment_events WHERE dedupe_key=?", (dedupe_key,))


def event(db_or_c: Database | sqlite3.Connection, event_id: int) -> sqlite3.Row | None:
    return fetch_one(db_or_c, "SELECT * FROM shipment_events WHERE id=?", (event_id,))


def set_outcome(c: sqlite3.Connection, event_id: int, state: str, reason: str, order_id: int | None) -> None:
    c.execute("UPDATE shipment_events SET state=?, reason=?, order_id=? WHERE id=?", (state, reason, order_id, event_id))


def undecided(db_or_c: Database | sqlite3.Connection, limit: int) -> list[sqlite3.Row]:
    """Calls stored and never decided (no attempt yet), oldest first."""
    return fetch_all(db_or_c, "SELECT * FROM shipment_events INDEXED BY idx_shipment_events_undecided"
                              " WHERE state='received' AND attempts IS NULL ORDER BY id LIMIT ?", (limit,))


def add_attempt(c: sqlite3.Connection, event_id: int) -> int:
    """One more failed attempt at deciding the call: how many there have been."""
    c.execute("UPDATE shipment_events SET attempts=COALESCE(attempts, 0)+1 WHERE id=?", (event_id,))
    return c.execute("SELECT attempts FROM shipment_events WHERE id=?", (event_id,)).fetchone()[0]


def waiting(db: Database, state: str, since: float, carrier: str | None = None,
            after: tuple[float, int] | None = None, limit: int = 200) -> list[sqlite3.Row]:
    """One page of the calls still to decide in `state` ("unmatched", "unverified"), received
    after `since`, in the order they happened (`happened`: the carrier's time, else arrival; then
    the id), from just after `after` (the last row of the page before). Read in the order of the
    (state, happened) index, from `after` on: no page sorts or walks the pages before it."""
    extra, params = ("AND carrier=? ", (carrier,)) if carrier else ("", ())
    if after is not None:
        extra, params = extra + "AND (happened, id) > (?, ?) ", (*params, *after)
    return db.query(f"SELECT * FROM shipment_events INDEXED BY idx_shipment_events_state_happened"
                    f" WHERE state=? AND received_at>=? {extra}ORDER BY happened, id LIMIT ?",
                    (state, since, *params, limit))


def match_generation(db_or_c: Database | sqlite3.Connection) -> int:
    row = fetch_one(db_or_c, "SELECT value FROM kv WHERE key=?", (MATCH_GENERATION,))
    return int(row["value"]) if row is not None else 0


def _matching_changed(c: sqlite3.Connection) -> None:
    c.execute("INSERT INTO kv(key, value, updated_at) VALUES (?, '1', ?)"
              " ON CONFLICT(key) DO UPDATE SET value=CAST(value AS INTEGER)+1, updated_at=excluded.updated_at",
              (MATCH_GENERATION, now()))


def get(db_or_c: Database | sqlite3.Connection, carrier: str, tracking: str) -> sqlite3.Row | None:
    return fetch_one(db_or_c, "SELECT * FROM shipments WHERE carrier=? AND tracking=?", (carrier, tracking))


def save(c: sqlite3.Connection, carrier: str, tracking: str, order_id: int, t: float, **fields: Any) -> None:
    """Create the parcel's row (first seen now) or change the given fields of it."""
    if c.execute("INSERT OR IGNORE INTO shipments(carrier, tracking, order_id, status, carrier_status, cod_mismatch,"
                 " flag, first_seen_at, updated_at) VALUES (?,?,?,'','',0,'',?,?)",
                 (carrier, tracking, order_id, t, t)).rowcount:
        _matching_changed(c)     # the parcel's other calls now find this order
    if fields:
        sets = ", ".join(f"{k}=?" for k in fields)
        c.execute(f"UPDATE shipments SET {sets}, updated_at=? WHERE carrier=? AND tracking=?",
                  (*fields.values(), t, carrier, tracking))


def save_codes(c: sqlite3.Connection, order_id: int, codes: Iterable[str]) -> None:
    """The tracking codes an order carries now (what the shop holds replaces what it held). Called
    whenever an order is saved: the calls still without an order are tried again."""
    _matching_changed(c)
    c.execute("DELETE FROM shipment_codes WHERE order_id=?", (order_id,))
    c.executemany("INSERT OR IGNORE INTO shipment_codes(code, order_id) VALUES (?,?)",
                  [(code, order_id) for code in codes])


def orders_with_code(c: sqlite3.Connection, code: str) -> list[int]:
    return [r[0] for r in c.execute("SELECT order_id FROM shipment_codes WHERE code=? LIMIT 2", (code.upper(),))]


def clear_flag(db: Database, carrier: str, tracking: str, t: float) -> bool:
    """The owner has seen to it (the returned parcel is back on the shelf)."""
    with db.tx() as c:
        return bool(c.execute("UPDATE shipments SET flag='', updated_at=? WHERE carrier=? AND tracking=? AND flag!=''",
                              (t, carrier, tracking)).rowcount)


# -- what the owner sees (dashboard, order page) ---------------------------------------------
def for_order(db: Database, order_id: int) -> list[sqlite3.Row]:
    """The order's parcels, the latest news first."""
    return db.query("SELECT * FROM shipments WHERE order_id=? ORDER BY updated_at DESC", (order_id,))


def events_for_order(db: Database, order_id: int, limit: int = 100) -> list[sqlite3.Row]:
    """Every carrier call matched to the order, newest first (applied or not, with the reason)."""
    return db.query("SELECT * FROM shipment_events WHERE order_id=? ORDER BY id DESC LIMIT ?", (order_id, limit))


def unmatched(db: Database, limit: int = 50) -> list[sqlite3.Row]:
    """Carrier calls no order was found for, newest first: the owner adds the tracking code to the
    order (or finds the order the carrier means); the next match pass takes them then."""
    return db.query("SELECT * FROM shipment_events WHERE state='unmatched' ORDER BY received_at DESC, id DESC LIMIT ?",
                    (limit,))


def needing_attention(db: Database, limit: int = 50) -> list[sqlite3.Row]:
    """Parcels the owner should look at: returned to the shop (flag) or collecting a COD that is
    not the order's, newest first, with the order's number."""
    return db.query("SELECT s.*, o.number AS number FROM shipments s LEFT JOIN orders o ON o.id = s.order_id"
                    " WHERE s.flag != '' OR s.cod_mismatch = 1 ORDER BY s.updated_at DESC LIMIT ?", (limit,))

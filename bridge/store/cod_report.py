"""What the owner reads about cash-on-delivery orders and their parcels: the customers to call,
the answers of the day, the parcels to look at, the carrier calls that matched no order, an
order's confirmation and parcel story, and the month's figures (dashboard, report, /metrics).

The rows are written by the confirmation (store/cod.py) and the carriers' core
(store/shipments.py); this module only reads them, except for the owner's "seen" on a parcel.
Every list is read through an index of schema v11 (the parcels waiting for a look and the
unmatched calls through partial ones), so a year of orders is never walked.
"""
from __future__ import annotations

import sqlite3
from typing import Any

from .db import Database, marks
from .reports import Page, keyset_page

# States of a question that never got an answer: still waiting, waiting for the owner's call,
# or no longer askable (the order shipped, was cancelled or completed in the shop).
UNANSWERED = ("asked", "call", "closed")
# A parcel on its way back to the shop or back: the customer refused it at the door.
REFUSED = ("returning", "returned")
# A parcel the owner should look at (the same words as idx_shipments_attention's WHERE, so the
# planner may use that partial index).
_ATTENTION = "(s.flag != '' OR s.cod_mismatch = 1)"
_MARKS = marks(UNANSWERED)
FIGURES = ("asked", "confirmed", "cancelled", "unanswered", "refused", "refused_confirmed")
# Carrier calls no order took: matched none (the owner finds it), or failed for good (error). The
# same words as idx_shipment_events_not_taken's WHERE, so the planner may use that partial index.
_NOT_TAKEN = "state IN ('unmatched', 'error')"
# The planner would rather take the (state, received_at) index and sort every match: named.
_NOT_TAKEN_INDEX = "INDEXED BY idx_shipment_events_not_taken"
COUNT_CAP = 10000      # the carrier calls no order took are counted up to this many


def any_rows(db: Database) -> bool:
    """Whether the shop uses either feature at all (the dashboard shows its block only then)."""
    return bool(db.scalar("SELECT EXISTS (SELECT 1 FROM cod_confirmations) OR EXISTS (SELECT 1 FROM shipments)"
                          " OR EXISTS (SELECT 1 FROM shipment_events)"))


def state_counts(db: Database) -> dict[str, int]:
    """Questions per state, from the tally kept by triggers (store/tallies.py)."""
    return {r[0]: r[1] for r in db.query("SELECT a, n FROM tallies WHERE metric = 'cod_states' AND n != 0")}


def count_in_state(db: Database, state: str) -> int:
    return state_counts(db).get(state, 0)


def answered_since(db: Database, since: float) -> dict[str, int]:
    """Orders confirmed and cancelled by their customer since `since`, by their decisive answer's time."""
    rows = db.query("SELECT state, COUNT(*) FROM cod_confirmations WHERE state IN ('confirmed', 'cancelled')"
                    " AND answered_at >= ? GROUP BY state", (since,))
    counts = {r[0]: r[1] for r in rows}
    return {"confirmed": counts.get("confirmed", 0), "cancelled": counts.get("cancelled", 0)}


_WITH_ORDER = ("SELECT c.*, o.number, o.customer_name, o.total_minor, o.phone_raw, o.status AS order_status"
               " FROM cod_confirmations c LEFT JOIN orders o ON o.id = c.order_id")


def confirmations(db: Database, state: str, limit: int, before: str | None = None,
                  after: str | None = None) -> Page:
    """One page of the questions in `state` ("" for all) with their orders, and the total (kept
    by triggers). The customers to call come longest waiting first; the others newest first.
    Paged by the last row shown (asked_at, order id), read in order from the (state, asked_at)
    or asked_at index: a page far down costs what the first does."""
    if state:
        where, params, total = ["c.state = ?"], [state], count_in_state(db, state)
    else:
        where, params, total = [], [], sum(state_counts(db).values())
    rows, newer, older = keyset_page(db, _WITH_ORDER, where, params, ("c.asked_at", "c.order_id"), limit, before,
                                     after, descending=state != "call")
    return Page(rows, total, False, newer, older)


def attention(db: Database, limit: int = 50) -> tuple[list[sqlite3.Row], int]:
    """Parcels the owner should look at (back at the shop, or the carrier collects another COD
    than the order's total), the latest first, with their orders; and how many there are."""
    total = db.scalar(f"SELECT COUNT(*) FROM shipments s WHERE {_ATTENTION}")
    rows = db.query(
        "SELECT s.*, o.number, o.total_minor, o.customer_name FROM shipments s LEFT JOIN orders o ON o.id = s.order_id"
        f" WHERE {_ATTENTION} ORDER BY s.updated_at DESC LIMIT ?", (limit,))
    return rows, total


def clear_attention(c: sqlite3.Connection, carrier: str, tracking: str) -> bool:
    """The owner has seen a parcel's notice (returned, COD mismatch): it leaves the dashboard.
    The parcel's status, amounts and events stay as the carrier reported them."""
    return c.execute("UPDATE shipments SET flag = '', cod_mismatch = 0 WHERE carrier = ? AND tracking = ?"
                     " AND (flag != '' OR cod_mismatch = 1)", (carrier, tracking)).rowcount > 0


# An answer that needs the owner: not applied, and not what was decided (a reply not understood,
# a change of mind, an answer too late or for several waiting orders); the same words as
# idx_cod_answers_to_see's WHERE.
_TO_SEE = "a.applied = 0 AND a.seen_at IS NULL"


def answers_to_see(db: Database, since: float, limit: int) -> tuple[list[sqlite3.Row], int]:
    """The customers' answers since `since` the owner should read, newest first, with the order
    and the phone the question is on; and how many there are."""
    where = f"{_TO_SEE} AND a.at >= ? AND a.answer IS NOT k.answer"
    joins = "cod_answers a JOIN cod_confirmations k ON k.order_id = a.order_id LEFT JOIN orders o ON o.id = a.order_id"
    total = db.scalar(f"SELECT COUNT(*) FROM {joins} WHERE {where}", (since,))
    rows = db.query(f"SELECT a.id, a.order_id, a.at, a.via, a.answer, a.inbox_id, k.phone, o.number,"
                    f" i.text FROM {joins} LEFT JOIN inbox i ON i.id = a.inbox_id WHERE {where}"
                    " ORDER BY a.at DESC, a.id DESC LIMIT ?", (since, limit))
    return rows, total


def answer_seen(c: sqlite3.Connection, answer_id: int, t: float) -> bool:
    """The owner read an answer: it leaves the dashboard (it stays on the order's page)."""
    return c.execute("UPDATE cod_answers SET seen_at = ? WHERE id = ? AND applied = 0 AND seen_at IS NULL",
                     (t, answer_id)).rowcount > 0


def shipment(db: Database, carrier: str, tracking: str) -> sqlite3.Row | None:
    return db.one("SELECT * FROM shipments WHERE carrier = ? AND tracking = ?", (carrier, tracking))


def unmatched_count(db: Database, since: float) -> int:
    """How many calls no order took since `since`, counted up to COUNT_CAP (a shop shipping other
    sales through the same carrier account gathers thousands; the page says "at least")."""
    return db.scalar(f"SELECT COUNT(*) FROM (SELECT 1 FROM shipment_events {_NOT_TAKEN_INDEX} WHERE {_NOT_TAKEN}"
                     " AND received_at >= ? LIMIT ?)", (since, COUNT_CAP))


def unmatched(db: Database, limit: int, offset: int, excerpt: int = 300) -> tuple[list[sqlite3.Row], int]:
    """Carrier calls that matched no order, or that failed for good (error), newest first (the
    start of each raw call only); and how many there are, up to COUNT_CAP. Read backwards along
    the partial index, so a page reads its own rows, not the whole history sorted."""
    total = unmatched_count(db, 0)
    rows = db.query(
        "SELECT id, received_at, carrier, tracking, order_ref, carrier_status, status, event_at, cod_amount, reason,"
        f" state, substr(raw, 1, ?) AS raw_excerpt, length(raw) > ? AS cut FROM shipment_events {_NOT_TAKEN_INDEX}"
        f" WHERE {_NOT_TAKEN} ORDER BY received_at DESC, id DESC LIMIT ? OFFSET ?", (excerpt, excerpt, limit, offset))
    return rows, total


def of_order(db: Database, order_id: int) -> dict[str, Any]:
    """An order's question and every answer that reached us (applied or not), its parcels and
    every carrier call about it, oldest first."""
    return {
        "confirmation": db.one("SELECT * FROM cod_confirmations WHERE order_id = ?", (order_id,)),
        "answers": db.query("SELECT * FROM cod_answers WHERE order_id = ? ORDER BY at, id", (order_id,)),
        "shipments": db.query("SELECT * FROM shipments WHERE order_id = ? ORDER BY first_seen_at, tracking",
                              (order_id,)),
        "events": db.query("SELECT id, received_at, carrier, tracking, carrier_status, status, event_at, cod_amount,"
                           " state, reason FROM shipment_events WHERE order_id = ? ORDER BY id", (order_id,)),
    }


def month_figures(db: Database, months: list[tuple[str, float, float]]) -> list[dict[str, Any]]:
    """Per month (month, start, end): the COD orders asked to confirm in it and what became of
    them: confirmed, cancelled, unanswered (never answered: waiting, to call, or closed),
    refused at delivery (a parcel of the order is returning or returned) and how many of those
    had been confirmed. An order counts in the month it was asked (the shop's month), so the
    outcomes of a month add up to its asked and a later answer does not move it.

    One query per month over the (asked_at, state, refused) index alone: `refused` is kept on
    the question by triggers on the parcels (store/tallies.cod_refused). A month's figures are
    kept in `cod_month_figures` until a question asked in it changes (triggers delete the row),
    so a scrape of /metrics reads the eleven past months from there, not eleven index ranges."""
    have = {(r["start"], r["stop"]): dict(r) for r in db.query(
        f"SELECT start, stop, {', '.join(FIGURES)} FROM cod_month_figures")}
    if any((start, stop) not in have for _, start, stop in months):
        with db.tx() as c:   # read and kept in one write transaction: no change slips between them
            for _, start, stop in months:
                if (start, stop) in have:
                    continue
                row = c.execute(
                    "SELECT COUNT(*) AS asked, COALESCE(SUM(state = 'confirmed'), 0) AS confirmed,"
                    " COALESCE(SUM(state = 'cancelled'), 0) AS cancelled,"
                    f" COALESCE(SUM(state IN ({_MARKS})), 0) AS unanswered, COALESCE(SUM(refused), 0) AS refused,"
                    " COALESCE(SUM(refused AND state = 'confirmed'), 0) AS refused_confirmed FROM cod_confirmations"
                    " WHERE asked_at >= ? AND asked_at < ?", (*UNANSWERED, start, stop)).fetchone()
                have[(start, stop)] = dict(row)
                c.execute(f"INSERT OR REPLACE INTO cod_month_figures(start, stop, {', '.join(FIGURES)})"
                          f" VALUES (?, ?, {', '.join('?' for _ in FIGURES)})", (start, stop, *row))
    return [{"month": month, **{k: have[(start, stop)][k] for k in FIGURES}} for month, start, stop in months]

"""What the admin pages and the metrics read: filtered, paged lists and counts.

Where a count is about messages (SMS, chat), job rows (order updates, forwards) are left out:
they are no SMS. An order's timeline (store.messages.of_order) shows both.
"""
from __future__ import annotations

import json
import math
import re
import sqlite3
from dataclasses import dataclass, replace
from typing import Any

from . import search, tallies
from .db import Database, marks
from .messages import IS_MESSAGE
from .orders import fold
from .search import RECIPIENTS


@dataclass
class MessageFilter:
    """The admin's message search. `kind`: None for messages only, a job kind, or "all"."""
    status: str | None = None
    channel: str | None = None
    order_id: int | None = None
    order_number: str = ""
    phone_e164: str | None = None
    phone_raw: str = ""
    from_ts: float | None = None
    to_ts: float | None = None
    fts: str = ""
    kind: str | None = None

    def sql(self) -> tuple[str, list[Any]]:
        """WHERE and its parameters."""
        where, params = [], []
        if self.kind is None:
            where.append(IS_MESSAGE.replace("kind", "m.kind"))
        elif self.kind != "all":
            where.append("m.kind = ?")
            params.append(self.kind)
        if self.status:
            where.append("m.status = ?")
            params.append(self.status)
        if self.channel:
            where.append("m.channel = ?")
            params.append(self.channel)
        if self.order_id is not None:
            where.append("(m.order_id = ? OR m.order_id IN (SELECT id FROM orders WHERE number = ?))")
            params += [self.order_id, self.order_number]
        if self.phone_raw:
            raw = self.phone_raw
            digits = re.sub(r"\D", "", raw)
            exact, part, typed = self.phone_e164 or raw, f"%{digits[-9:]}%" if len(digits) >= 6 else raw, f"%{raw}%"
            # the trigram index finds the candidates (a superset: it folds case more widely than
            # LIKE); the LIKEs on the row decide. Under 3 characters it has no trigram to look up.
            # One LIKE each: FTS5 answers no OR from its index. The messages not indexed yet
            # (search.PENDING, a few: the index is written in batches) are candidates too.
            if len(raw) >= 3:
                where.append(f"m.rowid IN (SELECT rowid FROM {RECIPIENTS} WHERE recipient LIKE ? UNION SELECT rowid"
                             f" FROM {RECIPIENTS} WHERE recipient LIKE ? UNION SELECT rowid FROM {RECIPIENTS}"
                             f" WHERE recipient_raw LIKE ? UNION SELECT rid FROM {search.PENDING})")
                params += [exact, part, typed]
            where.append("(m.recipient = ? OR m.recipient LIKE ? OR m.recipient_raw LIKE ?)")
            params += [exact, part, typed]
        if self.from_ts is not None:
            where.append("m.created_at >= ?")
            params.append(self.from_ts)
        if self.to_ts is not None:
            where.append("m.created_at < ?")
            params.append(self.to_ts)
        if self.fts:
            where.append("m.rowid IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)")
            params.append(self.fts)
        return ((" WHERE " + " AND ".join(where)) if where else ""), params


    def counted(self) -> tuple[str, list[Any]] | None:
        """The same rows' count from message_counts (kept by triggers), when the filter asks only
        for a kind, a status or a channel; None when it asks for anything else."""
        if self.order_id is not None or self.phone_raw or self.from_ts is not None or self.to_ts is not None \
                or self.fts:
            return None
        where, params = [], []
        if self.kind is None:
            where.append("kind = 'message'")
        elif self.kind != "all":
            where.append("kind = ?")
            params.append(self.kind)
        if self.status:
            where.append("status = ?")
            params.append(self.status)
        if self.channel:
            where.append("channel = ?")
            params.append(self.channel)
        return "SELECT COALESCE(SUM(n), 0) FROM message_counts" + \
            ((" WHERE " + " AND ".join(where)) if where else ""), params


# A text matching more rows than this is not looked up and sorted by time: the rows are walked
# newest first (an index) in windows, each checked against the matches in its rowid range. (At
# 1M messages sorting 5,000 matches costs about what walking to 51 of them does.)
MANY_MATCHES = 5_000
# A total no counter keeps is counted up to this many rows; past it a page says "more than" it.
COUNT_CAP = 1_000


@dataclass
class Page:
    """One page of a list, newest first, with where the pages beside it start (keyset paging:
    `newer`/`older` are the cursors of the first and last row, None at either end) and how many
    rows match (`more`: at least `total`; counting further would read them all)."""
    rows: list[sqlite3.Row]
    total: int
    more: bool
    newer: str | None
    older: str | None
    unindexed: int = 0   # messages a text search could not find yet (store/search.catch_up)


def cursor(raw: str | None, parts: int) -> tuple[float, ...] | None:
    """A cursor from a query string ("<time>_<id>" or "<id>"); None for junk."""
    try:
        values = tuple(float(x) for x in (raw or "").split("_"))
    except ValueError:
        return None
    if len(values) != parts or any(v != v or abs(v) > 2**62 for v in values):   # NaN, out of range
        return None
    return values


def _key(values: tuple[Any, ...]) -> str:
    return "_".join(repr(v) if isinstance(v, float) else str(v) for v in values)


def _capped(db: Database, sql: str, params: tuple) -> tuple[int, bool]:
    n = db.scalar(f"SELECT COUNT(*) FROM ({sql} LIMIT {COUNT_CAP + 1})", params)
    return min(n, COUNT_CAP), n > COUNT_CAP


def _keyset(cols: tuple[str, str], before: tuple | None, after: tuple | None,
            descending: bool = True) -> tuple[str, list[Any], str, bool]:
    """The condition past a cursor on (time, id), its parameters, the order to read in, and
    whether the rows come in reverse (reading towards the top of the list, to be reversed). A
    list is newest first (`descending`) or oldest first; `before` is the cursor of the last row
    shown (the rows below it), `after` of the first (the rows above it)."""
    t, i = cols
    down, up = ("<", ">") if descending else (">", "<")
    order, back = ("DESC", "ASC") if descending else ("ASC", "DESC")
    if after is not None:
        return (f"{t} {up}= ? AND ({t} {up} ? OR {i} {up} ?)", [after[0], after[0], after[1]],
                f"{t} {back}, {i} {back}", True)
    if before is not None:
        return (f"{t} {down}= ? AND ({t} {down} ? OR {i} {down} ?)", [before[0], before[0], before[1]],
                f"{t} {order}, {i} {order}", False)
    return "", [], f"{t} {order}, {i} {order}", False


def keyset_page(db: Database, sql: str, where: list[str], params: list[Any], cols: tuple[str, str], limit: int,
                before: str | None, after: str | None, descending: bool = True) -> tuple[list[sqlite3.Row],
                                                                                      str | None, str | None]:
    """One page of `sql` (its rows carry the two columns of `cols` under their last names) past
    a (time, id) cursor, read in order from an index on them, and the cursors beside it: the
    page 100 pages down costs what the first does (an OFFSET reads every row above it)."""
    cond, more, order, rising = _keyset(cols, cursor(before, 2), cursor(after, 2), descending)
    where = [*where, cond] if cond else where
    rows = db.query(f"{sql}{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY {order} LIMIT ?",
                    (*params, *more, limit + 1))
    names = tuple(c.rsplit(".", 1)[-1] for c in cols)
    return _page(rows, limit, rising, bool(cond), lambda r: (r[names[0]], r[names[1]]))


def _page(rows: list[sqlite3.Row], limit: int, rising: bool, came: bool,
          key: Any) -> tuple[list[sqlite3.Row], str | None, str | None]:
    """The page's rows newest first and the cursors beside it; `came`: a cursor brought us here."""
    extra = len(rows) > limit
    rows = rows[:limit]
    if rising:
        rows.reverse()
    if not rows:
        return rows, None, None
    newer = _key(key(rows[0])) if (extra if rising else came) else None
    older = _key(key(rows[-1])) if (came if rising else extra) else None
    return rows, newer, older


def search_messages(db: Database, f: MessageFilter, limit: int, before: str | None = None,
                    after: str | None = None) -> Page:
    """One page, newest first, and the total. The page's rowids are chosen first (read from the
    indexes alone), then only those rows are read; a page starts past a (created_at, rowid)
    cursor, so the thousandth page costs what the first does. The typed text is folded as the
    index's text is, and each typed prefix written as the index's terms (store/search.py), so
    that the full-text index is read lazily and every count below stops at its LIMIT.

    A text in more than MANY_MATCHES messages (`đơn` is in nearly every one) is never collected
    whole: its page is walked newest first (text_walk). Its total is counted up to COUNT_CAP
    among its newest EXAMINE matches only (a text in most messages with a rare status would
    otherwise look every match up): past them the page says "more than" the rows it counted."""
    f = replace(f, fts=search.fold_typed(db, f.fts))
    unindexed = 0
    if f.fts:   # the newest messages into the index first (the job leaves few, or none)
        unindexed = search.catch_up(db)
        f = replace(f, fts=search.lazy_query(db, f.fts))
    where, params = f.sql()
    counted = f.counted()
    cond, more_params, order, rising = _keyset(("m.created_at", "m.rowid"), cursor(before, 2), cursor(after, 2))
    # counted first (a text in most messages brings no 5,001 rowids to Python), then read if few
    many = bool(f.fts) and db.scalar(f"SELECT COUNT(*) FROM (SELECT 1 FROM {search.FTS} WHERE {search.FTS} MATCH ?"
                                     f" LIMIT {MANY_MATCHES + 1})", (f.fts,)) > MANY_MATCHES
    matches = [r[0] for r in db.query(f"SELECT rowid FROM {search.FTS} WHERE {search.FTS} MATCH ?", (f.fts,))] \
        if f.fts and not many else []
    if f.fts and not many:   # the text's few matches, read once: the rows among them
        where, params = replace(f, fts="").sql()
        where = f"{where} AND" if where else " WHERE"
        where, params = f"{where} m.rowid IN (SELECT value FROM json_each(?))", [*params, json.dumps(matches)]
    if many:
        ids = text_walk(db, f, cursor(before, 2), cursor(after, 2), limit + 1)
        total, more = _text_count(db, f)
        total = max(total, min(len(ids), limit))
    else:
        if counted:
            total, more = db.scalar(*counted), False
        else:
            total, more = _capped(db, f"SELECT 1 FROM messages m{where}", tuple(params))
        if cond:
            where = f"{where} AND {cond}" if where else f" WHERE {cond}"
        ids = [r[0] for r in db.query(f"SELECT m.rowid FROM messages m{where} ORDER BY {order} LIMIT ?",
                                      (*params, *more_params, limit + 1))]
    ids = ids[:limit + 1]
    rows = db.query(f"SELECT *, rowid AS rid FROM messages WHERE rowid IN ({', '.join('?' for _ in ids)})"
                    f" ORDER BY {order.replace('m.', '')}", tuple(ids))
    rows, newer, older = _page(rows, limit, rising, bool(cond), lambda r: (r["created_at"], r["rid"]))
    return Page(rows, total, more, newer, older, unindexed)


# A text with other filters is counted among its newest this many matches (each looked up).
EXAMINE = 10_000


def _text_count(db: Database, f: MessageFilter) -> tuple[int, bool]:
    """The rows `f` finds, up to COUNT_CAP, read from the text's matches newest first (each
    looked up for the other filters: the kind, a status), among its newest EXAMINE matches; and
    whether there may be more (past the cap, or the text has matches that were not examined)."""
    matches = f"SELECT rowid FROM {search.FTS} WHERE {search.FTS} MATCH ? ORDER BY rowid DESC LIMIT {EXAMINE}"
    rest, rest_params = replace(f, fts="").sql()   # the text is the subquery's; the rest is read per row
    n = db.scalar(f"SELECT COUNT(*) FROM (SELECT 1 FROM ({matches}) x CROSS JOIN messages m ON m.rowid = x.rowid"
                  f"{rest} LIMIT {COUNT_CAP + 1})", (f.fts, *rest_params))
    beyond = db.scalar(f"SELECT COUNT(*) FROM (SELECT 1 FROM {search.FTS} WHERE {search.FTS} MATCH ?"
                       f" LIMIT {EXAMINE + 1})", (f.fts,)) > EXAMINE
    return min(n, COUNT_CAP), n > COUNT_CAP or beyond


def text_walk(db: Database, f: MessageFilter, before: tuple | None, after: tuple | None, need: int,
              window: int = 0) -> list[int]:
    """The rowids of the first `need` rows past the cursor (newest first, or oldest first after
    `after`) that `f` finds, its text checked a window at a time: a window of rows is read from
    the time index, and the text's matches only within that window's rowid range (FTS5 seeks
    to a rowid range). Walking down, the first window reaches back to the time _since finds
    (every row from then on); each further window is 4 times larger. A text in most messages
    fills its page from the first window, where collecting all its matches read 955,000 rowids at 1M
    messages; a rowid range wider than the window only costs more, it never changes the rows."""
    where, params = replace(f, fts="").sql()
    found: list[int] = []
    size = window or max(4 * need, 200)
    since = None if after is not None or window else _since(db, f, where, params, before, need)
    if since is not None:   # the first window: every row from that time on (up to a bound)
        size = SINCE_WINDOW
    while True:
        cond, cparams, order, rising = _keyset(("m.created_at", "m.rowid"), before, after)
        if since is not None:
            cond, cparams = f"{cond} AND m.created_at >= ?" if cond else "m.created_at >= ?", [*cparams, since]
            since = None
        conds = " AND ".join(x for x in (where.removeprefix(" WHERE "), cond) if x)
        rows = db.query(f"SELECT m.rowid, m.created_at FROM messages m{' WHERE ' + conds if conds else ''}"
                        f" ORDER BY {order} LIMIT ?", (*params, *cparams, size))
        if rows:
            ids = [r[0] for r in rows]
            # the range is FTS5's (it seeks to it); the window's own rows are checked beside it
            # ("+": not handed to FTS5, which would run the query again for each), so only they
            # come back, not every match in a range that spans other rows
            hits = {r[0] for r in db.query(f"SELECT rowid FROM {search.FTS} WHERE {search.FTS} MATCH ?"
                                           " AND rowid BETWEEN ? AND ? AND +rowid IN (SELECT value FROM json_each(?))",
                                           (f.fts, min(ids), max(ids), json.dumps(ids)))}
            found += [i for i in ids if i in hits]
        if len(found) >= need or len(rows) < size:
            return found[:need]
        last = (rows[-1][1], rows[-1][0])
        before, after = (None, last) if rising else (last, None)
        size *= 4


# The first window of a walk down reads every row from _since's time on, at most this many.
SINCE_WINDOW = 50_000


def _since(db: Database, f: MessageFilter, where: str, params: list[Any], before: tuple | None,
           need: int) -> float | None:
    """A time from which on the first `need` rows past `before` that `f` finds all lie: the
    need-th latest created_at among the text's newest matches by rowid that pass the other
    filters (at least `need` matching rows are that recent, so the page's rows are too). Rowids
    follow the order messages were stored, nearly their time: the walk's first window is then
    about the page's own span, where growing windows read rows that a word absent from the
    newest messages does not fill. None when the text's newest EXAMINE matches hold fewer."""
    cond, cparams, _order, _rising = _keyset(("m.created_at", "m.rowid"), before, None)
    conds = " AND ".join(x for x in (where.removeprefix(" WHERE "), cond) if x)
    times = sorted((r[0] for r in db.query(
        f"SELECT m.created_at FROM (SELECT rowid FROM {search.FTS} WHERE {search.FTS} MATCH ? ORDER BY rowid DESC"
        f" LIMIT {EXAMINE}) x CROSS JOIN messages m ON m.rowid = x.rowid{' WHERE ' + conds if conds else ''}"
        " LIMIT ?", (f.fts, *params, *cparams, 4 * need)) if r[0] is not None), reverse=True)
    return times[need - 1] if len(times) >= need else None


# -- orders and inbound -----------------------------------------------------------------------
def search_orders(db: Database, number: str, phone: str, text: str, limit: int, before: str | None = None,
                  after: str | None = None) -> Page:
    """Orders whose number is `number`, whose phone contains the digits `phone`, or whose folded
    name or e-mail contains `text` (all empty: every order), the latest updated first, a page
    past an (updated_at, id) cursor.

    A phone or a text is compared in the `orders_search_recent` index (the time, the folded
    text, the phone and the number), read newest first, so even a search that matches nothing
    never reads the orders' bodies, and one that matches many stops after its page; the page's
    rows are fetched by id afterwards."""
    where, params = [], []
    if number:
        where.append("number = ?")
        params.append(number)
    if phone:
        where.append("phone_e164 LIKE ?")
        params.append(f"%{phone}%")
    if text:
        where.append("search_folded LIKE ? ESCAPE '\\'")
        params.append("%" + re.sub(r"([%_\\])", r"\\\1", text) + "%")
    # a number alone is found through its own index; a phone or text reads the covering one in
    # time order, so a common name stops after its page
    scan = " INDEXED BY orders_search_recent" if phone or text else ""
    match = " OR ".join(where)
    cond, more_params, order, rising = _keyset(("updated_at", "id"), cursor(before, 2), cursor(after, 2))
    conds = ([f"({match})"] if match else []) + ([cond] if cond else [])
    found = db.query(f"SELECT id, updated_at FROM orders{scan}" + (f" WHERE {' AND '.join(conds)}" if conds else "")
                     + f" ORDER BY {order} LIMIT ?", (*params, *more_params, limit + 1))
    if not cond and len(found) <= limit:   # the first page holds every match: counted by reading it
        total, more = len(found), False
    else:   # (a search that matches little, or nothing, scanned the index once instead of twice)
        total, more = _capped(db, f"SELECT 1 FROM orders{scan}" + (f" WHERE {match}" if match else ""), tuple(params))
    found, newer, older = _page(found, limit, rising, bool(cond), lambda r: (r["updated_at"], r["id"]))
    if not found:
        return Page([], total, more, None, None)
    places = marks(found)
    rows = db.query(
        "SELECT id, number, status, notified_status, total_minor, customer_name, phone_e164, email, payment_method,"
        f" payment_method_title, paid_at, expired_at, updated_at FROM orders WHERE id IN ({places})"
        " ORDER BY updated_at DESC, id DESC", tuple(r["id"] for r in found))
    return Page(rows, total, more, newer, older)


def order_candidates(db: Database, number: str, name: str, digits: str, amount: int | None,
                     limit: int = 20) -> list[sqlite3.Row]:
    """Orders a transfer may pay: by number, name or phone (when `name` is given), or by amount,
    unpaid first. The number, name and phone are compared in the narrow `orders_search` index
    (a scan of the orders themselves read every order's body: 50 ms at 100,000 orders), the
    amount through its own index; only the orders found are read."""
    found, params = [], []
    if name:
        found.append("SELECT id FROM orders INDEXED BY orders_search WHERE number = ? OR search_folded LIKE ?"
                     " OR (? != '' AND length(?) >= 6 AND phone_e164 LIKE ?)")
        params += [number, f"%{fold(name)}%", digits, digits, f"%{digits[-9:]}%"]   # folded as stored
    if amount:
        found.append("SELECT id FROM orders WHERE total_minor = ?")
        params.append(amount)
    if not found:
        return []
    return db.query(
        "SELECT id, number, status, total_minor, customer_name, phone_e164, paid_at FROM orders WHERE id IN ("
        + " UNION ".join(found) + ") ORDER BY paid_at IS NOT NULL, updated_at DESC LIMIT ?", (*params, limit))


def _by_id(db: Database, sql: str, where: list[str], params: list[Any], id_col: str, limit: int,
           before: str | None, after: str | None) -> Page:
    """A page of `sql` (rows newest first by `id_col`) past an id cursor, and the total counted
    up to COUNT_CAP."""
    b, a = cursor(before, 1), cursor(after, 1)
    total, more = _capped(db, f"{sql}{' WHERE ' + ' AND '.join(where) if where else ''}", tuple(params))
    if a is not None:
        where, params, order = [*where, f"{id_col} > ?"], [*params, int(a[0])], f"{id_col} ASC"
    elif b is not None:
        where, params, order = [*where, f"{id_col} < ?"], [*params, int(b[0])], f"{id_col} DESC"
    else:
        order = f"{id_col} DESC"
    rows = db.query(f"{sql}{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY {order} LIMIT ?",
                    (*params, limit + 1))
    rows, newer, older = _page(rows, limit, a is not None, a is not None or b is not None, lambda r: (r["id"],))
    return Page(rows, total, more, newer, older)


def search_inbound(db: Database, source: str, limit: int, before: str | None = None,
                   after: str | None = None) -> Page:
    return _by_id(db, "SELECT i.*, t.id AS tx_id, t.decision, t.amount, t.order_id FROM inbox i"
                  " LEFT JOIN transactions t ON t.inbox_id = i.id", ["i.source = ?"] if source else [],
                  [source] if source else [], "i.id", limit, before, after)


def _distinct(db: Database, table: str, column: str) -> list[str]:
    """The values `column` holds now, each found by one seek in the index that leads with it (a
    loose index scan: a few seeks, not a read of every row). The menus offer only values that
    still have rows: the tallies keep counting what retention deleted."""
    return [r[0] for r in db.query(
        f"WITH RECURSIVE v(x) AS (SELECT MIN({column}) FROM {table} UNION ALL"
        f" SELECT (SELECT MIN({column}) FROM {table} WHERE {column} > v.x) FROM v WHERE v.x IS NOT NULL)"
        " SELECT x FROM v WHERE x IS NOT NULL")]


def inbound_sources(db: Database) -> list[str]:
    return _distinct(db, "inbox", "source")


def search_transactions(db: Database, decision: str, limit: int, before: str | None = None,
                        after: str | None = None) -> Page:
    return _by_id(db, "SELECT * FROM transactions", ["decision = ?"] if decision else [],
                  [decision] if decision else [], "id", limit, before, after)


def decisions(db: Database) -> list[str]:
    return _distinct(db, "transactions", "decision")


def recent_rejections(db: Database, limit: int = 50) -> list[sqlite3.Row]:
    return db.query(
        "SELECT id, at, COALESCE(last_at, at) AS last_at, COALESCE(count, 1) AS count, endpoint, http_status,"
        " reason, remote_addr FROM rejections ORDER BY COALESCE(last_at, at) DESC LIMIT ?", (limit,))


# -- the dashboard ----------------------------------------------------------------------------
def messages_by_status_channel(db: Database, since: float) -> list[sqlite3.Row]:
    """Messages created since `since` per status and channel (the dashboard's today and last 7
    days). The whole UTC days from the first after `since` on are summed from message_days (kept
    by triggers, current statuses included); only the hours before it are read from the
    messages (the shop's midnight is not UTC's): 7 days were about 20,000 rows at a year of data."""
    first = math.ceil(since / tallies.DAY)
    # The hours before the first whole day are read on their own (MATERIALIZED): grouped in one
    # query, the planner walked the whole table by the status index to save a sort of a few rows.
    return db.query(
        "WITH recent AS MATERIALIZED (SELECT status, COALESCE(channel, '') AS channel FROM messages"
        f" WHERE created_at >= ? AND created_at < ? AND {IS_MESSAGE})"
        " SELECT status, channel, SUM(n) AS n FROM (SELECT status, channel, COUNT(*) AS n FROM recent GROUP BY 1, 2"
        " UNION ALL SELECT status, channel, SUM(n) FROM message_days WHERE day >= ? GROUP BY 1, 2)"
        " GROUP BY 1, 2 HAVING SUM(n) != 0 ORDER BY 1, 2", (since, first * tallies.DAY, first))


def payment_outcomes(db: Database, since: float, confirmed: tuple[str, str], confirmed_review: str,
                     rejected: str, rejected_review: str) -> sqlite3.Row:
    return db.one(
        "SELECT SUM(decision IN (?, ?) OR review_action=?) AS confirmed,"
        " SUM(decision=? OR review_action=?) AS rejected FROM transactions WHERE created_at >= ?",
        (*confirmed, confirmed_review, rejected, rejected_review, since))


def orders_since(db: Database, since: float) -> int:
    return db.scalar("SELECT COUNT(*) FROM orders WHERE first_seen_at >= ?", (since,))


def messages_between(db: Database, start: float, end: float) -> int:
    return db.scalar(f"SELECT COUNT(*) FROM messages WHERE created_at >= ? AND created_at < ? AND {IS_MESSAGE}",
                     (start, end))


def payments_between(db: Database, start: float, end: float) -> int:
    return db.scalar("SELECT COUNT(*) FROM transactions WHERE created_at >= ? AND created_at < ?"
                     " AND order_id IS NOT NULL", (start, end))


# -- metrics ----------------------------------------------------------------------------------
# Counters and histograms from tallies kept by triggers (store/tallies.py: never lowered by a
# DELETE); the outbox's gauges from message_counts; each a read of a few dozen rows.
def send_durations(db: Database) -> list[tuple[Any, ...]]:
    return tallies.histogram(db, "send_seconds", tallies.SEND_BUCKETS)


def delivery_times(db: Database) -> list[tuple[Any, ...]]:
    """Created -> delivered, messages only (a job is 'delivered' when its receiver answered)."""
    return tallies.histogram(db, "delivery_seconds", tallies.DELIVERY_BUCKETS)


def deliveries_by_topic_state(db: Database) -> list[sqlite3.Row]:
    return tallies.counts(db, "deliveries")


def rejections_by_endpoint(db: Database) -> list[sqlite3.Row]:
    return tallies.counts(db, "rejections")   # a repeated refusal is one row with a count: its count


def messages_by_status_channel_all(db: Database) -> list[sqlite3.Row]:
    return db.query("SELECT status, channel, SUM(n) FROM message_counts WHERE kind = 'message'"
                    " GROUP BY status, channel HAVING SUM(n) != 0")


def jobs_by_kind_status(db: Database) -> list[sqlite3.Row]:
    return db.query("SELECT kind, status, SUM(n) FROM message_counts WHERE kind != 'message'"
                    " GROUP BY kind, status HAVING SUM(n) != 0")


def attempts_by_channel_outcome(db: Database) -> list[sqlite3.Row]:
    return tallies.counts(db, "attempts")


def outbox_waiting(db: Database, status: str) -> int:
    """Rows waiting in the outbox with `status` (messages and jobs: both hold the queue)."""
    return db.scalar("SELECT COALESCE(SUM(n), 0) FROM message_counts WHERE status = ?", (status,))


# The p50/p95 of the bank-to-WooCommerce time are read over at most this many confirmations, the
# latest: a busy shop's 30 days (about 20,000 at a year of data) were read and sorted by every
# scrape of /metrics and every dashboard; the latest 2,000 are read backwards from an index.
LATENCY_SAMPLE = 2_000


def payment_latencies(db: Database, since: float, limit: int = LATENCY_SAMPLE) -> list[sqlite3.Row]:
    """(source, seconds from the bank's own transaction time to our finished WooCommerce write)
    of the latest `limit` automatic confirmations since `since`, newest first: the figure owners
    compare between payment sources. A person's confirmation is left out (it measures the person)."""
    return tallies.confirmations_since(db, since, limit)   # kept by the triggers of the payment histogram


def payment_latency_histogram(db: Database) -> list[tuple[Any, ...]]:
    return tallies.histogram(db, "payment_seconds", tallies.PAYMENT_BUCKETS)


def transactions_by_decision(db: Database) -> list[sqlite3.Row]:
    return db.query("SELECT a, n FROM tallies WHERE metric = 'transactions' AND n != 0 ORDER BY a")


def inbox_by_source_state(db: Database) -> list[sqlite3.Row]:
    return tallies.counts(db, "inbound")


def shipment_events_by_carrier_state(db: Database) -> list[sqlite3.Row]:
    return tallies.counts(db, "shipment_events")


def layouts_by_bank(db: Database, families: tuple[str, ...], since: float = 0.0) -> list[sqlite3.Row]:
    """Transactions of the given families (the unknown layouts) per bank since `since`, most first."""
    places = marks(families)
    return db.query(f"SELECT bank, COUNT(*) AS n FROM transactions WHERE family IN ({places}) AND created_at >= ?"
                    " GROUP BY bank ORDER BY n DESC, bank", (*families, since))


# -- the monthly report (admin/report) ---------------------------------------------------------
# Statuses of a message that went to a provider; a failed one is counted but not costed (a
# provider that refused or could not deliver a message does not bill it). Pending, scheduled,
# dry-run and cancelled messages never left: they are not in the report.
REPORT_STATUSES = ("queued", "sent", "delivered", "failed", "in-doubt")


def month_messages(db: Database, start: float, end: float) -> list[sqlite3.Row]:
    """Per channel and template (rule) for messages created in [start, end): messages, SMS parts,
    delivered, failed, and what is billed (sends and parts, a part at least per send, as
    prices.cost counts them). The whole UTC days inside the range are summed from message_days
    (kept by triggers); only the partial days at its ends are read from the messages."""
    places = marks(REPORT_STATUSES)
    first, last = math.ceil(start / tallies.DAY), math.floor(end / tallies.DAY)
    if first >= last:
        first = last = math.floor(end / tallies.DAY)   # no whole day: every row read from the messages
        edges, params = "created_at >= ? AND created_at < ?", [start, end]
    else:
        edges = "((created_at >= ? AND created_at < ?) OR (created_at >= ? AND created_at < ?))"
        params = [start, first * tallies.DAY, last * tallies.DAY, end]
    # "+status": no index may serve the status test, so the rows are read by time (without
    # statistics the planner would walk the status index over the whole table)
    return db.query(
        "SELECT channel, rule, SUM(messages) AS messages, SUM(parts) AS parts, SUM(delivered) AS delivered,"
        " SUM(failed) AS failed, SUM(billed_sends) AS billed_sends, SUM(billed_parts) AS billed_parts FROM ("
        " SELECT channel, rule, SUM(n) AS messages, SUM(parts) AS parts,"
        " SUM(CASE WHEN status = 'delivered' THEN n ELSE 0 END) AS delivered,"
        " SUM(CASE WHEN status = 'failed' THEN n ELSE 0 END) AS failed,"
        " SUM(CASE WHEN status != 'failed' THEN n ELSE 0 END) AS billed_sends,"
        " SUM(CASE WHEN status != 'failed' THEN billed_parts ELSE 0 END) AS billed_parts"
        f" FROM message_days WHERE day >= ? AND day < ? AND status IN ({places}) GROUP BY 1, 2"
        " UNION ALL"
        " SELECT COALESCE(channel, ''), COALESCE(rule, ''), COUNT(*), SUM(COALESCE(segments, 0)),"
        " SUM(status = 'delivered'), SUM(status = 'failed'), SUM(status != 'failed'),"
        " SUM(CASE WHEN status != 'failed' THEN MAX(1, COALESCE(segments, 0)) ELSE 0 END)"
        f" FROM messages WHERE {edges} AND {IS_MESSAGE} AND +status IN ({places}) GROUP BY 1, 2)"
        " GROUP BY 1, 2 HAVING SUM(messages) != 0 ORDER BY 1, 2",
        (first, last, *REPORT_STATUSES, *params, *REPORT_STATUSES))


# An order marked paid in the month with the transaction that paid it; "by hand" when a person
# confirmed that transaction from the review queue (review_action set), automatic otherwise.
_PAID_IN = ("orders o JOIN transactions t ON t.id = o.paid_transaction"
            " WHERE o.paid_at >= ? AND o.paid_at < ?")


def month_payments(db: Database, start: float, end: float) -> sqlite3.Row:
    """Payments confirmed in [start, end): count and amount, automatically and by hand."""
    return db.one(
        "SELECT COALESCE(SUM(t.review_action IS NULL), 0) AS auto,"
        " COALESCE(SUM(CASE WHEN t.review_action IS NULL THEN t.amount ELSE 0 END), 0) AS auto_amount,"
        " COALESCE(SUM(t.review_action IS NOT NULL), 0) AS by_hand,"
        " COALESCE(SUM(CASE WHEN t.review_action IS NOT NULL THEN t.amount ELSE 0 END), 0) AS by_hand_amount"
        f" FROM {_PAID_IN}", (start, end))


def month_confirmation_median(db: Database, start: float, end: float, by_hand: bool) -> tuple[int, float | None]:
    """(count, median seconds) from the bank's own transaction time to our finished WooCommerce
    write, over the payments confirmed in [start, end) automatically or by hand (as
    payments/latency.py measures it: nearest rank, a clock ahead of the bank's counts as 0).
    Payments without a bank time (a source that reports none) are not counted."""
    joined = ("orders o JOIN transactions t ON t.id = o.paid_transaction"
              " JOIN messages m ON m.dedupe_key = 'tx:' || t.id || ':mark-paid'"
              " WHERE o.paid_at >= ? AND o.paid_at < ? AND (t.review_action IS NOT NULL) = ?"
              " AND t.bank_time IS NOT NULL AND m.delivered_at IS NOT NULL")
    # read once (a count, then the same join again sorted, read it twice); the paid orders come
    # from idx_orders_paid_at_tx alone: the orders' own rows keep paid_transaction past the body
    seconds = sorted(r[0] for r in db.query(f"SELECT MAX(0.0, m.delivered_at - t.bank_time) FROM {joined}",
                                            (start, end, int(by_hand))))
    if not seconds:
        return 0, None
    return len(seconds), float(seconds[-(-len(seconds) // 2) - 1])   # nearest rank: ceil(n / 2)

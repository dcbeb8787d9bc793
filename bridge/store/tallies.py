"""Counts kept by triggers in the writing transaction, so /metrics reads a few dozen rows instead
of grouping a million.

A tally row is (metric, a, b) -> n (and `total`, the sum a histogram reports). An insert adds its
row's share; an update that moves a row (a delivery from 'received' to 'processed', a message to
another channel) takes the old share away and adds the new one, so a tally equals a count of
the rows as they are now. A DELETE touches no tally: when retention removes old rows, a
Prometheus counter read from here never goes down. Histogram rows carry the bucket a value
falls in (its index in the metric's buckets; len(buckets) is +Inf), not cumulative counts.
"""
from __future__ import annotations

import re
import sqlite3
from typing import Any

from .db import Database

SEND_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)                 # one provider call, seconds
DELIVERY_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400)    # created -> delivered, seconds
PAYMENT_BUCKETS = (5, 10, 30, 60, 120, 300, 900, 3600)                 # bank's time -> order marked paid, seconds

_MARK_PAID = "'tx:' || {t}.id || ':mark-paid'"   # the dedupe key of the job that marks a transaction's order paid


def _bucket(value: str, buckets: tuple[float, ...]) -> str:
    """The index of the first bucket holding `value` (NULL compares false: +Inf, as SUM(CASE) did)."""
    cases = " ".join(f"WHEN {value} <= {b} THEN '{i}'" for i, b in enumerate(buckets))
    return f"(CASE {cases} ELSE '{len(buckets)}' END)"


def _bump(metric: str, a: str, b: str, n: str, total: str = "0", source: str = "", where: str = "") -> str:
    """One statement adding `n` (and `total`) to the tally (metric, a, b): from the trigger's
    row alone, or from `source` rows joined to it; only when `where` holds."""
    frm = f" FROM {source}" if source else ""
    return (f"INSERT INTO tallies(metric, a, b, n, total) SELECT '{metric}', COALESCE({a}, ''), {b}, {n}, {total}"
            f"{frm} WHERE {where or 'true'} ON CONFLICT DO UPDATE SET n = n + excluded.n,"
            " total = total + excluded.total;")


def _counter(db: sqlite3.Connection, metric: str, table: str, a: str, b: str, n: str = "1",
             delete: bool = False) -> None:
    """Insert adds, an update of the columns read moves the share; DELETE only for a gauge."""
    cols = sorted(_columns(a, b, n))
    old = {"a": a.replace("@", "old."), "b": b.replace("@", "old."), "n": n.replace("@", "old.")}
    new = {"a": a.replace("@", "new."), "b": b.replace("@", "new."), "n": n.replace("@", "new.")}
    add = _bump(metric, new["a"], new["b"], new["n"])
    remove = _bump(metric, old["a"], old["b"], f"-({old['n']})")
    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in cols)
    db.execute(f"CREATE TRIGGER tally_{metric}_ai AFTER INSERT ON {table} BEGIN {add} END")
    db.execute(f"CREATE TRIGGER tally_{metric}_au AFTER UPDATE OF {', '.join(cols)} ON {table} WHEN {changed}"
               f" BEGIN {remove} {add} END")
    if delete:
        db.execute(f"CREATE TRIGGER tally_{metric}_ad AFTER DELETE ON {table} BEGIN {remove} END")


def _columns(*exprs: str) -> set[str]:
    """The columns (written @name) an expression reads."""
    return {m for e in exprs for m in re.findall(r"@(\w+)", e)}


# The tallies: metric -> (table, label a, label b, what a row adds), columns written @name.
COUNTERS = {
    "deliveries": ("deliveries", "@topic", "COALESCE(@state, '')", "1"),
    "rejections": ("rejections", "@endpoint", "COALESCE(CAST(@http_status AS TEXT), '')", "COALESCE(@count, 1)"),
    "attempts": ("attempts", "@channel", "COALESCE(@outcome, '')", "1"),
    "transactions": ("transactions", "@decision", "''", "1"),
    "inbound": ("inbox", "@source", "COALESCE(@state, '')", "1"),
}
GAUGES = {   # current state: a deleted row leaves them
    "shipment_events": ("shipment_events", "@carrier", "COALESCE(@state, '')", "1"),
    "cod_states": ("cod_confirmations", "@state", "''", "1"),
}
# a message's delivery time: messages only (a job is 'delivered' when its receiver answered)
_DELIVERED = "{r}.delivered_at IS NOT NULL AND COALESCE({r}.kind, 'message') = 'message'"


def create(db: sqlite3.Connection) -> None:
    """The table, its triggers, and the tallies of the rows already there (once, when new)."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'tallies'").fetchone():
        return
    db.execute("DROP TABLE IF EXISTS payment_confirmations")   # filled again below with the tallies
    db.execute("CREATE TABLE tallies (metric TEXT NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL, n INTEGER NOT NULL,"
               " total REAL NOT NULL DEFAULT 0, PRIMARY KEY (metric, a, b)) WITHOUT ROWID")
    for metric, (table, a, b, n) in {**COUNTERS, **GAUGES}.items():
        _counter(db, metric, table, a, b, n, delete=metric in GAUGES)
        plain = {k: v.replace("@", "") for k, v in {"a": a, "b": b, "n": n}.items()}
        db.execute(f"INSERT INTO tallies SELECT '{metric}', COALESCE({plain['a']}, ''), {plain['b']}, SUM({plain['n']}),"
                   f" 0 FROM {table} GROUP BY 2, 3")
    _send_seconds(db)
    _delivery_seconds(db)
    _payment_seconds(db)


def _send_seconds(db: sqlite3.Connection) -> None:
    def share(r: str, sign: str) -> str:
        v = f"({r}.duration_ms / 1000.0)"
        return _bump("send_seconds", f"{r}.channel", _bucket(v, SEND_BUCKETS), f"{sign}1", f"{sign}COALESCE({v}, 0)")
    db.execute(f"CREATE TRIGGER tally_send_seconds_ai AFTER INSERT ON attempts BEGIN {share('new', '')} END")
    db.execute("CREATE TRIGGER tally_send_seconds_au AFTER UPDATE OF channel, duration_ms ON attempts"
               " WHEN old.channel IS NOT new.channel OR old.duration_ms IS NOT new.duration_ms"
               f" BEGIN {share('old', '-')} {share('new', '')} END")
    v = "(duration_ms / 1000.0)"
    db.execute(f"INSERT INTO tallies SELECT 'send_seconds', COALESCE(channel, ''), {_bucket(v, SEND_BUCKETS)},"
               f" COUNT(*), COALESCE(SUM({v}), 0) FROM attempts GROUP BY 2, 3")


def _delivery_seconds(db: sqlite3.Connection) -> None:
    def share(r: str, sign: str) -> str:
        v = f"({r}.delivered_at - {r}.created_at)"
        return _bump("delivery_seconds", f"{r}.channel", _bucket(v, DELIVERY_BUCKETS), f"{sign}1", f"{sign}{v}",
                     where=_DELIVERED.format(r=r))
    db.execute(f"CREATE TRIGGER tally_delivery_seconds_ai AFTER INSERT ON messages WHEN {_DELIVERED.format(r='new')}"
               f" BEGIN {share('new', '')} END")
    cols = ("delivered_at", "created_at", "channel", "kind")
    db.execute(f"CREATE TRIGGER tally_delivery_seconds_au AFTER UPDATE OF {', '.join(cols)} ON messages WHEN "
               + " OR ".join(f"old.{c} IS NOT new.{c}" for c in cols) + f" BEGIN {share('old', '-')} {share('new', '')} END")
    v = "(delivered_at - created_at)"
    db.execute(f"INSERT INTO tallies SELECT 'delivery_seconds', COALESCE(channel, ''), {_bucket(v, DELIVERY_BUCKETS)},"
               f" COUNT(*), SUM({v}) FROM messages WHERE {_DELIVERED.format(r='messages')} GROUP BY 2, 3")


def _payment_seconds(db: sqlite3.Connection) -> None:
    """Bank's time -> the mark-paid job delivered, automatic confirmations (no review action):
    a pair of a transaction and its job, followed from both sides. Besides the histogram, each
    pair's seconds are kept by transaction (`payment_confirmations`), for the 30-day quantiles."""
    db.execute("CREATE TABLE payment_confirmations (tx_id INTEGER PRIMARY KEY, created_at REAL NOT NULL,"
               " source TEXT NOT NULL, seconds REAL NOT NULL)")
    db.execute("CREATE INDEX idx_payment_confirmations_created_at ON payment_confirmations(created_at)")

    def pair(t: str, m: str, sign: str, source: str, found: str) -> str:
        v = f"({m}.delivered_at - {t}.bank_time)"
        where = (f"{found} AND {m}.dedupe_key = {_MARK_PAID.format(t=t)} AND {t}.bank_time IS NOT NULL"
                 f" AND {t}.review_action IS NULL AND {m}.delivered_at IS NOT NULL")
        kept = (f"DELETE FROM payment_confirmations WHERE tx_id IN (SELECT {t}.id FROM {source} WHERE {where});"
                if sign else
                f"INSERT OR REPLACE INTO payment_confirmations SELECT {t}.id, {t}.created_at, COALESCE({t}.source, ''),"
                f" {v} FROM {source} WHERE {where};")
        return _bump("payment_seconds", f"{t}.source", _bucket(v, PAYMENT_BUCKETS), f"{sign}1", f"{sign}{v}",
                     source=source, where=where) + " " + kept

    def job(r: str, sign: str) -> str:   # from the job's side: its dedupe key names its transaction
        return pair("t", r, sign, "transactions t", f"t.id = CAST(substr({r}.dedupe_key, 4) AS INTEGER)")

    def tx(r: str, sign: str) -> str:
        return pair(r, "m", sign, "messages m", f"m.dedupe_key = {_MARK_PAID.format(t=r)}")
    is_job = "{r}.dedupe_key LIKE 'tx:%:mark-paid'"
    db.execute(f"CREATE TRIGGER tally_payment_seconds_ai AFTER INSERT ON messages WHEN {is_job.format(r='new')}"
               f" AND new.delivered_at IS NOT NULL BEGIN {job('new', '')} END")
    db.execute("CREATE TRIGGER tally_payment_seconds_au AFTER UPDATE OF delivered_at, dedupe_key ON messages"
               f" WHEN ({is_job.format(r='old')} OR {is_job.format(r='new')}) AND (old.delivered_at IS NOT"
               " new.delivered_at OR old.dedupe_key IS NOT new.dedupe_key)"
               f" BEGIN {job('old', '-')} {job('new', '')} END")
    db.execute(f"CREATE TRIGGER tally_payment_seconds_tx_ai AFTER INSERT ON transactions BEGIN {tx('new', '')} END")
    cols = ("bank_time", "review_action", "source")
    db.execute(f"CREATE TRIGGER tally_payment_seconds_tx_au AFTER UPDATE OF {', '.join(cols)} ON transactions WHEN "
               + " OR ".join(f"old.{c} IS NOT new.{c}" for c in cols) + f" BEGIN {tx('old', '-')} {tx('new', '')} END")
    v = "(m.delivered_at - t.bank_time)"
    pairs = (f"FROM transactions t JOIN messages m ON m.dedupe_key = {_MARK_PAID.format(t='t')}"
             " WHERE t.bank_time IS NOT NULL AND t.review_action IS NULL AND m.delivered_at IS NOT NULL")
    db.execute(f"INSERT INTO tallies SELECT 'payment_seconds', COALESCE(t.source, ''), {_bucket(v, PAYMENT_BUCKETS)},"
               f" COUNT(*), SUM({v}) {pairs} GROUP BY 2, 3")
    db.execute(f"INSERT INTO payment_confirmations SELECT t.id, t.created_at, COALESCE(t.source, ''), {v} {pairs}")


def confirmations_since(db: Database, since: float, limit: int) -> list[sqlite3.Row]:
    """(source, seconds) of the latest `limit` automatic confirmations of transactions since
    `since`, newest first: read backwards along the covering (created_at, ...) index, so only
    those rows are read (ordered by tx_id, every row since `since` was read and sorted)."""
    return db.query("SELECT source, seconds FROM payment_confirmations WHERE created_at >= ? ORDER BY created_at DESC"
                    " LIMIT ?", (since, limit))


def cod_refused(db: sqlite3.Connection, refused: tuple[str, ...]) -> None:
    """cod_confirmations.refused: 1 while a parcel of the order is in a `refused` status (the
    customer refused it at the door), kept by triggers on both tables, so the COD month figures
    read one index range per month instead of looking every order's parcels up. Filled once."""
    if any(r[1] == "refused" for r in db.execute("PRAGMA table_info(cod_confirmations)")):
        return
    db.execute("ALTER TABLE cod_confirmations ADD COLUMN refused INTEGER")
    statuses = ", ".join(f"'{s}'" for s in refused)
    now = (f"EXISTS (SELECT 1 FROM shipments s WHERE s.order_id = cod_confirmations.order_id"
           f" AND s.status IN ({statuses}))")

    def set_for(order: str) -> str:
        return f"UPDATE cod_confirmations SET refused = {now} WHERE order_id = {order};"
    db.execute(f"UPDATE cod_confirmations SET refused = {now}")
    db.execute(f"CREATE TRIGGER cod_refused_ai AFTER INSERT ON cod_confirmations BEGIN {set_for('new.order_id')} END")
    db.execute(f"CREATE TRIGGER cod_refused_shipments_ai AFTER INSERT ON shipments BEGIN {set_for('new.order_id')} END")
    db.execute("CREATE TRIGGER cod_refused_shipments_au AFTER UPDATE OF status, order_id ON shipments"
               f" BEGIN {set_for('old.order_id')} {set_for('new.order_id')} END")
    db.execute(f"CREATE TRIGGER cod_refused_shipments_ad AFTER DELETE ON shipments BEGIN {set_for('old.order_id')} END")


def cod_month_figures(db: sqlite3.Connection) -> None:
    """The COD figures of a month range (store/cod_report.month_figures), kept until a question
    asked in that range is added, changed or deleted: a trigger deletes the range's row and the
    next read counts it again. A month long past is then read once, not on every scrape."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'cod_month_figures'").fetchone():
        return
    db.execute("CREATE TABLE cod_month_figures (start REAL NOT NULL, stop REAL NOT NULL, asked INTEGER,"
               " confirmed INTEGER, cancelled INTEGER, unanswered INTEGER, refused INTEGER,"
               " refused_confirmed INTEGER, PRIMARY KEY (start, stop))")

    def forget(row: str) -> str:
        return f"DELETE FROM cod_month_figures WHERE start <= {row}.asked_at AND {row}.asked_at < stop;"
    db.execute(f"CREATE TRIGGER cod_month_figures_ai AFTER INSERT ON cod_confirmations BEGIN {forget('new')} END")
    db.execute(f"CREATE TRIGGER cod_month_figures_ad AFTER DELETE ON cod_confirmations BEGIN {forget('old')} END")
    db.execute("CREATE TRIGGER cod_month_figures_au AFTER UPDATE OF state, refused, asked_at ON cod_confirmations"
               f" BEGIN {forget('old')} {forget('new')} END")


DAY = 86_400


def message_days(db: sqlite3.Connection) -> None:
    """Messages per UTC day, channel, template and status, with their SMS parts and billed parts,
    kept by triggers (a deleted message leaves them, as it leaves the rows): the monthly report
    sums a month's whole days here and reads only its two partial days (the shop's midnight is
    not UTC's) from the messages. Filled once. No trigger on DELETE: retention deletes old
    messages, and last year's report must not lose them (a database that had one drops it)."""
    db.execute("DROP TRIGGER IF EXISTS message_days_ad")
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'message_days'").fetchone():
        return
    db.execute("CREATE TABLE message_days (day INTEGER NOT NULL, channel TEXT NOT NULL, rule TEXT NOT NULL,"
               " status TEXT NOT NULL, n INTEGER NOT NULL, parts INTEGER NOT NULL, billed_parts INTEGER NOT NULL,"
               " PRIMARY KEY (day, channel, rule, status)) WITHOUT ROWID")
    is_message = "COALESCE({r}.kind, 'message') = 'message'"

    def share(r: str, sign: str) -> str:
        return (f"INSERT INTO message_days SELECT CAST(COALESCE({r}.created_at, 0) / {DAY} AS INTEGER),"
                f" COALESCE({r}.channel, ''), COALESCE({r}.rule, ''), COALESCE({r}.status, ''), {sign}1,"
                f" {sign}COALESCE({r}.segments, 0), {sign}MAX(1, COALESCE({r}.segments, 0))"
                f" WHERE {is_message.format(r=r)} ON CONFLICT DO UPDATE SET n = n + excluded.n,"
                " parts = parts + excluded.parts, billed_parts = billed_parts + excluded.billed_parts;")
    cols = ("created_at", "channel", "rule", "status", "segments", "kind")
    db.execute(f"CREATE TRIGGER message_days_ai AFTER INSERT ON messages BEGIN {share('new', '')} END")
    db.execute(f"CREATE TRIGGER message_days_au AFTER UPDATE OF {', '.join(cols)} ON messages WHEN "
               + " OR ".join(f"old.{c} IS NOT new.{c}" for c in cols) + f" BEGIN {share('old', '-')} {share('new', '')} END")
    db.execute(f"INSERT INTO message_days SELECT CAST(COALESCE(created_at, 0) / {DAY} AS INTEGER),"
               " COALESCE(channel, ''), COALESCE(rule, ''), COALESCE(status, ''), COUNT(*), SUM(COALESCE(segments, 0)),"
               f" SUM(MAX(1, COALESCE(segments, 0))) FROM messages WHERE {is_message.format(r='messages')}"
               " GROUP BY 1, 2, 3, 4")


def counts(db: Database, metric: str) -> list[sqlite3.Row]:
    """(a, b, n) of a counter or gauge, the label pairs no row has now left out (as a GROUP BY would)."""
    return db.query("SELECT a, b, n FROM tallies WHERE metric = ? AND n != 0 ORDER BY a, b", (metric,))


def histogram(db: Database, metric: str, buckets: tuple[float, ...]) -> list[tuple[Any, ...]]:
    """Per label: the cumulative count at or under each bucket, the count and the sum (the shape
    metrics._histogram reads)."""
    by: dict[str, list[float]] = {}
    for r in db.query("SELECT a, b, n, total FROM tallies WHERE metric = ? AND n != 0", (metric,)):
        row = by.setdefault(r["a"], [0] * (len(buckets) + 1) + [0.0])
        row[int(r["b"])] += r["n"]
        row[-1] += r["total"]
    out = []
    for label, row in sorted(by.items()):
        cumulative, acc = [], 0
        for n in row[:-1]:
            acc += n
            cumulative.append(acc)
        out.append((label, *cumulative[:-1], cumulative[-1], row[-1]))
    return out

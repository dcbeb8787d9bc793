"""Reads at a year of data (bench/scale.py measures them) must read the same as the simple
queries they replace: /metrics' tallies equal a count of the rows and keep counting when old
rows are deleted; keyset pages walk every row once in both directions; a search folds đ/Đ and
diacritics on both sides."""
from __future__ import annotations

import random

import pytest

from bridge import order_search
from bridge.store import messages as stored, reports, tallies
from bridge.store.db import Database
from bridge.store.reports import MessageFilter, search_messages
from bridge.web.admin.messages import fts_query

STATUSES = ("pending", "queued", "sent", "delivered", "failed", "in-doubt")


@pytest.fixture
def db(tmp_path):
    d = Database(str(tmp_path / "reads.db"))
    d.migrate()
    yield d
    d.close()


def add_message(db: Database, mid: str, text: str = "tin", at: float = 1_000.0, **row) -> None:
    with db.tx() as c:
        stored.insert(c, {"id": mid, "created_at": at, "updated_at": at, "dedupe_key": f"k-{mid}", "rule": "r",
                          "channel": "esms", "recipient": "+84912345678", "text": text, "segments": 1,
                          "status": "pending", "due_at": at, "kind": "message", **row}, ignore_duplicate=False)


# -- search folding ---------------------------------------------------------------------------
def found(db: Database, typed: str) -> set[str]:
    return {r["id"] for r in search_messages(db, MessageFilter(fts=fts_query(typed)), 50).rows}


def test_a_search_folds_d_with_stroke_and_diacritics_on_both_sides(db):
    add_message(db, "lower", "Cảm ơn, đơn hàng #12 đã giao")
    add_message(db, "upper", "ĐƠN HÀNG #13 ĐÃ GIAO")
    add_message(db, "ascii", "Shop Demo: Don hang #14 da giao")
    add_message(db, "other", "Dan hang #15")
    every = {"lower", "upper", "ascii"}
    for typed in ("đơn", "don", "Đơn", "ĐƠN", "DON", "dơn"):
        assert found(db, typed) == every, typed
    assert found(db, "đã giao") == every and found(db, "hàng 13") == {"upper"}
    with db.tx() as c:   # an edited text is found by its new words only
        c.execute("UPDATE messages SET text = 'Đặt lại' WHERE id = 'lower'")
    assert found(db, "dat lai") == {"lower"} and found(db, "đơn") == {"upper", "ascii"}
    with db.tx() as c:
        c.execute("DELETE FROM messages WHERE id = 'upper'")
    assert found(db, "DON") == {"ascii"}


def test_a_database_upgraded_from_the_unfolded_index_finds_d_with_stroke(tmp_path):
    """v11's index (over messages itself, unfolded) is replaced by the folded one at start."""
    path = str(tmp_path / "old.db")
    d = Database(path)
    d.migrate()
    add_message(d, "a", "đơn hàng")
    with d.tx() as c:
        for name in ("messages_fts_ai", "messages_fts_ad", "messages_fts_au"):
            c.execute(f"DROP TRIGGER {name}")
        c.execute("DROP TABLE messages_fts")
        c.execute("DROP VIEW messages_folded")
        c.execute("CREATE VIRTUAL TABLE messages_fts USING fts5(text, recipient, recipient_raw, content='messages',"
                  " content_rowid='rowid', tokenize='unicode61 remove_diacritics 2')")
        c.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")
    assert not found(d, "don")   # the issue: stored "đơn" was not found by "don"
    d.migrate()
    assert found(d, "don") == found(d, "ĐƠN") == {"a"}
    d.close()


def test_the_orders_search_and_the_review_search_fold_names(db):
    with db.tx() as c:
        for oid, name in ((1, "Đặng Thị Bích"), (2, "DANG VAN AN"), (3, "Trần Bình")):
            c.execute("INSERT INTO orders(id, number, customer_name, search_folded, updated_at, total_minor)"
                      " VALUES (?, ?, ?, ?, ?, 100)", (oid, str(oid), name, name and reports.fold(name), oid))
    for typed in ("đặng", "dang", "ĐẶNG", "Dang"):
        q = order_search.parse(typed, "DH")
        assert {r["id"] for r in reports.search_orders(db, q.number, q.phone, q.text, 50).rows} == {1, 2}, typed
        assert {r["id"] for r in reports.order_candidates(db, "", typed, "", None)} == {1, 2}, typed


# -- keyset paging ----------------------------------------------------------------------------
def walk(fetch, limit: int) -> tuple[list, list]:
    """Every page older from the first, then every page newer back from the last: the ids seen."""
    down, page = [], fetch(None, None)
    while True:
        down += [r["id"] for r in page.rows]
        assert len(page.rows) <= limit
        if not page.older:
            break
        page = fetch(page.older, None)
    up = []
    while True:
        up = [r["id"] for r in page.rows] + up
        if not page.newer:
            break
        page = fetch(None, page.newer)
    return down, up


def test_keyset_pages_walk_every_message_once_both_ways_with_ties_on_time(db):
    rng = random.Random(3)
    for i in range(137):
        add_message(db, f"m{i:03d}", at=1_000.0 + rng.randrange(20) + rng.choice((0, 0.5, 0.123456789)),
                    status=rng.choice(STATUSES), kind=rng.choice(("message", "order_update")))
    for f in (MessageFilter(), MessageFilter(kind="all"), MessageFilter(status="failed"),
              MessageFilter(fts=fts_query("tin"), kind="all"), MessageFilter(from_ts=1_005.0, to_ts=1_015.0)):
        where, params = f.sql()
        plain = [r[0] for r in db.query(f"SELECT id FROM messages m{where} ORDER BY created_at DESC, rowid DESC",
                                        tuple(params))]
        down, up = walk(lambda before, after: search_messages(db, f, 10, before, after), 10)
        assert down == plain and up == plain and plain, f


def test_keyset_pages_walk_orders_inbound_and_payments(db):
    rng = random.Random(4)
    with db.tx() as c:
        for i in range(1, 118):
            c.execute("INSERT INTO orders(id, number, customer_name, search_folded, phone_e164, updated_at)"
                      " VALUES (?, ?, ?, ?, ?, ?)", (i, str(i), "Lan", "lan", f"+8491234{i:04d}",
                                                     2_000.0 + rng.randrange(30)))
            c.execute("INSERT INTO inbox(id, created_at, source, external_id, text, state) VALUES (?, 1, ?, ?, 'x',"
                      " 'handled')", (i, rng.choice(("fibo", "smsgate")), f"e{i}"))
            c.execute("INSERT INTO transactions(id, created_at, decision, fingerprint) VALUES (?, 1, ?, ?)",
                      (i, rng.choice(("confirm", "no_code")), f"f{i}"))
    cases = [
        ("SELECT id FROM orders ORDER BY updated_at DESC, id DESC",
         lambda b, a: reports.search_orders(db, "", "", "", 7, b, a)),
        ("SELECT id FROM orders WHERE phone_e164 LIKE '%1234%' ORDER BY updated_at DESC, id DESC",
         lambda b, a: reports.search_orders(db, "", "1234", "", 7, b, a)),
        ("SELECT id FROM inbox WHERE source = 'fibo' ORDER BY id DESC",
         lambda b, a: reports.search_inbound(db, "fibo", 7, b, a)),
        ("SELECT id FROM inbox ORDER BY id DESC", lambda b, a: reports.search_inbound(db, "", 7, b, a)),
        ("SELECT id FROM transactions WHERE decision = 'no_code' ORDER BY id DESC",
         lambda b, a: reports.search_transactions(db, "no_code", 7, b, a)),
    ]
    for sql, fetch in cases:
        plain = [r[0] for r in db.query(sql)]
        down, up = walk(fetch, 7)
        assert down == plain and up == plain and plain, sql
        assert fetch(None, None).total == len(plain) and not fetch(None, None).more
    assert reports.search_orders(db, "", "", "", 7, "junk", "1e400_x").rows   # a broken cursor: the first page


def test_a_total_past_the_cap_says_more(db):
    with db.tx() as c:
        c.executemany("INSERT INTO transactions(id, created_at, decision, fingerprint) VALUES (?, 1, 'confirm', ?)",
                      [(i, f"f{i}") for i in range(1, reports.COUNT_CAP + 3)])
        c.execute("UPDATE transactions SET decision = 'no_code' WHERE id <= 3")
    page = reports.search_transactions(db, "", 50)
    assert page.total == reports.COUNT_CAP and page.more and len(page.rows) == 50
    assert reports.search_transactions(db, "no_code", 50).total == 3 and not reports.search_transactions(
        db, "no_code", 50).more


# -- /metrics tallies -------------------------------------------------------------------------
SIMPLE = {   # what /metrics counted before the tallies, row by row
    "deliveries": "SELECT COALESCE(topic, ''), COALESCE(state, ''), COUNT(*) FROM deliveries GROUP BY 1, 2",
    "rejections": "SELECT endpoint, CAST(http_status AS TEXT), SUM(COALESCE(count, 1)) FROM rejections GROUP BY 1, 2",
    "attempts": "SELECT COALESCE(channel, ''), COALESCE(outcome, ''), COUNT(*) FROM attempts GROUP BY 1, 2",
    "inbound": "SELECT COALESCE(source, ''), COALESCE(state, ''), COUNT(*) FROM inbox GROUP BY 1, 2",
    "shipment_events": "SELECT carrier, state, COUNT(*) FROM shipment_events GROUP BY 1, 2",
}


def simple_histogram(db: Database, label: str, expr: str, table_where: str, buckets: tuple) -> list[tuple]:
    cases = ", ".join(f"SUM(CASE WHEN {expr} <= {b} THEN 1 ELSE 0 END)" for b in buckets)
    return [tuple(r) for r in db.query(f"SELECT COALESCE({label}, ''), {cases}, COUNT(*), COALESCE(SUM({expr}), 0)"
                                       f" FROM {table_where} GROUP BY 1 ORDER BY 1")]


def metrics_now(db: Database) -> dict:
    out = {m: sorted(tuple(r) for r in tallies.counts(db, m)) for m in SIMPLE}
    out["transactions"] = sorted(tuple(r) for r in reports.transactions_by_decision(db))
    out["messages"] = sorted(tuple(r) for r in reports.messages_by_status_channel_all(db))
    out["send"] = reports.send_durations(db)
    out["delivery"] = reports.delivery_times(db)
    out["payment"] = reports.payment_latency_histogram(db)
    out["latencies"] = sorted(tuple(r) for r in reports.payment_latencies(db, 120.0))
    return out


def simple_now(db: Database) -> dict:
    out = {m: sorted(tuple(r) for r in db.query(sql)) for m, sql in SIMPLE.items()}
    out["transactions"] = sorted(tuple(r) for r in db.query(
        "SELECT COALESCE(decision, ''), COUNT(*) FROM transactions GROUP BY 1"))
    out["messages"] = sorted(tuple(r) for r in db.query(
        "SELECT status, channel, COUNT(*) FROM messages WHERE COALESCE(kind, 'message') = 'message' GROUP BY 1, 2"))
    out["send"] = simple_histogram(db, "channel", "duration_ms / 1000.0", "attempts", tallies.SEND_BUCKETS)
    out["delivery"] = simple_histogram(db, "channel", "(delivered_at - created_at)", "messages WHERE delivered_at IS"
                                       " NOT NULL AND COALESCE(kind, 'message') = 'message'", tallies.DELIVERY_BUCKETS)
    out["payment"] = simple_histogram(
        db, "t.source", "(m.delivered_at - t.bank_time)", "transactions t JOIN messages m ON m.dedupe_key = 'tx:' ||"
        " t.id || ':mark-paid' WHERE t.bank_time IS NOT NULL AND t.review_action IS NULL AND m.delivered_at IS NOT"
        " NULL", tallies.PAYMENT_BUCKETS)
    out["latencies"] = sorted(tuple(r) for r in db.query(
        "SELECT COALESCE(t.source, ''), m.delivered_at - t.bank_time FROM transactions t JOIN messages m"
        " ON m.dedupe_key = 'tx:' || t.id || ':mark-paid' WHERE t.bank_time IS NOT NULL AND t.review_action IS NULL"
        " AND m.delivered_at IS NOT NULL AND t.created_at >= 120"))
    return out


def same(a: dict, b: dict) -> bool:
    for key in a:
        for ra, rb in zip(a[key], b[key], strict=True):
            assert ra[:-1] == rb[:-1] and ra[-1] == pytest.approx(rb[-1]), (key, ra, rb)
    return True


def write_a_day(db: Database, rng: random.Random, base: int) -> None:
    """Every kind of write the tallied tables see: new rows, state moves, a message changing
    channel, reports arriving, a transaction reviewed, a refusal repeated."""
    with db.tx() as c:
        for i in range(base, base + 40):
            c.execute("INSERT INTO deliveries(received_at, topic, state, replay_key) VALUES (?, ?, 'received', ?)",
                      (i, rng.choice(("order.created", "order.updated", None)), f"r{i}"))
            c.execute("INSERT INTO attempts(message_id, at, channel, outcome, duration_ms) VALUES (?, ?, ?, ?, ?)",
                      (f"m{i}", i, rng.choice(("esms", "smsgate")), rng.choice(("accepted", "transient")),
                       rng.choice((None, 30.0, 100.0, 777.5, 50_000.0))))
            c.execute("INSERT INTO inbox(created_at, source, external_id, text, state) VALUES (?, ?, ?, 'x',"
                      " 'received')", (i, rng.choice(("fibo", "smsgate")), f"e{i}"))
            c.execute("INSERT INTO transactions(id, created_at, source, decision, fingerprint, bank_time) VALUES"
                      " (?, ?, ?, ?, ?, ?)", (i, i, rng.choice(("fibo", "sepay")), rng.choice(("confirm", "no_code")),
                                              f"f{i}", rng.choice((None, i - 20.0))))
            c.execute("INSERT INTO shipment_events(received_at, carrier, state, dedupe_key) VALUES (?, 'ghn', ?, ?)",
                      (i, rng.choice(("received", "applied")), f"s{i}"))
            c.execute("INSERT INTO rejections(at, endpoint, http_status, reason, count) VALUES (?, '/w', ?, 'x', 1)",
                      (i, rng.choice((401, 413))))
    for i in range(base, base + 40):
        add_message(db, f"m{i}", at=float(i), kind=rng.choice(("message", "order_update", None)),
                    channel=rng.choice(("esms", "smsgate")))
        add_message(db, f"job{i}", at=float(i), kind="order_update", channel="woocommerce")
        with db.tx() as c:
            c.execute("UPDATE messages SET dedupe_key = ? WHERE id = ?", (f"tx:{i}:mark-paid", f"job{i}"))
    with db.tx() as c:
        c.execute("UPDATE deliveries SET state = 'processed' WHERE received_at % 3 != 0 AND state = 'received'")
        c.execute("UPDATE inbox SET state = 'handled' WHERE created_at % 2 = 0")
        c.execute("UPDATE shipment_events SET state = 'applied' WHERE received_at % 5 = 0")
        c.execute("UPDATE rejections SET count = count + 2 WHERE at % 4 = 0")
        c.execute("UPDATE transactions SET review_action = 'confirmed' WHERE id % 7 = 0")
        c.execute("UPDATE messages SET status = 'delivered', delivered_at = created_at + (rowid % 9) * 70.5"
                  " WHERE rowid % 3 = 0 AND delivered_at IS NULL")
        c.execute("UPDATE messages SET channel = 'messenger' WHERE rowid % 5 = 0")
        c.execute("UPDATE messages SET delivered_at = delivered_at + 4000 WHERE rowid % 11 = 0")
        c.execute("UPDATE transactions SET bank_time = created_at - 3 WHERE bank_time IS NULL AND id % 3 = 0")


def test_metrics_tallies_equal_counting_the_rows_and_keep_counting_after_deletes(db):
    rng = random.Random(7)
    write_a_day(db, rng, 100)
    first = metrics_now(db)
    assert all(first[k] for k in first) and same(first, simple_now(db))   # every tally has something
    write_a_day(db, rng, 200)
    before = metrics_now(db)
    assert same(before, simple_now(db))
    with db.tx() as c:   # retention removes old finished rows
        c.execute("DELETE FROM deliveries WHERE state = 'processed'")
        c.execute("DELETE FROM attempts WHERE at < 250")
        c.execute("DELETE FROM inbox WHERE state = 'handled'")
        c.execute("DELETE FROM transactions WHERE id < 150")
        c.execute("DELETE FROM rejections")
        c.execute("DELETE FROM messages WHERE delivered_at IS NOT NULL")
    after = metrics_now(db)
    for counter in ("deliveries", "rejections", "attempts", "inbound", "transactions", "send", "delivery",
                    "payment", "latencies"):
        assert after[counter] == before[counter], counter
    assert after["messages"] != before["messages"]   # a gauge of the messages there are now
    assert after["messages"] == simple_now(db)["messages"]
    assert stored.counts(db) == {r[0]: r[1] for r in db.query("SELECT status, COUNT(*) FROM messages GROUP BY 1")}


def test_tallies_are_filled_from_the_rows_already_there_on_upgrade(db):
    write_a_day(db, random.Random(8), 100)
    expected = metrics_now(db)
    with db.tx() as c:   # as before v12: no tallies
        for (name,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'tally_%'"
                                 ).fetchall():
            c.execute(f"DROP TRIGGER {name}")
        c.execute("DROP TABLE tallies")
    db.migrate()
    assert same(metrics_now(db), expected) and same(expected, simple_now(db))


def test_cod_month_figures_and_states_equal_reading_the_parcels(db):
    """A question's `refused` follows its order's parcels (returned, back on the way, deleted)."""
    from bridge.store import cod_report
    rng = random.Random(9)
    months = [("a", 0.0, 500.0), ("b", 500.0, 1_000.0)]

    def simple() -> list[dict]:
        out = []
        for month, start, stop in months:
            row = db.one(
                "WITH asked AS (SELECT state, order_id IN (SELECT order_id FROM shipments WHERE status IN"
                " ('returning', 'returned')) AS refused FROM cod_confirmations WHERE asked_at >= ? AND asked_at < ?)"
                " SELECT COUNT(*) AS asked, COALESCE(SUM(state = 'confirmed'), 0) AS confirmed,"
                " COALESCE(SUM(state = 'cancelled'), 0) AS cancelled,"
                " COALESCE(SUM(state IN ('asked', 'call', 'closed')), 0) AS unanswered,"
                " COALESCE(SUM(refused), 0) AS refused, COALESCE(SUM(refused AND state = 'confirmed'), 0)"
                " AS refused_confirmed FROM asked", (start, stop))
            out.append({"month": month, **dict(row)})
        return out

    def states() -> dict:
        return {r[0]: r[1] for r in db.query("SELECT state, COUNT(*) FROM cod_confirmations GROUP BY state")}
    with db.tx() as c:
        for oid in range(1, 80):
            c.execute("INSERT INTO cod_confirmations(order_id, state, asked_at) VALUES (?, ?, ?)",
                      (oid, rng.choice(("asked", "call", "closed", "confirmed", "cancelled")), rng.uniform(0, 999)))
            for k in range(rng.randrange(3)):
                c.execute("INSERT INTO shipments(carrier, tracking, order_id, status) VALUES ('ghn', ?, ?, ?)",
                          (f"T{oid}-{k}", oid, rng.choice(("delivering", "delivered", "returning"))))
    figures = cod_report.month_figures(db, months)
    assert figures == simple() and sum(f["refused"] for f in figures) and cod_report.state_counts(db) == states()
    with db.tx() as c:
        c.execute("UPDATE shipments SET status = 'returned' WHERE status = 'returning' AND rowid % 2 = 0")
        c.execute("UPDATE shipments SET status = 'returning' WHERE status = 'delivering'")
        c.execute("DELETE FROM shipments WHERE status = 'returned' AND rowid % 3 = 0")
        c.execute("UPDATE shipments SET order_id = order_id + 1 WHERE rowid % 5 = 0")
        c.execute("UPDATE cod_confirmations SET state = 'confirmed' WHERE state = 'asked'")
        c.execute("INSERT INTO cod_confirmations(order_id, state, asked_at) VALUES (500, 'asked', 10)")
        c.execute("INSERT INTO shipments(carrier, tracking, order_id, status) VALUES ('ghn', 'X', 500, 'returned')")
        c.execute("DELETE FROM cod_confirmations WHERE order_id = 3")
    assert cod_report.month_figures(db, months) == simple() and cod_report.state_counts(db) == states()


def test_the_monthly_report_from_whole_days_and_its_edges_equals_reading_the_messages(db):
    rng = random.Random(10)
    day = 86_400

    def simple(start: float, end: float) -> list[tuple]:
        return [tuple(r) for r in db.query(
            "SELECT COALESCE(channel, ''), COALESCE(rule, ''), COUNT(*), SUM(COALESCE(segments, 0)),"
            " SUM(status = 'delivered'), SUM(status = 'failed'), SUM(status != 'failed'),"
            " SUM(CASE WHEN status != 'failed' THEN MAX(1, COALESCE(segments, 0)) ELSE 0 END) FROM messages"
            " WHERE created_at >= ? AND created_at < ? AND COALESCE(kind, 'message') = 'message'"
            " AND status IN ('queued', 'sent', 'delivered', 'failed', 'in-doubt') GROUP BY 1, 2 ORDER BY 1, 2",
            (start, end))]
    for i in range(400):
        at = rng.choice((10 * day, 12 * day, 12 * day - 0.5)) if i % 10 == 0 else rng.uniform(8 * day, 16 * day)
        add_message(db, f"r{i}", at=at, status=rng.choice(STATUSES), channel=rng.choice(("esms", "smsgate", None)),
                    rule=rng.choice(("a", "b", None)), segments=rng.choice((0, 1, 2, None)),
                    kind=rng.choice(("message", "message", "order_update", None)))
    with db.tx() as c:
        c.execute("UPDATE messages SET status = 'delivered' WHERE status = 'sent' AND rowid % 2 = 0")
        c.execute("UPDATE messages SET channel = 'esms', segments = 3 WHERE rowid % 7 = 0")
        c.execute("UPDATE messages SET created_at = created_at + 3 * 86400 WHERE rowid % 11 = 0")
    # a month in UTC+7 (its midnights are not UTC's), whole UTC days, less than a day, a day's edge
    for start, end in ((10 * day - 7 * 3600, 14 * day - 7 * 3600), (10 * day, 12 * day), (9.3 * day, 9.9 * day),
                       (11.5 * day, 12.5 * day), (0, 20 * day)):
        got = [tuple(r) for r in reports.month_messages(db, start, end)]
        assert got == simple(start, end) and got, (start, end)

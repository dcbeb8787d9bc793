"""Reads at a year of data (bench/scale.py measures them) must read the same as the simple
queries they replace: /metrics' tallies equal a count of the rows and keep counting when old
rows are deleted; keyset pages walk every row once in both directions; a search folds đ/Đ and
diacritics on both sides."""
from __future__ import annotations

import logging
import random
import threading
import unicodedata

import pytest

from bridge import order_search
from bridge.store import messages as stored, reports, search, tallies
from bridge.store.db import Database
from bridge.store.schema import SCHEMA_VERSION
from bridge.store.reports import MessageFilter, search_messages
from bridge.web.admin.messages import fts_query
from tests.conftest import wait_until

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
        for name in ("messages_index_au", "messages_index_ad"):   # they name the folded index
            c.execute(f"DROP TRIGGER {name}")
        c.execute("DROP TABLE messages_fts")
        c.execute("DROP VIEW messages_folded")
        c.execute("CREATE VIRTUAL TABLE messages_fts USING fts5(text, recipient, recipient_raw, content='messages',"
                  " content_rowid='rowid', tokenize='unicode61 remove_diacritics 2')")
        c.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")
        c.execute("DELETE FROM search_terms_pending")   # v11 indexed each message as it was inserted
    assert not found(d, "don")   # the issue: stored "đơn" was not found by "don"
    d.migrate()
    assert found(d, "don") == found(d, "ĐƠN") == {"a"}
    with d.tx() as c:   # both indexes hold the message the rebuild emptied PENDING of
        for index in (search.FTS, search.RECIPIENTS):
            c.execute(f"INSERT INTO {index}({index}, rank) VALUES ('integrity-check', 1)")
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


def test_text_typed_decomposed_and_the_eth_look_alike_are_found_as_composed(db):
    """A phone keyboard may type "ư" as u + combining horn (NFD), and old encodings wrote Đ as
    Ð (U+00D0): both find what the composed text finds, in messages, orders and the review."""
    add_message(db, "huong", "Chào chị Hương, đơn của Đức")
    add_message(db, "eth", "ÐƠN của Ðức")
    for typed in ("Hương", "Đức", "ĐỨC"):
        nfd = unicodedata.normalize("NFD", typed)
        assert nfd != typed and found(db, nfd) == found(db, typed) != set(), typed
    assert found(db, "Ðức") == found(db, "duc") == {"huong", "eth"}
    assert found(db, "đơn") == {"huong", "eth"}
    with db.tx() as c:
        c.execute("INSERT INTO orders(id, number, customer_name, search_folded, updated_at, total_minor)"
                  " VALUES (1, '1', 'Phạm Thị Hương', ?, 1, 100)", (reports.fold("Phạm Thị Hương"),))
    q = order_search.parse(unicodedata.normalize("NFD", "Hương"), "DH")
    assert [r["id"] for r in reports.search_orders(db, q.number, q.phone, q.text, 50).rows] == [1]
    assert [r["id"] for r in reports.order_candidates(db, "", unicodedata.normalize("NFD", "Hương"), "", None)] == [1]


WORDS = ("đơn", "Đơn", "don", "dong", "Đông", "hàng", "Hà", "hai", "Hải", "Hạnh", "hang", "Nguyễn", "nguyen",
         "Ngọc", "ngo", "DH123", "DH124", "dh1", "cảm", "ơn", "Cam", "o'n", "a_b", "x")


def matched(db: Database, query: str) -> set[int]:
    return {r[0] for r in db.query("SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?", (query,))}


def test_a_typed_prefix_read_as_the_index_terms_finds_what_the_prefix_finds(db, monkeypatch):
    """A search writes each typed prefix as the OR of the index's terms that start with it (read
    lazily, newest first) instead of a prefix FTS5 merges whole: the same rows, while messages
    are added, edited and deleted (search_terms kept with the index, in the same batches)."""
    rng = random.Random(8)

    def text() -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 6)))
    typed = ("đơn", "Đ", "don", "Do", "ĐÔNG", "ha", "Hà", "hải", "h", "nguy", "Nguyễn Hà", "ngọc ha", "DH12", "dh1",
             "cảm ơn", "ca", "a_b", "o'n", "zzz", "d", "x")
    for batch in range(4):
        for i in range(40):
            add_message(db, f"b{batch}-{i}", text(), at=1_000.0 + batch * 100 + i, recipient_raw=rng.choice(("", "Hà")))
        with db.tx() as c:   # edited texts: their new words must be found too
            c.execute("UPDATE messages SET text = ? WHERE rowid % 7 = ?", (text() + " Đông", batch))
            c.execute("DELETE FROM messages WHERE rowid % 11 = ?", (batch,))
        for word in typed:
            query = search.fold_typed(db, fts_query(word))
            lazy = search.lazy_query(db, query)
            assert matched(db, lazy) == matched(db, query), (word, lazy)
            assert {r["id"] for r in search_messages(db, MessageFilter(fts=fts_query(word)), 1_000).rows} == {
                r[0] for r in db.query(
                "SELECT id FROM messages WHERE rowid IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)"
                " AND COALESCE(kind, 'message') = 'message'", (query,))}, word
    assert not db.scalar(f"SELECT COUNT(*) FROM {search.PENDING}")
    lazy = search.lazy_query(db, search.fold_typed(db, fts_query("Hà ngọc")))
    assert "*" not in lazy and '"hang"' in lazy and '"ngoc"' in lazy, lazy   # read as terms: no prefix left


def test_new_messages_wait_for_the_index_job_and_a_search_indexes_them_first(db, monkeypatch):
    """An insert only lists its message as waiting; the job (keep_index) indexes the waiting ones
    a batch per write transaction, text, recipients and terms together; a search first indexes
    what still waits, so it finds the newest message, and an edit or a delete of a message that
    is waiting or indexed leaves both indexes consistent with the rows."""
    monkeypatch.setattr(search, "BATCH", 4)
    for i in range(10):
        add_message(db, f"m{i}", "Đông Hải", at=1_000.0 + i, recipient="+8490000000" + str(i))
    assert db.scalar(f"SELECT COUNT(*) FROM {search.PENDING}") == 10
    assert not matched(db, '"dong"')                       # nothing indexed by the insert itself
    assert search.keep_index(db, budget=0) is False         # one transaction of 4
    assert len(matched(db, '"dong"')) == 4 and db.scalar(f"SELECT COUNT(*) FROM {search.PENDING}") == 6
    assert db.scalar("SELECT COUNT(*) FROM messages_recipients WHERE recipient LIKE '%0000000%'") == 4
    with db.tx() as c:   # an indexed message edited, a waiting one edited, one of each deleted
        c.execute("UPDATE messages SET text = 'Bích Ngọc' WHERE id IN ('m0', 'm9')")
        c.execute("DELETE FROM messages WHERE id IN ('m1', 'm8')")
    # the phone filter finds a waiting message without indexing it (its row is a candidate)
    phone = search_messages(db, MessageFilter(phone_raw="900000007", phone_e164=None), 50)
    assert [r["id"] for r in phone.rows] == ["m7"] and db.scalar(f"SELECT COUNT(*) FROM {search.PENDING}") == 6
    assert found(db, "đông") == {f"m{i}" for i in range(2, 8)}   # the search indexed the rest first
    assert found(db, "ngọc") == {"m0", "m9"} and found(db, "ngo") == {"m0", "m9"}
    assert not db.scalar(f"SELECT COUNT(*) FROM {search.PENDING}")
    with db.tx() as c:
        for index in (search.FTS, search.RECIPIENTS):   # raises when an index lost step with its rows
            c.execute(f"INSERT INTO {index}({index}, rank) VALUES ('integrity-check', 1)")


def test_a_search_that_cannot_index_every_waiting_message_says_so(service_factory, monkeypatch):
    """Past its budget a search reads the index as it is: the page says how many of the newest
    messages it could not find, in Vietnamese."""
    from tests.test_admin import PASSWORD, Admin
    svc = service_factory(admin_password=PASSWORD)
    admin = Admin(svc)
    assert admin.sign_in().status_code == 302
    for i in range(6):
        add_message(svc.db, f"w{i}", "Đông Hải", at=1_000.0 + i)
    monkeypatch.setattr(search, "BATCH", 2)
    monkeypatch.setattr(search, "SEARCH_BUDGET", 0)
    page = search_messages(svc.db, MessageFilter(fts=fts_query("đông")), 50)
    assert page.unindexed == 4 and len(page.rows) == 2
    html = admin.get("/admin/messages?q=%C4%91%C3%B4ng").text
    assert "2 tin nhắn mới nhất chưa vào chỉ mục tìm kiếm" in html
    monkeypatch.setattr(search, "SEARCH_BUDGET", 5.0)
    assert "chưa vào chỉ mục" not in admin.get("/admin/messages?q=%C4%91%C3%B4ng").text


def test_a_text_with_a_status_pages_through_the_newest_matching_rows(db, monkeypatch):
    """A text in many messages with a status is walked newest first by the status index, its text
    checked in windows: every matching row once, in time order, both ways; its total counted
    among the text's newest matches only says "more" past them."""
    monkeypatch.setattr(reports, "MANY_MATCHES", 5)
    rng = random.Random(9)
    for i in range(160):
        add_message(db, f"t{i:03d}", rng.choice(("đơn hàng của Hà", "Cảm ơn", "Đơn #3 đã giao")),
                    at=1_000.0 + rng.randrange(60) + rng.choice((0, 0.25)), status=rng.choice(("failed", "sent")))
    f = MessageFilter(fts=fts_query("đơn"), status="failed")
    plain = [r[0] for r in db.query(
        "SELECT id FROM messages WHERE status = 'failed' AND (text LIKE '%đơn%' OR text LIKE '%Đơn%')"
        " ORDER BY created_at DESC, rowid DESC")]
    down, up = walk(lambda before, after: search_messages(db, f, 6, before, after), 6)
    assert down == plain and up == plain and len(plain) > 12
    first = search_messages(db, f, 6)
    assert first.total == len(plain) and not first.more
    monkeypatch.setattr(reports, "EXAMINE", 20)
    first = search_messages(db, f, 6)
    assert first.more and 6 <= first.total < len(plain)
    # every statement reads an index or rows by rowid, never the whole table
    seen: list[str] = []
    db.conn().set_trace_callback(seen.append)
    try:
        search_messages(db, f, 6, first.older)
    finally:
        db.conn().set_trace_callback(None)
    for sql in seen:
        if sql.lstrip().upper().startswith("SELECT"):
            plan = [r[3] for r in db.query("EXPLAIN QUERY PLAN " + sql)]
            assert not any(p.startswith(("SCAN m", "SCAN messages")) and "INDEX" not in p for p in plan), (sql, plan)
            assert not any(p.startswith("SCAN messages_fts") and "M" not in p.rsplit(" ", 1)[-1] for p in plan), plan


def test_a_process_starting_during_an_upgrade_waits_for_it_instead_of_failing(tmp_path, caplog):
    """At a year of data the upgrade holds the write lock for minutes; web and worker started
    together (or `bridge init` beside them) must not die of 'database is locked'."""
    path = str(tmp_path / "upgrading.db")
    first = Database(path)
    first.migrate()
    add_message(first, "a", "đơn hàng")
    with first.tx() as c:
        c.execute("PRAGMA user_version=11")
    upgrading = first.conn()
    upgrading.execute("BEGIN IMMEDIATE")   # another process's upgrade, still running
    second = Database(path, busy_timeout_ms=100)
    outcome: list = []

    def start() -> None:
        try:
            second.migrate()
            outcome.append("ok")
        except Exception as exc:   # what the second process would die of
            outcome.append(exc)
    caplog.set_level(logging.INFO, logger="bridge.store.schema")
    t = threading.Thread(target=start)
    t.start()
    wait_until(lambda: outcome or "waiting" in caplog.text, what="the second process waits or fails")
    assert not outcome, outcome
    upgrading.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    upgrading.execute("COMMIT")
    t.join(30)
    assert outcome == ["ok"] and second.scalar("PRAGMA user_version") == SCHEMA_VERSION
    assert found(second, "don") == {"a"}
    assert second.scalar("PRAGMA busy_timeout") == 100   # its own timeout again for ordinary writes
    second.close()
    first.close()


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
    assert search.keep_index(db)   # the reference query below reads the full-text index as it is
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


def test_cod_lists_page_by_keyset_every_question_once_while_questions_are_added(db):
    """The COD lists page by (asked_at, order id) instead of OFFSET: walking down and back up
    shows every question once in the list's order (ties on asked_at included; the customers to
    call oldest first), and questions asked meanwhile do not shift the pages still to come."""
    from bridge.store import cod_report
    rng = random.Random(5)

    def add(oids) -> None:
        with db.tx() as c:
            for oid in oids:
                c.execute("INSERT INTO cod_confirmations(order_id, state, asked_at) VALUES (?, ?, ?)",
                          (oid, rng.choice(("call", "asked", "confirmed")), 1_000.0 + rng.randrange(25)))
    add(range(1, 90))
    fresh = iter(range(1_000, 2_000))
    for state, top, sql in (
            ("", 5_000.0, "SELECT order_id FROM cod_confirmations ORDER BY asked_at DESC, order_id DESC"),
            ("call", 0.0, "SELECT order_id FROM cod_confirmations WHERE state = 'call' ORDER BY asked_at, order_id")):
        plain = [r[0] for r in db.query(sql)]
        down, page = [], cod_report.confirmations(db, state, 7)
        while True:
            down += [r["order_id"] for r in page.rows]
            if not page.older:
                break
            with db.tx() as c:   # asked meanwhile, at the top of the list: the pages below do not shift
                c.execute("INSERT INTO cod_confirmations(order_id, state, asked_at) VALUES (?, 'call', ?)",
                          (next(fresh), top))
            page = cod_report.confirmations(db, state, 7, page.older)
        assert down == plain, state
        now = [r[0] for r in db.query(sql)]
        assert page.total == len(now)
        up = []
        while True:
            up = [r["order_id"] for r in page.rows] + up
            if not page.newer:
                break
            page = cod_report.confirmations(db, state, 7, None, page.newer)
        assert up == now and len(now) > len(plain), state
    sql = ("EXPLAIN QUERY PLAN SELECT c.order_id FROM cod_confirmations c WHERE c.asked_at <= ? AND (c.asked_at < ?"
           " OR c.order_id < ?) ORDER BY c.asked_at DESC, c.order_id DESC LIMIT 51")
    plan = " | ".join(r[3] for r in db.query(sql, (1e9, 1e9, 1)))
    assert "INDEX idx_cod_confirmations_asked_at (" in plan and "TEMP B-TREE" not in plan, plan


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


def test_the_confirmation_quantiles_read_only_the_latest_confirmations_backwards_from_the_index(db):
    """/metrics and the dashboard read the latest LATENCY_SAMPLE confirmations of the 30 days, not
    every one of them sorted (about 20,000 rows per scrape at a year of data)."""
    with db.tx() as c:
        c.executemany("INSERT INTO payment_confirmations(tx_id, created_at, source, seconds) VALUES (?, ?, 'sepay', ?)",
                      [(i, 1_000.0 + (i * 7) % 40, float(i)) for i in range(1, 41)])
    latest = [r["seconds"] for r in reports.payment_latencies(db, 1_010.0, limit=5)]
    assert latest == [float(r[0]) for r in db.query(
        "SELECT seconds FROM payment_confirmations WHERE created_at >= 1010 ORDER BY created_at DESC LIMIT 5")]
    plan = " | ".join(r[3] for r in db.query(
        "EXPLAIN QUERY PLAN SELECT source, seconds FROM payment_confirmations WHERE created_at >= ?"
        " ORDER BY created_at DESC LIMIT ?", (0.0, 5)))
    assert "COVERING INDEX idx_payment_confirmations_window" in plan and "TEMP B-TREE" not in plan, plan
    assert reports.LATENCY_SAMPLE <= 2_000


def test_the_decision_and_source_menus_offer_only_values_that_still_have_rows(db):
    """Retention deletes old rows; a menu choice that finds nothing is a dead end for the owner."""
    write_a_day(db, random.Random(9), 100)
    with db.tx() as c:
        c.execute("INSERT INTO inbox(created_at, source, external_id, text, state) VALUES (1, 'old', 'o1', 'x', 'handled')")
        c.execute("INSERT INTO transactions(id, created_at, source, decision, fingerprint) VALUES (1, 1, 'fibo',"
                  " 'ignored', 'old')")
    assert reports.decisions(db) == ["confirm", "ignored", "no_code"]
    assert reports.inbound_sources(db) == ["fibo", "old", "smsgate"]
    with db.tx() as c:
        c.execute("DELETE FROM inbox WHERE source = 'old'")
        c.execute("DELETE FROM transactions WHERE decision = 'ignored'")
    assert reports.decisions(db) == ["confirm", "no_code"] and reports.inbound_sources(db) == ["fibo", "smsgate"]


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
    assert cod_report.month_figures(db, months) == figures   # read again from the kept figures
    assert db.scalar("SELECT COUNT(*) FROM cod_month_figures") == 2
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
    with db.tx() as c:   # a late answer and a parcel refused months after the question
        c.execute("UPDATE cod_confirmations SET state = 'cancelled' WHERE order_id = 7")
        c.execute("INSERT INTO shipments(carrier, tracking, order_id, status) VALUES ('ghn', 'Y', 8, 'returned')")
    assert cod_report.month_figures(db, months) == simple()


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
    # the dashboard's today and last 7 days: whole UTC days from message_days, the hours before
    # the first from the messages, counted as a GROUP BY over the rows counts them
    for since in (10 * day - 7 * 3600, 12 * day, 12 * day - 0.5, 15.9 * day, 0):
        got = [tuple(r) for r in reports.messages_by_status_channel(db, since)]
        assert got == [tuple(r) for r in db.query(
            "SELECT status, COALESCE(channel, ''), COUNT(*) FROM messages WHERE created_at >= ?"
            " AND COALESCE(kind, 'message') = 'message' GROUP BY 1, 2 ORDER BY 1, 2", (since,))] and got, since


def test_review_candidates_read_the_narrow_search_index_not_the_orders(db):
    """The transaction page's candidate orders (by number, name, phone, amount) compare in the
    `orders_search` and `total_minor` indexes; a scan of the orders read every order's body."""
    with db.tx() as c:
        for i in range(1, 60):
            c.execute("INSERT INTO orders(id, number, customer_name, search_folded, phone_e164, total_minor,"
                      " updated_at, paid_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      (i, str(5000 + i), "Lê Hà", "le ha", f"+8491234{i:04d}", 1000 * (i % 5), float(i),
                       None if i % 3 else 1.0))
    seen: list[str] = []
    db.conn().set_trace_callback(seen.append)
    try:
        got = [r["id"] for r in reports.order_candidates(db, "5007", "Hà", "", 3000, limit=100)]
    finally:
        db.conn().set_trace_callback(None)
    assert got == [r[0] for r in db.query(
        "SELECT id FROM orders WHERE number = '5007' OR search_folded LIKE '%ha%' OR total_minor = 3000"
        " ORDER BY paid_at IS NOT NULL, updated_at DESC")]
    sql = next(s for s in seen if "FROM orders" in s)
    plan = [r[3] for r in db.query("EXPLAIN QUERY PLAN " + sql.replace("?", "NULL"))]
    assert not any(p.startswith("SCAN orders") and "INDEX" not in p for p in plan), plan
    assert any("orders_search" in p for p in plan) and any("total_minor" in p for p in plan), plan


def test_an_orders_search_reads_its_narrow_index_newest_first_and_counts_a_short_result_from_its_page(db):
    """A name or phone search reads `orders_search_recent` in time order (a name in many orders
    stops after its page, no sort of every match), and a result that fits on its first page is
    counted from it, not by reading the index a second time."""
    with db.tx() as c:
        for i in range(1, 40):
            c.execute("INSERT INTO orders(id, number, customer_name, search_folded, phone_e164, updated_at)"
                      " VALUES (?, ?, 'Hà', ?, ?, ?)", (i, str(i), "ha" if i % 3 else "lan", f"+849123{i:05d}",
                                                        float(i % 7)))
    seen: list[str] = []
    db.conn().set_trace_callback(seen.append)
    try:
        page = reports.search_orders(db, "", "", "lan", 50)
    finally:
        db.conn().set_trace_callback(None)
    assert [r["id"] for r in page.rows] == [r[0] for r in db.query(
        "SELECT id FROM orders WHERE search_folded = 'lan' ORDER BY updated_at DESC, id DESC")]
    assert page.total == 13 and not page.more
    scans = [s for s in seen if "orders_search_recent" in s]
    assert len(scans) == 1 and "COUNT" not in scans[0], seen
    plan = " | ".join(r[3] for r in db.query("EXPLAIN QUERY PLAN " + scans[0]))
    assert "COVERING INDEX orders_search_recent" in plan and "TEMP B-TREE FOR ORDER BY" not in plan, plan


def test_the_scheduler_keeps_the_search_index_in_the_leading_process(service_factory):
    from bridge.jobs import make_scheduler
    svc = service_factory()
    add_message(svc.db, "later", "Đông Hải", at=1_000.0)
    job = make_scheduler(svc.bridge).get_job("search_index")
    assert job is not None and job.trigger.interval.total_seconds() == search.KEEP_EVERY
    job.func()                                  # another process leads: its job does it
    assert svc.db.scalar(f"SELECT COUNT(*) FROM {search.PENDING}") == 1
    assert svc.bridge.leader.renew()
    job.func()
    assert not svc.db.scalar(f"SELECT COUNT(*) FROM {search.PENDING}")


def test_the_worker_s_timed_passes_read_only_the_messages_they_may_move(db):
    """advance_stalled and resolve_in_doubt run every few seconds inside a write transaction:
    through the (status, ...) indexes they read every message in flight and every in-doubt one
    (170-350 ms of the lock at a year of data). Each reads its partial index, and moves only what
    is due."""
    from bridge import outbox
    for i in range(30):   # in flight without a next channel, and in doubt waiting for a person
        add_message(db, f"flight{i}", status="sent", fallback="", fallback_after=None)
        add_message(db, f"doubt{i}", status="in-doubt", due_at=1_000.0, fallback="")
    add_message(db, "stalled", status="sent", fallback="smsgate", fallback_after=60.0)
    add_message(db, "waiting", status="sent", fallback="smsgate", fallback_after=600.0)
    add_message(db, "doubt-due", status="in-doubt", due_at=1_000.0, fallback="smsgate")
    with db.tx() as c:   # a new row has no sending time: the channel's taking sets it
        c.execute("UPDATE messages SET sent_at = 1000.0 WHERE status = 'sent'")
    seen: list[str] = []
    db.conn().set_trace_callback(seen.append)
    try:
        assert outbox.advance_stalled(db, at=1_100.0) == 1
        assert outbox.resolve_in_doubt(db) == 1
    finally:
        db.conn().set_trace_callback(None)
    assert db.one("SELECT channel, status FROM messages WHERE id='stalled'")["channel"] == "smsgate"
    assert db.one("SELECT channel FROM messages WHERE id='waiting'")["channel"] == "esms"
    assert db.one("SELECT channel FROM messages WHERE id='doubt-due'")["channel"] == "smsgate"
    assert {r[0] for r in db.query("SELECT status FROM messages WHERE id GLOB 'flight*' OR id GLOB 'doubt[0-9]*'")} \
        == {"sent", "in-doubt"}
    passes = [s for s in seen if s.lstrip().startswith("SELECT") and "fallback" in s and "FROM messages" in s]
    assert len(passes) == 2, seen
    plans = [" | ".join(r[3] for r in db.query("EXPLAIN QUERY PLAN " + s)) for s in passes]
    assert "idx_messages_fallback_due" in plans[0] and "idx_messages_doubts_due" in plans[1], plans


def test_the_owner_alert_pass_reads_only_what_it_may_report(db):
    """bridge/alerts.watch runs every minute: its failures by rule, template failures and the
    channels' last attempts each read an index of only what they report (they read every failed
    message, every message and every attempt: half a second a pass at a year of data), and find
    the same rows."""
    add_message(db, "paid-old", rule="payment-mark-paid", status="failed", at=100.0)
    add_message(db, "paid-new", rule="payment-mark-paid", status="failed", at=2_000.0)
    add_message(db, "paid-ok", rule="payment-mark-paid", status="delivered", at=2_000.0)
    add_message(db, "tpl", rule="r", status="sent", at=2_000.0, reason='{"code":"rules.template_failed","x":1}')
    add_message(db, "other", rule="r", status="failed", at=2_000.0, reason='{"code":"outbox.no_report"}')
    with db.tx() as c:
        c.executemany("INSERT INTO attempts(message_id, at, channel, outcome, detail) VALUES (?, ?, ?, ?, ?)",
                      [("a", 100.0 + i, ch, "permanent" if ch == "esms" else "accepted", f"{ch}{i}")
                       for i in range(5) for ch in ("esms", "smsgate", "zalo")]
                      + [("a", 50.0, "messenger", "accepted", "old")])
    seen: list[str] = []
    db.conn().set_trace_callback(seen.append)
    try:
        assert [r["id"] for r in stored.failed_since(db, "payment-mark-paid", 1_000.0)] == ["paid-new"]
        assert [r["id"] for r in stored.with_reason_since(db, "rules.template_failed", 1_000.0)] == ["tpl"]
        assert not stored.with_reason_since(db, "rules.override_failed", 1_000.0)
        assert stored.recent_channels(db, 60.0) == ["esms", "smsgate", "zalo"]   # messenger's last is older
        assert [r["detail"] for r in stored.last_attempts(db, "esms", 60.0, 3)] == ["esms4", "esms3", "esms2"]
    finally:
        db.conn().set_trace_callback(None)
    plans = " | ".join(r[3] for s in seen for r in db.query("EXPLAIN QUERY PLAN " + s.replace("?", "NULL")))
    for index in ("idx_messages_failed_rule", "idx_messages_template_failed", "idx_attempts_channel_at"):
        assert index in plans, plans
    assert "SCAN messages" not in plans and "SCAN m " not in plans and "SCAN attempts" not in plans, plans


def old_immediate_triggers(c, indexes: tuple[str, ...]) -> None:
    """v14's triggers: these indexes written on every insert, update and delete of a message;
    PENDING listing the messages whose terms were not in search_terms yet."""
    for name in ("messages_index_au", "messages_index_ad"):
        c.execute(f"DROP TRIGGER {name}")
    for index, cols, value in ((search.FTS, search.COLUMNS, search.fold_sql),
                               (search.RECIPIENTS, search.RECIPIENT_COLUMNS, lambda e: e)):
        if index not in indexes:
            continue
        new = ", ".join(value(f"new.{x}") for x in cols)
        old = ", ".join(value(f"old.{x}") for x in cols)
        add = f"INSERT INTO {index}(rowid, {', '.join(cols)}) VALUES (new.rowid, {new});"
        remove = f"INSERT INTO {index}({index}, rowid, {', '.join(cols)}) VALUES ('delete', old.rowid, {old});"
        c.execute(f"CREATE TRIGGER {index}_ai AFTER INSERT ON messages BEGIN {add} END")
        c.execute(f"CREATE TRIGGER {index}_ad AFTER DELETE ON messages BEGIN {remove} END")
        c.execute(f"CREATE TRIGGER {index}_au AFTER UPDATE OF {', '.join(cols)} ON messages BEGIN {remove} {add} END")
    c.execute(f"CREATE TRIGGER {search.PENDING}_au AFTER UPDATE OF text, recipient, recipient_raw ON messages"
              f" BEGIN INSERT OR IGNORE INTO {search.PENDING} VALUES (new.rowid); END")


@pytest.mark.parametrize("immediate", [(search.FTS, search.RECIPIENTS), (search.RECIPIENTS,)],
                         ids=["v14-both-indexes", "one-index-created-again"])
def test_converting_to_batched_indexing_keeps_every_waiting_message_once_in_both_indexes(tmp_path, immediate):
    """The first start of this version finds messages listed in PENDING that the old triggers had
    already indexed (only their terms waited): they are not indexed twice; a message that one
    index never held (that index alone was created again) goes into it. Afterwards both indexes
    pass FTS5's check against the rows, find every message, and survive deletes and edits."""
    d = Database(str(tmp_path / "v14.db"))
    d.migrate()
    with d.tx() as c:
        old_immediate_triggers(c, immediate)
        c.execute("PRAGMA user_version=14")
    # indexed at once by the old triggers (by those present), listed for their terms
    add_message(d, "before", "Đông Hải", recipient="+84911111111")
    add_message(d, "old", "Bích Ngọc", recipient="+84922222222")
    assert d.scalar(f"SELECT COUNT(*) FROM {search.PENDING}") == 2
    d.migrate()
    assert not d.scalar(f"SELECT COUNT(*) FROM {search.PENDING}")
    with d.tx() as c:
        for index in (search.FTS, search.RECIPIENTS):
            c.execute(f"INSERT INTO {index}({index}, rank) VALUES ('integrity-check', 1)")
    assert found(d, "đông") == {"before"} and found(d, "ngọc") == {"old"} and found(d, "ngo") == {"old"}
    assert {r["id"] for r in search_messages(d, MessageFilter(phone_raw="911111111"), 50).rows} == {"before"}
    with d.tx() as c:
        c.execute("UPDATE messages SET text = 'Hạnh' WHERE id = 'before'")
        c.execute("DELETE FROM messages WHERE id = 'old'")
    assert found(d, "hạnh") == {"before"} and not found(d, "ngọc")
    with d.tx() as c:
        for index in (search.FTS, search.RECIPIENTS):
            c.execute(f"INSERT INTO {index}({index}, rank) VALUES ('integrity-check', 1)")
    d.close()

"""Retention (bridge/retention.py) through the real app: webhooks, bank SMS and texts pushed over
HTTP, messages sent by the worker, then rows made old (their stored times moved back, as if written
that many days ago) and a pass run as the scheduler runs it.

- each kind loses exactly its rows older than its setting; what the contract protects stays: an
  undecided delivery, a message not final, a transaction waiting for review, every order, a
  payment, a delivery a kept message names;
- message_counts stays equal to COUNT(*), both search indexes stay in step;
- a pruned delivery's order page still renders; rows written before compression still read;
- every write touches at most RETAIN_BATCH rows.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
import uuid

import pytest
import requests

from bridge import retention
from bridge.__main__ import main
from bridge.config import ConfigError, load_settings
from bridge.envparse import bank_accounts as _accounts
from bridge.jobs import make_scheduler
from bridge.shop_events import RECEIVED, store_delivery
from bridge.providers.woocommerce.webhook import delivery
from bridge.store import deliveries, orders as stored_orders
from bridge.store import search
from bridge.store.search import RECIPIENTS
from tests.orders import order_body
from tests.test_admin import PASSWORD, Admin, bank_sms

DAY = 86_400
ACCOUNT = "Vietcombank:0181003749261"   # the account tests.test_admin.bank_sms credits
# every time column retention reads, and the ones beside it a person sees
TIMES = {"deliveries": ("received_at", "processed_at"), "messages": ("created_at", "updated_at"),
         "attempts": ("at",), "message_events": ("at",), "inbox": ("created_at", "received_at"),
         "transactions": ("created_at", "event_at"), "orders": ("first_seen_at", "updated_at")}


@pytest.fixture
def svc(service_factory):
    return service_factory(admin_password=PASSWORD, quiet_hours=None, bank_accounts=_accounts(ACCOUNT))


def age(svc, days: float) -> None:
    """Everything stored so far was written `days` ago."""
    with svc.db.tx() as c:
        for table, cols in TIMES.items():
            c.execute(f"UPDATE {table} SET " + ", ".join(f"{col} = {col} - ?" for col in cols),
                      (days * DAY,) * len(cols))


def order(svc, oid: int, status: str = "on-hold") -> None:
    assert svc.post_json(order_body(oid, status=status), topic="order.created").status_code == 200


def sent(svc) -> None:
    """The worker takes every message now (no provider configured: dry-run, final)."""
    svc.bridge.worker.drain()
    assert not svc.db.query("SELECT id FROM messages WHERE status IN ('pending', 'queued')")


def text(svc, sender: str, body: str) -> int:
    r = requests.get(svc.url + "/inbound/fibo", params={"token": "test-fibo-token", "phone": sender,
                                                        "message": body, "guid": uuid.uuid4().hex}, timeout=5)
    assert r.status_code == 200, r.text
    return svc.db.scalar("SELECT MAX(id) FROM inbox")


def counts_match(svc) -> None:
    tally = {tuple(r[:3]): r[3] for r in svc.db.query("SELECT kind, status, channel, n FROM message_counts WHERE n")}
    real = {tuple(r[:3]): r[3] for r in svc.db.query(
        "SELECT COALESCE(kind, 'message'), status, COALESCE(channel, ''), COUNT(*) FROM messages GROUP BY 1, 2, 3")}
    assert tally == real
    assert search.keep_index(svc.db)   # the messages waiting for the index job, indexed
    with svc.db.tx() as c:   # raise when an index lost step with its table
        c.execute("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)")
        c.execute(f"INSERT INTO {RECIPIENTS}({RECIPIENTS}, rank) VALUES ('integrity-check', 1)")


def ids(svc, sql: str) -> set:
    return {r[0] for r in svc.db.query(sql)}


def test_a_pass_deletes_each_kinds_old_rows_and_never_a_protected_one(svc):
    order(svc, 20)
    order(svc, 21, status="processing")
    sent(svc)
    waiting = sorted(ids(svc, "SELECT id FROM messages"))[0]
    with svc.db.tx() as c:   # one message is held back (for the bank details), so not final
        c.execute("UPDATE messages SET status='held' WHERE id=?", (waiting,))
    kept_delivery = svc.db.scalar("SELECT delivery_ref FROM messages WHERE id=?", (waiting,))
    headers, raw = {"X-WC-Webhook-Topic": "order.updated"}, order_body(22)
    undecided = store_delivery(svc.db, delivery(headers, raw, json.loads(raw)), state=RECEIVED).row_id
    bank_sms(svc, "chuyen tien")                       # a credit without a code: waits for review
    review = svc.db.scalar("SELECT MAX(id) FROM transactions")
    bank_sms(svc, "DH20", minute=13)                   # pays order 20: a payment
    payment = svc.db.scalar("SELECT MAX(id) FROM transactions")
    chat = text(svc, "0912345678", "Cho minh hoi don hang")
    sent(svc)
    assert svc.db.one("SELECT decision, review_action FROM transactions WHERE id=?", (review,))["decision"] == "no_code"
    assert svc.db.scalar("SELECT order_id FROM transactions WHERE id=?", (payment,)) == 20
    old_messages = ids(svc, "SELECT id FROM messages")
    old_deliveries = ids(svc, "SELECT id FROM deliveries")
    old_attempts = ids(svc, "SELECT id FROM attempts")
    age(svc, 401)

    order(svc, 30)                                     # today's
    sent(svc)
    new_messages = ids(svc, "SELECT id FROM messages") - old_messages
    new_deliveries = ids(svc, "SELECT id FROM deliveries") - old_deliveries
    assert new_messages and new_deliveries and old_attempts
    svc.bridge.decider.stop()                          # one delivery not decided yet when the pass runs
    with svc.db.tx() as c:
        c.execute("UPDATE deliveries SET state=? WHERE id=?", (RECEIVED, undecided))

    done = retention.run(svc.bridge)

    left = ids(svc, "SELECT id FROM messages")
    assert left >= new_messages | {waiting}
    assert not (left & (old_messages - {waiting})), "an old final message was kept"
    assert done["messages"] >= len(old_messages) - 1
    assert ids(svc, "SELECT id FROM deliveries") == new_deliveries | {undecided, kept_delivery}
    assert deliveries.raw_body(deliveries.get(svc.db.conn(), undecided)) == raw   # undecided: its body kept
    assert ids(svc, f"SELECT id FROM attempts WHERE id IN ({','.join(map(str, old_attempts))})") == ids(
        svc, f"SELECT id FROM attempts WHERE message_id = '{waiting}'")   # only the held message's
    assert ids(svc, "SELECT id FROM transactions") == {review, payment}
    assert chat not in ids(svc, "SELECT id FROM inbox")
    assert ids(svc, "SELECT id FROM orders") == {20, 21, 22, 30}
    assert json.loads(stored_orders.body(stored_orders.get(svc.db, 20)))["id"] == 20
    counts_match(svc)
    assert retention.run(svc.bridge) == {}             # nothing left to do


def test_raw_payloads_are_nulled_after_a_month_and_the_order_page_still_renders(svc):
    order(svc, 20)
    sent(svc)
    chat = text(svc, "0912345678", "Shop oi")
    age(svc, 31)
    order(svc, 21)
    fresh = svc.db.scalar("SELECT MAX(id) FROM deliveries")

    done = retention.run(svc.bridge)

    assert done["deliveries payloads"] == 1 and "messages" not in done
    old = deliveries.get(svc.db.conn(), svc.db.scalar("SELECT id FROM deliveries WHERE resource_id=20"))
    assert deliveries.raw_body(old) == b"" and old["kept_headers"] is None and old["state"] == "processed"
    assert old["replay_key"]   # a captured signed webhook sent again is still recognised
    assert svc.db.scalar("SELECT COUNT(*) FROM delivery_bodies") == 1   # only today's
    assert deliveries.raw_body(deliveries.get(svc.db.conn(), fresh)) == order_body(21)
    assert svc.db.scalar("SELECT raw FROM inbox WHERE id=?", (chat,)) is None
    assert svc.db.scalar("SELECT text FROM inbox WHERE id=?", (chat,)) == "Shop oi"
    admin = Admin(svc)
    assert admin.sign_in().status_code == 302
    page = admin.get("/admin/orders/20")
    assert page.status_code == 200 and "/admin/messages/" in page.text
    counts_match(svc)


def test_every_write_of_a_pass_touches_at_most_a_batch(service_factory):
    svc = service_factory(retain_batch=2, quiet_hours=None)
    for oid in range(40, 47):
        order(svc, oid)
    sent(svc)
    age(svc, 401)
    statements: list[str] = []
    svc.db.conn().set_trace_callback(statements.append)

    done = retention.run(svc.bridge)

    svc.db.conn().set_trace_callback(None)
    assert svc.db.scalar("SELECT COUNT(*) FROM messages") == 0 and svc.db.scalar("SELECT COUNT(*) FROM deliveries") == 0
    writes = [s for s in statements if s.startswith(("DELETE FROM messages", "DELETE FROM deliveries", "UPDATE"))]
    assert writes and sum(s == "BEGIN IMMEDIATE" for s in statements) >= done["deliveries"] // 2
    for s in writes:
        listed = re.search(r"IN \(([^()]*)\)\)?$", s)
        assert listed is not None and len(listed.group(1).split(",")) <= 2, s
    counts_match(svc)


def test_rows_written_before_compression_still_read_and_are_pruned_alike(svc):
    raw = order_body(50, status="on-hold")
    created = json.loads(raw)["date_created_gmt"]
    with svc.db.tx() as c:   # as the previous version wrote them: the body as it came, nothing in zbody
        c.execute("INSERT INTO orders(id, number, status, payment_method, total_minor, deleted, body, first_seen_at,"
                  " updated_at) VALUES (50, '50', 'on-hold', 'bacs', 513000, 0, ?, ?, ?)",
                  (raw.decode(), svc.clock(), svc.clock()))
        c.execute("INSERT INTO deliveries(received_at, topic, resource, resource_id, headers, body, state, reason)"
                  " VALUES (?, 'order.created', 'order', 50, '{}', ?, 'processed', '')", (svc.clock(), raw))
    old = svc.db.one("SELECT * FROM deliveries WHERE resource_id=50")
    assert deliveries.raw_body(old) == raw
    assert json.loads(stored_orders.body(stored_orders.get(svc.db, 50)))["id"] == 50
    assert [r["created"] for r in stored_orders.unpaid_transfers(svc.db)] == [created]
    admin = Admin(svc)
    assert admin.sign_in().status_code == 302
    assert admin.get("/admin/orders/50").status_code == 200

    order(svc, 50, status="processing")               # the next webhook stores the compressed form
    row = stored_orders.get(svc.db, 50)
    assert row["body"] is None and json.loads(stored_orders.body(row))["status"] == "processing"
    assert row["created_gmt"] == created
    age(svc, 31)
    retention.run(svc.bridge)
    assert deliveries.raw_body(deliveries.get(svc.db.conn(), old["id"])) == b""


def test_the_scheduler_prunes_every_retain_every_and_only_in_the_leading_process(service_factory):
    svc = service_factory(retain_every=120.0, quiet_hours=None)
    order(svc, 60)
    age(svc, 31)
    job = make_scheduler(svc.bridge).get_job("retention")
    assert job is not None and job.trigger.interval.total_seconds() == 120.0
    assert not svc.bridge.leader.leading
    job.func()                                         # another process holds the lease: nothing pruned
    first = svc.db.scalar("SELECT MIN(id) FROM deliveries")
    assert deliveries.raw_body(deliveries.get(svc.db.conn(), first)) == order_body(60)
    assert svc.bridge.leader.renew()
    job.func()
    assert deliveries.raw_body(deliveries.get(svc.db.conn(), first)) == b""


def test_no_job_when_every_kind_is_kept_forever(service_factory):
    svc = service_factory(retain_raw_days=0.0, retain_attempts_days=0.0, retain_messages_days=0.0,
                          retain_deliveries_days=0.0, retain_inbound_days=0.0)
    assert make_scheduler(svc.bridge).get_job("retention") is None


def test_retention_settings_are_days_and_zero_keeps_forever():
    env = {"RETAIN_RAW_DAYS": "7", "RETAIN_MESSAGES_DAYS": "0", "RETAIN_BATCH": "100"}
    s = load_settings(environ=env, env_file=None)
    assert (s.retain_raw_days, s.retain_messages_days, s.retain_batch, s.retain_inbound_days) == (7.0, 0.0, 100, 400.0)
    with pytest.raises(ConfigError, match="RETAIN_RAW_DAYS"):
        load_settings(environ={"RETAIN_RAW_DAYS": "-1"}, env_file=None)
    with pytest.raises(ConfigError, match="RETAIN_BATCH"):
        load_settings(environ={"RETAIN_BATCH": "0"}, env_file=None)
    with pytest.raises(ConfigError, match="RETAIN_BATCH"):
        load_settings(environ={"RETAIN_BATCH": "5001"}, env_file=None)


def test_vacuum_gives_the_pruned_space_back_to_the_file_system(service_factory, monkeypatch, capsys):
    svc = service_factory(quiet_hours=None)
    for oid in range(70, 90):
        order(svc, oid)
    sent(svc)
    age(svc, 401)
    retention.run(svc.bridge)
    assert svc.db.scalar("SELECT COUNT(*) FROM deliveries") == 0
    path = svc.settings.db_path
    svc.db.conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = os.path.getsize(path)
    monkeypatch.setenv("BRIDGE_DB", path)
    assert svc.bridge.leader.renew()                   # the service is running

    assert main(["vacuum"]) == 1
    assert "the service is running" in capsys.readouterr().err and os.path.getsize(path) == before

    svc.bridge.leader.release()                        # stopped cleanly: its lease released
    svc.close()
    assert main(["vacuum"]) == 0

    assert os.path.getsize(path) < before
    assert re.fullmatch(rf"vacuum: {before} -> {os.path.getsize(path)} bytes in [0-9.]+ s\n", capsys.readouterr().out)
    with sqlite3.connect(path) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert [r[0] for r in c.execute("SELECT id FROM orders ORDER BY id")] == list(range(70, 90))


def _plans_inside_writes(svc) -> dict[str, list[str]]:
    """Each statement a retention pass runs inside its write transactions, with its query plan
    (not the full-text index's own statements, which SQLite runs by key)."""
    statements: list[str] = []
    svc.db.conn().set_trace_callback(statements.append)
    retention.run(svc.bridge)
    svc.db.conn().set_trace_callback(None)
    inside, writing = [], False
    for s in statements:
        if s == "BEGIN IMMEDIATE":
            writing = True
        elif s in ("COMMIT", "ROLLBACK"):
            writing = False
        elif writing and s.startswith(("DELETE", "UPDATE", "SELECT", "INSERT")) and "'main'." not in s:
            inside.append(s)
    # planned as with a full batch of ids (the planner picks an index by the list's length)
    batch = [re.sub(r"IN \((\d+(?:,\d+)*)\)", "IN (" + ",".join(map(str, range(1, 501))) + ")", s) for s in inside]
    batch = [re.sub(r"IN \(('[0-9a-f]{16,}'(?:,'[0-9a-f]{16,}')*)\)",
                    "IN (" + ",".join(f"'{i:032x}'" for i in range(500)) + ")", s) for s in batch]
    return {s: [r[3] for r in svc.db.query("EXPLAIN QUERY PLAN " + s)] for s in batch}


def test_no_write_of_a_pass_scans_or_walks_an_index_range(svc):
    """A write transaction holds the lock intake waits for: each of its statements finds its rows
    by key (the ids the read found), never by walking a table or an index range, whose length
    grows with the backlog (order-less transactions below the cutoff: seconds at 300K)."""
    order(svc, 20)
    sent(svc)
    bank_sms(svc, "chuyen tien")
    with svc.db.tx() as c:   # reviewed: deletable
        c.execute("UPDATE transactions SET review_action='dismissed'")
    text(svc, "0912345678", "Cho minh hoi don hang")
    age(svc, 401)
    plans = _plans_inside_writes(svc)
    kinds = {" ".join(s.split()[:3:2]) for s in plans}
    assert {"DELETE messages", "DELETE deliveries", "DELETE transactions", "DELETE inbox", "DELETE attempts"} <= kinds, kinds
    for s, plan in plans.items():
        for step in plan:
            assert not step.startswith("SCAN") or step.startswith(("SCAN CONSTANT ROW", "SCAN json_each")), (s, plan)
            assert "<" not in step and ">" not in step, (s, plan)


def test_last_years_monthly_report_keeps_the_messages_retention_deleted(svc):
    from bridge.store import reports, tallies
    for oid in (90, 91):
        order(svc, oid)
    sent(svc)
    with svc.db.tx() as c:   # as a provider reported them
        c.execute("UPDATE messages SET status='delivered'")
    age(svc, 401)
    day = svc.clock() - 401 * DAY
    start, end = (day // DAY - 2) * DAY, (day // DAY + 3) * DAY   # whole days around them
    report = [dict(r) for r in reports.month_messages(svc.db, start, end)]
    assert sum(r["delivered"] for r in report) == svc.db.scalar("SELECT COUNT(*) FROM messages") > 0

    retention.run(svc.bridge)

    assert svc.db.scalar("SELECT COUNT(*) FROM messages") == 0
    assert [dict(r) for r in reports.month_messages(svc.db, start, end)] == report
    with svc.db.tx() as c:   # a database upgraded from one that had the trigger loses it
        c.execute("CREATE TRIGGER message_days_ad AFTER DELETE ON messages BEGIN SELECT 1; END")
        tallies.message_days(c)
    assert not svc.db.query("SELECT name FROM sqlite_master WHERE name='message_days_ad'")


def test_a_payload_decided_after_a_pass_is_nulled_by_the_next_and_ids_that_restart_are_walked(svc):
    for oid in (100, 101, 102):
        order(svc, oid)
    first, middle, last = sorted(ids(svc, "SELECT id FROM deliveries"))
    svc.bridge.decider.stop()                          # the middle one not decided yet when the pass runs
    with svc.db.tx() as c:
        c.execute("UPDATE deliveries SET state=? WHERE id=?", (RECEIVED, middle))
    age(svc, 31)
    retention.run(svc.bridge)
    body = lambda i: deliveries.raw_body(deliveries.get(svc.db.conn(), i))  # noqa: E731
    assert (body(first), body(last)) == (b"", b"") and body(middle) == order_body(101)

    with svc.db.tx() as c:                             # decided since
        c.execute("UPDATE deliveries SET state='processed' WHERE id=?", (middle,))
    retention.run(svc.bridge)
    assert body(middle) == b""

    with svc.db.tx() as c:                             # the table emptied: ids start again at 1
        c.execute("DELETE FROM delivery_bodies")
        c.execute("DELETE FROM deliveries")
    headers, raw = {"X-WC-Webhook-Topic": "order.updated"}, order_body(103)
    again = store_delivery(svc.db, delivery(headers, raw, json.loads(raw)), state=RECEIVED).row_id
    with svc.db.tx() as c:
        c.execute("UPDATE deliveries SET state='processed', received_at = received_at - ? WHERE id=?", (31 * DAY, again))
    assert again < last
    retention.run(svc.bridge)
    assert body(again) == b""


def test_a_pass_does_not_read_again_the_texts_kept_for_good(svc):
    order(svc, 20)
    bank_sms(svc, "DH20", minute=13)                   # pays order 20: its text is kept for good
    paid = svc.db.scalar("SELECT inbox_id FROM transactions WHERE order_id=20")
    chat = text(svc, "0912345678", "Cho minh hoi don hang")
    sent(svc)
    age(svc, 401)
    retention.run(svc.bridge)
    assert paid in ids(svc, "SELECT id FROM inbox") and chat not in ids(svc, "SELECT id FROM inbox")

    statements: list[str] = []
    svc.db.conn().set_trace_callback(statements.append)
    retention.run(svc.bridge)
    svc.db.conn().set_trace_callback(None)
    reads = [int(m.group(1)) for st in statements for m in [re.search(r"FROM inbox i WHERE i.id > (\d+)", st)] if m]
    assert reads and min(reads) >= paid
    chat = text(svc, "0912345678", "Con hang khong")   # takes the deleted text's id
    age(svc, 401)
    retention.run(svc.bridge)
    assert ids(svc, "SELECT id FROM inbox") == {paid}


def test_delivery_reports_stored_before_deciding_lose_payload_then_go_once_decided(service_factory):
    from bridge.store import intake
    svc = service_factory(quiet_hours=None, retain_raw_days=7.0, retain_attempts_days=30.0)
    svc.bridge.decider.stop()                          # the second one stays undecided
    with svc.db.tx() as c:
        decided = intake.add_report(c, svc.clock(), "test", "p-1", None, '{"status": "delivered"}')
        waiting = intake.add_report(c, svc.clock(), "test", "p-2", None, '{"status": "delivered"}')
        intake.set_report_outcome(c, decided, "unknown", None, svc.clock())
    report = lambda i: svc.db.scalar("SELECT report FROM received_reports WHERE id=?", (i,))  # noqa: E731
    with svc.db.tx() as c:
        c.execute("UPDATE received_reports SET received_at = received_at - ?", (10 * DAY,))
    retention.run(svc.bridge)
    assert report(decided) is None and report(waiting) == '{"status": "delivered"}'
    with svc.db.tx() as c:
        c.execute("UPDATE received_reports SET received_at = received_at - ?", (21 * DAY,))
    retention.run(svc.bridge)
    assert ids(svc, "SELECT id FROM received_reports") == {waiting}
    assert report(waiting) == '{"status": "delivered"}'

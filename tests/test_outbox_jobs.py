"""The outbox carries jobs, not only messages: an order update (mark paid, a private note) or an
HTTP forward is a row of its own kind with its own payload, never an SMS with JSON in its text,
and is not counted as one. A database from before job kinds (schema 7) is upgraded in place."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import requests

from bridge.outbox import FORWARD, MESSAGE, ORDER_UPDATE
from bridge.payments.handler import shop_action
from bridge.store import reports, search
from bridge.store.schema import SCHEMA_VERSION
from tests.test_admin import Admin
from tests.conftest import woo_settings

V7 = Path(__file__).resolve().parent / "fixtures" / "outbox_v7.sql"
PASSWORD = "correct horse 42"


def rows_by_rule(svc) -> dict[str, dict]:
    return {r["rule"]: dict(r) for r in svc.db.query("SELECT * FROM messages")}


def metric_lines(svc, name: str) -> list[str]:
    text = requests.get(svc.url + "/metrics", timeout=5).text
    return [x for x in text.splitlines() if x.startswith(name + "{")]


def test_a_version_7_database_is_upgraded_in_place_and_its_old_jobs_run_once(service_factory, woo, tmp_path):
    with sqlite3.connect(tmp_path / "bridge.db") as c:   # what commit 7b98893 left on disk
        c.executescript(V7.read_text())
    woo.add_order(20107, 278000)
    svc = service_factory(**woo_settings(woo))
    assert svc.db.scalar("PRAGMA user_version") == SCHEMA_VERSION

    rows = rows_by_rule(svc)
    mark, note, fwd, sms = rows["payment-mark-paid"], rows["payment-note"], rows["chatbot"], rows["order-new"]
    assert (mark["kind"], note["kind"], fwd["kind"], sms["kind"]) == (ORDER_UPDATE, ORDER_UPDATE, FORWARD, MESSAGE)
    # the JSON moved from the text to the payload; the text is what a person reads
    assert json.loads(mark["payload"]) == {"order_id": 20107, "action": "mark_paid", "status": "processing",
                                           "transaction_id": "FT123", "note": "woo-bridge: đã nhận 278.000 ₫ "
                                           "(Vietcombank). \nTin nhắn: chuyen tien DH20107"}
    assert mark["text"].startswith("mark paid (processing): woo-bridge: đã nhận 278.000 ₫")
    assert note["text"] == "woo-bridge: thừa 1.000 ₫" and json.loads(note["payload"])["action"] == "note"
    assert json.loads(fwd["payload"])["text"] == "DH20107 da chuyen"
    assert fwd["text"] == "+84912345678: DH20107 da chuyen"
    assert [(r["segments"], r["encoding"]) for r in (mark, note, fwd)] == [(0, None)] * 3
    assert sms["text"] == "Shop Demo: đơn #20107 đã nhận." and sms["segments"] == 1 and sms["payload"] is None
    # the full-text index follows the rows it was rebuilt from (once the waiting ones are indexed)
    assert search.keep_index(svc.db)
    assert svc.db.scalar("SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH 'DH20107'") == 2

    before = [dict(r) for r in svc.db.query("SELECT * FROM messages ORDER BY id")]
    svc.db.migrate()   # every start migrates: the second time changes nothing
    assert [dict(r) for r in svc.db.query("SELECT * FROM messages ORDER BY id")] == before

    svc.bridge.worker.drain()
    assert woo.status_changes == [(20107, "on-hold", "processing")]
    assert len(woo.notes[20107]) == 2   # the mark-paid note and the other one, each once
    done = rows_by_rule(svc)
    assert done["payment-mark-paid"]["status"] == "delivered" and done["payment-note"]["status"] == "delivered"
    svc.close()

    again = service_factory(**woo_settings(woo))   # a restart on the same file
    again.bridge.worker.drain()
    assert woo.status_changes == [(20107, "on-hold", "processing")] and len(woo.notes[20107]) == 2
    assert again.db.scalar("SELECT COUNT(*) FROM attempts WHERE message_id=?", (mark["id"],)) == 1


def test_an_order_update_is_a_job_not_an_sms_and_survives_a_restart(service_factory, woo):
    woo.add_order(20107, 278000)
    settings = dict(woo_settings(woo), admin_password=PASSWORD)
    svc = service_factory(**settings)
    before = len(metric_lines(svc, "woobridge_messages"))
    with svc.db.tx() as c:
        shop_action(c, "tx:9:mark-paid", 20107, {"action": "mark_paid", "status": "processing", "transaction_id": "FT9",
                                                "note": "woo-bridge: đã nhận 278.000 ₫"}, "payment-mark-paid")
    (row,) = svc.messages(rule="payment-mark-paid")
    assert row["kind"] == ORDER_UPDATE and row["segments"] == 0 and row["encoding"] is None
    assert json.loads(row["payload"])["transaction_id"] == "FT9" and not row["text"].startswith("{")

    # not an SMS: neither in the messages metrics and the dashboard, nor in the default message list
    assert len(metric_lines(svc, "woobridge_messages")) == before
    jobs = metric_lines(svc, "woobridge_outbox_jobs")
    assert 'woobridge_outbox_jobs{kind="order_update",status="pending"} 1.0' in jobs
    assert reports.messages_between(svc.db, 0, 4e9) == 0
    admin = Admin(svc)
    assert admin.sign_in(PASSWORD).status_code == 302
    assert "(0)" in admin.get("/admin/messages").text
    assert "(1)" in admin.get("/admin/messages?kind=order_update").text
    assert row["id"] in admin.get("/admin/messages?kind=all").text
    svc.close()   # nothing sent yet: the job waits in the file

    again = service_factory(**settings)
    assert again.bridge.worker.drain() == 1
    assert again.bridge.worker.drain() == 0
    assert woo.status_changes == [(20107, "on-hold", "processing")] and len(woo.notes[20107]) == 1
    assert again.messages(rule="payment-mark-paid")[0]["status"] == "delivered"
    assert reports.messages_between(again.db, 0, 4e9) == 0


@pytest.mark.parametrize("answer", ["DEFERRED", "TRANSIENT", "ACCEPTED"])
def test_a_write_back_cancelled_while_in_flight_stays_cancelled_whatever_its_answer(service_factory, answer):
    """A shop switch cancels the old shop's waiting write-backs, the one being sent too: its late
    answer is recorded as an attempt but never brings it back to be tried (against the new shop)."""
    from bridge.outbox import Attempt, Job, claim, enqueue_job, record_results
    from bridge.providers.base import Outcome, SendResult
    from bridge.store import woo_connection
    svc = service_factory()
    db = svc.bridge.db
    with db.tx() as c:
        mid = enqueue_job(c, Job(kind=ORDER_UPDATE, dedupe_key="paid:27", rule="payment", event="order.update",
                                 audience="shop", target="27", target_label="order 27", summary="mark paid",
                                 payload={"action": "mark_paid", "order_id": 27}, order_id=None))
    [row] = claim(db, 1, 60.0, only=mid)
    with db.tx() as c:
        assert woo_connection.cancel_waiting_jobs(c, row["channel"], "switched", svc.clock()) == 1
    record_results(db, [Attempt(row, row["channel"], SendResult(getattr(Outcome, answer), code="x", detail="late"),
                                1.0)], 5, svc.clock(), 60.0)
    assert db.one("SELECT status FROM messages WHERE id=?", (mid,))["status"] == "cancelled"
    # what the provider answered is kept (a deferral is no attempt)
    assert db.scalar("SELECT COUNT(*) FROM attempts WHERE message_id=?", (mid,)) == (answer != "DEFERRED")

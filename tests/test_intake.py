"""Acknowledged, then decided after the answer: the crash guarantee for each kind of call.

A process that answers but does not decide (DECIDE_IN=worker with no worker: the decider never
runs there) is killed -9 after the 200; the restarted service decides every acknowledged row
exactly once (one outbox row, one SMS at the fake eSMS, one payment, one report applied, one
parcel status). Two processes answering and deciding on one database never decide a row twice
and keep each order's deliveries in order."""
from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

import pytest
import requests

from app import create_app
from bridge import reasons
from bridge.store import deliveries
from bridge.envparse import bank_accounts
from bridge.providers.woocommerce.webhook import delivery
from tests.conftest import SECRET, ServiceProcess, make_settings, signed_headers, wait_until, woo_settings, write_mappings
from tests.fakes.ghn import FakeGhn
from tests.orders import order_body
from tests.test_reliability_deployed import ACCOUNT, bank_sms, push_sms

ORDER = 8300
ANSWER_ONLY = {"RUN_SCHEDULER": "0", "DECIDE_IN": "worker"}   # answers, decides nothing


def base_env(tmp_path: Path, fake_esms, **extra: str) -> dict[str, str]:
    return {"BRIDGE_DB": str(tmp_path / "bridge.db"), "WOO_WEBHOOK_SECRET": SECRET, "OWNER_PHONES": "",
            "SHOP_NAME": "Shop Demo", "QUIET_HOURS": "off", "WORKER_INTERVAL": "0.1",
            "MAPPINGS_DIR": str(write_mappings(tmp_path, channel="esms")), "ESMS_API_KEY": fake_esms.api_key,
            "ESMS_SECRET_KEY": fake_esms.secret_key, "ESMS_BRANDNAME": "SHOPDEMO",
            "ESMS_BASE_URL": fake_esms.base_url, "ESMS_TIMEOUT": "2", "ESMS_CALLBACK_TOKEN": "tok", **extra}


def rows(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with sqlite3.connect(db) as c:
        return c.execute(sql, params).fetchall()


def post_order(url: str, order: int, status: str = "on-hold", modified: str = "2026-11-23T02:41:58",
               topic: str = "order.updated") -> requests.Response:
    body = order_body(order, status=status, total=300_000, modified=modified)
    return requests.post(url + "/webhooks/woocommerce", data=body, headers=signed_headers(body, topic), timeout=10)


def killed_after_answering(env: dict[str, str], act, port: int | None = None) -> int:
    """Start a process that only answers, let `act(url)` call it, kill it -9; the port it used."""
    svc = ServiceProcess({**env, **ANSWER_ONLY}, port=port).start()
    try:
        act(svc.url)
    finally:
        svc.kill9()
        svc.stop()
    return svc.port


def test_a_webhook_answered_then_killed_is_decided_once_after_restart(tmp_path, fake_esms):
    env = base_env(tmp_path, fake_esms)
    db = Path(env["BRIDGE_DB"])

    def act(url: str) -> None:
        r = post_order(url, ORDER, topic="order.created")
        assert r.status_code == 200
        answer = r.json()
        assert answer["state"] == "received" and "messages" not in answer
        assert rows(db, "SELECT state FROM deliveries WHERE id=?", (answer["delivery"],)) == [("received",)]
        assert rows(db, "SELECT COUNT(*) FROM messages") == [(0,)]
    port = killed_after_answering(env, act)

    again = ServiceProcess(env, port=port).start()
    try:
        wait_until(lambda: len(fake_esms.accepted) >= 1, timeout=20, what="the SMS after restart")
        wait_until(lambda: rows(db, "SELECT status FROM messages") == [("queued",)], timeout=10,
                   what="the provider's acceptance recorded")
    finally:
        again.stop()
    assert len(fake_esms.accepted) == 1
    assert rows(db, "SELECT COUNT(*) FROM messages WHERE order_id=?", (ORDER,)) == [(1,)]
    (reason,) = rows(db, "SELECT reason FROM deliveries WHERE resource='order'")[0]
    assert reasons.code_of(reason) == "shop.order_new"


def test_a_bank_text_answered_then_killed_confirms_the_payment_once_after_restart(tmp_path, fake_esms, woo):
    env = base_env(tmp_path, fake_esms, WOO_URL=woo.url, WOO_CONSUMER_KEY="ck_test", WOO_CONSUMER_SECRET="cs_test",
                   WOO_TIMEOUT="2", BANK_ACCOUNTS=f"Vietcombank:{ACCOUNT}", FIBO_TOKEN="tok", FIBO_PAYMENTS="confirm")
    db = Path(env["BRIDGE_DB"])
    woo.add_order(ORDER, 300_000)

    def act(url: str) -> None:
        assert post_order(url, ORDER).status_code == 200
        assert push_sms(url, bank_sms(ORDER, 300_000, 1), uuid.uuid4().hex)
        assert rows(db, "SELECT state FROM inbox") == [("received",)]
        assert rows(db, "SELECT COUNT(*) FROM transactions") == [(0,)]
    port = killed_after_answering(env, act)

    again = ServiceProcess(env, port=port).start()
    try:
        wait_until(lambda: any(o == ORDER and to == "processing" for o, _, to in woo.status_changes), timeout=20,
                   what="the order marked paid after restart")
    finally:
        again.stop()
    assert [to for o, _, to in woo.status_changes if o == ORDER] == ["processing"]
    assert rows(db, "SELECT decision FROM transactions") == [("confirm",)]
    assert rows(db, "SELECT state FROM inbox") == [("handled",)]


def test_a_delivery_report_answered_then_killed_is_applied_once_after_restart(tmp_path, fake_esms):
    env = base_env(tmp_path, fake_esms)
    db = Path(env["BRIDGE_DB"])
    first = ServiceProcess(env).start()
    try:
        assert post_order(first.url, ORDER).status_code == 200
        wait_until(lambda: rows(db, "SELECT status FROM messages") == [("queued",)], timeout=20, what="accepted")
    finally:
        first.stop()
    smsid = fake_esms.accepted[0]["SMSID"]

    def act(url: str) -> None:
        assert fake_esms.fire_callback(smsid).status_code == 200
        assert rows(db, "SELECT state FROM received_reports") == [("received",)]
        assert rows(db, "SELECT status FROM messages") == [("queued",)]
    port = killed_after_answering(env, act, port=first.port)   # the callback URL names this port

    again = ServiceProcess(env, port=port).start()
    try:
        wait_until(lambda: rows(db, "SELECT status FROM messages") == [("delivered",)], timeout=20,
                   what="the report applied after restart")
    finally:
        again.stop()
    assert rows(db, "SELECT state FROM received_reports") == [("applied",)]
    assert rows(db, "SELECT COUNT(*) FROM message_events WHERE source LIKE '%callback%'") == [(1,)]


def test_a_carrier_call_answered_then_killed_is_applied_once_after_restart(tmp_path, fake_esms):
    env = base_env(tmp_path, fake_esms, GHN_WEBHOOK_TOKEN="ghn-token")
    db = Path(env["BRIDGE_DB"])
    body = json.loads(order_body(ORDER, status="processing", total=300_000))
    body.update(payment_method="cod", payment_method_title="Thanh toán khi nhận hàng")
    order = json.dumps(body).encode()
    with FakeGhn() as ghn:
        call = ghn.event("GAHBX830", "delivering", client_order_code=str(ORDER), cod=300_000)

        def act(url: str) -> None:
            assert requests.post(url + "/webhooks/woocommerce", data=order, headers=signed_headers(order),
                                 timeout=10).status_code == 200
            assert ghn.push(f"{url}/inbound/ghn?token=ghn-token", call) == [200]
            assert json.loads(ghn.attempts[-1][1])["state"] == "received"
            assert rows(db, "SELECT state FROM shipment_events") == [("received",)]
        port = killed_after_answering(env, act)

    again = ServiceProcess(env, port=port).start()
    try:
        wait_until(lambda: rows(db, "SELECT state FROM shipment_events") == [("applied",)], timeout=20,
                   what="the carrier's call applied after restart")
    finally:
        again.stop()
    assert rows(db, "SELECT status, order_id FROM shipments") == [("delivering", ORDER)]
    assert rows(db, "SELECT COUNT(*) FROM messages WHERE rule='shipment'") == [(1,)]   # one note on the order


def test_two_processes_answering_and_deciding_never_decide_a_delivery_twice_and_keep_each_orders_order(
        tmp_path, fake_esms):
    env = base_env(tmp_path, fake_esms, RUN_SCHEDULER="0")
    db = Path(env["BRIDGE_DB"])
    a = ServiceProcess(env).start()
    b = ServiceProcess(env).start()
    statuses = ["pending", "on-hold", "processing", "completed"]
    orders = list(range(ORDER, ORDER + 6))
    try:
        for k, status in enumerate(statuses):
            for i, order in enumerate(orders):
                url = (a, b)[(i + k) % 2].url
                assert post_order(url, order, status, modified=f"2026-11-23T02:4{k}:00").status_code == 200
        wait_until(lambda: rows(db, "SELECT COUNT(*) FROM deliveries WHERE state='received'") == [(0,)],
                   timeout=30, what="every delivery decided")
    finally:
        a.stop()
        b.stop()
    for order in orders:
        decided = rows(db, "SELECT state, reason FROM deliveries WHERE resource_id=? ORDER BY id", (order,))
        codes = [reasons.code_of(r) for _, r in decided]
        # decided twice, the first would read "already notified"; out of order, a later one "stale"
        assert [s for s, _ in decided] == ["processed"] * 4, decided
        assert codes == ["shop.order_new", "shop.order_status", "shop.order_status", "shop.order_status"], codes
        assert rows(db, "SELECT status, notified_status FROM orders WHERE id=?", (order,)) == [("completed",
                                                                                                 "completed")]


def test_the_answers_say_what_was_stored_not_what_was_decided(service_factory):
    svc = service_factory()
    body = order_body(ORDER)
    r = requests.post(svc.url + "/webhooks/woocommerce", data=body, headers=signed_headers(body, "order.created"),
                      timeout=10)
    assert r.status_code == 200
    assert set(r.json()) == {"ok", "delivery", "state"}
    svc.settle()
    decided = svc.messages()
    assert decided and {m["order_id"] for m in decided} == {ORDER}
    again = requests.post(svc.url + "/webhooks/woocommerce", data=body,
                          headers=signed_headers(body, "order.created"), timeout=10)
    assert json.loads(again.text)["state"] == "received"   # another delivery of the same order: its own row
    svc.settle()
    assert svc.messages() == decided   # its status was notified already: nothing more


def in_process(tmp_path: Path, **changes):
    """A bridge that decides only when the test says (its decider thread not started)."""
    s = make_settings(tmp_path, bank_accounts=bank_accounts(f"Vietcombank:{ACCOUNT}"), decide_in="worker", **changes)
    return create_app(s, start_scheduler=False).extensions["bridge"]


def acknowledge_order(b, order: int, delivery_id: str = "1") -> None:
    body = order_body(order, status="on-hold", total=300_000)
    assert b.accept(delivery(signed_headers(body, "order.created", delivery_id=delivery_id), body,
                             json.loads(body)))["state"] == "received"


def acknowledge_bank_text(b, order: int, seq: int = 1) -> None:
    r = b.received.accept(source="fibo", external_id=f"g{seq}", device="", sim=None, sender="Vietcombank",
                          recipient="", text=bank_sms(order, 300_000, seq), received_at=None, raw={})
    assert r.state == "received"


def between_steps(b, act) -> None:
    """Run `act` once while the next pass of `b`'s decider is between its deliveries and its texts
    (as two requests answered by other threads at that moment would be)."""
    reports, fired = b.decider.then[0], []

    def reports_then_act(n: int, budget: float) -> int:
        if not fired:
            fired.append(act())
        return reports(n, budget)
    b.decider.then[0] = reports_then_act


@pytest.mark.parametrize("shop_api", [True, False], ids=["with-shop-api", "webhooks-only"])
def test_a_bank_text_acknowledged_after_the_order_webhook_is_decided_after_it_even_mid_pass(tmp_path, woo, shop_api):
    woo.add_order(ORDER, 300_000)
    b = in_process(tmp_path, **(woo_settings(woo) if shop_api else {}))
    between_steps(b, lambda: (acknowledge_order(b, ORDER), acknowledge_bank_text(b, ORDER)))
    b.decide_pending()

    assert [reasons.code_of(r) for (r,) in b.db.query("SELECT reason FROM deliveries")] == ["shop.order_new"]
    assert [tuple(r) for r in b.db.query("SELECT decision, order_id FROM transactions")] == [("confirm", ORDER)]
    assert [tuple(r) for r in b.db.query("SELECT status, notified_status FROM orders")] == [("processing",
                                                                                             "processing")]
    rules = [r for (r,) in b.db.query("SELECT rule FROM messages WHERE order_id=? ORDER BY rowid", (ORDER,))]
    assert rules.count("owner-new-order") == 1 and rules.count("payment-confirmed") == 1, rules


def test_a_bank_text_amid_a_flood_of_later_webhooks_is_decided_before_them(tmp_path):
    b = in_process(tmp_path)
    ahead = [ORDER, *range(9000, 9004)]
    for i, order in enumerate(ahead):
        acknowledge_order(b, order, str(i))
    acknowledge_bank_text(b, ORDER)
    later = range(9100, 9160)
    for i, order in enumerate(later):
        acknowledge_order(b, order, str(100 + i))
    b.decide_pending()

    assert [r for (r,) in b.db.query("SELECT decision FROM transactions")] == ["confirm"]
    told = [(r, o) for r, o in b.db.query("SELECT rule, order_id FROM messages ORDER BY rowid")]
    paid_at = told.index(("payment-confirmed", ORDER))
    assert {o for _, o in told[:paid_at]} == set(ahead)            # after every webhook before it
    assert {o for _, o in told[paid_at:]} >= set(later)            # before every one after it
    assert b.db.scalar("SELECT COUNT(*) FROM deliveries WHERE state='received'") == 0


def test_a_process_killed_while_deciding_a_backlog_leaves_every_row_decided_once_after_restart(tmp_path, fake_esms):
    # The killed process may have been sending too: its claims come back when their lease runs
    # out (eSMS deduplicates the resend on our RequestId), so the lease is short here.
    env = base_env(tmp_path, fake_esms, SEND_LEASE="4")
    db = Path(env["BRIDGE_DB"])
    orders = range(ORDER, ORDER + 200)

    def act(url: str) -> None:
        for order in orders:
            assert post_order(url, order, topic="order.created").status_code == 200
    port = killed_after_answering(env, act)

    deciding = ServiceProcess(env, port=port).start()   # takes the backlog on start
    try:
        wait_until(lambda: rows(db, "SELECT COUNT(*) FROM deliveries WHERE state!='received'")[0][0] > 0,
                   interval=0.01, what="deciding under way")
    finally:
        deciding.kill9()
        deciding.stop()
    at_kill = rows(db, "SELECT COUNT(*) FROM deliveries WHERE state!='received'")[0][0]

    again = ServiceProcess(env, port=port).start()
    try:
        wait_until(lambda: rows(db, "SELECT COUNT(*) FROM deliveries WHERE state='received'") == [(0,)], timeout=60,
                   what=f"every delivery decided after restart ({at_kill} of {len(orders)} were at the kill)")
        wait_until(lambda: len(fake_esms.accepted) >= len(orders), timeout=60, what="one SMS per order")
    finally:
        again.stop()
    assert rows(db, "SELECT COUNT(*), COUNT(DISTINCT order_id) FROM messages") == [(len(orders), len(orders))]
    assert len(fake_esms.accepted) == len(orders)
    assert {reasons.code_of(r) for (r,) in rows(db, "SELECT reason FROM deliveries")} == {"shop.order_new"}


def test_the_body_is_kept_as_signed_until_decided_then_compressed_apart_and_an_older_compressed_row_decides_alike(
        tmp_path):
    b = in_process(tmp_path)
    acknowledge_order(b, ORDER, delivery_id="new")
    fresh = b.db.one("SELECT * FROM deliveries WHERE resource_id=?", (ORDER,))
    assert bytes(fresh["body"]) == order_body(ORDER, status="on-hold", total=300_000) and fresh["zbody"] is None
    # as the previous version acknowledged: the body compressed in the row
    body = order_body(ORDER + 1, status="on-hold", total=300_000)
    with b.db.tx() as c:
        c.execute("INSERT INTO deliveries(received_at, delivery_id, webhook_id, topic, resource, resource_id,"
                  " source_url, headers, zbody, state, reason) VALUES (?, 'old', '1', 'order.created', 'order', ?,"
                  " '', ?, ?, 'received', '')",
                  (b.clock(), ORDER + 1, json.dumps(dict(signed_headers(body, "order.created"))),
                   deliveries.pack(body)))
    assert b.decider.decide_all() == 2
    for order, raw in ((ORDER, order_body(ORDER, status="on-hold", total=300_000)), (ORDER + 1, body)):
        row = deliveries.get(b.db.conn(), b.db.scalar("SELECT id FROM deliveries WHERE resource_id=?", (order,)))
        assert (row["state"], row["body"], row["zbody"], row["body_apart"]) == ("processed", None, None, 1)
        assert deliveries.raw_body(row) == raw and len(row["kept_zbody"]) < len(raw) / 2
    made = b.db.query("SELECT order_id, COUNT(*) FROM messages GROUP BY order_id ORDER BY order_id")
    assert [tuple(r) for r in made] == [(ORDER, made[0][1]), (ORDER + 1, made[0][1])] and made[0][1] > 0


def test_a_delivery_that_cannot_be_read_is_kept_as_an_error_and_the_others_are_decided(tmp_path):
    """Deliveries are read before the deciding transaction takes the lock; one whose stored body
    cannot be read (a damaged compressed body) must not stop the others: inside its savepoint it
    fails and is kept `error` with the reason, as before the read-ahead."""
    b = in_process(tmp_path)
    with b.db.tx() as c:
        c.execute("INSERT INTO deliveries(received_at, delivery_id, webhook_id, topic, resource, resource_id,"
                  " source_url, headers, zbody, state, reason) VALUES (?, 'bad', '1', 'order.created', 'order', ?,"
                  " '', '{}', ?, 'received', '')", (b.clock(), ORDER, b"not zlib at all"))
    acknowledge_order(b, ORDER + 1, delivery_id="good")
    assert b.decider.decide_all() == 2
    states = dict(b.db.query("SELECT resource_id, state FROM deliveries ORDER BY id"))
    assert states == {ORDER: "error", ORDER + 1: "processed"}
    assert b.db.scalar("SELECT COUNT(*) FROM messages WHERE order_id=?", (ORDER + 1,)) > 0

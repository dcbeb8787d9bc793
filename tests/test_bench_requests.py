"""What the deployment benches send is what they claim to send: bench/intake.py's order webhooks
are accepted and queue the customer's message, bench/inbound.py's bank SMS confirm the order
they name (an earlier version of that bench sent texts rejected as spoofs and never reached
matching), and bench/baseline.py's b2 commits every body it acknowledges. Not timed."""
from __future__ import annotations

import sqlite3

import requests

from bench.baseline import create_app
from bench.harness import OrderWebhooks, phone_of, total_of
from bench.inbound import ACCOUNT, KEY, BankWebhooks
from tests.conftest import wait_until, woo_settings


def send_raw(url: str, raw: bytes) -> requests.Response:
    """A request as the load generator builds it (bench/loadgen.py), sent with requests."""
    head, body = raw.split(b"\r\n\r\n", 1)
    method, path, _ = head.split(b"\r\n")[0].decode().split(" ")
    headers = dict(line.decode("latin-1").split(": ", 1) for line in head.split(b"\r\n")[1:])
    for name in ("Host", "Connection", "Content-Length"):
        headers.pop(name, None)
    return requests.request(method, url + path, data=body, headers=headers, timeout=10)


def test_bench_order_webhook_and_bank_sms_confirm_the_order(service_factory, woo):
    svc = service_factory(start_scheduler=True, smsgate_signing_key=KEY, bank_accounts=(("Vietcombank", ACCOUNT),),
                          owner_phones=(), **woo_settings(woo))
    order = 1_000_001
    woo.add_order(order, total_of(order))
    r = send_raw(svc.url, OrderWebhooks("127.0.0.1")(order))
    assert r.status_code == 200, r.text
    queued = wait_until(lambda: svc.messages(order_id=order), what="the order's message queued")
    assert [m["recipient"] for m in queued] == ["+84" + phone_of(order)[1:]]

    r = send_raw(svc.url, BankWebhooks("127.0.0.1")(order))
    assert r.status_code == 200, r.text
    row = wait_until(lambda: svc.db.one("SELECT decision FROM transactions WHERE order_id=?", (order,)),
                     what="the bank SMS decided")
    assert row["decision"] == "confirm"
    wait_until(lambda: order in woo.put_times, what="the order marked paid in the shop")


def test_baseline_with_insert_commits_each_body(tmp_path, monkeypatch):
    monkeypatch.setenv("BASELINE_DB", str(tmp_path / "b2.db"))
    client = create_app("insert").test_client()
    bodies = [OrderWebhooks("127.0.0.1").body(i) for i in (5, 6)]
    for body in bodies:
        assert client.post("/webhooks/woocommerce", data=body).status_code == 200
    with sqlite3.connect(tmp_path / "b2.db") as c:
        assert [r[0] for r in c.execute("SELECT body FROM deliveries ORDER BY id")] == bodies

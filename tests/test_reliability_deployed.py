"""The service as deployed (gunicorn with deploy/gunicorn.conf.py + `python -m bridge worker` on
one SQLite file) under faults: kill -9 of both during a burst of orders and payments, several
gunicorn workers hammering the database, WooCommerce down while payments arrive, a full disk,
a provider down for a minute."""
from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from tests.conftest import (BANK_ENV, ROOT, SECRET, ServiceProcess, esms_settings, free_port, health_details, signed_headers,
                            wait_until)
from tests.orders import order_body

ACCOUNT = "0181003749261"
TOKEN = "tok"
# "A minute" of outage, on a timeline scaled down 10x by default (backoff scaled with it, see
# the test); PROVIDER_OUTAGE_SECONDS=60 runs it at full length.
OUTAGE = float(os.environ.get("PROVIDER_OUTAGE_SECONDS", "6"))


def bank_sms(order: int, amount: int, seq: int) -> str:
    return (f"SD TK {ACCOUNT} +{amount:,}VND luc 23-11-2026 10:{seq // 60 % 60:02d}:{seq % 60:02d}. SD "
            f"{20_000_000 + seq * 1000:,}VND. Ref MBVCB.{7700000000 + seq}.DH{order}.CT tu 1047263815 NGUYEN VAN AN")


class Deployment:
    """gunicorn (web) and the worker process, started and killed like systemd would."""

    def __init__(self, tmp_path: Path, env: dict[str, str], workers: int = 3):
        self.db_path = tmp_path / "bridge.db"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith(("ESMS_", "WOO_", "BRIDGE_"))},
                    "BRIDGE_DB": str(self.db_path), "WOO_WEBHOOK_SECRET": SECRET, "FIBO_TOKEN": TOKEN, "FIBO_PAYMENTS": "confirm",
                    "PUBLIC_URL": self.url, "LOG_LEVEL": "WARNING", "GUNICORN_WORKERS": str(workers),
                    "QUIET_HOURS": "off", **BANK_ENV, **env}
        self.log_path = tmp_path / "deployment.log"
        self.log = open(self.log_path, "ab")
        self.web: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        subprocess.run([sys.executable, "-m", "bridge", "init"], cwd=ROOT, env=self.env, check=True,
                       capture_output=True)

    def start_web(self) -> None:
        self.web = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c",
                                     str(ROOT / "deploy" / "gunicorn.conf.py"), "-b", f"127.0.0.1:{self.port}"],
                                    cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(self._healthy, timeout=30, what="gunicorn up")

    def _healthy(self) -> bool:
        try:
            return requests.get(self.url + "/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def start_worker(self) -> None:
        self.worker = subprocess.Popen([sys.executable, "-m", "bridge", "worker"], cwd=ROOT, env=self.env,
                                       stdout=self.log, stderr=subprocess.STDOUT)

    def kill9_web(self) -> None:
        if self.web and self.web.poll() is None:
            kids = subprocess.run(["pgrep", "-P", str(self.web.pid)], capture_output=True, text=True).stdout.split()
            for pid in [self.web.pid, *map(int, kids)]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.web.wait(10)

    def kill9_worker(self) -> None:
        if self.worker and self.worker.poll() is None:
            self.worker.kill()
            self.worker.wait(10)

    def stop(self) -> None:
        for p in (self.web, self.worker):
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
        self.log.close()

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with sqlite3.connect(self.db_path, timeout=30) as c:
            return c.execute(sql, params).fetchall()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


def post_order(url: str, oid: int, total: int) -> bool:
    body = order_body(oid, total=total)
    try:
        r = requests.post(url + "/webhooks/woocommerce", data=body, headers=signed_headers(body, "order.created"),
                          timeout=10)
        return r.status_code == 200
    except requests.RequestException:
        return False


def push_sms(url: str, text: str, guid: str, token: str = TOKEN) -> bool:
    try:
        r = requests.get(url + "/inbound/fibo", params={"token": token, "phone": "Vietcombank", "message": text,
                                                        "guid": guid}, timeout=10)
        return r.status_code == 200
    except requests.RequestException:
        return False


def fakes_env(fake_esms, woo) -> dict[str, str]:
    return {"ESMS_API_KEY": fake_esms.api_key, "ESMS_SECRET_KEY": fake_esms.secret_key,
            "ESMS_BASE_URL": fake_esms.base_url, "ESMS_BRANDNAME": "SHOPDEMO", "ESMS_TIMEOUT": "3",
            "WOO_URL": woo.url, "WOO_CONSUMER_KEY": "ck_test", "WOO_CONSUMER_SECRET": "cs_test",
            "BANK_ACCOUNTS": f"Vietcombank:{ACCOUNT}", "OWNER_PHONES": ""}


def test_kill_9_of_web_and_worker_during_a_burst_loses_nothing_and_doubles_nothing(tmp_path, fake_esms, woo):
    fake_esms.send_delay = 0.15
    dep = Deployment(tmp_path, {**fakes_env(fake_esms, woo), "WORKER_INTERVAL": "0.1", "SEND_LEASE": "2",
                                "SEND_CONCURRENCY": "4", "SEND_BACKOFF_BASE": "0.2", "SEND_BACKOFF_MAX": "1",
                                "SCHEDULER_LEASE": "2"})
    orders = {3000 + i: 200_000 + i * 1000 for i in range(160)}
    for oid, total in orders.items():
        woo.add_order(oid, total)
    acked_orders: set[int] = set()
    acked_sms: dict[int, str] = {}
    pushed: set[int] = set()              # orders whose bank SMS was sent (acknowledged or not)
    refused: list[int] = []
    try:
        dep.start_web()
        dep.start_worker()
        # the worker is up (it holds the scheduler lease) before the burst starts: on a loaded machine
        # its start could outlast the 4 s burst, and then no kill could land during it
        wait_until(lambda: [str(dep.worker.pid)] == [r[0].split(":")[1] for r in
                                                     dep.query("SELECT value FROM kv WHERE key='scheduler.leader'")],
                   timeout=30, what="the worker running")
        t0 = time.monotonic()

        def order_then_pay(i_oid):
            i, oid = i_oid
            time.sleep(max(0.0, t0 + i / 40 - time.monotonic()))   # 40 orders per second
            if not post_order(dep.url, oid, orders[oid]):
                refused.append(oid)
            else:
                acked_orders.add(oid)
                if i % 2 == 0:   # half of them are paid at once by bank transfer
                    guid = f"g{oid}"
                    pushed.add(oid)
                    if push_sms(dep.url, bank_sms(oid, orders[oid], i), guid):
                        acked_sms[oid] = guid

        with ThreadPoolExecutor(12) as pool:
            futures = [pool.submit(order_then_pay, x) for x in enumerate(orders)]
            wait_until(lambda: len(fake_esms.accepted) >= 10, timeout=20, what="sends under way")
            dep.kill9_worker()                     # mid-send
            wait_until(lambda: len(acked_orders) >= 60, timeout=20, what="more webhooks")
            dep.kill9_web()                        # mid-burst: clients see refused connections
            wait_until(lambda: refused or all(f.done() for f in futures), timeout=20,
                       what="a webhook refused while the web is down")   # (or the burst over: asserted below)
            dep.start_web()
            dep.start_worker()
            for f in futures:
                f.result()
        assert 0 < len(acked_orders) < len(orders), "the kill should land during the burst"

        def settled() -> bool:
            left = dep.query("SELECT COUNT(*) FROM messages WHERE status IN ('pending','scheduled')")[0][0]
            return left == 0 and dep.query("SELECT COUNT(*) FROM inbox WHERE state='received'")[0][0] == 0
        wait_until(settled, timeout=90, what="outbox and inbox settled after the restarts")
    finally:
        dep.stop()

    stored = {r[0] for r in dep.query("SELECT resource_id FROM deliveries WHERE topic='order.created'")}
    assert acked_orders <= stored, "an acknowledged webhook was lost"
    sms = dep.query("SELECT id, order_id, status FROM messages WHERE channel='esms'")
    assert {r[1] for r in sms if r[1] in acked_orders} == acked_orders
    ids = [a["RequestId"] for a in fake_esms.accepted]
    assert len(ids) == len(set(ids)), "an SMS was sent twice"
    assert set(ids) == {r[0] for r in sms} and all(r[2] == "queued" for r in sms)
    # every acknowledged bank SMS paid its order, each order once; a push the web stored just
    # before it was killed (committed, its answer lost) may pay too, and nothing else does
    paid = [r[0] for r in dep.query("SELECT order_id FROM transactions WHERE decision='confirm'")]
    assert len(paid) == len(set(paid)), "a payment was confirmed twice"
    assert set(acked_sms) <= set(paid), "an acknowledged payment was lost"
    assert set(paid) <= pushed, "an order was paid by no bank SMS"
    changed = [oid for oid, _, _ in woo.status_changes]
    assert sorted(changed) == sorted(paid) and len(changed) == len(set(changed))
    assert all(len(woo.notes[oid]) == 1 for oid in paid), "a WooCommerce note was written twice"
    assert "database is locked" not in dep.logs()


def test_four_gunicorn_workers_and_the_worker_hammering_one_database(tmp_path, fake_esms, woo):
    dep = Deployment(tmp_path, {**fakes_env(fake_esms, woo), "WORKER_INTERVAL": "0.1"}, workers=4)
    n = 600
    for i in range(n):
        woo.add_order(6000 + i, 100_000 + i)
    try:
        dep.start_web()
        dep.start_worker()
        with ThreadPoolExecutor(24) as pool:
            acks = list(pool.map(lambda i: post_order(dep.url, 6000 + i, 100_000 + i), range(n)))
            pays = list(pool.map(lambda i: push_sms(dep.url, bank_sms(6000 + i, 100_000 + i, i), f"h{i}"),
                                 range(0, n, 3)))
            callbacks = []
            for a in list(fake_esms.accepted)[:200]:
                callbacks.append(pool.submit(fake_esms.fire_callback, a["SMSID"]))
            codes = [f.result().status_code for f in callbacks]
        assert all(acks) and all(pays) and set(codes) <= {200}
        # the worker decides (DECIDE_IN=worker in gunicorn.conf.py), then sends
        wait_until(lambda: dep.query("SELECT (SELECT COUNT(*) FROM deliveries WHERE state='received')"
                                     " + (SELECT COUNT(*) FROM inbox WHERE state='received')"
                                     " + (SELECT COUNT(*) FROM messages WHERE status IN ('pending','scheduled'))")[0][0]
                   == 0, timeout=60, what="everything decided and sent")
        metrics = requests.get(dep.url + "/metrics", timeout=5).text
    finally:
        dep.stop()
    assert "database is locked" not in dep.logs()
    assert dep.query("SELECT COUNT(*) FROM deliveries")[0][0] == n
    assert len(woo.status_changes) == len(range(0, n, 3))
    assert f'woobridge_payments_total{{decision="confirm"}} {float(len(range(0, n, 3)))}' in metrics


def test_woocommerce_down_while_payments_arrive_confirms_each_once_when_it_is_back(service_factory, fake_esms,
                                                                                    woo):
    from bridge.envparse import bank_accounts as _accounts
    svc = service_factory(start_scheduler=True, woo_url=woo.url, woo_consumer_key="ck_test",
                          woo_consumer_secret="cs_test", bank_accounts=_accounts(f"Vietcombank:{ACCOUNT}"),
                          send_backoff_base=0.2, send_backoff_max=1.0, send_max_attempts=100, owner_phones=(),
                          **esms_settings(fake_esms))
    for i in range(10):
        woo.add_order(7000 + i, 300_000)
        assert svc.post_json(order_body(7000 + i, total=300_000), topic="order.created").status_code == 200
    woo.down = True
    for i in range(10):
        assert push_sms(svc.url, bank_sms(7000 + i, 300_000, i), uuid.uuid4().hex, token="test-fibo-token")
    wait_until(lambda: svc.db.scalar("SELECT COUNT(*) FROM transactions WHERE decision='confirm'") == 10,
               what="decisions made while WooCommerce is down")
    # every write-back tried and refused at least once while WooCommerce is down
    wait_until(lambda: svc.db.scalar("SELECT COUNT(DISTINCT message_id) FROM attempts WHERE channel='woocommerce'"
                                     " AND outcome='transient'") == 10, what="each write-back refused")
    assert woo.status_changes == []
    assert svc.db.scalar("SELECT COUNT(*) FROM messages WHERE channel='woocommerce' AND status='delivered'") == 0
    assert svc.db.scalar("SELECT COUNT(*) FROM attempts WHERE channel='woocommerce' AND outcome='transient'") >= 10
    woo.down = False
    wait_until(lambda: len(woo.status_changes) == 10, timeout=30, what="WooCommerce updated once it is back")
    # nothing left to retry (every write-back recorded as delivered), so no second note can follow
    wait_until(lambda: svc.db.scalar("SELECT COUNT(*) FROM messages WHERE channel='woocommerce' AND status='delivered'")
               == 10, what="every write-back delivered")
    assert sorted(o for o, _, _ in woo.status_changes) == list(range(7000, 7010))
    assert all(len(woo.notes[7000 + i]) == 1 for i in range(10))


def test_a_full_disk_answers_503_and_never_acknowledges_what_it_could_not_store(tmp_path):
    """The service's files may not grow past a limit (RLIMIT_FSIZE: what a full disk looks like
    to SQLite): once the database cannot grow, WooCommerce gets 503, not 200-then-lost."""
    env = {"BRIDGE_DB": str(tmp_path / "b.db"), "WOO_WEBHOOK_SECRET": SECRET, "OWNER_PHONES": "",
           "LOG_LEVEL": "WARNING", "RUN_SCHEDULER": "0"}
    svc = ServiceProcess(env)
    subprocess.run([sys.executable, "-m", "bridge", "init"], cwd=ROOT, env=svc.env, check=True, capture_output=True)
    size = sum(p.stat().st_size for p in tmp_path.glob("b.db*"))
    limit = size + 300_000

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    svc.proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=svc.env, preexec_fn=cap,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: _ok(svc.url + "/healthz"), timeout=20, what="service up")
    answers: dict[int, int] = {}
    try:
        for i in range(3000):
            body = order_body(9000 + i)
            r = requests.post(svc.url + "/webhooks/woocommerce", data=body, timeout=10,
                              headers=signed_headers(body, "order.created"))
            answers[9000 + i] = r.status_code
            if r.status_code == 503:
                assert r.headers["Retry-After"] == "60"
                assert "storage unavailable, nothing was accepted" in r.json()["error"]
                if list(answers.values()).count(503) >= 3:
                    break
        assert svc.proc.poll() is None, "the service must stay up"
    finally:
        svc.proc.kill()
        svc.proc.wait(10)
    assert 503 in answers.values(), "the disk never filled: raise the number of webhooks"
    assert set(answers.values()) <= {200, 503}
    stored = {r[0] for r in sqlite3.connect(tmp_path / "b.db").execute("SELECT resource_id FROM deliveries")}
    acked = {oid for oid, code in answers.items() if code == 200}
    refused = {oid for oid, code in answers.items() if code == 503}
    assert acked <= stored, "a 200 was given for a delivery that is not stored"
    assert not refused & stored
    # space again (restart without the limit): WooCommerce's retry of a refused delivery is taken
    svc2 = ServiceProcess(env).start()
    try:
        oid = min(refused)
        body = order_body(oid)
        assert requests.post(svc2.url + "/webhooks/woocommerce", data=body, timeout=10,
                             headers=signed_headers(body, "order.created")).status_code == 200
    finally:
        svc2.stop()


def _ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def test_provider_down_for_a_minute_then_back_sends_every_message_once(service_factory, fake_esms):
    scale = OUTAGE / 60   # backoff 1 s doubling up to 8 s over a 60 s outage, or the same shape scaled
    svc = service_factory(start_scheduler=True, send_max_attempts=1000, send_backoff_base=1.0 * scale,
                          send_backoff_max=8.0 * scale, owner_phones=(), **esms_settings(fake_esms))
    fake_esms.set_outage("http500")
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < OUTAGE:   # orders keep coming during the outage
        assert svc.post_json(order_body(8000 + n), topic="order.created").status_code == 200
        n += 1
        time.sleep(OUTAGE / 15)
    assert fake_esms.accepted == [] and all(m["status"] == "pending" for m in svc.messages())
    fake_esms.set_outage(None)
    wait_until(lambda: all(m["status"] == "queued" for m in svc.messages()), timeout=30,
               what="every message sent after the outage")
    ids = [a["RequestId"] for a in fake_esms.accepted]
    assert len(ids) == n and sorted(ids) == sorted(m["id"] for m in svc.messages())
    assert svc.db.scalar("SELECT COUNT(*) FROM attempts WHERE code='http-500'") >= n
    # the first message kept being retried through the whole outage, at the backoff ceiling
    first = svc.messages()[0]["id"]
    assert svc.db.scalar("SELECT COUNT(*) FROM attempts WHERE message_id=? AND code='http-500'", (first,)) >= 5
    assert health_details(svc.url)["outbox"] == {"queued": n}

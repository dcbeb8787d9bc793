"""Crash safety and provider outages: every accepted webhook yields exactly one accepted SMS."""
from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bridge import reasons
from tests.conftest import BANK_ENV, HEALTH_TOKEN, ROOT, SECRET, ServiceProcess, esms_settings, health_details, signed_headers, wait_until
from tests.orders import order_body


def _post(url: str, order_id: int, not_before: float = 0.0) -> int | None:
    time.sleep(max(0.0, not_before - time.monotonic()))
    body = order_body(order_id)
    try:
        r = requests.post(url + "/webhooks/woocommerce", data=body, headers=signed_headers(body, "order.created"),
                          timeout=5)
        return order_id if r.status_code == 200 else None
    except requests.RequestException:
        return None


def test_kill_9_during_a_burst_loses_nothing_and_doubles_nothing(tmp_path, fake_esms):
    fake_esms.send_delay = 0.25
    db_path = tmp_path / "bridge.db"
    env = {
        "BRIDGE_DB": str(db_path), "MAPPINGS_DIR": str(ROOT / "mappings"), "WOO_WEBHOOK_SECRET": SECRET,
        "ESMS_CALLBACK_TOKEN": "tok", "ESMS_API_KEY": fake_esms.api_key, "ESMS_SECRET_KEY": fake_esms.secret_key,
        "ESMS_BRANDNAME": "SHOPDEMO", "ESMS_BASE_URL": fake_esms.base_url, "ESMS_TIMEOUT": "3",
        "SEND_CONCURRENCY": "4", "WORKER_INTERVAL": "0.1", "SEND_LEASE": "1", "SEND_BACKOFF_BASE": "0.1",
        "SEND_BACKOFF_MAX": "0.5", "OWNER_PHONES": "", "SHOP_NAME": "Shop Demo", **BANK_ENV,
    }
    svc = ServiceProcess(env).start()
    accepted: list[int] = []
    try:
        t0 = time.monotonic()
        with ThreadPoolExecutor(8) as pool:  # 200 webhooks at ~100/s: the kill lands mid-burst
            futures = [pool.submit(_post, svc.url, 1000 + i, t0 + i / 100) for i in range(200)]
            wait_until(lambda: len(fake_esms.accepted) >= 4, timeout=20, what="sends in flight")
            svc.kill9()  # mid-burst, mid-send
            accepted = [f.result() for f in futures if f.result() is not None]
    finally:
        svc.stop()
    assert accepted, "some webhooks were acknowledged before the kill"
    sent_before_restart = len(fake_esms.accepted)

    svc2 = ServiceProcess(env, port=svc.port).start()
    try:
        def all_done():
            with sqlite3.connect(db_path) as c:
                left = c.execute("SELECT COUNT(*) FROM messages WHERE status IN ('pending','scheduled')").fetchone()[0]
            return left == 0
        wait_until(all_done, timeout=60, what="outbox drained after restart")
    finally:
        svc2.stop()

    with sqlite3.connect(db_path) as c:
        rows = c.execute("SELECT id, order_id, status FROM messages").fetchall()
        stored_orders = {r[0] for r in c.execute("SELECT resource_id FROM deliveries")}
    # every acknowledged webhook is stored and produced its message
    assert set(accepted) <= stored_orders
    assert {r[1] for r in rows} >= set(accepted)
    assert len(rows) == len({r[1] for r in rows})  # one message per order
    # every message reached eSMS exactly once
    request_ids = [a["RequestId"] for a in fake_esms.accepted]
    assert len(request_ids) == len(set(request_ids)), "an SMS was sent twice"
    assert set(request_ids) == {r[0] for r in rows}
    assert all(r[2] == "queued" for r in rows)
    with sqlite3.connect(db_path) as c:
        duplicates = c.execute("SELECT COUNT(*) FROM attempts WHERE outcome='duplicate'").fetchone()[0]
    assert duplicates >= 1, "the kill should have caught sends that eSMS accepted but we never recorded"
    assert len(accepted) < 200, "the kill should have landed during the burst"
    print(f"acknowledged {len(accepted)} webhooks; {sent_before_restart} SMS before the kill, {len(request_ids)} in all")


def test_provider_outage_then_recovery_sends_every_message_once(service_factory, fake_esms):
    svc = service_factory(start_scheduler=True, send_max_attempts=40, esms_timeout=0.5, send_concurrency=4,
                          **{k: v for k, v in esms_settings(fake_esms).items() if k != "esms_timeout"})
    fake_esms.timeout_delay = 1.0
    fake_esms.set_outage("99")
    since = 0.0
    for i in range(10):
        body = order_body(2000 + i)
        assert svc.post_json(body, topic="order.created").status_code == 200
    # each kind of outage lasts until sends have met it: the first until every message was refused
    # by it, the next ones until a retry was
    for kind, code, messages in (("99", "99", 20), ("http500", "http-500", 1), ("timeout", "timeout", 1)):
        fake_esms.set_outage(kind)
        wait_until(lambda: svc.db.scalar("SELECT COUNT(DISTINCT message_id) FROM attempts WHERE code=? AND at > ?",
                                         (code, since)) >= messages, what=f"sends refused by the {kind} outage")
        since = time.time()
    fake_esms.set_outage(None)
    fake_esms.fail_next(3, "timeout")  # answers too late for us, but accepts: the retry must get 124
    wait_until(lambda: all(m["status"] == "queued" for m in svc.messages()), timeout=30, what="recovery")

    msgs = svc.messages()
    assert len(msgs) == 20  # customer + owner alert per order
    request_ids = [a["RequestId"] for a in fake_esms.accepted]
    assert sorted(request_ids) == sorted(m["id"] for m in msgs)  # each exactly once
    outcomes = [r["outcome"] for r in svc.db.query("SELECT outcome FROM attempts")]
    assert outcomes.count("transient") >= 20 and outcomes.count("accepted") + outcomes.count("duplicate") == 20
    codes = {r["code"] for r in svc.db.query("SELECT code FROM attempts WHERE outcome='transient'")}
    assert {"99", "http-500", "timeout"} <= codes


def test_retries_give_up_after_the_limit_with_the_reason(service_factory, fake_esms):
    svc = service_factory(send_max_attempts=3, **esms_settings(fake_esms))
    fake_esms.set_outage("99")
    svc.post_json(order_body(3000), topic="order.created")
    wait_until(lambda: (svc.bridge.worker.drain() or True) and
               all(m["status"] == "failed" for m in svc.messages()), timeout=10, what="give up")
    for m in svc.messages():
        assert m["attempts"] == 3 and reasons.english(m["reason"]).startswith("gave up after 3 attempts")


def test_web_and_worker_as_separate_processes(tmp_path, fake_esms):
    """RUN_SCHEDULER=0 on the web process, `python -m bridge worker` sends: same database."""
    import subprocess
    import sys
    env = {
        "BRIDGE_DB": str(tmp_path / "bridge.db"), "MAPPINGS_DIR": str(ROOT / "mappings"), "WOO_WEBHOOK_SECRET": SECRET,
        "ESMS_CALLBACK_TOKEN": "tok", "ESMS_API_KEY": fake_esms.api_key, "ESMS_SECRET_KEY": fake_esms.secret_key,
        "ESMS_BRANDNAME": "SHOPDEMO", "ESMS_BASE_URL": fake_esms.base_url, "OWNER_PHONES": "",
        "WORKER_INTERVAL": "0.2", "RUN_SCHEDULER": "0", "HEALTH_TOKEN": HEALTH_TOKEN, **BANK_ENV,
    }
    web = ServiceProcess(env).start()
    try:
        health = health_details(web.url)
        assert health["ok"] and health["scheduler"] == {"running": False, "in_process": False, "jobs": []}
        for i in range(5):
            body = order_body(4000 + i)
            assert requests.post(web.url + "/webhooks/woocommerce", data=body,
                                 headers=signed_headers(body, "order.created"), timeout=5).status_code == 200
        time.sleep(0.5)
        assert fake_esms.accepted == []  # nobody sends from the web process
        worker = subprocess.Popen([sys.executable, "-m", "bridge", "worker"], cwd=ROOT,
                                  env={**web.env, "RUN_SCHEDULER": "1"}, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: len(fake_esms.accepted) == 5, timeout=20, what="the worker process to send")
        finally:
            worker.terminate()
            worker.wait(10)
    finally:
        web.stop()
    assert len({a["RequestId"] for a in fake_esms.accepted}) == 5


@pytest.mark.parametrize("deep", [False, True], ids=["beside-the-db", "deep-data-dir"])
def test_the_web_process_wakes_the_worker_process_at_once(tmp_path, fake_esms, deep):
    """With a long WORKER_INTERVAL, a webhook taken by the web process is sent by the worker
    process within a fraction of a second: the web side wakes it (a datagram beside the DB, or
    under /tmp when the data directory is too deep for a Unix socket name: both processes must
    compute the same name)."""
    import subprocess
    import sys
    from bridge.wakeup import socket_path
    data = tmp_path / ("d" * 60) / ("e" * 40) if deep else tmp_path
    data.mkdir(parents=True, exist_ok=True)
    wake = Path(socket_path(str(data / "bridge.db")))
    assert wake.parent == (Path("/tmp") if deep else data)
    env = {
        "BRIDGE_DB": str(data / "bridge.db"), "WOO_WEBHOOK_SECRET": SECRET, "ESMS_API_KEY": fake_esms.api_key,
        "ESMS_SECRET_KEY": fake_esms.secret_key, "ESMS_BRANDNAME": "SHOPDEMO", "ESMS_BASE_URL": fake_esms.base_url,
        "OWNER_PHONES": "", "WORKER_INTERVAL": "30", "RUN_SCHEDULER": "0", **BANK_ENV,
    }
    web = ServiceProcess(env).start()
    worker = subprocess.Popen([sys.executable, "-m", "bridge", "worker"], cwd=ROOT,
                              env={**web.env, "RUN_SCHEDULER": "1"}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: wake.exists(), timeout=20, what="the worker listening")
        time.sleep(1.0)   # past the worker's first drain at start
        latencies = []
        for i in range(5):
            body = order_body(4100 + i)
            t0 = time.time()
            assert requests.post(web.url + "/webhooks/woocommerce", data=body,
                                 headers=signed_headers(body, "order.created"), timeout=5).status_code == 200
            wait_until(lambda: len(fake_esms.accepted) == i + 1, timeout=10, what="the SMS")
            latencies.append(fake_esms.accepted[i]["at"] - t0)
        assert max(latencies) < 2.0, latencies   # not the 30 s interval
    finally:
        worker.terminate()
        worker.wait(10)
        web.stop()
    assert not wake.exists()   # removed on a clean stop


def test_work_arriving_during_a_send_goes_out_at_once_not_at_the_next_tick(service_factory, fake_esms):
    """A webhook accepted while the worker is busy with a slow provider must not wait for the
    next scheduled tick (a minute here): the drain goes round again."""
    svc = service_factory(start_scheduler=True, worker_interval=60, send_concurrency=1, owner_phones=(),
                          **esms_settings(fake_esms))
    fake_esms.send_delay = 0.4
    # the scheduler's first (empty) drain is over: its next run is a minute away, and it is not running
    wait_until(lambda: svc.bridge.scheduler.get_job("drain_outbox").next_run_time
               > datetime.now(timezone.utc) + timedelta(seconds=30) and not svc.bridge.worker._drain_lock.locked(),
               what="the scheduler's first (empty) drain over")
    assert svc.post_json(order_body(3001), topic="order.created").status_code == 200
    wait_until(lambda: svc.bridge.worker._drain_lock.locked(), timeout=5, interval=0.005, what="a drain running")
    assert svc.post_json(order_body(3002), topic="order.created").status_code == 200
    wait_until(lambda: len(fake_esms.accepted) == 2, timeout=5, what="both SMS sent well before the next tick")

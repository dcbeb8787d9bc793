"""Webhook intake benchmark: acknowledgement latency while the SMS provider is slow.

Starts the fake eSMS (500 ms per send), woo-bridge as its own process (`python app.py`), and
offers N signed order webhooks at a fixed rate from concurrent clients over loopback. Prints
acknowledgement latency p50/p99, webhooks/s, and the time until every SMS was accepted by the
provider; then the same load against the send-inside-the-request way WordPress SMS plugins
work (bench/naive_plugin.py).

    .venv/bin/python bench/ingest.py [--n 2000] [--rate 200] [--clients 32] [--send-delay 0.5]
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import SECRET, free_port, signed_headers  # noqa: E402
from tests.fakes.esms import FakeEsms  # noqa: E402
from tests.orders import order_body  # noqa: E402


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit("server did not start")


def offer_load(url: str, n: int, rate: float, clients: int, first_id: int) -> tuple[list[float], float, int]:
    """Open-loop: request i is due at t0 + i/rate whatever happened to the others."""
    bodies = [order_body(first_id + i) for i in range(n)]
    latencies: list[float] = [0.0] * n
    errors = 0
    local = threading.local()
    lock = threading.Lock()

    def one(i: int) -> None:
        nonlocal errors
        s = getattr(local, "s", None) or requests.Session()
        local.s = s
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        start = time.perf_counter()
        try:
            r = s.post(url, data=bodies[i], headers=signed_headers(bodies[i], "order.created"), timeout=120)
            ok = r.status_code == 200
        except requests.RequestException:
            ok = False
        latencies[i] = time.perf_counter() - start
        if not ok:
            with lock:
                errors += 1

    t0 = time.perf_counter() + 0.2
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(n)))
    elapsed = time.perf_counter() - t0
    return latencies, elapsed, errors


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def report(label: str, lat: list[float], elapsed: float, errors: int, n: int, done_after: float | None) -> None:
    print(f"\n== {label}")
    print(f"webhooks offered      : {n}  (errors/non-200: {errors})")
    print(f"ack latency p50       : {pct(lat, 50) * 1000:8.1f} ms")
    print(f"ack latency p99       : {pct(lat, 99) * 1000:8.1f} ms")
    print(f"ack latency max       : {max(lat) * 1000:8.1f} ms   mean {statistics.mean(lat) * 1000:.1f} ms")
    print(f"webhooks per second   : {n / elapsed:8.1f}")
    if done_after is not None:
        print(f"all SMS accepted after: {done_after:8.1f} s from the first webhook")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--send-delay", type=float, default=0.5)
    ap.add_argument("--send-concurrency", type=int, default=32)
    ap.add_argument("--naive-n", type=int, default=400, help="webhooks for the naive comparison (it is slow)")
    args = ap.parse_args()

    fake = FakeEsms(balance=10**12).start()
    fake.send_delay = args.send_delay
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    port = free_port()
    env = {**os.environ, "BRIDGE_DB": str(tmp / "bridge.db"), "HOST": "127.0.0.1", "PORT": str(port),
           "WOO_WEBHOOK_SECRET": SECRET, "ESMS_API_KEY": fake.api_key, "ESMS_SECRET_KEY": fake.secret_key,
           "ESMS_BRANDNAME": "SHOPDEMO", "ESMS_BASE_URL": fake.base_url, "OWNER_PHONES": "",
           "SEND_CONCURRENCY": str(args.send_concurrency), "LOG_LEVEL": "WARNING", "WORKER_INTERVAL": "0.2"}
    print(f"woo-bridge ingest benchmark: {args.n} webhooks at {args.rate}/s from {args.clients} clients; "
          f"provider takes {args.send_delay * 1000:.0f} ms per send; {os.cpu_count()} CPUs; "
          f"SQLITE_SYNCHRONOUS={env.get('SQLITE_SYNCHRONOUS', 'FULL')}")
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        start = time.perf_counter()
        lat, elapsed, errors = offer_load(f"http://127.0.0.1:{port}/webhooks/woocommerce", args.n, args.rate,
                                          args.clients, 100_000)
        while len(fake.accepted) < args.n - errors and time.perf_counter() - start < 600:
            time.sleep(0.2)
        done = time.perf_counter() - start
        with sqlite3.connect(tmp / "bridge.db") as c:
            stored = c.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]
        report("woo-bridge (store, answer, send from the outbox)", lat, elapsed, errors, args.n, done)
        print(f"deliveries stored     : {stored}; SMS accepted by provider: {len(fake.accepted)}; "
              f"duplicates: {len(fake.accepted) - len({a['RequestId'] for a in fake.accepted})}")
    finally:
        proc.terminate()
        proc.wait(10)

    nport = free_port()
    before = len(fake.accepted)
    nproc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "naive_plugin.py"), str(nport)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{nport}/", nproc)
        start = time.perf_counter()
        lat, elapsed, errors = offer_load(f"http://127.0.0.1:{nport}/", args.naive_n, args.rate, args.clients,
                                          900_000)
        report("send inside the request (WordPress SMS plugin style)", lat, elapsed, errors, args.naive_n,
               time.perf_counter() - start)
        print(f"SMS accepted by provider: {len(fake.accepted) - before}")
    finally:
        nproc.terminate()
        nproc.wait(10)
        fake.stop()


if __name__ == "__main__":
    main()

"""Webhook intake benchmark: acknowledgement latency while the SMS provider is slow.

Starts the fake eSMS (500 ms per send), woo-bridge as its own process (`python app.py`), and
offers N signed order webhooks at a fixed rate from concurrent clients over loopback. Prints
acknowledgement latency p50/p99, webhooks/s, and the time until every SMS was accepted by the
provider; then the same load against the send-inside-the-request way WordPress SMS plugins
work (bench/naive_plugin.py).

    .venv/bin/python bench/ingest.py [--n 2000] [--rate 200] [--clients 32] [--send-delay 0.5] [--no-pin]

On a machine with 2+ CPUs the service is pinned to CPU 0 and the load generator and the fake
provider to CPU 1 (taskset), as if clients and provider were other machines; --no-pin shares.
"""
from __future__ import annotations

import argparse
import os
import shutil
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
from tests.orders import order_body  # noqa: E402

import logging  # noqa: E402

logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the fake provider logs every request otherwise


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


def _client_process(args: tuple[str, list[int], int, float, float, int]) -> tuple[list[float], int]:
    """One load-generating process: its share of the requests, each sent at its due time."""
    url, ids, first, t0, rate, threads = args
    bodies = {i: order_body(i) for i in ids}
    headers = {i: signed_headers(bodies[i], "order.created") for i in ids}
    local = threading.local()

    def one(i: int) -> tuple[float, bool]:
        s = getattr(local, "s", None) or requests.Session()
        local.s = s
        delay = t0 + (i - first) / rate - time.time()
        if delay > 0:
            time.sleep(delay)
        start = time.perf_counter()
        try:
            ok = s.post(url, data=bodies[i], headers=headers[i], timeout=120).status_code == 200
        except requests.RequestException:
            ok = False
        return time.perf_counter() - start, ok

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(one, ids))
    return [r[0] for r in results], sum(1 for r in results if not r[1])


def offer_load(url: str, n: int, rate: float, clients: int, first_id: int,
               processes: int = 4) -> tuple[list[float], float, int]:
    """Open loop: request i is due at t0 + i/rate whatever happened to the others. Clients are
    spread over several processes so the load generator's own interpreter lock does not add
    to the latency it measures."""
    from multiprocessing import get_context
    ids = list(range(first_id, first_id + n))
    t0 = time.time() + 1.0
    shares = [(url, ids[k::processes], first_id, t0, rate, max(1, clients // processes)) for k in range(processes)]
    with get_context("fork").Pool(processes) as pool:
        parts = pool.map(_client_process, shares)
    latencies = [x for part in parts for x in part[0]]
    return latencies, time.time() - t0, sum(part[1] for part in parts)


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
    ap.add_argument("--no-pin", action="store_true", help="do not pin service and load to separate CPUs")
    args = ap.parse_args()
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    service_cmd = ["taskset", "-c", "0"] if pin else []
    if pin:
        os.sched_setaffinity(0, {1})  # this process, its load generators and the fake provider

    # the fake provider runs in its own process, so its threads do not share a GIL with the load
    fake_proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.esms", str(args.send_delay)], cwd=ROOT,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    fake_base = fake_proc.stdout.readline().strip()
    fake_root = fake_base.rsplit("/MainService.svc", 1)[0]

    def provider() -> dict:
        return requests.get(fake_root + "/_fake/accepted", timeout=5).json()
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    port = free_port()
    env = {**os.environ, "BRIDGE_DB": str(tmp / "bridge.db"), "HOST": "127.0.0.1", "PORT": str(port),
           "WOO_WEBHOOK_SECRET": SECRET, "ESMS_API_KEY": "test-api-key", "ESMS_SECRET_KEY": "test-secret-key",
           "ESMS_BRANDNAME": "SHOPDEMO", "ESMS_BASE_URL": fake_base, "OWNER_PHONES": "",
           "SEND_CONCURRENCY": str(args.send_concurrency), "LOG_LEVEL": "WARNING", "WORKER_INTERVAL": "0.2"}
    print(f"woo-bridge ingest benchmark: {args.n} webhooks at {args.rate}/s from {args.clients} clients; "
          f"provider takes {args.send_delay * 1000:.0f} ms per send; {os.cpu_count()} CPUs; "
          f"SQLITE_SYNCHRONOUS={env.get('SQLITE_SYNCHRONOUS', 'NORMAL')}; "
          f"{'service pinned to CPU 0, load and provider to CPU 1' if pin else 'no CPU pinning'}")
    proc = subprocess.Popen([*service_cmd, sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        start = time.perf_counter()
        lat, elapsed, errors = offer_load(f"http://127.0.0.1:{port}/webhooks/woocommerce", args.n, args.rate,
                                          args.clients, 100_000)
        while provider()["accepted"] < args.n - errors and time.perf_counter() - start < 600:
            time.sleep(0.2)
        done = time.perf_counter() - start
        with sqlite3.connect(tmp / "bridge.db") as c:
            stored = c.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]
        report("woo-bridge (store, answer, send from the outbox)", lat, elapsed, errors, args.n, done)
        got = provider()
        print(f"deliveries stored     : {stored}; SMS accepted by provider: {got['accepted']}; "
              f"duplicates: {got['accepted'] - got['unique_request_ids']}")
    finally:
        proc.terminate()
        proc.wait(10)

    nport = free_port()
    before = provider()["accepted"]
    nproc = subprocess.Popen([*service_cmd, sys.executable, str(ROOT / "bench" / "naive_plugin.py"), str(nport)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{nport}/", nproc)
        start = time.perf_counter()
        lat, elapsed, errors = offer_load(f"http://127.0.0.1:{nport}/", args.naive_n, args.rate, args.clients,
                                          900_000)
        while provider()["accepted"] - before < args.naive_n - errors and time.perf_counter() - start < 120:
            time.sleep(0.2)
        report("send inside the request (WordPress SMS plugin style)", lat, elapsed, errors, args.naive_n,
               time.perf_counter() - start)
        print(f"SMS accepted by provider: {provider()['accepted'] - before}")
    finally:
        nproc.terminate()
        nproc.wait(10)
        fake_proc.terminate()


if __name__ == "__main__":
    main()

"""Inbound SMS benchmark: signed SMSGate `sms:received` webhooks through /inbound/smsgate.

woo-bridge runs as its own process (`python app.py`); clients in 4 processes post N signed
webhooks as fast as the service answers (closed loop), 10 % of them repeats of earlier SMS (same
messageId) so the dedupe path is measured too. Prints inbound SMS per second, p50/p99 latency,
and checks that every distinct SMS is stored exactly once.

    .venv/bin/python bench/inbound.py [--n 5000] [--clients 16] [--no-pin]
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
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

from tests.conftest import free_port  # noqa: E402
from tests.fakes.smsgate import FakeSmsGate, sign  # noqa: E402

KEY = "bench-signing-key"
SENDERS = ["Vietcombank", "MBBank", "MoMo", "+84912345678", "TPBank"]


def _worker(args: tuple[str, list[tuple[int, int]], int]) -> list[float]:
    url, items, threads = args
    gate = FakeSmsGate(signing_key=KEY)  # used only to build envelopes, not started
    local = threading.local()

    def one(item: tuple[int, int]) -> float:
        i, sms = item
        s = getattr(local, "s", None) or requests.Session()
        local.s = s
        body = gate.envelope("sms:received", {
            "messageId": f"bench-{sms}", "message": f"TK 0071009998887 +{(sms % 90 + 10) * 1000:,}VND ND DH{sms}",
            "sender": SENDERS[sms % len(SENDERS)], "simNumber": 1,
            "receivedAt": time.strftime("%Y-%m-%dT%H:%M:%S+07:00")})
        ts = str(int(time.time()))
        start = time.perf_counter()
        r = s.post(url, data=body, headers={"Content-Type": "application/json", "X-Timestamp": ts,
                                            "X-Signature": sign(body, ts, KEY)}, timeout=30)
        elapsed = time.perf_counter() - start
        if r.status_code != 200:
            raise SystemExit(f"unexpected {r.status_code}: {r.text}")
        return elapsed

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, items))


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--no-pin", action="store_true")
    args = ap.parse_args()
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    if pin:
        os.sched_setaffinity(0, {1})
    tmp = Path(tempfile.mkdtemp(prefix="bench-inbound-"))
    port = free_port()
    env = {**os.environ, "BRIDGE_DB": str(tmp / "bridge.db"), "HOST": "127.0.0.1", "PORT": str(port),
           "SMSGATE_SIGNING_KEY": KEY, "LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([*(["taskset", "-c", "0"] if pin else []), sys.executable, str(ROOT / "app.py")],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except requests.RequestException:
                if time.time() > deadline or proc.poll() is not None:
                    raise SystemExit("service did not start")
                time.sleep(0.1)
        distinct = int(args.n * 0.9)
        rng = random.Random(7)
        items = [(i, i if i < distinct else rng.randrange(distinct)) for i in range(args.n)]
        procs = 4
        shares = [(f"http://127.0.0.1:{port}/inbound/smsgate", items[k::procs], max(1, args.clients // procs))
                  for k in range(procs)]
        from multiprocessing import get_context
        start = time.perf_counter()
        with get_context("fork").Pool(procs) as pool:
            parts = pool.map(_worker, shares)
        elapsed = time.perf_counter() - start
        lat = [x for p in parts for x in p]
        with sqlite3.connect(tmp / "bridge.db") as c:
            stored = c.execute("SELECT COUNT(*) FROM inbox WHERE state != 'duplicate'").fetchone()[0]
        print(f"woo-bridge inbound benchmark: {args.n} signed sms:received webhooks ({args.n - distinct} repeats), "
              f"{args.clients} clients in {procs} processes; {os.cpu_count()} CPUs; "
              f"{'service pinned to CPU 0, clients to CPU 1' if pin else 'no CPU pinning'}")
        print(f"inbound SMS per second : {args.n / elapsed:8.1f}")
        print(f"latency p50            : {pct(lat, 50) * 1000:8.1f} ms")
        print(f"latency p99            : {pct(lat, 99) * 1000:8.1f} ms")
        print(f"distinct SMS stored    : {stored} of {distinct} (each once)")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()

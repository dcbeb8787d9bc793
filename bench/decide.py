"""Acknowledgements and decisions per second, deployed (gunicorn with deploy/gunicorn.conf.py plus
`python -m bridge worker`), for each place decisions can run (DECIDE_IN), runs interleaved.

    .venv/bin/python bench/decide.py [--n 2000] [--clients 16] [--rounds 2] [--where process,worker]
                                     [--root DIR]

N signed order webhooks (distinct orders, each rendering a customer SMS into the dry-run outbox)
are sent by CLIENTS closed-loop clients as fast as they are answered: acks/s is N over the time
from the first send to the last answer. Decisions/s is N over the time from the first send to
the last delivery's decision (deliveries.processed_at). `--root` runs another checkout of the
service (e.g. the version that decided before answering: there both figures are one).
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
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import SECRET, free_port, signed_headers, write_mappings  # noqa: E402
from tests.orders import order_body  # noqa: E402


def wait_healthy(url: str, timeout: float = 120) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not come up")


def one_run(root: Path, where: str, n: int, clients: int) -> tuple[float, float]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-decide-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("ESMS_", "WOO_", "BRIDGE_"))},
           "BRIDGE_DB": str(tmp / "bridge.db"), "WOO_WEBHOOK_SECRET": SECRET, "PUBLIC_URL": url, "QUIET_HOURS": "off",
           "LOG_LEVEL": "WARNING", "GUNICORN_ACCESS_LOG": "/dev/null", "OWNER_PHONES": "", "DECIDE_IN": where,
           "MAPPINGS_DIR": str(write_mappings(tmp, channel="esms"))}
    log = open(tmp / "log", "ab")
    subprocess.run([sys.executable, "-m", "bridge", "init"], cwd=root, env=env, check=True, capture_output=True)
    web = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", str(root / "deploy/gunicorn.conf.py"),
                            "-b", f"127.0.0.1:{port}"], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    worker = subprocess.Popen([sys.executable, "-m", "bridge", "worker"], cwd=root, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        wait_healthy(url)
        bodies = [order_body(100_000 + i, total=300_000) for i in range(n)]
        left = iter(range(n))
        lock = threading.Lock()
        failures = [0]

        def client() -> None:
            s = requests.Session()
            while True:
                with lock:
                    i = next(left, None)
                if i is None:
                    return
                r = s.post(url + "/webhooks/woocommerce", data=bodies[i],
                           headers=signed_headers(bodies[i], "order.created"), timeout=30)
                if r.status_code != 200:
                    failures[0] += 1
        started = time.time()
        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        acked = time.time() - started
        db = sqlite3.connect(tmp / "bridge.db", timeout=30)
        deadline = time.time() + 300
        while db.execute("SELECT COUNT(*) FROM deliveries WHERE processed_at IS NOT NULL").fetchone()[0] < n:
            if time.time() > deadline:
                raise RuntimeError("deliveries left undecided")
            time.sleep(0.1)
        last = db.execute("SELECT MAX(processed_at) FROM deliveries").fetchone()[0]
        db.close()
        if failures[0]:
            print(f"  ({failures[0]} answers were not 200)")
        return n / acked, n / (last - started)
    finally:
        for p in (web, worker):
            p.terminate()
            p.wait(30)
        log.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--where", default="process,worker")
    ap.add_argument("--root", type=Path, default=ROOT)
    a = ap.parse_args()
    results: dict[str, list[tuple[float, float]]] = {w: [] for w in a.where.split(",")}
    for r in range(a.rounds):
        for where in results:
            acks, decisions = one_run(a.root.resolve(), where, a.n, a.clients)
            results[where].append((acks, decisions))
            print(f"round {r + 1} DECIDE_IN={where}: {acks:,.0f} acks/s, {decisions:,.0f} decisions/s", flush=True)
    for where, runs in results.items():
        print(f"DECIDE_IN={where}: acks/s median {statistics.median(x for x, _ in runs):,.0f}, "
              f"decisions/s median {statistics.median(y for _, y in runs):,.0f} ({len(runs)} runs, n={a.n}, "
              f"{a.clients} clients)")


if __name__ == "__main__":
    main()

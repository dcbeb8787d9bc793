"""The two ways woo-bridge is served, side by side: `make run` (waitress, one process, the
scheduler inside) and the deployment (gunicorn with deploy/gunicorn.conf.py, plus
`python -m bridge worker`). The same signed order webhooks are offered as fast as N clients
can send them, runs interleaved; prints acknowledgements per second and latency p50/p99 for each.

    .venv/bin/python bench/servers.py [--n 1500] [--clients 16] [--rounds 2]

Channels are unconfigured (dry-run), so what is measured is the web side: verify, store, decide,
answer. The worker (deployed) or the scheduler (waitress) drains the dry-run outbox meanwhile.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import SECRET, free_port, signed_headers  # noqa: E402
from tests.orders import order_body  # noqa: E402

PY = sys.executable


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def start(kind: str, tmp: Path) -> tuple[str, list[subprocess.Popen]]:
    port = free_port()
    env = {**os.environ, "BRIDGE_DB": str(tmp / f"{kind}.db"), "WOO_WEBHOOK_SECRET": SECRET, "HOST": "127.0.0.1",
           "PORT": str(port), "LOG_LEVEL": "WARNING", "ADMIN_PASSWORD": "bench-password",
           "MAPPINGS_DIR": str(ROOT / "mappings"), "GUNICORN_BIND": f"127.0.0.1:{port}",
           "GUNICORN_ACCESS_LOG": "/dev/null"}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": ROOT, "env": env}
    if kind == "waitress":
        procs = [subprocess.Popen([PY, "app.py"], **quiet)]
    else:
        gunicorn = shutil.which("gunicorn", path=str(Path(PY).parent)) or "gunicorn"
        subprocess.run([PY, "-m", "bridge", "init"], check=True, **quiet)
        procs = [subprocess.Popen([gunicorn, "-c", "deploy/gunicorn.conf.py"], **quiet),
                 subprocess.Popen([PY, "-m", "bridge", "worker"], **quiet)]
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, procs[0])
    return url, procs


def offer(url: str, n: int, clients: int, base: int) -> tuple[float, list[float]]:
    bodies = [order_body(base + i, status="on-hold") for i in range(n)]
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=clients))

    def one(body: bytes) -> float:
        t = time.perf_counter()
        r = session.post(url + "/webhooks/woocommerce", data=body, headers=signed_headers(body, "order.created"),
                         timeout=30)
        assert r.status_code == 200, r.text
        return (time.perf_counter() - t) * 1000

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        lat = list(pool.map(one, bodies))
    return n / (time.perf_counter() - t0), lat


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1500)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    results: dict[str, list[tuple[float, list[float]]]] = {"waitress": [], "gunicorn": []}
    base = 300_000
    with tempfile.TemporaryDirectory() as d:
        for r in range(args.rounds):
            for kind in ("waitress", "gunicorn") if r % 2 == 0 else ("gunicorn", "waitress"):
                url, procs = start(kind, Path(d))
                try:
                    offer(url, 50, 4, base)           # warm up: imports, connections, first pages
                    base += 50
                    results[kind].append(offer(url, args.n, args.clients, base))
                    base += args.n
                finally:
                    for p in procs:
                        p.terminate()
                    for p in procs:
                        p.wait(10)
    print(f"{os.cpu_count()} CPUs, {args.n} signed order webhooks per run, {args.clients} clients, "
          f"{args.rounds} interleaved rounds")
    for kind, runs in results.items():
        lat = sorted(x for _, l in runs for x in l)
        rates = ", ".join(f"{rate:.0f}" for rate, _ in runs)
        print(f"  {kind:<9} acknowledged/s {rates}; latency p50 {statistics.median(lat):.1f} ms, "
              f"p99 {lat[int(len(lat) * 0.99) - 1]:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

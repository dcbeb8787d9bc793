"""The seeding bench (issue 17): woo-bridge at 1k / 100k / 1M messages, figures per size.

Per size (messages in the outbox; orders are a tenth of that, each with its webhook deliveries,
bank SMS and transaction, provider attempts, COD question, parcel and carrier calls, seeded by
bench/admin_pages.Seeder as a year of a busy shop), it prints:

- first start: the schema migration on that database (on a database from an older schema this
  includes rebuilding the folded full-text index and filling the tallies);
- start-up: `python app.py` (waitress, the scheduler on) from process start to /healthz 200;
- webhook ack p50/p99: signed WooCommerce `order.created` webhooks through that process, one at
  a time (each new order also queues its messages, as in production);
- match latency p50/p99: for a pending order, a signed SMSGate `sms:received` bank SMS to the
  WooCommerce `PUT` marking it paid arriving at a fake WooCommerce (tests/fakes), one at a time;
- database bytes per 100,000 webhooks: growth of the used pages (free pages not counted) over the
  webhooks and payments just sent, scaled;
- every admin page and search, and /metrics: server time p50/p95 (Flask test client, signed in).

    .venv/bin/python bench/scale.py [--sizes 1000,100000,1000000] [--dir /tmp/woo-bridge-bench/scale]
                                    [--from-1m /work/benchdata/admin.db] [--webhooks 500] [--payments 50]
                                    [--repeat 20]

Each size's database is kept in --dir and reused (--reseed to build it again); the 1M one can be
copied from a database seeded by bench/admin_pages.py (--from-1m; read, never written). Figures
only, no asserts.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import logging
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from admin_pages import Seeder, measure, percentile  # noqa: E402
from harness import copy_database  # noqa: E402
from match import ACCOUNT, bank_sms, total_of  # noqa: E402
from bridge.store.db import Database  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.fakes.smsgate import FakeSmsGate, sign  # noqa: E402
from tests.fakes.woocommerce import FakeWooCommerce  # noqa: E402
from tests.orders import order_body  # noqa: E402

WEBHOOK_SECRET = "bench-webhook-secret"
KEY = "bench-signing-key"
MILLION = 1_000_000


def used_bytes(path: Path) -> int:
    """The database's pages in use (the WAL folded in first), free pages left out."""
    c = sqlite3.connect(path)
    try:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages, free, size = (c.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "freelist_count",
                                                                               "page_size"))
    finally:
        c.close()
    return (pages - free) * size


def prepare(path: Path, size: int, source: str | None, reseed: bool) -> dict[str, float]:
    """The size's database, seeded (or copied) when missing, at this schema; what that cost."""
    out: dict[str, float] = {}
    if reseed:
        for p in path.parent.glob(path.name + "*"):
            p.unlink()
    if not path.exists():
        t0 = time.perf_counter()
        if size == MILLION and source and Path(source).exists():
            copy_database(source, path)
            out["copied from --from-1m (s)"] = time.perf_counter() - t0
        else:
            db = Database(str(path), synchronous="OFF")
            db.migrate()
            Seeder(db, max(10, size // 10), size, time.time()).run()
            db.close()
            out["seeded (s)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    db = Database(str(path))
    db.migrate()
    out["first start: migration (s)"] = time.perf_counter() - t0
    out["messages"] = db.scalar("SELECT COUNT(*) FROM messages")
    out["orders"] = db.scalar("SELECT COUNT(*) FROM orders")
    db.close()
    return out


def signed_webhook(session: requests.Session, base: str, source: str, order_id: int) -> float:
    body = order_body(order_id, total=total_of(order_id))
    sig = base64.b64encode(hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    t0 = time.perf_counter()
    r = session.post(base + "/webhooks/woocommerce", data=body, timeout=30, headers={
        "Content-Type": "application/json", "X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Resource": "order",
        "X-WC-Webhook-Event": "created", "X-WC-Webhook-Signature": sig, "X-WC-Webhook-Delivery-ID": f"d-{order_id}",
        "X-WC-Webhook-Source": source + "/"})
    took = (time.perf_counter() - t0) * 1000
    if r.status_code != 200:
        raise SystemExit(f"webhook refused: {r.status_code} {r.text[:200]}")
    return took


def wait_for(what: str, ok, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.005)


def live(path: Path, webhooks: int, payments: int) -> dict[str, float]:
    """Start-up, webhook acks, match latency and growth per webhook, against app.py on `path`."""
    out: dict[str, float] = {}
    first = Database(str(path)).scalar("SELECT COALESCE(MAX(id), 0) FROM orders") + 1_000
    before = used_bytes(path)
    port = free_port()
    with FakeWooCommerce() as woo:
        env = {**os.environ, "BRIDGE_DB": str(path), "HOST": "127.0.0.1", "PORT": str(port), "WOO_URL": woo.url,
               "WOO_CONSUMER_KEY": "ck_test", "WOO_CONSUMER_SECRET": "cs_test", "LOG_LEVEL": "WARNING",
               "BANK_ACCOUNTS": f"Vietcombank:{ACCOUNT}", "WOO_WEBHOOK_SECRET": WEBHOOK_SECRET,
               "SMSGATE_SIGNING_KEY": KEY, "ADMIN_PASSWORD": "bench-admin-password"}
        base = f"http://127.0.0.1:{port}"
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def healthy() -> bool:
            try:
                return requests.get(base + "/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                if proc.poll() is not None:
                    raise SystemExit("app.py exited")
                return False
        try:
            wait_for("/healthz 200", healthy, 300)
            out["start-up to /healthz 200 (ms)"] = (time.perf_counter() - t0) * 1000
            s = requests.Session()
            acks = []
            for oid in range(first, first + webhooks):
                if oid < first + payments:
                    woo.add_order(oid, total_of(oid))
                acks.append(signed_webhook(s, base, woo.url, oid))
            out["webhook ack p50 (ms)"] = statistics.median(acks)
            out["webhook ack p99 (ms)"] = percentile(acks, 0.99)
            gate = FakeSmsGate(signing_key=KEY)   # builds signed envelopes; not started
            took = []
            for i, oid in enumerate(range(first, first + payments)):
                body = gate.envelope("sms:received", {
                    "messageId": f"scale-{oid}", "message": bank_sms(oid, total_of(oid), oid % 86_400),
                    "sender": "Vietcombank", "simNumber": 1,
                    "receivedAt": time.strftime("%Y-%m-%dT%H:%M:%S+07:00")})
                ts = str(int(time.time()))
                sent = time.time()
                r = s.post(base + "/inbound/smsgate", data=body, timeout=30, headers={
                    "Content-Type": "application/json", "X-Timestamp": ts, "X-Signature": sign(body, ts, KEY)})
                if r.status_code != 200:
                    raise SystemExit(f"bank SMS refused: {r.status_code} {r.text[:200]}")
                wait_for(f"order {oid} marked paid in WooCommerce", lambda: oid in woo.put_times, 60)
                took.append((woo.put_times[oid] - sent) * 1000)
            out["match: bank SMS -> WooCommerce PUT p50 (ms)"] = statistics.median(took)
            out["match: bank SMS -> WooCommerce PUT p99 (ms)"] = percentile(took, 0.99)
        finally:
            proc.terminate()
            proc.wait(30)
    out["database bytes per 100k webhooks (MB)"] = (used_bytes(path) - before) / webhooks * 100_000 / 1e6
    out["database size (MB)"] = path.stat().st_size / 1e6
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,100000,1000000", help="messages per database, comma separated")
    ap.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "woo-bridge-bench" / "scale"))
    ap.add_argument("--from-1m", default="", help="a 1M database seeded by bench/admin_pages.py, copied (read only)")
    ap.add_argument("--webhooks", type=int, default=500)
    ap.add_argument("--payments", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--reseed", action="store_true")
    args = ap.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)   # the fake WooCommerce's request lines
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    results: dict[int, dict[str, float]] = {}
    pages: dict[int, dict[str, tuple[float, float]]] = {}
    for size in sizes:
        path = Path(args.dir) / f"scale-{size}.db"
        print(f"\n== {size:,} messages ({path})", flush=True)
        results[size] = prepare(path, size, args.from_1m or None, args.reseed)
        results[size].update(live(path, args.webhooks, args.payments))
        for k, v in results[size].items():
            print(f"  {k:48s} {v:12,.1f}", flush=True)
        print(f"  server time per page, {args.repeat} requests each after one warm-up:")
        pages[size] = {name: (p50, p95, cpu) for name, _path, _st, p50, p95, cpu in measure(str(path), args.repeat)}
    load = os.getloadavg()[0]
    print(f"\n{os.cpu_count()} CPUs, load average {load:.1f} at the end (other processes share the CPUs)\n")
    head = " | ".join(f"{s:,}" for s in sizes)
    print(f"| figure | {head} |\n|---|" + "---:|" * len(sizes))
    keys = list(dict.fromkeys(k for s in sizes for k in results[s]))
    for key in keys:
        print(f"| {key} | " + " | ".join(f"{results[s][key]:,.1f}" if key in results[s] else "–" for s in sizes)
              + " |")
    print(f"\n| page or search: p50 / p95 (CPU p95), ms | {head} |\n|---|" + "---:|" * len(sizes))
    for name in dict.fromkeys(n for s in sizes for n in pages[s]):   # deep pages only where a list is long
        print(f"| {name} | " + " | ".join("{:.0f} / {:.0f} ({:.0f})".format(*pages[s][name]) if name in pages[s]
                                         else "–" for s in sizes) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

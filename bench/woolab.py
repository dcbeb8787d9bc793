"""Latency against the real shop: a WordPress 6.8.8 + WooCommerce 9.9.5 lab (tests/woolab.py,
built from ../shared/woolab) delivering to woo-bridge (`python app.py` as a child process) on
loopback.

Two figures, p50/p99 over N orders (default 50):
- order created (the REST call that creates it has returned) -> its webhook delivery received by
  the bridge -> the customer's message stored in the outbox;
- bank "money received" SMS posted to the bridge (signed SMSGate webhook) -> WooCommerce has
  accepted the "paid" update and its private note (the bridge's PUT and note POST answered),
  checked afterwards in the shop. Messages are posted `--pay-every` seconds apart (default 2);
  `--pay-every 0` posts them as one burst, which measures how fast the shop's PHP takes the
  updates one after another rather than the latency of one payment.

Most of the first figure is WooCommerce's own: deliveries are Action Scheduler jobs, run here
every 2 s (a real shop runs them on WP-Cron or a server cron, often once a minute).

    .venv/bin/python bench/woolab.py [--orders 50] [--labdir DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import ServiceProcess, free_port  # noqa: E402
from tests.fakes.smsgate import FakeSmsGate  # noqa: E402
from tests.woolab import PRODUCTS, Lab, unavailable  # noqa: E402

ACCOUNT = "0071001234567"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def line(name: str, values: list[float]) -> str:
    return (f"{name:<44} n={len(values):<3} p50 {pct(values, 50) * 1000:8.0f} ms   p99 {pct(values, 99) * 1000:8.0f} ms"
            f"   max {max(values) * 1000:8.0f} ms   mean {statistics.mean(values) * 1000:8.0f} ms")


def wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=50)
    ap.add_argument("--labdir", default="")
    ap.add_argument("--pay-every", type=float, default=2.0,
                    help="seconds between bank messages (a shop gets far fewer than one a second; 0 = a burst)")
    args = ap.parse_args()
    reason = unavailable()
    if reason:
        print(f"bench/woolab.py: cannot build the lab: {reason}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="woolab-bench-"))
    labdir = Path(args.labdir) if args.labdir else work / "lab"
    bridge_port = free_port()
    lab = Lab(labdir, free_port(), bridge_port, hpos=True, number_offset=5000)
    gate = FakeSmsGate().start()
    proc = None
    try:
        lab.build()
        print(f"lab built in {lab.build_seconds:.1f}s: {lab.url} (WooCommerce {lab.keys.get('WC_VERSION')}, HPOS)")
        db_path = work / "bridge.db"
        env = {"BRIDGE_DB": str(db_path), "WOO_URL": lab.url, "WOO_CONSUMER_KEY": lab.keys["WOO_CONSUMER_KEY"],
               "WOO_CONSUMER_SECRET": lab.keys["WOO_CONSUMER_SECRET"], "WOO_WEBHOOK_SECRET": lab.secret,
               "PUBLIC_URL": f"http://127.0.0.1:{bridge_port}", "SMSGATE_SIGNING_KEY": gate.signing_key,
               "TRANSFER_BANK": "Vietcombank", "TRANSFER_ACCOUNT": ACCOUNT, "TRANSFER_HOLDER": "CONG TY TNHH WOO LAB",
               "BANK_ACCOUNTS": f"Vietcombank:{ACCOUNT}", "ADMIN_PASSWORD": "bench-admin-password",
               "RECONCILE_EVERY": "3600", "WOO_TIMEOUT": "60"}
        proc = ServiceProcess(env, port=bridge_port).start()
        gate.webhook_url = proc.url + "/inbound/smsgate"
        out = subprocess.run([sys.executable, "-m", "bridge", "connect"], cwd=ROOT, env={**os.environ, **env},
                             capture_output=True, text=True, timeout=120)
        if out.returncode:
            raise SystemExit(f"connect failed: {out.stderr}")
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)

        created: dict[int, float] = {}
        numbers: dict[int, str] = {}
        for _ in range(args.orders):
            order = lab.create_order(product=12)
            created[order["id"]] = time.time()
            numbers[order["id"]] = order["number"]
        ids = list(created)
        marks = ",".join(map(str, ids))

        def stored() -> dict[int, tuple[float, float]]:
            rows = db.execute(f"SELECT d.resource_id, MIN(d.received_at), (SELECT MIN(m.created_at) FROM messages m"
                              f" WHERE m.order_id=d.resource_id AND m.audience='customer') FROM deliveries d"
                              f" WHERE d.resource_id IN ({marks}) AND d.topic LIKE 'order.%' GROUP BY d.resource_id"
                              ).fetchall()
            return {r[0]: (r[1], r[2]) for r in rows if r[2] is not None}

        got = wait(lambda: (lambda s: s if len(s) == len(ids) else None)(stored()), 300, "every order's message")
        received = [got[o][0] - created[o] for o in ids]
        messaged = [got[o][1] - created[o] for o in ids]
        inside = [got[o][1] - got[o][0] for o in ids]

        posted: dict[int, float] = {}
        for i, oid in enumerate(ids):
            text = (f"SD TK {ACCOUNT} +{PRODUCTS[12]:,}VND luc 30-11-2026 19:{i // 60:02d}:{i % 60:02d}. SD 9,000,000VND."
                    f" Ref MBVCB.{8000000000 + i}.DH{numbers[oid]}.CT tu 1047263815 VO MINH KHANG toi {ACCOUNT}")
            if i and args.pay_every:
                time.sleep(args.pay_every)
            posted[oid] = time.time()
            r = gate.receive("Vietcombank", text)
            if r.status_code != 200:
                raise SystemExit(f"bank SMS refused: {r.status_code} {r.text}")

        def paid() -> dict[int, float]:
            rows = db.execute(f"SELECT order_id, delivered_at FROM messages WHERE rule='payment-mark-paid'"
                              f" AND status='delivered' AND order_id IN ({marks})").fetchall()
            return {r[0]: r[1] for r in rows}

        done = wait(lambda: (lambda p: p if len(p) == len(ids) else None)(paid()), 300, "every order paid")
        to_paid = [done[o] - posted[o] for o in ids]
        statuses = {lab.order_row(o)["status"] for o in ids}
        lab.wait_deliveries_sent(120)
        doubles = db.execute(f"SELECT COUNT(*) FROM messages WHERE order_id IN ({marks}) AND audience='customer'"
                             ).fetchone()[0] - 2 * len(ids)
        print(f"orders: {len(ids)}; WooCommerce statuses after payment: {sorted(statuses)}; "
              f"customer messages beyond one transfer notice + one payment notice each: {doubles}")
        print(line("order created -> delivery received", received))
        print(line("order created -> message stored", messaged))
        print(line("delivery received -> message stored", inside))
        print(line(f"bank SMS posted -> WooCommerce marked paid ({args.pay_every:g}s apart)", to_paid))
        return 0 if statuses == {"processing"} and doubles == 0 else 1
    finally:
        if proc is not None:
            proc.stop()
        gate.stop()
        lab.stop()


if __name__ == "__main__":
    sys.exit(main())

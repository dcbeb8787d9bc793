"""Bytes on disk per webhook, with nothing deleted and with retention at its defaults.

A shop's day, DAYS times, through the app's normal paths (the real app behind a real HTTP server
in this process, tests.conftest.Service): each order arrives as WooCommerce sends it (order.updated
then order.created at checkout), a bank-transfer order is paid by a Vietcombank SMS pushed like
FiboSMS does (transaction, payment message, mark-paid job) and moves to processing; every order
is completed the next day. The worker sends every message to the fake eSMS (tests/fakes/esms.py),
which calls our delivery-report URL back for each. Once a simulated day, a retention pass runs as
the scheduler's job would (bridge/retention.py, RETAIN_* at their defaults).

Time: this process's `time.time` is a simulated clock moved forward through each day (every
stored time and the bridge's clock follow it), so DAYS days take minutes. Nothing else is
replaced. Quiet hours are off (messages go out when due, not the next morning).

Figures printed (the database file after a WAL checkpoint; SQLite reuses the pages retention
frees, so the file stops growing by what is pruned):
- before retention: file bytes / webhooks on the last day before anything was old enough;
- at the end: file bytes / webhooks;
- steady state: the file's growth per webhook over the last third of the run, once the 30-day
  windows are full (what each further webhook costs for as long as its messages are kept);
- the stored size of the webhook and order bodies against their raw size, and the largest tables.

    .venv/bin/python bench/disk.py [--days 60] [--orders-per-day 40] [--db /tmp/woo-bridge-disk.db]

Figures only (no asserts).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class SimClock:
    """The process's time: starts now, moved forward by the bench."""

    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


SIM = SimClock()
time.time = SIM   # before the app is imported: every `now()` and the bridge's clock read it

from bridge import retention  # noqa: E402
from bridge.envparse import bank_accounts  # noqa: E402
from bridge.store import deliveries as stored_deliveries  # noqa: E402
from tests.conftest import Service, esms_settings, make_settings, reserved_port  # noqa: E402
from tests.fakes.esms import FakeEsms  # noqa: E402
from tests.orders import order_body  # noqa: E402

DAY = 86_400.0
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
ACCOUNT = "0181003749261"
PHONES = ("0912 345 678", "0987 654 321", "0903 111 222", "0938 765 432", "0977 888 999")


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


class Shop:
    def __init__(self, svc: Service, esms: FakeEsms) -> None:
        self.svc = svc
        self.esms = esms
        self.webhooks = 0
        self.reported = 0
        self.balance = 50_000_000

    def webhook(self, oid: int, status: str, topic: str = "order.updated", method: str = "bacs") -> None:
        SIM.advance(20)
        body = json.loads(order_body(oid, status=status, total=200_000 + oid % 50 * 1_000,
                                     phone=PHONES[oid % len(PHONES)], modified=iso(SIM())))
        body["payment_method"] = method
        body["date_created_gmt"] = iso(SIM())
        r = self.svc.post_json(json.dumps(body, separators=(",", ":")).encode(), topic=topic)
        assert r.status_code == 200, r.text
        self.webhooks += 1

    def bank_sms(self, oid: int) -> None:
        SIM.advance(60)
        amount = 200_000 + oid % 50 * 1_000
        self.balance += amount
        printed = datetime.fromtimestamp(SIM(), ZONE).strftime("%d-%m-%Y %H:%M:%S")
        text = (f"SD TK {ACCOUNT} +{amount:,}VND luc {printed}. SD {self.balance:,}VND. Ref MBVCB.{9_000_000 + oid}."
                f"DH{oid}.CT tu 1047263815 VO MINH KHANG toi {ACCOUNT} CUA H...")
        import requests
        r = requests.get(self.svc.url + "/inbound/fibo", params={"token": self.svc.settings.fibo_token,
                         "phone": "Vietcombank", "message": text, "guid": f"g{oid}"}, timeout=10)
        assert r.status_code == 200, r.text

    def send_and_report(self) -> None:
        """The worker sends what is due; eSMS reports each message delivered."""
        self.svc.bridge.worker.drain()
        accepted = self.esms.accepted
        for entry in accepted[self.reported:]:
            SIM.advance(1)
            self.esms.fire_callback(entry["SMSID"])
        self.reported = len(accepted)


def size(svc: Service) -> int:
    svc.db.conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return os.path.getsize(svc.settings.db_path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--orders-per-day", type=int, default=40)
    ap.add_argument("--db", default=os.path.join(tempfile.gettempdir(), "woo-bridge-disk.db"))
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    for suffix in ("", "-wal", "-shm"):
        Path(args.db + suffix).unlink(missing_ok=True)
    with FakeEsms(balance=10**12) as esms:
        sock = reserved_port()
        settings = make_settings(Path(args.db).parent, db_path=args.db,
                                 public_url=f"http://127.0.0.1:{sock.getsockname()[1]}",
                                 quiet_hours=None, bank_accounts=bank_accounts(f"Vietcombank:{ACCOUNT}"),
                                 **esms_settings(esms))
        defaults = make_settings(Path(args.db).parent)
        svc = Service(settings, sock=sock)
        shop = Shop(svc, esms)
        oid = 1000
        yesterday: list[int] = []
        history: list[tuple[int, int, int]] = []   # (day, webhooks, bytes)
        started = time.monotonic()
        try:
            for day in range(args.days):
                SIM.t = SIM.t - SIM.t % DAY + DAY + 8 * 3600 - 7 * 3600   # 08:00 in Viet Nam
                today = []
                for n in range(args.orders_per_day):
                    oid += 1
                    method = "bacs" if n % 5 < 2 else "cod"
                    status = "on-hold" if method == "bacs" else "processing"
                    shop.webhook(oid, status, "order.updated", method)   # checkout: updated, then created
                    shop.webhook(oid, status, "order.created", method)
                    today.append((oid, method))
                shop.send_and_report()
                for o, method in today:
                    if method == "bacs":
                        shop.bank_sms(o)
                shop.send_and_report()
                for o, method in today:
                    if method == "bacs":
                        shop.webhook(o, "processing", "order.updated", method)   # the shop echoes our mark-paid
                for o, method in yesterday:
                    shop.webhook(o, "completed", "order.updated", method)
                shop.send_and_report()
                yesterday = today
                history.append((day + 1, shop.webhooks, size(svc)))
                retention.run(svc.bridge)
            kept = svc.db.query("SELECT id FROM delivery_bodies")
            raw_bodies = sum(len(stored_deliveries.raw_body(stored_deliveries.get(svc.db.conn(), r["id"])))
                             for r in kept)
            kept_bodies = svc.db.scalar("SELECT SUM(length(zbody)) FROM delivery_bodies")
            order_raw = svc.db.scalar("SELECT SUM(length(CAST(zbody AS BLOB))) FROM orders")
            tables = svc.db.query("SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 8")
            end = size(svc)
        finally:
            svc.close()
    window = int(defaults.retain_raw_days)
    before = history[min(window, len(history)) - 1]
    third = history[len(history) * 2 // 3 - 1]
    last = history[-1]
    print(f"{args.days} days x {args.orders_per_day} orders/day: {last[1]} webhooks "
          f"({time.monotonic() - started:.0f} s)")
    print(f"before retention (day {before[0]}, nothing old enough yet): {before[2] / before[1] / 1024:.2f} KB/webhook")
    print(f"with retention, day {last[0]}: {end / last[1] / 1024:.2f} KB/webhook ({end / 1e6:.1f} MB)")
    print(f"steady state (growth days {third[0]}-{last[0]}): {(last[2] - third[2]) / (last[1] - third[1]) / 1024:.2f}"
          " KB/webhook")
    if raw_bodies:
        print(f"webhook bodies within {window} days: {raw_bodies / 1e6:.1f} MB raw, stored {kept_bodies / 1e6:.1f} MB")
    print(f"order bodies (one per order, kept): {order_raw / 1e6:.2f} MB compressed")
    print("largest tables and indexes: " + ", ".join(f"{r['name']} {r['bytes'] / 1e6:.1f} MB" for r in tables))


if __name__ == "__main__":
    main()

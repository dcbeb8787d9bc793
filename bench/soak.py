"""Soak: woo-bridge as deployed (gunicorn with deploy/gunicorn.conf.py + `python -m bridge
worker`, one SQLite file) under mixed traffic for minutes, with the outside world faked over
real HTTP in this process: eSMS (answers sends, and its delivery callbacks are fired back at
us) and WooCommerce REST (receives the "paid" updates).

Traffic, at steady rates: signed WooCommerce webhooks (new on-hold orders, some later moved to
processing), FiboSMS pushes of the bank's "money received" SMS paying half of the orders, and
eSMS delivery callbacks for what was sent. Printed at the end: throughput and p50/p99 per
endpoint, the resident memory of every process at the start and the end (and its trend), and the
end-to-end latency of a message (webhook POST -> eSMS receiving the SMS) and of a payment (bank
SMS POST -> WooCommerce receiving the PUT).

    .venv/bin/python bench/soak.py [--minutes 10] [--webhooks 10] [--payments 3]
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import SECRET, free_port, signed_headers  # noqa: E402
from tests.fakes.esms import FakeEsms  # noqa: E402
from tests.fakes.woocommerce import FakeWooCommerce  # noqa: E402
from tests.orders import order_body  # noqa: E402
from bench.harness import rss_kb  # noqa: E402

ACCOUNT = "0181003749261"
TOKEN = "soak-inbound-token"


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(x) for x in out]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def bank_sms(order: int, amount: int, seq: int) -> str:
    return (f"SD TK {ACCOUNT} +{amount:,}VND luc 23-11-2026 {seq // 3600 % 24:02d}:{seq // 60 % 60:02d}:{seq % 60:02d}."
            f" SD {10_000_000 + seq * 1000:,}VND. Ref MBVCB.{8800000000 + seq}.DH{order}.CT tu 1047263815 NGUYEN VAN"
            f" AN toi {ACCOUNT}")[:160]


class Soak:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.lat: dict[str, list[float]] = {"webhook": [], "inbound": [], "callback": []}
        self.errors: dict[str, int] = {k: 0 for k in self.lat}
        self.sent_at: dict[int, float] = {}        # order id -> webhook POST start
        self.paid_at: dict[int, float] = {}        # order id -> bank SMS POST start
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.web_pids: set[int] = set()

    def timed(self, kind: str, fn) -> requests.Response | None:
        t = time.perf_counter()
        try:
            r = fn()
        except requests.RequestException:
            with self.lock:
                self.errors[kind] += 1
            return None
        with self.lock:
            self.lat[kind].append((time.perf_counter() - t) * 1000)
            if r.status_code >= 300:
                self.errors[kind] += 1
        return r

    def run(self) -> None:
        a = self.args
        tmp = Path(tempfile.mkdtemp(prefix="woo-bridge-soak-"))
        esms = FakeEsms(balance=10**12).start()
        woo = FakeWooCommerce().start()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("ESMS_", "WOO_", "BRIDGE_"))},
               "BRIDGE_DB": str(tmp / "bridge.db"), "PUBLIC_URL": url, "WOO_WEBHOOK_SECRET": SECRET,
               "FIBO_TOKEN": TOKEN, "FIBO_PAYMENTS": "confirm", "ESMS_API_KEY": esms.api_key, "ESMS_SECRET_KEY": esms.secret_key,
               "ESMS_BASE_URL": esms.base_url, "ESMS_BRANDNAME": "SHOPDEMO", "WOO_URL": woo.url,
               "WOO_CONSUMER_KEY": "ck_test", "WOO_CONSUMER_SECRET": "cs_test", "OWNER_PHONES": "0901234567",
               "BANK_ACCOUNTS": f"Vietcombank:{ACCOUNT}", "LOG_LEVEL": "WARNING", "LOG_FORMAT": "json",
               "QUIET_HOURS": "off", "RECONCILE_EVERY": "60", "ESMS_POLL_AFTER": "3600"}
        subprocess.run([sys.executable, "-m", "bridge", "init"], cwd=ROOT, env=env, check=True, capture_output=True)
        log = open(tmp / "processes.log", "wb")
        web = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", str(ROOT / "deploy" /
                                "gunicorn.conf.py"), "-b", f"127.0.0.1:{port}"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
        worker = subprocess.Popen([sys.executable, "-m", "bridge", "worker"], cwd=ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 30
            while time.time() < deadline:
                try:
                    if requests.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    time.sleep(0.2)
            def sample() -> dict[str, int]:
                # gunicorn recycles its workers (max_requests): follow whichever are alive
                kids = children(web.pid)
                self.web_pids.update(kids)
                return {"gunicorn master": rss_kb(web.pid),
                        "gunicorn workers (sum of the live ones)": sum(rss_kb(p) for p in kids),
                        "worker": rss_kb(worker.pid)}

            time.sleep(2)
            memory = {name: [v] for name, v in sample().items()}
            start = time.time()
            duration = a.minutes * 60
            threads = [threading.Thread(target=self.webhooks, args=(url, woo, duration)),
                       threading.Thread(target=self.payments, args=(url, duration)),
                       threading.Thread(target=self.callbacks, args=(esms, duration))]
            for t in threads:
                t.start()
            while time.time() - start < duration:
                time.sleep(min(30, duration / 10))
                for name, v in sample().items():
                    memory[name].append(v)
            self.stop.set()
            for t in threads:
                t.join()
            elapsed = time.time() - start
            time.sleep(5)   # let the last sends and confirmations finish
            self.report(elapsed, memory, esms, woo, tmp)
        finally:
            for p in (web, worker):
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
            log.close()
            esms.stop()
            woo.stop()

    def paced(self, rate: float, duration: float, pool: ThreadPoolExecutor, fn) -> None:
        start = time.time()
        i = 0
        while not self.stop.is_set() and time.time() - start < duration:
            due = start + i / rate
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            pool.submit(fn, i)
            i += 1

    def webhooks(self, url: str, woo: FakeWooCommerce, duration: float) -> None:
        self.orders: queue.Queue[int] = queue.Queue()

        def one(i: int) -> None:
            oid = 500000 + i
            total = 150_000 + (i % 97) * 1_000
            if i % 5 == 4 and i >= 10:   # an update of an earlier order: processing (COD shipped)
                target = oid - 5
                body = order_body(target, status="processing", total=150_000 + ((i - 5) % 97) * 1_000,
                                  modified="2026-11-23T05:00:00")
                self.timed("webhook", lambda: requests.post(url + "/webhooks/woocommerce", data=body, timeout=10,
                                                            headers=signed_headers(body, "order.updated")))
                return
            woo.add_order(oid, total)
            body = order_body(oid, total=total, phone=f"09{oid % 100_000_000:08d}")
            t0 = time.time()
            r = self.timed("webhook", lambda: requests.post(url + "/webhooks/woocommerce", data=body, timeout=10,
                                                            headers=signed_headers(body, "order.created")))
            if r is not None and r.status_code == 200:
                with self.lock:
                    self.sent_at[oid] = t0
                if i % 2 == 0:
                    self.orders.put((oid, total))

        with ThreadPoolExecutor(8) as pool:
            self.paced(self.args.webhooks, duration, pool, one)

    def payments(self, url: str, duration: float) -> None:
        def one(i: int) -> None:
            try:
                oid, total = self.orders.get(timeout=2)
            except queue.Empty:
                return
            text = bank_sms(oid, total, i)
            t0 = time.time()
            r = self.timed("inbound", lambda: requests.get(url + "/inbound/fibo", timeout=10, params={
                "token": TOKEN, "phone": "Vietcombank", "message": text, "guid": uuid.uuid4().hex}))
            if r is not None and r.status_code == 200:
                with self.lock:
                    self.paid_at[oid] = t0

        with ThreadPoolExecutor(4) as pool:
            self.paced(self.args.payments, duration, pool, one)

    def callbacks(self, esms: FakeEsms, duration: float) -> None:
        done = 0
        start = time.time()
        with ThreadPoolExecutor(4) as pool:
            while not self.stop.is_set() and time.time() - start < duration:
                time.sleep(0.5)
                accepted = esms.accepted[done:]
                for entry in accepted:
                    if random.random() < 0.9:   # some reports never come (polling covers them)
                        pool.submit(self.timed, "callback", lambda e=entry: esms.fire_callback(e["SMSID"]))
                done += len(accepted)

    def report(self, elapsed: float, memory: dict[str, list[int]], esms: FakeEsms, woo: FakeWooCommerce,
               tmp: Path) -> None:
        first_sms: dict[int, float] = {}
        for e in esms.accepted:
            try:
                oid = int(e["Content"].split("#", 1)[1].split()[0].rstrip(":.,"))
            except (IndexError, ValueError):
                continue
            first_sms.setdefault(oid, e["at"])
        e2e_msg = [(first_sms[o] - t) * 1000 for o, t in self.sent_at.items() if o in first_sms]
        e2e_pay = [(woo.put_times[o] - t) * 1000 for o, t in self.paid_at.items() if o in woo.put_times]
        request_ids = [e["RequestId"] for e in esms.accepted]
        print(f"\nsoak: {elapsed / 60:.1f} min, gunicorn (deploy/gunicorn.conf.py) + worker process, one SQLite file\n")
        print("| endpoint | requests | per second | p50 ms | p99 ms | max ms | errors |")
        print("|---|---|---|---|---|---|---|")
        for kind, label in (("webhook", "POST /webhooks/woocommerce"), ("inbound", "GET /inbound/fibo (bank SMS)"),
                            ("callback", "GET /callbacks/esms")):
            v = self.lat[kind]
            print(f"| {label} | {len(v)} | {len(v) / elapsed:.1f} | {pct(v, 50):.1f} | {pct(v, 99):.1f} |"
                  f" {max(v) if v else float('nan'):.1f} | {self.errors[kind]} |")
        print("\n| process | RSS start MB | RSS end MB | samples (MB) |")
        print("|---|---|---|---|")
        for name, values in memory.items():
            mb = [round(x / 1024, 1) for x in values]
            print(f"| {name} | {mb[0]} | {mb[-1]} | {' '.join(map(str, mb))} |")
        print(f"\ngunicorn worker processes seen: {len(self.web_pids)} (recycled after max_requests)")
        print(f"SMS accepted by eSMS: {len(request_ids)} ({len(set(request_ids))} distinct RequestIds)")
        print(f"webhook -> SMS at eSMS: n={len(e2e_msg)} p50 {pct(e2e_msg, 50):.0f} ms, p99 {pct(e2e_msg, 99):.0f} ms,"
              f" max {max(e2e_msg) if e2e_msg else float('nan'):.0f} ms")
        print(f"bank SMS -> WooCommerce PUT: n={len(e2e_pay)} of {len(self.paid_at)} p50 {pct(e2e_pay, 50):.0f} ms,"
              f" p99 {pct(e2e_pay, 99):.0f} ms, max {max(e2e_pay) if e2e_pay else float('nan'):.0f} ms")
        puts = [oid for oid, _ in woo.puts]
        print(f"orders marked paid: {len(set(puts))}, PUTs {len(puts)} (one each: {len(puts) == len(set(puts))})")
        locked = (tmp / "processes.log").read_text(errors="replace").count("database is locked")
        print(f"'database is locked' in the logs: {locked}")
        results = ROOT / "bench" / "results"
        results.mkdir(exist_ok=True)
        (results / "soak.json").write_text(json.dumps({
            "elapsed_s": elapsed, "latency_ms": {k: {"n": len(v), "p50": pct(v, 50), "p99": pct(v, 99)}
                                                 for k, v in self.lat.items()},
            "errors": self.errors, "rss_kb": memory, "e2e_message_ms": {"p50": pct(e2e_msg, 50), "p99": pct(e2e_msg, 99)},
            "e2e_payment_ms": {"p50": pct(e2e_pay, 50), "p99": pct(e2e_pay, 99)}}, indent=1))


def main() -> None:
    import logging
    logging.getLogger("werkzeug").setLevel(logging.WARNING)   # the fakes' request lines
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--webhooks", type=float, default=10, help="webhooks per second")
    p.add_argument("--payments", type=float, default=3, help="bank SMS per second")
    Soak(p.parse_args()).run()


if __name__ == "__main__":
    main()

"""Payment matching benchmark: bank SMS parsed and matched against many pending orders.

1. Scale: the same 1,000-message stream (credits paying orders spread over the whole range,
   underpaid, no code, debits, repeats) against a database holding 1,000 and then 100,000
   on-hold orders; the per-message cost ratio shows whether lookups stay indexed (target <= 1.2).
2. Throughput: 100,000 bank messages against 100,000 on-hold orders, in process, through
   `ReceivedTexts.accept` (store, dedupe, parse, match, decide, queue the WooCommerce update and the
   customer SMS) exactly as the endpoints call it; messages per second, and the cost of the last
   10,000 messages against the first 10,000 (growth of the inbox and transactions tables).
3. Mixed sources (issue 14): the same measures for a stream from four sources -- bank SMS from
   the shop's phone, SePay, Casso and payOS transaction records -- where every tenth event is
   a transfer another source already reported (the same balance after it, the same bank time):
   events per second against 100,000 pending orders, and the per-event cost ratio at 100,000
   vs 1,000 pending orders (target <= 1.2); the cross-source duplicates must all collapse.
4. End to end: woo-bridge as its own process (`python app.py`), a fake WooCommerce REST server
   (OAuth 1.0a over http) in this process, on-hold orders created by signed webhooks, then signed
   SMSGate `sms:received` webhooks with bank credits at a steady rate; latency from the start of
   the inbound POST to the arrival of the WooCommerce `PUT /orders/<id>` (target p99 < 200 ms).

    .venv/bin/python bench/match.py [--orders 100000] [--messages 100000] [--e2e 400] [--rate 20] [--no-pin]
                                    [--only mixed]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bridge.config import load_settings  # noqa: E402
from bridge.events import BankTransaction  # noqa: E402
from bridge.service import Bridge  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.fakes.smsgate import FakeSmsGate, sign  # noqa: E402
from tests.fakes.woocommerce import FakeWooCommerce  # noqa: E402
from tests.orders import order_body  # noqa: E402

ACCOUNT = "0071001234567"
FIRST = 100001  # order numbers start here
KEY = "bench-signing-key"
WEBHOOK_SECRET = "bench-webhook-secret"
TOKEN = "bench-inbound-token"
WARM = 200  # untimed warm-up payments before each timed stream


def total_of(number: int) -> int:
    return 150_000 + (number % 97) * 1_000


def bank_sms(number: int | None, amount: int, seq: int, credit: bool = True) -> str:
    """A Vietcombank balance SMS in the format of the samples (VCB_SMS_SDTK)."""
    sign_ = "+" if credit else "-"
    memo = f"MBVCB.{9700000000 + seq}.DH{number}.CT tu 1047263815 NGUYEN VAN AN toi {ACCOUNT}" if number \
        else f"MBVCB.{9700000000 + seq}.chuyen tien hang thang.CT tu 1047263815 NGUYEN VAN AN"
    hh, mm, ss = (seq // 3600) % 24, (seq // 60) % 60, seq % 60
    return (f"SD TK {ACCOUNT} {sign_}{amount:,}VND luc 23-11-2026 {hh:02d}:{mm:02d}:{ss:02d}. "
            f"SD {10_000_000 + seq * 1000:,}VND. Ref {memo}")[:160]


def stream(n: int, pending: int, offset: int = 0) -> list[tuple[str, str]]:
    """(external id, text) for n messages: 85 % exact payments of distinct orders spread over
    the whole range, 5 % underpaid, 4 % without a code, 3 % debits, 3 % repeats of an earlier SMS."""
    stride = max(1, pending // n) if n <= pending else 1
    out: list[tuple[str, str]] = []
    for i in range(n):
        seq = offset + i
        number = FIRST + (i * stride) % pending
        kind = i % 100
        if kind < 85:
            text = bank_sms(number, total_of(number), seq)
        elif kind < 90:
            text = bank_sms(number, total_of(number) - 20_000, seq)
        elif kind < 94:
            text = bank_sms(None, 500_000, seq)
        elif kind < 97:
            text = bank_sms(None, 1_200_000, seq, credit=False)
        else:
            text = out[i // 2][1] if out else bank_sms(number, total_of(number), seq)
        out.append((f"bench-{seq}", text))
    return out


SOURCES = ("smsgate", "sepay", "casso", "payos")
BASE_TIME = 1_795_400_000.0   # 2026-11-23, the bank's clock for the mixed stream


def mixed_event(seq: int, number: int | None, amount: int, source: str) -> Any:
    """One transfer as `source` reports it: a Vietcombank SMS text, or a provider's record with
    the same facts (balance after, bank time to the second, reference)."""
    when = BASE_TIME + seq
    balance = 10_000_000 + seq * 1000
    memo = f"DH{number} chuyen khoan" if number else "chuyen tien hang thang"
    if source == "smsgate":
        printed = time.strftime("%d-%m-%Y %H:%M:%S", time.gmtime(when + 7 * 3600))
        return (f"SD TK {ACCOUNT} +{amount:,}VND luc {printed}. SD {balance:,}VND. "
                f"Ref MBVCB.{9700000000 + seq}.{memo}")[:160]
    return BankTransaction(source=source, external_id=f"{source}-{seq}", bank="Vietcombank", account=ACCOUNT,
                           direction="in", amount=amount, memo=memo, raw={}, reference=f"MBVCB.{9700000000 + seq}",
                           balance=balance, bank_time=when)


def mixed_stream(n: int, pending: int, offset: int = 0) -> tuple[list[tuple[str, Any]], int]:
    """(source, event) for n events, sources in turn; every tenth repeats the transfer of five
    events earlier as another source reports it. 90 % of the rest pay an order exactly, the
    others carry no code. Returns the events and how many are cross-source repeats."""
    stride = max(1, pending // n) if n <= pending else 1
    out: list[tuple[str, Any]] = []
    facts: list[tuple[int, int | None, int]] = []
    repeats = 0
    for i in range(n):
        source = SOURCES[i % len(SOURCES)]
        if i % 10 == 9:
            seq, number, amount = facts[i - 5]
            repeats += 1
        else:
            seq = offset + i
            number = FIRST + (i * stride) % pending if i % 10 != 8 else None
            amount = total_of(number) if number else 500_000
        facts.append((seq, number, amount))
        out.append((source, mixed_event(seq, number, amount, source)))
    return out, repeats


def feed_mixed(bridge: Bridge, events: list[tuple[str, Any]], t0: float) -> list[float]:
    """Each event as its endpoint hands it on: a text through the inbox, a record through
    Bridge.accept; seconds per event."""
    costs = []
    for i, (source, event) in enumerate(events):
        start = time.perf_counter()
        if isinstance(event, str):
            bridge.received.accept(source=source, external_id=f"mixed-{i}-{t0}", device="bench-phone", sim=1,
                                   sender="Vietcombank", recipient="", text=event, received_at=t0 + i * 0.5, raw="")
        else:
            bridge.accept(event)
        bridge.decide_pending()   # stored, then decided (as right after the answer)
        costs.append(time.perf_counter() - start)
    return costs


def mixed(tmp: Path, small: int, large: int, n_scale: int, rounds: int, n: int) -> None:
    per: dict[int, list[float]] = {small: [], large: []}
    for r in range(rounds):
        for pending in ((small, large) if r % 2 == 0 else (large, small)):
            bridge = fresh_bridge(tmp, f"mixed-{pending}-{r}", pending + WARM)
            warm, _ = mixed_stream(WARM, WARM, offset=10**7)
            feed_mixed(bridge, [(s, e) for s, e in warm], time.time() - 3600)
            events, _ = mixed_stream(n_scale, pending)
            per[pending].append(statistics.mean(feed_mixed(bridge, events, time.time())))
            bridge.shutdown()
            for f in tmp.glob(f"mixed-{pending}-{r}.db*"):
                f.unlink()
    a, b = statistics.median(per[small]), statistics.median(per[large])
    print(f"mixed sources, per event, {n_scale} events, 1,000 pending orders   : {a * 1000:8.3f} ms")
    print(f"mixed sources, per event, {n_scale} events, {large:,} pending orders : {b * 1000:8.3f} ms")
    print(f"mixed sources, cost ratio {large:,} / 1,000 pending orders     : {b / a:8.2f}  (target <= 1.2)")
    bridge = fresh_bridge(tmp, "mixed-throughput", large)
    events, repeats = mixed_stream(n, large)
    start = time.perf_counter()
    feed_mixed(bridge, events, time.time())
    elapsed = time.perf_counter() - start
    decisions = {r["decision"]: r["n"] for r in bridge.db.query(
        "SELECT decision, COUNT(*) AS n FROM transactions GROUP BY decision")}
    collapsed = bridge.db.scalar("SELECT COUNT(*) FROM transactions WHERE decision='duplicate'"
                                 " AND duplicate_of IS NOT NULL")
    bridge.shutdown()
    print(f"mixed sources, {n:,} events ({', '.join(SOURCES)}) against {large:,} pending orders: "
          f"{n / elapsed:8.1f} events/s")
    print(f"  cross-source repeats {repeats:,}, collapsed as duplicates {collapsed:,}; "
          f"decisions: {', '.join(f'{k} {v}' for k, v in sorted(decisions.items()))}")
    if collapsed != repeats:
        raise SystemExit("cross-source repeats were not all collapsed")


def settings_for(db: Path, **extra: str):
    env = {"BRIDGE_DB": str(db), "BANK_ACCOUNTS": f"Vietcombank:{ACCOUNT}", "WOO_WEBHOOK_SECRET": WEBHOOK_SECRET,
           "FIBO_TOKEN": TOKEN, "SMSGATE_SIGNING_KEY": KEY, "LOG_LEVEL": "WARNING",
           "MAPPINGS_DIR": str(ROOT / "mappings"), **extra}
    return load_settings(env, env_file=None)


def seed_orders(bridge: Bridge, count: int) -> None:
    """On-hold bank-transfer orders straight into the table the webhooks fill (bodies trimmed of
    the parts nothing reads, so 100,000 of them stay a few hundred MB)."""
    base = json.loads(order_body(FIRST))
    for k in ("_links", "meta_data", "customer_user_agent", "shipping_lines"):
        base.pop(k, None)
    t = time.time()
    with bridge.db.tx() as c:
        for number in range(FIRST, FIRST + count):
            total = total_of(number)
            body = json.dumps({**base, "id": number, "number": str(number), "total": str(total),
                               "order_key": f"wc_order_{number:08d}"}, ensure_ascii=False)
            c.execute("INSERT INTO orders(id, number, order_key, status, date_modified_gmt, notified_status,"
                      " payment_method, payment_method_title, currency, total_minor, customer_name, phone_raw,"
                      " phone_e164, email, source_url, deleted, body, first_seen_at, updated_at)"
                      " VALUES (?,?,?,'on-hold','2026-11-23T02:41:58','on-hold','bacs','Chuyển khoản ngân hàng',"
                      " 'VND',?,'Nguyễn Văn An','0912 345 678','+84912345678','an@example.vn','',0,?,?,?)",
                      (number, str(number), f"wc_order_{number:08d}", total, body, t, t))


def feed(bridge: Bridge, messages: list[tuple[str, str]], t0: float) -> list[float]:
    """Each message through the inbox as the SMSGate endpoint hands it on; seconds per message."""
    costs = []
    for i, (ext, text) in enumerate(messages):
        start = time.perf_counter()
        bridge.received.accept(source="smsgate", external_id=ext, device="bench-phone", sim=1, sender="Vietcombank",
                            recipient="", text=text, received_at=t0 + i * 0.5, raw="")
        bridge.decide_pending()   # stored, then decided (as right after the answer)
        costs.append(time.perf_counter() - start)
    return costs


def fresh_bridge(tmp: Path, name: str, orders: int) -> Bridge:
    """A database with `orders` on-hold orders, written back to disk before anything is timed
    (otherwise the kernel flushes hundreds of MB of seeding during the measurement)."""
    bridge = Bridge(settings_for(tmp / f"{name}.db"))
    seed_orders(bridge, orders)
    bridge.db.conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    os.sync()
    return bridge


def scale(tmp: Path, small: int, large: int, n: int, rounds: int) -> tuple[float, float]:
    """Mean cost per message of the same stream against `small` and `large` pending orders.

    Each database also holds WARM extra orders that a warm-up stream pays first (not timed), so
    the first-call costs (statement cache, template compilation) are not charged to either side.
    """
    per: dict[int, list[float]] = {small: [], large: []}
    for r in range(rounds):
        for pending in ((small, large) if r % 2 == 0 else (large, small)):
            bridge = fresh_bridge(tmp, f"scale-{pending}-{r}", pending + WARM)
            warm = [(f"warm-{i}", bank_sms(FIRST + pending + i, total_of(FIRST + pending + i), 10**6 + i))
                    for i in range(WARM)]
            feed(bridge, warm, time.time() - 3600)
            costs = feed(bridge, stream(n, pending), time.time())
            per[pending].append(statistics.mean(costs))
            bridge.shutdown()
            for f in tmp.glob(f"scale-{pending}-{r}.db*"):
                f.unlink()
    print("  per round (ms per message, small / large): " + ", ".join(
        f"{a * 1000:.3f} / {b * 1000:.3f}" for a, b in zip(per[small], per[large])))
    return statistics.median(per[small]), statistics.median(per[large])


def throughput(tmp: Path, orders: int, messages: int) -> tuple[float, float, float, dict[str, int]]:
    bridge = fresh_bridge(tmp, "throughput", orders)
    msgs = stream(messages, orders)
    start = time.perf_counter()
    costs = feed(bridge, msgs, time.time())
    elapsed = time.perf_counter() - start
    k = min(10_000, messages // 10)
    decisions = {r["decision"]: r["n"] for r in bridge.db.query(
        "SELECT decision, COUNT(*) AS n FROM transactions GROUP BY decision")}
    decisions["repeat (inbox)"] = bridge.db.one("SELECT COUNT(*) AS n FROM inbox WHERE state='duplicate'")["n"]
    bridge.shutdown()
    return messages / elapsed, statistics.mean(costs[:k]), statistics.mean(costs[-k:]), decisions


def end_to_end(tmp: Path, orders: int, rate: float, pin: bool) -> list[float]:
    port = free_port()
    with FakeWooCommerce() as woo:
        env = {**os.environ, "BRIDGE_DB": str(tmp / "e2e.db"), "HOST": "127.0.0.1", "PORT": str(port),
               "WOO_URL": woo.url, "WOO_CONSUMER_KEY": "ck_test", "WOO_CONSUMER_SECRET": "cs_test",
               "BANK_ACCOUNTS": f"Vietcombank:{ACCOUNT}", "WOO_WEBHOOK_SECRET": WEBHOOK_SECRET,
               "FIBO_TOKEN": TOKEN, "SMSGATE_SIGNING_KEY": KEY, "LOG_LEVEL": "WARNING"}
        proc = subprocess.Popen([*(["taskset", "-c", "0"] if pin else []), sys.executable, str(ROOT / "app.py")],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.time() + 30
            while True:
                try:
                    requests.get(base + "/healthz", timeout=1)
                    break
                except requests.RequestException:
                    if time.time() > deadline or proc.poll() is not None:
                        raise SystemExit("service did not start")
                    time.sleep(0.1)
            s = requests.Session()
            import base64
            import hashlib
            import hmac
            for number in range(FIRST, FIRST + orders):
                woo.add_order(number, total_of(number))
                body = order_body(number, total=total_of(number))
                sig = base64.b64encode(hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).digest()).decode()
                r = s.post(base + "/webhooks/woocommerce", data=body, headers={
                    "Content-Type": "application/json", "X-WC-Webhook-Topic": "order.created",
                    "X-WC-Webhook-Resource": "order", "X-WC-Webhook-Event": "created",
                    "X-WC-Webhook-Signature": sig, "X-WC-Webhook-Delivery-ID": f"d-{number}",
                    "X-WC-Webhook-Source": woo.url + "/"}, timeout=10)
                assert r.status_code == 200, r.text
            time.sleep(3)  # let the order SMS (dry-run) drain first
            gate = FakeSmsGate(signing_key=KEY)  # builds signed envelopes; not started
            sent_at: dict[int, float] = {}
            gap = 1.0 / rate
            next_t = time.perf_counter()
            for i, number in enumerate(range(FIRST, FIRST + orders)):
                body = gate.envelope("sms:received", {
                    "messageId": f"e2e-{i}", "message": bank_sms(number, total_of(number), i),
                    "sender": "Vietcombank", "simNumber": 1, "receivedAt": time.strftime("%Y-%m-%dT%H:%M:%S+07:00")})
                ts = str(int(time.time()))
                delay = next_t - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                next_t += gap
                sent_at[number] = time.time()
                r = s.post(base + "/inbound/smsgate", data=body, headers={
                    "Content-Type": "application/json", "X-Timestamp": ts, "X-Signature": sign(body, ts, KEY)},
                    timeout=10)
                assert r.status_code == 200, r.text
            deadline = time.time() + 30
            while len(woo.put_times) < orders and time.time() < deadline:
                time.sleep(0.1)
            missing = orders - len(woo.put_times)
            if missing:
                raise SystemExit(f"{missing} orders never reached WooCommerce")
            doubled = len(woo.puts) - len(woo.put_times)
            if doubled:
                raise SystemExit(f"{doubled} orders were PUT more than once")
            return [woo.put_times[n] - sent_at[n] for n in sent_at]
        finally:
            proc.terminate()
            proc.wait(10)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=100_000)
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--scale-messages", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--e2e", type=int, default=400, help="payments timed end to end")
    ap.add_argument("--rate", type=float, default=20.0, help="bank SMS per second in the end-to-end part")
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--only", choices=("mixed",), help="run only the mixed-source part")
    args = ap.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the fake's per-request lines
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    if pin:  # the in-process parts on CPU 1; the end-to-end part puts the service on CPU 0
        os.sched_setaffinity(0, {1})
    tmp = Path(tempfile.mkdtemp(prefix="bench-match-"))
    try:
        print(f"woo-bridge payment matching benchmark; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}")
        if args.scale_messages > 1000:
            raise SystemExit("--scale-messages must be <= 1000: every message must name its own order in both runs")
        if args.only == "mixed":
            mixed(tmp, 1000, args.orders, args.scale_messages, args.rounds, args.messages)
            return
        small, large = scale(tmp, 1000, args.orders, args.scale_messages, args.rounds)
        print(f"per message, {args.scale_messages} messages, 1,000 pending orders   : {small * 1000:8.3f} ms")
        print(f"per message, {args.scale_messages} messages, {args.orders:,} pending orders : {large * 1000:8.3f} ms")
        print(f"cost ratio {args.orders:,} / 1,000 pending orders            : {large / small:8.2f}  (target <= 1.2)")
        rate, first, last, decisions = throughput(tmp, args.orders, args.messages)
        print(f"{args.messages:,} messages against {args.orders:,} pending orders: {rate:8.1f} messages/s parsed, "
              f"matched and decided")
        print(f"  per message, first 10% / last 10%                 : {first * 1000:.3f} / {last * 1000:.3f} ms")
        print(f"  decisions: {', '.join(f'{k} {v}' for k, v in sorted(decisions.items()))}")
        mixed(tmp, 1000, args.orders, args.scale_messages, args.rounds, args.messages)
        lat = end_to_end(tmp, args.e2e, args.rate, pin)
        print(f"end to end, {args.e2e} bank SMS at {args.rate:g}/s, inbound POST -> WooCommerce PUT "
              f"({'service on CPU 0, client and fake WooCommerce on CPU 1' if pin else 'no CPU pinning'}):")
        print(f"  p50 {pct(lat, 50) * 1000:.1f} ms, p99 {pct(lat, 99) * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms "
              f"(target p99 < 200 ms)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

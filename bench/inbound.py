"""Inbound bank messages that confirm payments, through the deployment, to the shop's REST API.

woo-bridge as deploy/ runs it (`python -m bridge init`, gunicorn with deploy/gunicorn.conf.py,
`python -m bridge worker`) with the shop's REST pointed at the fake WooCommerce (tests/fakes/
woocommerce.py, OAuth 1.0a over http, in its own process) and Vietcombank 0181003749261 (the
samples' account, /work/shared/samples/BANK_SMS.md) as the receiving account. First, on-hold
bank-transfer orders are created in the fake shop and announced by signed `order.created`
webhooks, and their own (dry-run) messages leave the outbox. Then, for each order, the
Vietcombank balance SMS of its exact payment (template VCB_SMS_SDTK of the samples, sender
`Vietcombank`, the code DH<number> in the memo, today's time) arrives as the shop's phone
gateway sends it: a signed SMSGate `sms:received` webhook to /inbound/smsgate. Each is
confirmable: the bench checks that every order was decided `confirm` and got exactly one
`PUT /orders/<id>` at the fake shop.

  steady  --rate bank SMS per second, open loop: latency from the message's due time to the
          arrival of its order's PUT at the fake shop (p50/p99).
  burst   --burst messages from --clients concurrent clients as fast as the service answers:
          decisions per second (from the first POST to the last decision recorded) and the same
          bank SMS -> PUT latency, from each POST.

    .venv/bin/python bench/inbound.py [--rate 50] [--steady 1000] [--burst 2000] [--clients 16]
        [--processes 2] [--no-pin] [--keep]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from bench.loadgen import Run, closed_loop_ids, http_request, open_loop, pct  # noqa: E402
from tests.fakes.smsgate import FakeSmsGate, sign  # noqa: E402

ACCOUNT = "0181003749261"
KEY = "bench-signing-key"
VN = ZoneInfo("Asia/Ho_Chi_Minh")


def bank_sms(number: int, amount: int) -> str:
    """Vietcombank's balance SMS (VCB_SMS_SDTK) of `amount` paid with the code DH<number>, now."""
    now = datetime.now(VN)
    return (f"SD TK {ACCOUNT} +{amount:,}VND luc {now:%d-%m-%Y %H:%M:%S}. SD {10_000_000 + number * 1000:,}VND. "
            f"Ref MBVCB.{8_800_000_000 + number}.DH{number}.CT tu 1047263815 NGUYEN VAN AN toi {ACCOUNT} "
            f"CUA HANG GOM VIET")[:160]


class BankWebhooks:
    """`make(order_number)`: the signed SMSGate `sms:received` event of that order's payment SMS."""

    def __init__(self, host: str):
        self.host = host
        self.gate = FakeSmsGate(signing_key=KEY)   # builds the envelope the phone app sends; not started

    def __call__(self, number: int) -> bytes:
        body = self.gate.envelope("sms:received", {
            "messageId": f"bank-{number}", "message": bank_sms(number, harness.total_of(number)),
            "sender": "Vietcombank", "simNumber": 1, "receivedAt": datetime.now(VN).isoformat(timespec="seconds")})
        ts = str(int(time.time()))
        return http_request("POST", "/inbound/smsgate", self.host, {
            "Content-Type": "application/json", "User-Agent": "SMSGate/1.0", "X-Timestamp": ts,
            "X-Signature": sign(body, ts, KEY)}, body)


def seed(served: harness.Served, woo: harness.FakeProcess, ids: list[int], processes: int) -> None:
    """The orders exist in the shop and reached us by their signed webhooks."""
    woo.call("add_orders", [(i, harness.total_of(i)) for i in ids])
    run = closed_loop_ids("127.0.0.1", served.port, harness.OrderWebhooks("127.0.0.1"), 8, ids, processes)
    if len(run.ok) != len(ids):
        raise SystemExit(f"seeding: {len(ids) - len(run.ok)} order webhooks were not acknowledged {run.errors}")
    end = time.time() + 300
    while time.time() < end:
        known = harness.read_db(served.db, "SELECT COUNT(*) FROM orders WHERE id BETWEEN ? AND ?",
                                (min(ids), max(ids)))[0][0]
        # the orders' own messages go first through the outbox the mark-paid updates also use:
        # measured payments must not queue behind the seeding
        due = harness.read_db(served.db, "SELECT COUNT(*) FROM messages WHERE status IN ('pending', 'scheduled')")[0][0]
        if known == len(ids) and not due:
            return
        time.sleep(0.5)
    raise SystemExit(f"seeding: {known} of {len(ids)} orders stored, {due} messages still due after 300 s")


def settle(served: harness.Served, woo: harness.FakeProcess, run: Run, timeout: float) -> dict:
    """Wait until every order of the run has its PUT (or the timeout); what was decided and sent."""
    ids = sorted(r.id for r in run.results)
    end = time.time() + timeout
    while True:
        puts, first_put = woo.call("puts")
        if all(i in first_put for i in ids) or time.time() > end:
            break
        time.sleep(0.25)
    rows = harness.read_db(served.db, "SELECT order_id, decision, created_at FROM transactions WHERE order_id BETWEEN ?"
                                      " AND ?", (ids[0], ids[-1]))
    decisions: dict[str, int] = {}
    decided_at: dict[int, float] = {}
    for oid, decision, created in rows:
        decisions[decision] = decisions.get(decision, 0) + 1
        decided_at[oid] = created
    wanted = set(ids)
    counts: dict[int, int] = {}
    for oid in puts:
        if oid in wanted:
            counts[oid] = counts.get(oid, 0) + 1
    return {"decisions": decisions, "last_decision": max(decided_at.values(), default=float("nan")),
            "latency": [first_put[r.id] - r.due for r in run.results if r.id in first_put],
            "decided": [decided_at[r.id] - r.due for r in run.results if r.id in decided_at],
            "missing": len(wanted - set(counts)), "doubled": sum(1 for v in counts.values() if v > 1),
            "non_200": len(run.results) - len(run.ok), "errors": run.errors}


def show(label: str, run: Run, s: dict) -> None:
    lat = s["latency"]
    print(f"{label}: {len(run.results)} bank SMS, {s['non_200']} non-200/errors {s['errors'] or ''}")
    print(f"  decisions: {', '.join(f'{k} {v}' for k, v in sorted(s['decisions'].items()))}")
    for what, values in (("acknowledged", run.latencies()), ("decided", s["decided"])):
        print(f"  bank SMS -> {what}: p50 {pct(values, 50) * 1000:.1f} ms, p99 {pct(values, 99) * 1000:.1f} ms")
    print(f"  bank SMS -> WooCommerce PUT: p50 {pct(lat, 50) * 1000:.1f} ms, p99 {pct(lat, 99) * 1000:.1f} ms, "
          f"max {max(lat, default=float('nan')) * 1000:.1f} ms (n={len(lat)})")
    ok = not s["missing"] and not s["doubled"]
    print(f"  every order exactly one PUT: {'yes' if ok else 'NO'} ({s['missing']} without a PUT, "
          f"{s['doubled']} with more than one)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=50, help="bank SMS per second in the steady part")
    ap.add_argument("--steady", type=int, default=1000, help="bank SMS in the steady part")
    ap.add_argument("--burst", type=int, default=2000, help="bank SMS in the burst")
    ap.add_argument("--clients", type=int, default=16, help="concurrent clients in the burst")
    ap.add_argument("--processes", type=int, default=2, help="load-generating processes")
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    harness.exit_on_term()
    pin = harness.pinning(args.no_pin)
    tmp = Path(tempfile.mkdtemp(prefix="bench-inbound-"))
    print(f"woo-bridge inbound bench: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
          f"{harness.pin_text(pin)}")
    woo = harness.fake_woocommerce()
    served = None
    try:
        served = harness.start_deployment(tmp, "woo-bridge", pin, {
            "WOO_URL": woo.info["url"], "WOO_CONSUMER_KEY": "ck_test", "WOO_CONSUMER_SECRET": "cs_test",
            "BANK_ACCOUNTS": f"Vietcombank:{ACCOUNT}", "SMSGATE_SIGNING_KEY": KEY, "TRANSFER_BANK": "Vietcombank",
            "TRANSFER_ACCOUNT": ACCOUNT, "TRANSFER_HOLDER": "CUA HANG GOM VIET"})
        steady = list(range(1_000_001, 1_000_001 + args.steady))
        burst = list(range(2_000_001, 2_000_001 + args.burst))
        t = time.time()
        seed(served, woo, steady + burst, args.processes)
        print(f"{len(steady) + len(burst)} on-hold orders created in the fake shop and announced by signed webhooks, "
              f"their order SMS (dry-run) out of the outbox ({time.time() - t:.0f} s)")
        make = BankWebhooks("127.0.0.1")
        if steady:
            run = open_loop("127.0.0.1", served.port, make, args.rate, len(steady), steady[0], args.processes)
            lags = run.lags()
            s = settle(served, woo, run, 60)
            show(f"\nsteady, {args.rate:g}/s open loop (client late p99 {pct(lags, 99) * 1000:.1f} ms)", run, s)
        if burst:
            run = closed_loop_ids("127.0.0.1", served.port, make, args.clients, burst, args.processes)
            s = settle(served, woo, run, 120)
            first = min(r.sent for r in run.results)
            decided = sum(s["decisions"].values())
            show(f"\nburst, {args.clients} clients as fast as answered", run, s)
            span = s["last_decision"] - first
            print(f"  acknowledged {len(run.ok) / run.seconds:.1f}/s; decided {decided / span:.1f}/s "
                  f"({decided} decisions, first POST to last decision {span:.1f} s)")
    finally:
        if served is not None:
            served.stop()
        woo.stop()
        if args.keep:
            print(f"database and logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

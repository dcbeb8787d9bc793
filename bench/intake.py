"""Webhook intake of the deployment against two baselines, interleaved in one run.

Served (all by gunicorn with deploy/gunicorn.conf.py, unchanged):
  woo-bridge  `python -m bridge init`, gunicorn `app:create_app()` and `python -m bridge worker`
              on one SQLite file; eSMS configured and pointed at the fake eSMS (tests/fakes/esms.py,
              in its own process) answering each send after --send-delay seconds.
  b1          bench/baseline.py "bare": a Flask app that reads the POST and answers 200.
  b2          bench/baseline.py "insert": b1 plus one SQLite insert of the body per request
              (woo-bridge's connection settings: WAL, the default SQLITE_SYNCHRONOUS).
Load: signed WooCommerce `order.created` deliveries (the captured body of fixture 002, each with
its own order id, number, total and phone), one connection per request as nginx sends them, from
--processes client processes (bench/loadgen.py). Per round, for each mode in turn, b1, b2, then
woo-bridge (b1, b2, A, b1, b2, A, ...): woo-bridge runs right after b2, before its own backlog is
drained (which takes a minute or more after saturation), so the two compared run seconds apart;
this machine's speed drifted by up to half between minutes in the same run:
  saturation  closed loop, --clients concurrent clients for --sat-seconds: acknowledgements/s;
  50/s, 200/s open loop for --seconds: a schedule of due times, latency charged from the due time
              (a server that falls behind shows it as latency); the client's own lateness is
              reported, and flagged when it could not keep the schedule.
After each woo-bridge mode the bench waits until every acknowledged webhook is decided (its
message queued) and its SMS accepted by the fake eSMS, and prints how long after the last
acknowledgement that was (the end-to-end backlog); nothing else runs meanwhile.
--compare NAME=VALUE[,NAME=VALUE] also runs a second woo-bridge deployment with those settings
(WORKER_YIELD=0, say), its own database (a copy of --db-from too), right after the first in every
round: b1, b2, woo-bridge, woo-bridge with the settings; each compared with the baselines it ran
beside.

    .venv/bin/python bench/intake.py                 # 3 rounds, about 8 minutes
    .venv/bin/python bench/intake.py --quick         # 1 round of short modes, about 2 minutes
    .venv/bin/python bench/intake.py [--rounds 3] [--seconds 8] [--sat-seconds 8] [--clients 16]
        [--rates 50,200] [--processes 2] [--send-delay 0.1] [--drain-timeout 300] [--db-from PATH] [--no-pin] [--keep]
        [--compare WORKER_YIELD=0]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from bench.baseline import synchronous  # noqa: E402
from bench.loadgen import Run, acks_per_second, closed_loop, open_loop, pct  # noqa: E402

OURS, B1, B2 = "woo-bridge", "b1 bare Flask", "b2 bare + insert"
LAG_OK = 0.010    # the client kept the schedule when its p99 lateness stays under 10 ms


class Backlog:
    """What happened to acknowledged webhooks after the answer: each order's first message row
    (queued when the webhook was decided) and its SMS at the fake eSMS (RequestId = message id)."""

    def __init__(self, db: Path, esms: harness.FakeProcess):
        self.db, self.esms = db, esms
        self.accepted: dict[str, float] = {}
        self.repeats = 0
        self.seen = 0

    def poll_fake(self) -> None:
        new = self.esms.call("accepted_since", self.seen)
        self.seen += len(new)
        for rid, at in new:
            if rid in self.accepted:
                self.repeats += 1
            else:
                self.accepted[rid] = at

    def drain(self, run: Run, timeout: float) -> dict:
        acked = {r.id: r for r in run.ok}
        if not acked:
            return {"orders": 0}
        lo, hi = min(acked), max(acked)
        end = time.time() + timeout
        while True:
            self.poll_fake()
            rows = harness.read_db(self.db, "SELECT order_id, id, created_at, status FROM messages"
                                            " WHERE order_id BETWEEN ? AND ?", (lo, hi))
            decided: dict[int, float] = {}
            msgs: dict[int, list[str]] = {}
            statuses: dict[str, int] = {}
            for oid, mid, created, status in rows:
                if oid not in acked:
                    continue
                decided[oid] = min(created, decided.get(oid, created))
                msgs.setdefault(oid, []).append(mid)
                if mid not in self.accepted:
                    statuses[status] = statuses.get(status, 0) + 1
            waiting = len(acked) - len(decided)
            if not waiting and not statuses:
                break
            if time.time() > end:
                print(f"    !! after {timeout:.0f} s: {waiting} acknowledged webhooks not decided, messages not at "
                      f"the fake by status: {statuses}")
                break
            time.sleep(0.25)
        sms_at = {oid: max(self.accepted[m] for m in ms if m in self.accepted) for oid, ms in msgs.items()
                  if any(m in self.accepted for m in ms)}
        last_ack = run.last_ack
        return {"orders": len(acked), "decided": len(decided), "at_fake": len(sms_at),
                "messages": sum(len(v) for v in msgs.values()),
                "decided_after": max(decided.values()) - last_ack if decided else float("nan"),
                "sms_after": max(sms_at.values()) - last_ack if sms_at else float("nan"),
                "ack_to_sms": [sms_at[o] - acked[o].done for o in sms_at]}


def phase(name: str, srv: harness.Served, mode: str, args: argparse.Namespace, make, first: int) -> Run:
    if mode == "saturation":
        return closed_loop("127.0.0.1", srv.port, make, args.clients, args.sat_seconds, first, args.processes)
    rate = float(mode[:-2])
    return open_loop("127.0.0.1", srv.port, make, rate, int(rate * args.seconds), first, args.processes)


def describe(run: Run, mode: str) -> str:
    lat = run.latencies()
    bad = len(run.results) - len(run.ok)
    wall = max((r.done for r in run.results), default=run.t0) - run.t0
    cpu = 100 * run.client_cpu / wall if wall > 0 else 0
    head = f"{acks_per_second(run):7.1f} acks/s" if mode == "saturation" else f"{len(run.ok) / wall:7.1f} acks/s"
    text = (f"{head}  p50 {pct(lat, 50) * 1000:7.1f} ms  p99 {pct(lat, 99) * 1000:8.1f} ms  "
            f"non-200/errors {bad}  client CPU {cpu:3.0f}% of a core")
    if mode != "saturation":
        lags = run.lags()
        text += f"  client late p99 {pct(lags, 99) * 1000:.1f} ms max {max(lags) * 1000:.1f} ms"
        if pct(lags, 99) > LAG_OK:
            text += "  !! THE CLIENT COULD NOT KEEP THE SCHEDULE"
    if run.errors:
        text += f"  {run.errors}"
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=8, help="length of each open-loop (fixed rate) mode")
    ap.add_argument("--sat-seconds", type=float, default=8, help="length of each saturation mode")
    ap.add_argument("--clients", type=int, default=16, help="concurrent clients at saturation")
    ap.add_argument("--rates", default="50,200", help="open-loop rates, webhooks per second")
    ap.add_argument("--processes", type=int, default=2, help="load-generating processes")
    ap.add_argument("--send-delay", type=float, default=0.1, help="seconds the fake eSMS takes to answer a send")
    ap.add_argument("--drain-timeout", type=float, default=300)
    ap.add_argument("--quick", action="store_true", help="1 round, 3 s modes (a smoke run; figures are rough)")
    ap.add_argument("--db-from", default="", help="start woo-bridge on a copy of this database (one bench/admin_pages.py "
                    "seeded: a year of data, 1,000,000 messages)")
    ap.add_argument("--compare", default="", metavar="NAME=VALUE[,NAME=VALUE]",
                    help="also run woo-bridge with these settings in every round, after the shipped one")
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the databases and logs (path printed)")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.sat_seconds = 1, 3, 3
    modes = ["saturation", *[f"{float(r):g}/s" for r in args.rates.split(",")]]
    harness.exit_on_term()
    pin = harness.pinning(args.no_pin)
    tmp = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    started = time.time()
    print(f"woo-bridge intake bench: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average "
          f"{os.getloadavg()[0]:.2f}; {harness.pin_text(pin)}")
    print(f"{args.rounds} rounds; modes {', '.join(modes)} ({args.sat_seconds:g} s saturation with {args.clients} "
          f"clients, {args.seconds:g} s per rate); {args.processes} client processes; fake eSMS answers after "
          f"{args.send_delay:g} s; gunicorn {harness.CONF}; SQLITE_SYNCHRONOUS={synchronous()} (woo-bridge and b2)")
    esms = harness.fake_esms(args.send_delay)
    servers: dict[str, harness.Served] = {}
    try:
        if args.db_from:   # the deployment's `bridge init` upgrades the copy as it would the shop's database
            print(f"woo-bridge starts on a copy of {args.db_from}", flush=True)
            harness.copy_database(args.db_from, tmp / "woo-bridge.db")
        servers[OURS] = harness.start_deployment(tmp, "woo-bridge", pin, harness.esms_env(esms))
        ours = [OURS]
        if args.compare:
            alt = f"{OURS} {args.compare}"
            if args.db_from:
                harness.copy_database(args.db_from, tmp / "woo-bridge-alt.db")
            servers[alt] = harness.start_deployment(tmp, "woo-bridge-alt", pin, {
                **harness.esms_env(esms), **harness.settings_from(args.compare.split(","))})
            ours.append(alt)
        servers[B1] = harness.start_baseline(tmp, "bare", pin)
        servers[B2] = harness.start_baseline(tmp, "insert", pin)
        make = harness.OrderWebhooks("127.0.0.1")
        backlogs = {name: Backlog(servers[name].db, esms) for name in ours}
        next_id = iter(range(10_000_000, 10 ** 12, 10_000_000))
        for name, srv in servers.items():   # first requests of each gunicorn worker (imports, connections)
            run = closed_loop("127.0.0.1", srv.port, make, 8, 2, next(next_id), args.processes)
            if name in backlogs:
                backlogs[name].drain(run, args.drain_timeout)
        runs: dict[tuple[str, str], list[Run]] = {}
        drains: dict[tuple[str, str], list[dict]] = {}
        for r in range(args.rounds):
            for mode in modes:
                for name in (B1, B2, *ours):
                    srv = servers[name]
                    run = phase(name, srv, mode, args, make, next(next_id))
                    runs.setdefault((name, mode), []).append(run)
                    print(f"round {r + 1} {mode:>10} {name:<17} {describe(run, mode)}", flush=True)
                    if name in backlogs:
                        d = backlogs[name].drain(run, args.drain_timeout)
                        drains.setdefault((name, mode), []).append(d)
                        print(f"{'':>29} backlog: {d['decided']} of {d['orders']} decided {d['decided_after']:+.1f} s "
                              f"after the last ack, SMS of {d['at_fake']} at the fake {d['sms_after']:+.1f} s after "
                              f"it ({d['messages']} messages)", flush=True)
        report(runs, drains, backlogs, modes, servers, args, pin, time.time() - started)
    finally:
        for srv in servers.values():
            srv.stop()
        esms.stop()
        if args.keep:
            print(f"databases and logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def report(runs: dict[tuple[str, str], list[Run]], drains: dict[tuple[str, str], list[dict]],
           backlogs: dict[str, Backlog], modes: list[str],
           servers: dict[str, harness.Served], args: argparse.Namespace, pin: bool, elapsed: float) -> None:
    names = list(servers)
    w = max(24, *(len(n) + 2 for n in names))   # a column per server
    print(f"\n== summary: {args.rounds} interleaved rounds, {elapsed / 60:.1f} min, load average now "
          f"{os.getloadavg()[0]:.2f}; {harness.pin_text(pin)}")
    print(f"{'':<28}" + "".join(f"{n:>{w}}" for n in names) + f"{'ours/b1':>10}{'ours/b2':>10}")

    def row(label: str, values: dict[str, float], per_round: dict[str, list[float]] | None = None,
            fmt: str = "{:.1f}") -> None:
        cells = "".join(f"{fmt.format(values[n]):>{w}}" for n in names)
        print(f"{label:<28}{cells}{values[OURS] / values[B1]:>10.2f}{values[OURS] / values[B2]:>10.2f}")
        if per_round and args.rounds > 1:
            # five rounds of four digits are wider than a column: each cell at least two spaces apart
            joined = [" / ".join(f"{v:.0f}" for v in per_round[n]) for n in names]
            cells = "".join(f"{j:>{max(w, len(j) + 2)}}" for j in joined)
            print(f"{'  per round':<28}{cells}")

    sat = {n: [acks_per_second(x) for x in runs[(n, "saturation")]] for n in names}
    row("acks/s at saturation (med)", {n: statistics.median(v) for n, v in sat.items()}, sat, "{:.0f}")
    for name in backlogs:   # each round's woo-bridge against the baselines it ran beside
        if name != OURS:
            print(f"  {name}: {statistics.median(sat[name]):.0f} acks/s, ours/b2 "
                  f"{statistics.median(sat[name]) / statistics.median(sat[B2]):.2f} (medians)")
        for base in (B1, B2) if args.rounds > 1 else ():
            ratios = [o / b for o, b in zip(sat[name], sat[base])]
            label = "ours" if name == OURS else name[len(OURS) + 1:]
            print(f"{'  ' + label + '/' + base[:2] + ' within each round':<28}"
                  f"{' / '.join(f'{r:.2f}' for r in ratios):>24}   median {statistics.median(ratios):.2f}")
    for mode in modes[1:]:
        for p in (50, 99):
            pooled = {n: pct([x for run in runs[(n, mode)] for x in run.latencies()], p) * 1000 for n in names}
            per = {n: [pct(run.latencies(), p) * 1000 for run in runs[(n, mode)]] for n in names}
            row(f"p{p} ms at {mode} (all rounds)", pooled, per)
    late = [mode for mode in modes[1:] for n in names for run in runs[(n, mode)] if pct(run.lags(), 99) > LAG_OK]
    print("client kept every schedule (p99 lateness < 10 ms)" if not late else
          f"!! the client could not keep the schedule in {len(late)} runs ({', '.join(sorted(set(late)))}): "
          "those latencies include the client's own delay")
    errors = {n: sum(len(r.results) - len(r.ok) for m in modes for r in runs[(n, m)]) for n in names}
    print("non-200 answers or errors: " + ", ".join(f"{n} {v}" for n, v in errors.items()))
    for name in backlogs:
        print(f"{name} end to end (last ack -> every webhook decided / its SMS accepted by the fake eSMS):")
        for mode in modes:
            ds = drains.get((name, mode), [])
            e2e = [x for d in ds for x in d.get("ack_to_sms", [])]
            print(f"  {mode:>10}: decided " + ", ".join(f"{d['decided_after']:+.1f}" for d in ds) + " s; SMS at the "
                  "fake " + ", ".join(f"{d['sms_after']:+.1f}" for d in ds) + f" s; per webhook ack -> SMS p50 "
                  f"{pct(e2e, 50):.2f} s p99 {pct(e2e, 99):.2f} s; "
                  f"{sum(d['at_fake'] for d in ds)} of {sum(d['orders'] for d in ds)} webhooks' SMS at the fake")
    backlog = backlogs[OURS]   # every Backlog reads every RequestId the fake accepted
    backlog.poll_fake()
    print(f"SMS accepted by the fake eSMS: {len(backlog.accepted) + backlog.repeats}, distinct RequestIds "
          f"{len(backlog.accepted)}; duplicates: {backlog.repeats}")


if __name__ == "__main__":
    main()

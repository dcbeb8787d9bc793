"""Webhook intake while a retention pass runs, on a copy of a year of data.

The first retention pass on a shop's year of data has the most to do (bench/admin_pages.py's 1M
database: some 150,000 provider attempts and many raw payloads past their 30 days, a 20-second
pass after another), and the scheduler starts it whenever RETAIN_EVERY comes round, burst or not.
In one of the five rounds of a bench/intake.py run it landed in the saturation mode.

Served: woo-bridge as deployed (gunicorn with deploy/gunicorn.conf.py and `python -m bridge
worker`, on a copy of --db-from; no channel configured, so every message is a dry run and only the
database work remains) and b2 (bench/baseline.py "insert") under the same gunicorn config. Per
round: b2 at saturation, woo-bridge at saturation (control), woo-bridge at saturation while a
retention pass runs, then woo-bridge at --rate open loop, without and with a pass. The pass is the
scheduler's job as the worker runs it (retention.run_pass on the real service objects: the same
batches, the same waits while webhooks queue), started in a process of its own at the worker's
nice value on the servers' CPU a moment before the load, with RETAIN_* at their defaults; the
passes go on where the last stopped. Between modes the bench waits until every acknowledged
webhook is decided and sent.

    .venv/bin/python bench/retention_burst.py [--db-from /work/bench1m/admin.db] [--rounds 3]
        [--sat-seconds 8] [--seconds 8] [--rate 200] [--clients 16] [--processes 2] [--no-pin]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from bench.loadgen import acks_per_second, closed_loop, open_loop, pct  # noqa: E402


def run_pass() -> None:
    """In its own process: one retention pass on the deployment's database (the environment
    says which), as the worker's scheduler runs it; prints what it did as one JSON line."""
    from app import create_app
    from bridge import retention
    b = create_app(start_scheduler=False).extensions["bridge"]
    os.nice(b.settings.worker_nice)
    print("ready", flush=True)
    sys.stdin.readline()   # go
    started = time.monotonic()
    p = retention.run_pass(b)
    print(json.dumps({"seconds": time.monotonic() - started, "done": p.done, "writes": len(p.locks),
                      "longest": p.longest}), flush=True)


class Pass:
    """A pass process, ready to start (its imports and connections made before the load)."""

    def __init__(self, served: harness.Served, pin: bool):
        env = harness.base_env(served.db.parent, served.name, served.port)
        self.proc = subprocess.Popen([*harness._cpu(pin), sys.executable, __file__, "--run-pass"], cwd=ROOT, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        assert self.proc.stdout is not None and self.proc.stdin is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise SystemExit("the retention pass process did not start")

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def result(self) -> dict:
        assert self.proc.stdout is not None
        out = json.loads(self.proc.stdout.readline())
        self.proc.wait(30)
        return out


BEGAN = time.time()


def settled(served: harness.Served, timeout: float = 600) -> float:
    """Seconds until every acknowledged webhook is decided and none of the bench's messages waits
    to be sent (the seeded year has messages of its own in every state)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        undecided = harness.read_db(served.db, "SELECT COUNT(*) FROM deliveries WHERE state='received'")[0][0]
        waiting = harness.read_db(served.db, "SELECT COUNT(*) FROM messages WHERE status IN ('pending', 'queued')"
                                             " AND created_at >= ?", (BEGAN,))[0][0]
        if not undecided and not waiting:
            return time.monotonic() - started
        time.sleep(0.25)
    raise SystemExit(f"{served.name}: the backlog was not worked off in {timeout:.0f} s")


def main() -> None:
    if "--run-pass" in sys.argv:
        return run_pass()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db-from", default=str(Path(tempfile.gettempdir()) / "woo-bridge-bench" / "admin.db"),
                    help="a database bench/admin_pages.py seeded (copied, never written; default: the one "
                         "bench/admin_pages.py seeds by default, as `make bench` runs it first)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sat-seconds", type=float, default=8.0)
    ap.add_argument("--seconds", type=float, default=8.0, help="length of the open-loop modes")
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--no-pin", action="store_true")
    args = ap.parse_args()
    if not Path(args.db_from).is_file():
        raise SystemExit(f"{args.db_from}: no such database; seed one with bench/admin_pages.py --db PATH")
    harness.exit_on_term()
    pin = harness.pinning(args.no_pin)
    tmp = Path(tempfile.mkdtemp(prefix="bench-retention-burst-"))
    print(f"retention during a burst: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
          f"{harness.pin_text(pin)}; {args.rounds} rounds, {args.sat_seconds:g} s saturation with {args.clients} "
          f"clients, {args.seconds:g} s at {args.rate:g}/s; woo-bridge on a copy of {args.db_from}", flush=True)
    servers: list[harness.Served] = []
    try:
        harness.copy_database(args.db_from, tmp / "woo-bridge.db")
        ours = harness.start_deployment(tmp, "woo-bridge", pin, {"RETAIN_EVERY": "86400"})
        servers.append(ours)
        b2 = harness.start_baseline(tmp, "insert", pin)
        servers.append(b2)
        make = harness.OrderWebhooks("127.0.0.1")
        ids = iter(range(10_000_000, 10 ** 12, 10_000_000))
        for srv in servers:   # each gunicorn worker's first requests (imports, connections)
            closed_loop("127.0.0.1", srv.port, make, 8, 2, next(ids), args.processes)
        settled(ours)
        rows: dict[str, list] = {k: [] for k in ("b2", "sat", "sat+pass", "rate", "rate+pass")}
        passes: list[dict] = []

        def mode(r: int, key: str, srv: harness.Served, with_pass: bool) -> None:
            p = Pass(srv, pin) if with_pass else None
            if p is not None:
                p.go()
                time.sleep(0.5)   # the pass's first batches have begun
            if key.startswith("rate"):
                run = open_loop("127.0.0.1", srv.port, make, args.rate, int(args.rate * args.seconds), next(ids),
                                args.processes)
            else:
                run = closed_loop("127.0.0.1", srv.port, make, args.clients, args.sat_seconds, next(ids),
                                  args.processes)
            lat = run.latencies()
            bad = len(run.results) - len(run.ok)
            extra = ""
            if p is not None:
                out = p.result()
                passes.append(out)
                extra = (f"  pass: {out['seconds']:.1f} s, {out['writes']} writes, longest {out['longest'] * 1000:.0f} ms,"
                         f" {', '.join(f'{k} {n}' for k, n in out['done'].items() if n) or 'nothing to do'}")
            if srv is ours:
                extra += f"  settled +{settled(ours):.1f} s"
            rows[key].append((acks_per_second(run), pct(lat, 99) * 1000, bad))
            print(f"round {r + 1} {key:<10} {acks_per_second(run):7.1f} acks/s  p50 {pct(lat, 50) * 1000:6.1f} ms"
                  f"  p99 {pct(lat, 99) * 1000:7.1f} ms  errors {bad}{extra}", flush=True)

        for r in range(args.rounds):
            mode(r, "b2", b2, False)
            mode(r, "sat", ours, False)
            mode(r, "sat+pass", ours, True)
            mode(r, "rate", ours, False)
            mode(r, "rate+pass", ours, True)

        def med(key: str, i: int) -> float:
            return statistics.median(x[i] for x in rows[key])
        print(f"\n== summary, {args.rounds} rounds (medians; per round in brackets)")
        for key in ("sat", "sat+pass"):
            ratios = [x[0] / b[0] for x, b in zip(rows[key], rows["b2"])]
            print(f"{key:<10} {med(key, 0):7.0f} acks/s  ours/b2 {statistics.median(ratios):.2f} "
                  f"({' / '.join(f'{x:.2f}' for x in ratios)})  p99 {med(key, 1):.1f} ms "
                  f"({' / '.join(f'{x[1]:.0f}' for x in rows[key])})")
        for key in ("rate", "rate+pass"):
            print(f"{key:<10} p99 at {args.rate:g}/s {med(key, 1):.1f} ms ({' / '.join(f'{x[1]:.0f}' for x in rows[key])})")
        print(f"b2         {med('b2', 0):7.0f} acks/s ({' / '.join(f'{x[0]:.0f}' for x in rows['b2'])})")
        done: dict[str, int] = {}
        for p in passes:
            for k, n in p["done"].items():
                done[k] = done.get(k, 0) + n
        print(f"passes: {len(passes)}, pruned {', '.join(f'{k} {n}' for k, n in done.items()) or 'nothing'}; "
              f"longest write {max((p['longest'] for p in passes), default=0) * 1000:.0f} ms; errors "
              f"{sum(x[2] for v in rows.values() for x in v)}")
    finally:
        for srv in servers:
            srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

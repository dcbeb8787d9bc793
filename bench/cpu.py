"""Where a webhook's CPU goes in the deployment: the web processes' and the worker process's CPU
time (user + system, from /proc) per webhook, from the first answer until every webhook's SMS is at
the fake eSMS, and the worker process's per thread (named by `py-spy dump` when py-spy is on the
PATH; the thread ids otherwise).

woo-bridge runs as bench/intake.py runs it (bench/harness.py: init, gunicorn with
deploy/gunicorn.conf.py, `python -m bridge worker`, eSMS pointed at the fake answering after
--send-delay seconds, servers pinned to CPU 0). After a warm-up and once the worker is idle, --n
signed order webhooks arrive open loop at --rate a second (latency from each one's due time).

With --clients, the webhooks come closed loop instead (that many clients, each sending again as
soon as it is answered, for --seconds): acknowledgements per second and the CPU per
acknowledgement of each process while they arrive, the worker's share at saturation. --env sets
a woo-bridge setting for the run (WORKER_NICE=19, say). --db-from starts woo-bridge on a copy of
a seeded database (bench/admin_pages.py: a year of data, 1,000,000 messages).

    .venv/bin/python bench/cpu.py                    # 3,000 webhooks at 200/s, about 2 minutes
    .venv/bin/python bench/cpu.py --rate 50 --n 800 [--send-delay 0.1] [--no-pin]
    .venv/bin/python bench/cpu.py --clients 16 --seconds 8 [--env WORKER_NICE=19]
    .venv/bin/python bench/cpu.py --db-from /work/bench1m/admin.db --n 6000   # at a year of data
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from bench.loadgen import acks_per_second, closed_loop, open_loop, pct  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(stat_path: str) -> float:
    """utime + stime of a process or thread (/proc/<pid>[/task/<tid>]/stat)."""
    fields = Path(stat_path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def threads(pid: int) -> dict[str, float]:
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            out[tid] = cpu_seconds(f"/proc/{pid}/task/{tid}/stat")
        except OSError:   # the thread ended
            pass
    return out


def thread_names(pid: int) -> dict[str, str]:
    """Python thread names by OS thread id, from py-spy when it is installed."""
    spy = shutil.which("py-spy")
    if spy is None:
        return {}
    dump = subprocess.run([spy, "dump", "-p", str(pid)], capture_output=True, text=True, timeout=60).stdout
    return {m.group(1): m.group(2) for m in re.finditer(r'^Thread (\d+) \(\w+\): "([^"]+)"', dump, re.M)}


def processes(pids: dict[str, int]) -> dict[str, float]:
    return {k: cpu_seconds(f"/proc/{p}/stat") for k, p in pids.items()}


def web_and_worker(before: dict[str, float], after: dict[str, float]) -> tuple[float, float]:
    """CPU seconds between two readings: the gunicorn workers together, the worker process."""
    web = sum(after[k] - before[k] for k in after if k.startswith("gunicorn"))
    return web, after["worker process"] - before["worker process"]


def saturation(port: int, make: harness.OrderWebhooks, pids: dict[str, int], args: argparse.Namespace) -> None:
    """Closed loop: acknowledgements per second and each process's CPU per acknowledgement while
    they arrive (what the worker takes meanwhile is CPU the answers did not get)."""
    before = processes(pids)
    run = closed_loop("127.0.0.1", port, make, args.clients, args.seconds, 20_000_000, 2)
    web, wk = web_and_worker(before, processes(pids))
    n = len(run.ok)
    print(f"saturation: {acks_per_second(run):.0f} acks/s from {args.clients} clients for {args.seconds:g} s, "
          f"{len(run.results) - n} non-200/errors")
    print(f"CPU per acknowledgement meanwhile: web processes {web / n * 1000:.3f} ms, "
          f"worker process {wk / n * 1000:.3f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=200, help="webhooks a second, open loop")
    ap.add_argument("--n", type=int, default=3000, help="webhooks sent")
    ap.add_argument("--send-delay", type=float, default=0.1, help="seconds the fake eSMS takes to answer a send")
    ap.add_argument("--drain-timeout", type=float, default=600)
    ap.add_argument("--clients", type=int, default=0, help="closed loop with this many clients instead")
    ap.add_argument("--seconds", type=float, default=8, help="length of the closed loop")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="a woo-bridge setting for the run")
    ap.add_argument("--db-from", default="", help="start woo-bridge on a copy of this database (one bench/admin_pages.py "
                    "seeded: a year of data, 1,000,000 messages)")
    ap.add_argument("--no-pin", action="store_true")
    args = ap.parse_args()
    extra = harness.settings_from(args.env)
    harness.exit_on_term()
    pin = harness.pinning(args.no_pin)
    tmp = Path(tempfile.mkdtemp(prefix="bench-cpu-"))
    print(f"woo-bridge CPU per webhook: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
          f"{harness.pin_text(pin)}; " + (f"closed loop, {args.clients} clients for {args.seconds:g} s" if args.clients
                                          else f"{args.n} webhooks at {args.rate:g}/s")
          + f"; fake eSMS answers after {args.send_delay:g} s" + (f"; {', '.join(args.env)}" if args.env else ""))
    esms = harness.fake_esms(args.send_delay)
    srv = None
    try:
        if args.db_from:   # the deployment's `bridge init` upgrades the copy as it would the shop's database
            print(f"woo-bridge starts on a copy of {args.db_from}", flush=True)
            harness.copy_database(args.db_from, tmp / "woo-bridge.db")
        srv = harness.start_deployment(tmp, "woo-bridge", pin, {**harness.esms_env(esms), **extra})
        make = harness.OrderWebhooks("127.0.0.1")

        accepted = 0

        def at_fake() -> int:   # the fake's count, asked for what it accepted since the last look
            nonlocal accepted
            accepted += len(esms.call("accepted_since", accepted))
            return accepted
        closed_loop("127.0.0.1", srv.port, make, 8, 2, 10_000_000, 2)   # imports, connections, first pages
        seen = -1
        while (now := at_fake()) != seen:   # the warm-up's SMS sent: the worker is idle
            seen = now
            time.sleep(2)
        pids = {k: v for k, v in srv.pids().items() if k != "gunicorn master"}
        if args.clients:
            saturation(srv.port, make, pids, args)
            return
        worker = pids["worker process"]
        before = processes(pids)
        before_threads = threads(worker)
        run = open_loop("127.0.0.1", srv.port, make, args.rate, args.n, 20_000_000, 2)
        names = thread_names(worker)
        end = time.time() + args.drain_timeout
        while at_fake() < seen + args.n and time.time() < end:
            time.sleep(0.5)
        sent = at_fake() - seen
        time.sleep(1)   # the last sends' records
        after = processes(pids)
        after_threads = threads(worker)
        lat = run.latencies()
        print(f"answers: {len(run.ok)} of {args.n} 200, p50 {pct(lat, 50) * 1000:.1f} ms, p99 {pct(lat, 99) * 1000:.1f} ms "
              f"(client lateness p99 {pct(run.lags(), 99) * 1000:.1f} ms); SMS at the fake: {sent}")
        web, wk = web_and_worker(before, after)
        print(f"CPU per webhook: web processes {web / args.n * 1000:.2f} ms, worker process {wk / args.n * 1000:.2f} ms")
        groups: dict[str, float] = {}
        for tid, t in after_threads.items():
            name = names.get(tid, f"thread {tid}")
            name = "send lanes (send_*)" if name.startswith("send_") else name
            groups[name] = groups.get(name, 0.0) + t - before_threads.get(tid, 0.0)
        for name, t in sorted(groups.items(), key=lambda kv: -kv[1]):
            if t >= 0.01:
                print(f"  worker thread {name:<28} {t / args.n * 1000:6.2f} ms per webhook")
        if not names:
            print("  (py-spy is not on the PATH: threads by id; `pip install py-spy` names them)")
    finally:
        if srv is not None:
            srv.stop()
        esms.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

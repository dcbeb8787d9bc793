"""Memory of the deployment over 100,000 webhooks, without worker recycling.

woo-bridge as deploy/ runs it (`python -m bridge init`, gunicorn with deploy/gunicorn.conf.py,
`python -m bridge worker`), except `--max-requests 0` on gunicorn's command line: the config's
max_requests recycles each web worker after about 50,000 requests, which would hide a leak. eSMS
points at the fake eSMS (its own process, answering after --send-delay s), so the worker process
sends every message. Signed `order.created` deliveries (distinct orders) come from --clients
concurrent clients in batches of --batch-seconds; the resident memory (VmRSS) of the gunicorn
master, each gunicorn worker and the worker process is sampled idle, after each batch, at the end
and once the worker has sent everything; printed with the growth.

    .venv/bin/python bench/memory.py [--n 100000] [--minutes 0] [--clients 8] [--batch-seconds 30] [--send-delay 0]
        [--drain-timeout 900] [--env NAME=VALUE] [--no-pin] [--keep]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from bench.loadgen import closed_loop  # noqa: E402


def sample(served: harness.Served) -> dict[str, int]:
    return {name: harness.rss_kb(pid) for name, pid in served.pids().items()}


def mb(kb: int) -> str:
    return f"{kb / 1024:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="webhooks to acknowledge")
    ap.add_argument("--minutes", type=float, default=0, help="stop sending after this long even short of --n "
                    "(0: no limit); what was acknowledged is then reported")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--batch-seconds", type=float, default=30, help="load between two samples")
    ap.add_argument("--processes", type=int, default=2, help="load-generating processes")
    ap.add_argument("--send-delay", type=float, default=0.0)
    ap.add_argument("--drain-timeout", type=float, default=900, help="longest wait for the worker to send it all")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="a woo-bridge setting (ESMS_MAX_PER_SECOND=1000: the eSMS budget does not pace the run)")
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    harness.exit_on_term()
    pin = harness.pinning(args.no_pin)
    tmp = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    print(f"woo-bridge memory bench: {args.n:,} webhooks, gunicorn with max_requests disabled (--max-requests 0); "
          f"{os.cpu_count()} CPUs; {harness.pin_text(pin)}")
    esms = harness.fake_esms(args.send_delay)
    served = None
    try:
        settings = {**harness.esms_env(esms), **harness.settings_from(args.env)}
        served = harness.start_deployment(tmp, "woo-bridge", pin, settings, gunicorn_args=("--max-requests", "0"))
        time.sleep(2)
        workers_at_start = set(harness.children(served.web.pid))
        samples: list[tuple[str, float, int, dict[str, int]]] = [("idle", 0.0, 0, sample(served))]
        make = harness.OrderWebhooks("127.0.0.1")
        start = time.time()
        acked = errors = 0
        first = 10_000_000
        rate = 0.0
        while acked < args.n and not (args.minutes and time.time() - start > args.minutes * 60):
            left = args.n - acked
            seconds = min(args.batch_seconds, max(2.0, left / rate)) if rate else args.batch_seconds
            run = closed_loop("127.0.0.1", served.port, make, args.clients, seconds, first, args.processes)
            first += 10_000_000
            ok = run.ok
            acked += len(ok)
            rate = len(ok) / seconds
            errors += len(run.results) - len(ok)
            now = sample(served)
            samples.append((f"{acked:,} acked", time.time() - start, acked, now))
            print(f"  {time.time() - start:6.0f} s  {acked:>8,} webhooks acknowledged ({rate:.0f}/s in the last batch);"
                  f" RSS MB: {', '.join(f'{k} {mb(v)}' for k, v in now.items())}", flush=True)
        loaded = time.time() - start
        sent = wait_sent(served, esms, acked, args.drain_timeout)
        samples.append(("all sent", time.time() - start, acked, sample(served)))
        time.sleep(5)
        samples.append(("idle again", time.time() - start, acked, sample(served)))
        recycled = set(harness.children(served.web.pid)) != workers_at_start
        report(samples, acked, errors, loaded, sent, recycled)
    finally:
        if served is not None:
            served.stop()
        esms.stop()
        if args.keep:
            print(f"database and logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def wait_sent(served: harness.Served, esms: harness.FakeProcess, acked: int, timeout: float) -> tuple[int, int, int]:
    """Until every message is at the fake, at least one per acknowledged webhook (one that is
    decided after its answer may not have queued its message yet), or the timeout:
    (messages, at the fake, distinct)."""
    end = time.time() + timeout
    seen: list[str] = []
    while True:
        seen += [rid for rid, _ in esms.call("accepted_since", len(seen))]
        queued = harness.read_db(served.db, "SELECT COUNT(*) FROM messages")[0][0]
        if len(set(seen)) >= max(queued, acked) or time.time() > end:
            return queued, len(seen), len(set(seen))
        time.sleep(1)


def report(samples: list[tuple[str, float, int, dict[str, int]]], acked: int, errors: int, loaded: float,
           sent: tuple[int, int, int], recycled: bool) -> None:
    names = list(dict.fromkeys(k for _, _, _, s in samples for k in s))
    print(f"\n{acked:,} webhooks acknowledged in {loaded:.0f} s ({acked / loaded:.0f}/s), {errors} non-200/errors; "
          f"messages queued {sent[0]:,}, SMS at the fake eSMS {sent[1]:,} ({sent[2]:,} distinct RequestIds)")
    print("gunicorn workers " + ("were REPLACED during the run (a crash or a timeout): per-worker figures mix "
                                 "processes" if recycled else "were the same processes from start to end"))
    print("\nRSS in MB")
    print(f"{'when':<18}{'s':>6}" + "".join(f"{n:>18}" for n in names))
    for label, t, _, s in samples:
        print(f"{label:<18}{t:>6.0f}" + "".join(f"{mb(s[n]) if n in s else '-':>18}" for n in names))
    warm = samples[1][3] if len(samples) > 2 else samples[0][3]
    mid = samples[len(samples) // 2][3]
    end = samples[-2][3]
    print(f"\n{'growth MB':<24}" + "".join(f"{n:>18}" for n in names))
    for label, a in (("idle -> end", samples[0][3]), ("first batch -> end", warm), ("middle -> end", mid)):
        print(f"{label:<24}" + "".join(f"{(end.get(n, 0) - a.get(n, 0)) / 1024:>+18.1f}" for n in names))
    total = {label: sum(s.values()) for label, _, _, s in samples}
    print(f"all processes: idle {total['idle'] / 1024:.1f} MB, after everything was sent "
          f"{total['all sent'] / 1024:.1f} MB")


if __name__ == "__main__":
    main()

"""How long retention holds the write lock, on a copy of a large database.

Copies the database (SQLite's backup API: the source is only read), moves the clock `--ahead`
days past now so the oldest days fall out of their windows, runs retention passes on the copy
as the scheduler's job would (RETAIN_* at their defaults unless set in the environment), and
prints per pass and per kind the write transactions, rows pruned and how long each held the
lock (median, 99th percentile, longest): intake waits at most that long for its one write.

    .venv/bin/python bench/retention_pass.py --db /work/benchdata/admin.db --ahead 30 --passes 2
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.harness import copy_database  # noqa: E402
from bridge import retention  # noqa: E402
from bridge.config import load_settings  # noqa: E402
from bridge.store.db import Database  # noqa: E402
from bridge.store.schema import migrate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True, help="the database to copy (never written)")
    ap.add_argument("--copy", default=os.path.join(tempfile.gettempdir(), "woo-bridge-retention.db"))
    ap.add_argument("--ahead", type=float, default=30.0, help="days past now the passes run at")
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--reuse", action="store_true", help="go on with the copy a previous run left")
    a = ap.parse_args()
    if os.path.realpath(a.db) == os.path.realpath(a.copy):
        sys.exit("--copy must not be the database itself")
    if not a.reuse:
        started = time.monotonic()
        copy_database(a.db, a.copy)
        print(f"copied {os.path.getsize(a.copy) / 1e6:.0f} MB in {time.monotonic() - started:.1f} s")
    env = {k: v for k, v in os.environ.items() if k.startswith("RETAIN_")}
    settings = load_settings(environ={**env, "BRIDGE_DB": a.copy}, env_file=None)
    db = Database(a.copy)
    started = time.monotonic()
    migrate(db)
    print(f"schema brought up to date in {time.monotonic() - started:.1f} s")
    at = time.time() + a.ahead * retention.DAY
    bridge = SimpleNamespace(settings=settings, db=db, clock=lambda: at,
                             give_way=lambda up_to=None: False)   # no webhooks here: nothing to give way to
    for n in range(1, a.passes + 1):
        started = time.monotonic()
        p = retention.run_pass(bridge)
        took = time.monotonic() - started
        locks = [s for _k, _n, s in p.locks]
        print(f"pass {n}: {took:.1f} s, {len(locks)} write transactions, lock held median"
              f" {statistics.median(locks) * 1000 if locks else 0:.1f} ms, p99"
              f" {sorted(locks)[int(len(locks) * 0.99)] * 1000 if locks else 0:.1f} ms,"
              f" longest {max(locks, default=0) * 1000:.1f} ms")
        for kind in dict.fromkeys(k for k, _n, _s in p.locks):
            mine = [(r, s) for k, r, s in p.locks if k == kind]
            print(f"  {kind}: {sum(r for r, _ in mine)} rows in {len(mine)} writes, longest"
                  f" {max(s for _, s in mine) * 1000:.1f} ms, rows per write {min(r for r, _ in mine)}-"
                  f"{max(r for r, _ in mine)}")
    db.close()


if __name__ == "__main__":
    main()

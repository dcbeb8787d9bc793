"""How long queueing a bulk send holds the write lock: a bulk of `--rows` recipients (10,000 by
default) prepared and started on a fresh database (or on a copy of a large one, `--db`), then
queued batch by batch as the leader's job does it. Prints the preparation time, the number of
queueing transactions and how long each held the lock (median, 99th percentile, longest): a
webhook's one write waits at most that long behind a bulk. Then the longest wait of another
writer (a thread taking the write lock every millisecond, as intake would) while the bulk is
prepared, paused and cancelled.

    .venv/bin/python bench/bulk.py
    .venv/bin/python bench/bulk.py --db /work/benchdata/admin.db --rows 10000
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import sqlite3
import tempfile
import threading
import time
from contextlib import contextmanager
from typing import Iterator

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bridge import bulk  # noqa: E402
from bridge.config import load_settings  # noqa: E402
from bridge.service import Bridge  # noqa: E402


@contextmanager
def writer_waits(path: str, out: list[float]) -> Iterator[None]:
    """Another connection takes the write lock again and again; its longest wait (ms) in `out`."""
    stop = threading.Event()

    def run() -> None:
        c = sqlite3.connect(path, timeout=30, isolation_level=None)
        worst = 0.0
        while not stop.is_set():
            t = time.perf_counter()
            c.execute("BEGIN IMMEDIATE")
            c.execute("COMMIT")
            worst = max(worst, (time.perf_counter() - t) * 1000)
            time.sleep(0.001)
        out.append(worst)
        c.close()
    th = threading.Thread(target=run)
    th.start()
    try:
        yield
    finally:
        stop.set()
        th.join()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--db", help="a database to copy first (never written)")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="woo-bridge-bulk-")
    path = os.path.join(work, "bridge.db")
    if a.db:
        shutil.copy(a.db, path)
    env = {k: v for k, v in os.environ.items() if k.startswith("BULK_")}
    settings = load_settings(environ={**env, "BRIDGE_DB": path, "SMSGATE_URL": "http://127.0.0.1:9",
                                      "RUN_SCHEDULER": "0", "QUIET_HOURS": "off", "OWNER_PHONES": ""}, env_file=None)
    b = Bridge(settings)
    try:
        rows = [bulk.Row(f"09{10_000_000 + i:08d}", {"ten": f"Khách {i}"}) for i in range(a.rows)]
        started = time.perf_counter()
        waits: list[float] = []
        with writer_waits(path, waits):
            bid = bulk.create(b, name="bench", source="csv", rows=rows,
                              template="Chào {{ ten }}, Tết sale 30% tại shop", channel="smsgate", unicode=True,
                              filters={}, who="bench")
        prepared = time.perf_counter() - started
        print(f"preparing: another writer waited at most {waits[0]:.0f} ms")
        row = b.db.one("SELECT valid, estimate_s FROM bulks WHERE id=?", (bid,))
        print(f"prepared {a.rows} rows ({row['valid']} to send) in {prepared:.2f} s; "
              f"pacing estimate through one phone at the defaults: {row['estimate_s'] / 3600:.1f} h")
        with b.db.tx() as c:
            c.execute("UPDATE bulks SET state='running' WHERE id=?", (bid,))
        # the leader queues a minute of slots ahead (bulk.WINDOW); here the whole list is queued at
        # once, the most a pause or cancel can find waiting
        bulk.WINDOW = float("inf")
        held, queued = [], 0
        started = time.perf_counter()
        while True:
            t = time.perf_counter()
            handled, n = bulk.queue_batch(b, bid)
            if not handled:
                break
            held.append((time.perf_counter() - t) * 1000)
            queued += n
        total = time.perf_counter() - started
        held.sort()
        print(f"queued {queued} messages in {len(held)} transactions, {total:.2f} s in all "
              f"(BULK_BATCH={settings.bulk_batch})")
        print(f"write lock per transaction: median {statistics.median(held):.0f} ms, "
              f"p99 {held[int(len(held) * 0.99) - 1]:.0f} ms, longest {held[-1]:.0f} ms")
        for action in ("pause", "cancel"):
            waits = []
            started = time.perf_counter()
            with writer_waits(path, waits):
                n = getattr(bulk, action)(b, bid, "bench")
            print(f"{action}: {n} messages in {time.perf_counter() - started:.2f} s, another writer waited at most "
                  f"{waits[0]:.0f} ms")
    finally:
        b.shutdown()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

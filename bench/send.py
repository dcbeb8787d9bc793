"""Sender benchmark: how many SMS per second the outbox sends with a slow provider, at default settings.

Starts the fake eSMS (tests/fakes/esms.py) as its own process answering every send after
`--send-delay` seconds (500 ms) over real HTTP, and runs the real Worker with the settings a
fresh install has (only the eSMS account and the database path set) in this process, woken the
way the service wakes it: a tick every WORKER_INTERVAL and a poke when a message is queued.

Two runs, each on a fresh database:
- burst: `--n` messages due at once. Prints SMS/s (messages over the time from the first due
  to the last provider answer) and queue wait p50/p99 (due -> the provider call began).
- steady: messages queued one by one at `--rate` per second for `--seconds`. Prints the queue
  wait: a sender that keeps up shows it near the pacing delay, one that does not shows it grow.
Then what the provider saw: requests taken, distinct RequestIds, 429s, its busiest second.

    .venv/bin/python bench/send.py [--n 1500] [--rate 50] [--seconds 20] [--send-delay 0.5] [--set NAME=VALUE]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bridge.config import load_settings  # noqa: E402
from bridge.outbox import Draft, enqueue  # noqa: E402
from bridge.providers.base import load_channels  # noqa: E402
from bridge.smstext import measure  # noqa: E402
from bridge.store.db import Database  # noqa: E402
from bridge.worker import Worker  # noqa: E402


def fake_esms(send_delay: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.esms", str(send_delay)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def draft(i: int) -> Draft:
    return Draft(dedupe_key=f"bench:{i}", rule="bench", event="bench", audience="customer", channels=("esms",),
                 recipient_raw=f"0912{i:06d}", recipient=f"+84912{i:06d}", problem=None,
                 sms=measure(f"Don hang DH{i} da duoc xac nhan. Cam on quy khach!"))


class Sender:
    """The Worker as the service runs it: drained on a tick and whenever poked."""

    def __init__(self, base_url: str, db_path: str, changes: dict[str, str]):
        self.settings = load_settings(environ={"ESMS_API_KEY": "test-api-key", "ESMS_SECRET_KEY": "test-secret-key",
                                               "ESMS_BRANDNAME": "SHOPDEMO", "ESMS_BASE_URL": base_url,
                                               "DB_PATH": db_path, "LOG_LEVEL": "WARNING", **changes}, env_file=None)
        self.db = Database(db_path, synchronous=self.settings.sqlite_synchronous)
        self.db.migrate()
        self.worker = Worker(self.db, self.settings, load_channels(self.settings, self.db))
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.worker.drain()
            self._wake.wait(self.settings.worker_interval)
            self._wake.clear()

    def queue(self, i: int) -> None:
        with self.db.tx() as c:
            enqueue(c, draft(i))
        if self.worker.poke():
            self._wake.set()

    def sent(self) -> int:
        return self.db.scalar("SELECT COUNT(*) FROM messages WHERE status='queued'")

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join()
        self.worker.shutdown()


def figures(s: Sender, name: str, rate: bool = True) -> str:
    rows = s.db.query("SELECT m.due_at, a.at, a.duration_ms FROM messages m JOIN attempts a ON a.message_id=m.id"
                      " WHERE a.outcome='accepted'")
    waits = sorted((r["at"] - r["duration_ms"] / 1000 - r["due_at"]) * 1000 for r in rows)
    first, last = min(r["due_at"] for r in rows), max(r["at"] for r in rows)
    p99 = waits[min(len(waits) - 1, int(len(waits) * 0.99))]
    speed = f" = {len(rows) / (last - first):.1f} SMS/s" if rate else ""
    return (f"{name}: {len(rows)} SMS in {last - first:.1f} s{speed}; "
            f"queue wait p50 {statistics.median(waits):.0f} ms, p99 {p99:.0f} ms")


def wait_for(s: Sender, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while s.sent() < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {s.sent()} of {n} sent after {timeout:.0f} s")
        time.sleep(0.1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1500)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--send-delay", type=float, default=0.5)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a setting other than its default (e.g. SEND_CONCURRENCY=8 for the old sender)")
    a = ap.parse_args()
    changes = dict(x.split("=", 1) for x in a.set)
    proc, base_url = fake_esms(a.send_delay)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            s = Sender(base_url, f"{tmp}/burst.db", changes)
            print(f"{'settings' if changes else 'defaults'}: SEND_CONCURRENCY={s.settings.send_concurrency}, "
                  f"ESMS_MAX_PER_SECOND={s.settings.esms_max_per_second:g}; provider answers after "
                  f"{a.send_delay * 1000:.0f} ms")
            with s.db.tx() as c:
                for i in range(a.n):
                    enqueue(c, draft(i))
            s.worker.poke()
            s._wake.set()
            wait_for(s, a.n, a.n / 5 + 30)
            s.close()
            print(figures(s, f"burst of {a.n}"))

            s = Sender(base_url, f"{tmp}/steady.db", changes)
            total = int(a.rate * a.seconds)
            start = time.monotonic()
            for i in range(total):
                time.sleep(max(0.0, start + i / a.rate - time.monotonic()))
                s.queue(i)
            wait_for(s, total, a.seconds + 60)
            s.close()
            print(figures(s, f"steady {a.rate:g}/s offered for {a.seconds:g} s", rate=False))
        stats = requests.get(base_url.rsplit("/MainService.svc", 1)[0] + "/_fake/accepted", timeout=5).json()
        print(f"provider: {stats['accepted']} accepted, {stats['unique_request_ids']} distinct RequestIds, "
              f"{stats['rate_limited']} answered 429, busiest second {stats['busiest_second']} requests")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()

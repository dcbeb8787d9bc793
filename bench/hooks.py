"""What outgoing events cost a send: the status triggers and `emit` with no URL, against the same
work without the triggers (as before v13), and with one URL wanting every status change.

Each mode runs on its own fresh database: N messages enqueued (one transaction each, as a
webhook's decision does), then recorded as taken by the provider in batches of 64 (as the
worker records its lanes), then `emit` called N times for an event nobody wants. Prints
microseconds per message for each step; with the URL, also what turning the captured changes into
events costs, and one scheduler pass over the backlog they leave while the URL is down.

    .venv/bin/python bench/hooks.py --n 5000
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bridge import outgoing  # noqa: E402
from bridge.outbox import Attempt, Draft, enqueue, record_results  # noqa: E402
from bridge.phones import normalize_phone  # noqa: E402
from bridge.sending import Outcome, SendResult  # noqa: E402
from bridge.smstext import prepare  # noqa: E402
from bridge.store.db import Database  # noqa: E402
from bridge.store.schema import migrate  # noqa: E402


def run(mode: str, n: int, where: str) -> dict[str, float]:
    path = os.path.join(where, f"hooks-{mode}.db")
    db = Database(path)
    migrate(db)
    if mode == "no triggers":
        with db.tx() as c:
            c.execute("DROP TRIGGER hook_status_ai")
            c.execute("DROP TRIGGER hook_status_au")
    elif mode == "one URL wants statuses":
        outgoing.add_endpoint(db, "https://crm.example.vn/events", [outgoing.STATUS_CHANGED])
    sms = prepare("Don hang #1234 da duoc xac nhan, cam on ban", False)
    phone = normalize_phone("0912345678")
    out: dict[str, float] = {}
    started = time.perf_counter()
    for i in range(n):
        with db.tx() as c:
            enqueue(c, Draft.to_phone(phone, dedupe_key=f"k{i}", rule="bench", event="bench", audience="customer",
                                      channels=("esms",), sms=sms))
    out["enqueue"] = (time.perf_counter() - started) / n * 1e6
    rows = db.query("SELECT * FROM messages ORDER BY rowid")
    started = time.perf_counter()
    for i in range(0, len(rows), 64):
        record_results(db, [Attempt(r, "esms", SendResult(Outcome.ACCEPTED, provider_id=f"p{r['id']}"), 100.0)
                            for r in rows[i:i + 64]], 12, 5.0, 1800.0)
    out["record"] = (time.perf_counter() - started) / n * 1e6
    started = time.perf_counter()
    for i in range(n):
        with db.tx() as c:
            outgoing.emit(c, outgoing.RECEIVED, {"inbox_id": i})
    out["emit, nobody wants it"] = (time.perf_counter() - started) / n * 1e6
    out["captured"] = db.scalar("SELECT COUNT(*) FROM hook_pending")
    if out["captured"]:   # the URL is down: every message's first event is being sent, the rest wait
        started = time.perf_counter()
        outgoing.pump(db)
        out["pump, status changes to events"] = (time.perf_counter() - started) / out["captured"] * 1e6
        started = time.perf_counter()
        outgoing.pump(db)
        out["scheduler pass over the backlog (ms)"] = (time.perf_counter() - started) * 1000
        out["deliveries open"] = db.scalar("SELECT COUNT(*) FROM hook_deliveries WHERE state != 'done'")
    db.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as where:
        for mode in ("no triggers", "no URL", "one URL wants statuses"):
            r = run(mode, a.n, where)
            print(f"{mode:>24}: enqueue {r['enqueue']:7.1f} µs  record {r['record']:6.1f} µs  "
                  f"emit {r['emit, nobody wants it']:5.1f} µs  per message; status changes captured: "
                  f"{int(r['captured'])}")
            if r["captured"]:
                print(f"{'':>24}  turning them into events {r['pump, status changes to events']:.1f} µs each; with "
                      f"{int(r['deliveries open'])} deliveries open (the URL down), a scheduler pass with nothing "
                      f"to move takes {r['scheduler pass over the backlog (ms)']:.1f} ms")


if __name__ == "__main__":
    main()

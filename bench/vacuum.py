"""How long `python -m bridge vacuum` takes, and what it gives back, on a database of a given size.

Builds a database of --mb megabytes with the service's schema (deliveries rows with compressed
bodies of ~1.3 KB, as intake writes them, and their indexes), deletes every other row (a
retention pass leaves holes like these), then runs the same VACUUM as the command and prints the
file size before and after and the time it took.

    .venv/bin/python bench/vacuum.py [--mb 1024] [--db /tmp/woo-bridge-vacuum.db]

Figures only (no asserts).
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bridge import retention  # noqa: E402
from bridge.store.db import Database  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=1024)
    ap.add_argument("--db", default=os.path.join(tempfile.gettempdir(), "woo-bridge-vacuum.db"))
    args = ap.parse_args()
    for suffix in ("", "-wal", "-shm"):
        Path(args.db + suffix).unlink(missing_ok=True)
    db = Database(args.db)
    db.migrate()
    rng = random.Random(7)
    words = [f"{w}{i}" for i, w in enumerate(("order", "billing", "shipping", "line_items", "meta_data") * 40)]
    bodies = [zlib.compress(" ".join(rng.choice(words) for _ in range(450)).encode(), 6) for _ in range(500)]
    c = db.conn()
    n = 0
    t = time.time()
    while os.path.getsize(args.db) < args.mb * 1_000_000:
        rows = []
        for _ in range(5_000):
            n += 1
            rows.append((t + n, f"{n:032x}", "9", "order.updated", "order", n, "https://shop.example/", "{}",
                         bodies[n % len(bodies)], "processed", "", f"{n:064x}"))
        with db.tx():
            c.executemany("INSERT INTO deliveries(received_at, delivery_id, webhook_id, topic, resource, resource_id,"
                          " source_url, headers, zbody, state, reason, replay_key) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                          rows)
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with db.tx():
        c.execute("DELETE FROM deliveries WHERE id % 2 = 0")
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    started = time.monotonic()
    before, after = retention.vacuum(args.db)
    took = time.monotonic() - started
    print(f"{n} rows written, every other one deleted: VACUUM {before / 1e6:.0f} MB -> {after / 1e6:.0f} MB"
          f" in {took:.1f} s ({took / (before / 1e9):.1f} s per GB of file)")


if __name__ == "__main__":
    main()

"""Refused requests are kept for the admin, but bounded: whoever is refused is not trusted, and
must not be able to fill the disk through our record of them."""
from __future__ import annotations

import os
import re
import sqlite3

import requests

from bridge.rejections import REJECTION_KEEP_DAYS, REJECTION_KEEP_ROWS, record_rejection

PASSWORD = "rejections admin pw"


def db_bytes(path: str) -> int:
    """The database's size with everything written into the main file (WAL checkpointed)."""
    c = sqlite3.connect(path)
    try:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        c.close()
    return sum(os.path.getsize(path + s) for s in ("", "-wal") if os.path.exists(path + s))


def test_200_requests_with_huge_headers_grow_the_database_by_little_and_show_once_with_a_count(service_factory):
    svc = service_factory(admin_password=PASSWORD)
    before = db_bytes(svc.settings.db_path)
    junk = {f"X-Junk-{i}": "x" * 60_000 for i in range(4)}    # 240 KB of headers per request
    with requests.Session() as s:
        for _ in range(200):
            r = s.post(svc.url + "/webhooks/woocommerce", data=b"{" + b"a" * 50_000, timeout=10,
                       headers={**junk, "X-WC-Webhook-Topic": "order.created", "Content-Type": "application/json"})
            assert r.status_code == 401 and r.json()["error"]
    grown = db_bytes(svc.settings.db_path) - before
    assert grown < 1024 * 1024, f"the database grew by {grown} bytes"
    row = svc.db.one("SELECT * FROM rejections")
    assert row["count"] == 200 and len(row["headers"]) <= 2100 and len(row["body_excerpt"]) <= 1024
    assert "X-Junk-0" in row["headers"]                            # still enough to recognise the caller

    s = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', s.get(svc.url + "/admin/login", timeout=5).text).group(1)
    s.post(svc.url + "/admin/login", data={"password": PASSWORD, "csrf_token": token}, timeout=10)
    html = s.get(svc.url + "/admin/settings", timeout=5).text
    assert "missing X-WC-Webhook-Signature" in html
    assert re.search(r'class="num rejection-count">200<', html)
    metrics = requests.get(svc.url + "/metrics", timeout=5).text
    assert re.search(r'woobridge_rejected_requests_total\{endpoint="/webhooks/woocommerce",status="401"\} 200', metrics)


def test_different_callers_and_reasons_stay_apart_and_a_repeat_after_the_window_is_a_new_row(service_factory):
    svc = service_factory()
    t = 1_800_000_000.0
    record_rejection(svc.db, "/x", 401, "bad token", "10.0.0.1", {}, b"", at=t)
    record_rejection(svc.db, "/x", 401, "bad token", "10.0.0.2", {}, b"", at=t + 1)
    record_rejection(svc.db, "/x", 401, "other reason", "10.0.0.1", {}, b"", at=t + 2)
    record_rejection(svc.db, "/x", 401, "bad token", "10.0.0.1", {}, b"", at=t + 3)
    record_rejection(svc.db, "/x", 401, "bad token", "10.0.0.1", {}, b"", at=t + 3 + 3600)
    rows = [tuple(r) for r in svc.db.query("SELECT remote_addr, reason, count FROM rejections ORDER BY id")]
    assert rows == [("10.0.0.1", "bad token", 2), ("10.0.0.2", "bad token", 1), ("10.0.0.1", "other reason", 1),
                    ("10.0.0.1", "bad token", 1)]
    # credentials never kept, even from a refused caller
    record_rejection(svc.db, "/y", 401, "r", "h", {"Authorization": "Bearer s3cret", "Cookie": "session=abc"}, b"",
                     at=t + 5000)
    assert "s3cret" not in svc.db.scalar("SELECT headers FROM rejections WHERE endpoint='/y'")


def test_old_rows_are_pruned_by_age_and_by_number(service_factory):
    svc = service_factory()
    t = 1_800_000_000.0
    record_rejection(svc.db, "/old", 401, "r", "a", {}, b"", at=t - (REJECTION_KEEP_DAYS + 1) * 86_400)
    with svc.db.tx() as c:   # a table already at its limit
        c.executemany("INSERT INTO rejections(at, endpoint, http_status, reason, remote_addr, headers, count, last_at)"
                      " VALUES (?,?,?,?,?,?,1,?)", [(t - 10, "/many", 401, f"r{i}", "b", "{}", t - 10)
                                                    for i in range(REJECTION_KEEP_ROWS)])
    record_rejection(svc.db, "/new", 401, "r", "c", {}, b"", at=t)
    assert svc.db.scalar("SELECT COUNT(*) FROM rejections WHERE endpoint='/old'") == 0
    assert svc.db.scalar("SELECT COUNT(*) FROM rejections") == REJECTION_KEEP_ROWS
    assert svc.db.scalar("SELECT COUNT(*) FROM rejections WHERE endpoint='/new'") == 1

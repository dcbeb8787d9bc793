"""The write lock across processes (bridge/store/db.py): a writer that finds it taken waits for it
in short steps and gets it once it is free, and gives up with SQLite's error once its busy timeout
has passed. Another process's writer is another connection here (a thread of this test)."""
from __future__ import annotations

import sqlite3
import threading

import pytest

from bridge.store.db import Database


def locked(tmp_path, busy_timeout_ms: int) -> tuple[Database, threading.Event, threading.Thread]:
    """A database whose write lock another connection holds until `release` is set; then that
    connection writes 'theirs' and commits."""
    db = Database(str(tmp_path / "x.db"), busy_timeout_ms=busy_timeout_ms)
    with db.tx() as c:
        c.execute("CREATE TABLE t(v TEXT)")
    release, taken = threading.Event(), threading.Event()

    def hold() -> None:
        c = sqlite3.connect(db.path, isolation_level=None)
        c.execute("BEGIN IMMEDIATE")
        taken.set()
        release.wait(10)
        c.execute("INSERT INTO t VALUES ('theirs')")
        c.execute("COMMIT")
        c.close()
    other = threading.Thread(target=hold)
    other.start()
    assert taken.wait(10)
    return db, release, other


def test_a_writer_waits_for_another_processes_lock_and_then_writes_after_it(tmp_path):
    db, release, other = locked(tmp_path, 10_000)
    threading.Timer(0.3, release.set).start()
    with db.tx() as c:   # blocked until the other commits
        c.execute("INSERT INTO t VALUES ('ours')")
    other.join(10)
    assert [r[0] for r in db.query("SELECT v FROM t ORDER BY rowid")] == ["theirs", "ours"]
    assert db.scalar("PRAGMA busy_timeout") == 10_000   # the other statements keep the timeout


def test_a_writer_gives_up_when_its_busy_timeout_has_passed(tmp_path):
    db, release, other = locked(tmp_path, 200)
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            with db.tx() as c:
                c.execute("INSERT INTO t VALUES ('ours')")
    finally:
        release.set()
        other.join(10)
    assert [r[0] for r in db.query("SELECT v FROM t")] == ["theirs"]
    assert db.scalar("PRAGMA busy_timeout") == 200


def test_the_wait_is_the_connections_timeout_as_set_now_as_the_schema_upgrade_sets_it(tmp_path):
    """The upgrade tries once (timeout 0), then waits up to an hour for another process's
    upgrade (store/schema.py migrate, through Database.set_busy_timeout): the write lock is
    waited for as long as the connection is set to at that moment, and that setting is kept."""
    db, release, other = locked(tmp_path, 100)
    c = db.conn()
    try:
        db.set_busy_timeout(c, 0)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            with db.tx():
                pass
        assert db.scalar("PRAGMA busy_timeout") == 0
        db.set_busy_timeout(c, 20000)
        threading.Timer(0.5, release.set).start()   # longer than the Database's own 100 ms
        with db.tx() as t:
            t.execute("INSERT INTO t VALUES ('ours')")
        assert db.scalar("PRAGMA busy_timeout") == 20000
    finally:
        release.set()
        other.join(10)
    assert [r[0] for r in db.query("SELECT v FROM t ORDER BY rowid")] == ["theirs", "ours"]

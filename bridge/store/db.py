"""The connection to the storage: SQLite in WAL mode (schema and migrations: store/schema.py).

Everything the service accepts becomes a row here before it is acknowledged, so this module
keeps connections per thread, a busy timeout long enough for several processes sharing the
file, and write transactions that take the lock up front (BEGIN IMMEDIATE) so two writers
never deadlock half-way through.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

PRIVATE_UMASK = 0o077
BEGIN_PAUSE_MAX = 0.002   # the longest wait between two tries for another process's write lock
log = logging.getLogger(__name__)


@contextmanager
def private_umask() -> Iterator[None]:
    """Files created inside are readable by this account only.

    The database holds `secret_key` (which signs admin cookies) and every token in clear: a
    world-readable file let any local account forge an admin session. The umask is per process,
    so it is only narrowed around creation, then restored."""
    old = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(old)


def make_private(path: str | Path, mode: int = 0o600) -> None:
    """chmod a file (or directory) we own down to `mode`, when it is wider; files made by an
    older version (0644) are tightened on the next start."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & ~mode == 0:
        return
    os.chmod(path, mode)
    log.warning("%s was readable by other accounts: now %o", path, mode)


def private_dir(path: Path) -> None:
    """The data directory: created 0700; an existing one of ours is tightened to 0700 unless it
    is a shared place (world-writable with the sticky bit, like /tmp)."""
    if not path.exists():
        with private_umask():
            path.mkdir(parents=True, exist_ok=True)
        return
    st = path.stat()
    if st.st_mode & stat.S_ISVTX:
        return
    make_private(path, 0o700)


def private_files(db_path: str) -> None:
    """The database and its -wal/-shm companions: 0600 (SQLite gives the companions the main
    file's mode, so this also covers the ones it creates later)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        make_private(db_path + suffix)


def now() -> float:
    return time.time()


class Database:
    """Per-thread sqlite3 connections to one file, plus the schema."""

    def __init__(self, path: str, synchronous: str = "NORMAL", busy_timeout_ms: int = 15_000):
        self.path = path
        self.synchronous = synchronous
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        # Writers in this process queue here instead of in SQLite's busy handler, whose
        # sleep-and-retry steps (up to 100 ms) are what made acknowledgement latency spiky.
        self._write_lock = threading.Lock()
        if path != ":memory:":
            private_dir(Path(path).parent)
            private_files(path)

    # -- connections -------------------------------------------------------------------
    def conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            with private_umask():   # the first connection creates the file, -wal and -shm
                c = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None,
                                    check_same_thread=False)
                c.row_factory = sqlite3.Row
                self.set_busy_timeout(c, self.busy_timeout_ms)
                c.execute("PRAGMA journal_mode=WAL")
            c.execute(f"PRAGMA synchronous={self.synchronous}")
            self._local.conn = c
        return c

    def set_busy_timeout(self, c: sqlite3.Connection, ms: float) -> None:
        """The connection's busy timeout, remembered here: a write transaction reads it on every
        BEGIN (_begin_immediate), and asking SQLite for it was a statement per acknowledgement."""
        c.execute(f"PRAGMA busy_timeout={int(ms)}")
        self._local.busy_ms = int(ms)

    def close(self) -> None:
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
            self._local.conn = None

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed on success, rolled back on any exception."""
        c = self.conn()
        if c.in_transaction:  # nested use joins the outer transaction
            yield c
            return
        with self._write_lock:
            self._begin_immediate(c)
            try:
                yield c
            except BaseException:
                c.execute("ROLLBACK")
                raise
            else:
                c.execute("COMMIT")

    def _begin_immediate(self, c: sqlite3.Connection) -> None:
        """Take the write lock, waiting for another process's writer in steps of at most 2 ms.

        SQLite's busy handler sleeps 1, 2, 5, ... up to 100 ms between tries, so a request that
        found the lock taken by the worker process (deciding, sending) slept on long after the
        lock was free: those sleeps were the acknowledgement's latency tail and left the CPU idle
        under load. The wait is the connection's busy timeout as it is set now (the schema upgrade
        sets 0 to try once, then an hour to wait for another process's upgrade, through
        set_busy_timeout), restored after; the other statements keep it."""
        timeout_ms = self._local.busy_ms
        c.execute("PRAGMA busy_timeout=0")
        try:
            deadline, pause = time.monotonic() + timeout_ms / 1000, 0.0002
            while True:
                try:
                    c.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) and "busy" not in str(exc):
                        raise
                    if time.monotonic() >= deadline:
                        raise
                time.sleep(pause)
                pause = min(pause * 2, BEGIN_PAUSE_MAX)
        finally:
            c.execute(f"PRAGMA busy_timeout={int(timeout_ms)}")

    def query(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        return self.conn().execute(sql, params).fetchall()

    def one(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        return self.conn().execute(sql, params).fetchone()

    def scalar(self, sql: str, params: Any = ()) -> Any:
        row = self.conn().execute(sql, params).fetchone()
        return None if row is None else row[0]

    # -- small key/value store for generated secrets and last-known figures -------------
    def kv_get(self, key: str, default: str | None = None) -> str | None:
        from . import kv
        return kv.get(self, key, default)

    def kv_set(self, key: str, value: str) -> None:
        from . import kv
        kv.set(self, key, value)

    def kv_setdefault(self, key: str, value: str) -> str:
        """Store `value` unless the key exists; return what is stored (first writer wins)."""
        from . import kv
        return kv.setdefault(self, key, value)

    # -- schema ------------------------------------------------------------------------
    def migrate(self) -> None:
        """Create or upgrade the schema; safe to run on every start and from several processes."""
        from .schema import migrate
        migrate(self)


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)


def marks(values: Any) -> str:
    """The `?,?,…` of an `IN (…)` or `VALUES (…)` for these values: one per value."""
    return ",".join("?" * len(values))


def fetch_one(db_or_c: Any, sql: str, params: Any = ()) -> sqlite3.Row | None:
    """One row, read through the Database (its thread's connection) or a caller's transaction."""
    if isinstance(db_or_c, Database):
        return db_or_c.one(sql, params)
    return db_or_c.execute(sql, params).fetchone()


def fetch_all(db_or_c: Any, sql: str, params: Any = ()) -> list[sqlite3.Row]:
    """Rows, read through the Database (its thread's connection) or a caller's transaction."""
    if isinstance(db_or_c, Database):
        return db_or_c.query(sql, params)
    return db_or_c.execute(sql, params).fetchall()


def backup(src_path: str, dst_path: str | Path) -> tuple[str, int, int]:
    """Copy the database into `dst_path` (an empty file already made private) in one step and
    check the copy: (integrity_check's answer, orders, outbox rows)."""
    src = sqlite3.connect(src_path, timeout=30)
    dst = sqlite3.connect(dst_path)
    try:
        src.backup(dst)              # all pages in one step: a snapshot, never restarted by writers
        dst.execute("PRAGMA journal_mode=DELETE")   # one self-contained file, no -wal beside it
        result = dst.execute("PRAGMA integrity_check").fetchone()[0]
        orders = dst.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
        messages = dst.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    finally:
        dst.close()
        src.close()
    return result, orders, messages

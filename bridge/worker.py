"""Drains the outbox: claim due rows, send them through their channel, record the outcome.

Sends run in a small thread pool because providers are slow (hundreds of ms each) and the
work is waiting, not computing. A channel without credentials is replaced by the dry-run
channel at send time, so messages are still rendered, stored and visible.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from .channels.base import Channel, OutgoingMessage, Outcome, SendResult
from .config import Settings
from .db import Database
from .outbox import claim, record_result

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, db: Database, settings: Settings, channels: dict[str, Channel]):
        self.db = db
        self.settings = settings
        self.channels = channels
        self.pool = ThreadPoolExecutor(max_workers=settings.send_concurrency, thread_name_prefix="send")
        self._drain_lock = threading.Lock()

    def channel_for(self, name: str) -> Channel:
        ch = self.channels.get(name)
        if ch is None or not ch.configured:
            return self.channels["dry-run"]
        return ch

    def send_one(self, row: sqlite3.Row) -> str:
        ch = self.channel_for(row["channel"])
        msg = OutgoingMessage(id=row["id"], recipient=row["recipient"], text=row["text"],
                              unicode=row["encoding"] == "UCS-2", segments=row["segments"], channel=row["channel"])
        started = time.perf_counter()
        try:
            result = ch.send(msg)
        except Exception as exc:  # an adapter bug is a transient failure, not a lost message
            log.exception("channel %s raised while sending %s", ch.name, row["id"])
            result = SendResult(Outcome.TRANSIENT, code="exception", detail=f"{type(exc).__name__}: {exc}")
        elapsed = (time.perf_counter() - started) * 1000
        s = self.settings
        status = record_result(self.db, row, ch.name, result, elapsed, s.send_max_attempts, s.send_backoff_base,
                               s.send_backoff_max)
        level = logging.INFO if result.outcome in (Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.DRY_RUN) \
            else logging.WARNING
        log.log(level, "message %s via %s to %s: %s (%s) -> %s", row["id"], ch.name, row["recipient"],
                result.outcome.value, result.detail, status)
        return status

    def drain(self, max_rounds: int = 1000) -> int:
        """Send everything due now. Only one drain runs at a time in a process."""
        if not self._drain_lock.acquire(blocking=False):
            return 0
        try:
            total = 0
            for _ in range(max_rounds):
                rows = claim(self.db, self.settings.send_concurrency, self.settings.send_lease)
                if not rows:
                    break
                list(self.pool.map(self.send_one, rows))
                total += len(rows)
            return total
        finally:
            self._drain_lock.release()

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

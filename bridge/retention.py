"""Retention: what is kept how long (RETAIN_* settings, in days; 0 keeps forever), pruned by the
scheduler's leader in batches sized to hold the write lock about 50 ms, so intake waits for at
most one such transaction (bench/retention_pass.py prints what each held).

What a shop needs months later decides the defaults: "did my customer get the SMS for order X"
(the message row: status, provider id, when sent and delivered) and the payment evidence (the
transaction with its bank text, and the order it paid). What it does not need after a few weeks is
the raw request each fact came in: a webhook's body and headers, an SMS gateway's envelope, a
carrier's call, a delivery report's payload; and each provider attempt's answer once the message
is final. So, per kind:

- raw payloads (RETAIN_RAW_DAYS, 30): nulled, the row stays (the order's timeline keeps every
  delivery with its topic, state and reason; the inbound page every text). Only decided rows: one
  still waiting to be decided keeps its payload, since deciding reads it.
- attempts and delivery-report events of final messages (RETAIN_ATTEMPTS_DAYS, 30): deleted; the
  message keeps its outcome (status, reason, provider id, sent and delivered times).
- final messages (RETAIN_MESSAGES_DAYS, 400) with their legs, attempts and events: deleted. A
  message not final (pending, scheduled, held, queued, in doubt) is never deleted.
- webhook deliveries (RETAIN_DELIVERIES_DAYS, 400): the decided ones no kept message names.
- inbound (RETAIN_INBOUND_DAYS, 400): transactions that paid no order and wait for nobody's
  review, then texts no kept transaction or cash-on-delivery answer refers to.
- never: orders (one row each, the last body compressed), every transaction naming an order (the
  payment evidence), COD confirmations and answers, parcels and carriers' calls (rows).

400 days is a year and a month: this month last year stays comparable, and a question about an
order from the last twelve months can always be answered from its messages.
"""
from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from . import received_reports, shipments
from .outbox import CANCELLED, DELIVERED, DRY_RUN, FAILED, SENT
from .payments.handler import REVIEW
from .shop_events import ERROR, IGNORED, PROCESSED, STALE
from .store import retention as store
from .store.db import Database

log = logging.getLogger(__name__)

DAY = 86_400.0
RUN_SECONDS = 20.0     # one pass stops after this long (the next one, RETAIN_EVERY later, goes on)
PAUSE = 0.02           # seconds between two batches: writers waiting for the lock go first
TX_SECONDS = 0.05      # a write transaction aims at holding the lock no longer than this
# Rows a kind's first write transaction takes (then adapted to the time it took, up to
# RETAIN_BATCH): deleting a message fires the search indexes' and the tallies' triggers, about
# 1 ms a message on a loaded machine, so 500 of them held intake back for half a second.
FIRST_BATCH = 50
FINAL = (SENT, DELIVERED, FAILED, DRY_RUN, CANCELLED)
# States of rows that are decided: whatever else a row says (received, or a state added later) it
# keeps its payload and is never deleted.
DELIVERY_DECIDED = (PROCESSED, IGNORED, STALE, ERROR)
INBOX_DECIDED = ("handled", "stored", "duplicate")
CARRIER_DECIDED = (shipments.APPLIED, shipments.DUPLICATE, shipments.STALE, shipments.IGNORED,
                   shipments.CONTRADICTED, shipments.ERROR)
REPORT_DECIDED = (received_reports.APPLIED, received_reports.UNKNOWN, received_reports.ERROR)
# table -> (time column, payload columns, decided states or None when every row is). A delivery's
# replay key stays with its row: it is what recognises a captured signed webhook sent again.
RAW = {
    "deliveries": ("received_at", ("body", "zbody", "headers"), DELIVERY_DECIDED),
    "inbox": ("created_at", ("raw",), INBOX_DECIDED),
    "shipment_events": ("received_at", ("raw",), CARRIER_DECIDED),
    "message_events": ("at", ("raw",), None),
    "received_reports": ("received_at", ("report",), REPORT_DECIDED),
}


@dataclass
class Pass:
    """One run: its deadline, what it did per kind, and how long each write held the lock."""
    db: Database
    batch: int
    deadline: float
    done: dict[str, int]
    locks: list[tuple[str, int, float]] = field(default_factory=list)   # per write: kind, rows, seconds
    # between two writes, after PAUSE: waits while webhooks queue, up to the pass's time left
    # (Bridge.give_way). Nothing here is urgent: a pass that meets a burst leaves the lock and the
    # cores to the acknowledgements until it is over, and under a burst that outlasts it, it ends
    # and the next pass goes on. bench/retention_burst.py: a pass on a year of data cost a
    # saturating burst 15% of its acknowledgements (p99 68 ms) with the 20 ms pause alone, 4%
    # (p99 49 ms) waiting it out.
    give_way: Callable[[float], object] = lambda left: None

    def more(self) -> bool:
        return time.monotonic() < self.deadline

    @property
    def longest(self) -> float:
        return max((s for _k, _n, s in self.locks), default=0.0)

    def write(self, kind: str, apply: Callable[[Any], int]) -> tuple[int, float]:
        """apply() in one write transaction: (its count, seconds the lock was held)."""
        started = time.monotonic()
        with self.db.tx() as c:
            n = apply(c)
        took = time.monotonic() - started
        self.locks.append((kind, n, took))
        return n, took

    def size(self, size: int, took: float) -> int:
        """The next batch's size: what would have held the lock TX_SECONDS at this batch's pace,
        growing at most twofold (up to RETAIN_BATCH)."""
        return max(1, min(self.batch, size * 2, int(size * TX_SECONDS / max(took, 1e-4))))

    def pause(self) -> None:
        time.sleep(PAUSE)
        if self.more():   # a pass out of time stops now, not after one more wait
            self.give_way(self.deadline - time.monotonic())

    def batches(self, kind: str, find: Callable[[int], list[Any]], apply: Callable[[Any, list[Any]], int]) -> None:
        """find(n) a batch of at most n with a read, apply() it in one short write transaction,
        pause, repeat until a batch comes back short or the pass is out of time."""
        size = min(self.batch, FIRST_BATCH)
        while self.more():
            ids = find(size)
            asked = size
            if ids:
                n, took = self.write(kind, lambda c: apply(c, ids))
                self.done[kind] = self.done.get(kind, 0) + n
                size = self.size(size, took)
            if len(ids) < asked:
                return
            self.pause()


def run(bridge: Any) -> dict[str, int]:
    """One retention pass at the bridge's clock; rows pruned per kind (logged when any)."""
    return run_pass(bridge).done


def run_pass(bridge: Any) -> Pass:
    """One retention pass, with how long its longest write transaction held the lock."""
    s = bridge.settings
    db = bridge.db
    t = bridge.clock()
    p = Pass(db, s.retain_batch, time.monotonic() + RUN_SECONDS, {},
             give_way=lambda left: bridge.give_way(up_to=max(0.0, left)))
    if s.retain_messages_days:
        before = t - s.retain_messages_days * DAY
        p.batches("messages", lambda n: store.old_messages(db, before, FINAL, n),
                  lambda c, ids: store.delete_messages(c, ids, before, FINAL))
    if s.retain_attempts_days:
        for table in ("attempts", "message_events"):
            below = store.first_id_at(db, table, "at", t - s.retain_attempts_days * DAY)
            p.batches(table, lambda n, table=table, below=below: store.old_events(db, table, below, FINAL, n),
                      lambda c, ids, table=table, below=below: store.delete_events(c, table, ids, below, FINAL))
        below = store.first_id_at(db, "received_reports", "received_at", t - s.retain_attempts_days * DAY)
        p.batches("received_reports", lambda n: store.old_reports(db, below, REPORT_DECIDED, n),
                  lambda c, ids: store.delete_reports(c, ids, below, REPORT_DECIDED))
    if s.retain_deliveries_days:
        below = store.first_id_at(db, "deliveries", "received_at", t - s.retain_deliveries_days * DAY)
        p.batches("deliveries", lambda n: store.old_deliveries(db, below, DELIVERY_DECIDED, n),
                  lambda c, ids: store.delete_deliveries(c, ids, below, DELIVERY_DECIDED))
    if s.retain_inbound_days:
        cutoff = t - s.retain_inbound_days * DAY
        below = store.first_id_at(db, "transactions", "created_at", cutoff)
        p.batches("transactions", lambda n: store.old_transactions(db, below, REVIEW, n),
                  lambda c, ids: store.delete_transactions(c, ids, below, REVIEW))
        _inbox(p, store.first_id_at(db, "inbox", "created_at", cutoff))
    if s.retain_raw_days:
        for table, (time_col, columns, decided) in RAW.items():
            _raw(p, table, time_col, columns, decided, t - s.retain_raw_days * DAY)
    if any(p.done.values()):
        log.info("retention: %s (longest write %.3f s)", ", ".join(f"{k} {n}" for k, n in p.done.items() if n),
                 p.longest)
    return p


# step(after, n) -> (ids to write, first row still open or None, last row read or None, short)
Step = Callable[[int, int], tuple[list[int], "int | None", "int | None", bool]]


def _walk(p: Pass, key: str, table: str, step: Step, apply: Callable[[Any, list[int]], int], kind: str) -> None:
    """Walk `table` from the mark of the last pass: step() reads the next rows below the cutoff,
    apply() writes the ids it chose, and the mark moves in the same transaction. The mark is held
    before the first row still open (not decided yet, or that may still go; or one the write
    left alone), so no row is passed over for good, and rows done for good are not read again.
    The mark never passes the table's last id (a new row takes the last id plus one, which after
    the newest rows were deleted is one the pass went past); past it (rows deleted otherwise),
    the walk starts over."""
    mark = store.mark(p.db, key)
    if mark > store.last_id(p.db, table):   # rows deleted since, and ids may have been taken again
        with p.db.tx() as c:
            store.set_mark(c, key, table, 0)
        mark = 0
    cursor, held, size = mark, None, min(p.batch, FIRST_BATCH)
    while p.more():
        ids, first_open, last, short = step(cursor, size)
        if last is None:
            return
        if held is None and first_open is not None:
            held = first_open - 1

        def write(c: Any, ids: list[int] = ids, last: int = last) -> int:
            nonlocal held
            n = apply(c, ids)
            if n < len(ids) and held is None:   # changed since the read: looked at again next pass
                held = min(ids) - 1
            store.set_mark(c, key, table, held if held is not None else last)
            return n
        if ids or (held if held is not None else last) != mark:
            n, took = p.write(kind, write)
            mark = held if held is not None else last
            if n:
                p.done[kind] = p.done.get(kind, 0) + n
        else:
            took = 0.0
        if short:
            return
        cursor, size = last, p.size(size, took)
        if took:
            p.pause()   # after a write; two reads in a row need no pause


def _raw(p: Pass, table: str, time_col: str, columns: tuple[str, ...], decided: tuple[str, ...] | None,
         cutoff: float) -> None:
    """Null the payloads of `table` older than `cutoff`. A row not decided yet keeps its payload
    (deciding needs it) and holds the mark, so it is nulled once decided."""
    below = store.first_id_at(p.db, table, time_col, cutoff)

    def step(after: int, n: int) -> tuple[list[int], int | None, int | None, bool]:
        rows = store.raw_candidates(p.db, table, after, below, n)
        open_ = [r["id"] for r in rows if decided is not None and r["state"] not in decided]
        return ([r["id"] for r in rows if decided is None or r["state"] in decided],
                open_[0] if open_ else None, rows[-1]["id"] if rows else None, len(rows) < n)
    _walk(p, f"retention.raw.{table}", table, step,
          lambda c, ids: store.null_raw(c, table, columns, ids, decided), f"{table} payloads")


def _inbox(p: Pass, below: int) -> None:
    """Delete the texts nothing kept refers to. The texts of payments and COD answers stay for
    good, so the mark moves past them: a pass reads only the texts since the first one still
    open (not decided yet, or named by a transaction that may still go)."""
    def step(after: int, n: int) -> tuple[list[int], int | None, int | None, bool]:
        rows = store.inbox_candidates(p.db, after, below, INBOX_DECIDED, n)
        open_ = [r["id"] for r in rows if not r["deletable"] and not r["kept"]]
        return ([r["id"] for r in rows if r["deletable"]], open_[0] if open_ else None,
                rows[-1]["id"] if rows else None, len(rows) < n)
    _walk(p, "retention.inbox", "inbox", step,
          lambda c, ids: store.delete_inbox(c, ids, below, INBOX_DECIDED), "inbox")


def any_kept_limit(settings: Any) -> bool:
    """Whether any kind has a retention at all (else the job is not installed)."""
    return any((settings.retain_raw_days, settings.retain_attempts_days, settings.retain_messages_days,
                settings.retain_deliveries_days, settings.retain_inbound_days))


def vacuum(db_path: str) -> tuple[int, int]:
    """Give the free pages back to the file system: (bytes before, bytes after)."""
    return _size(db_path), (store.vacuum(db_path), _size(db_path))[1]


def temp_dir() -> str:
    """Where SQLite writes a VACUUM's copy on this system (its own order of choice on Unix)."""
    for d in (os.environ.get("SQLITE_TMPDIR"), os.environ.get("TMPDIR"), "/var/tmp", "/usr/tmp", "/tmp"):
        if d and os.path.isdir(d) and os.access(d, os.W_OK | os.X_OK):
            return d
    return "."


def vacuum_space_short(db_path: str) -> str:
    """'' when there is room for a VACUUM: the database's size for its copy in the temporary
    directory, and again beside the database for the write-ahead log (it holds every rewritten
    page until the checkpoint); both on one file system need both. Else what is missing, where."""
    size = os.path.getsize(db_path)
    need: dict[int, tuple[str, int]] = {}
    for d in (os.path.dirname(os.path.abspath(db_path)), temp_dir()):
        dev = os.stat(d).st_dev
        where, n = need.get(dev, (d, 0))
        need[dev] = (where, n + size)
    for where, n in need.values():
        free = shutil.disk_usage(where).free
        if free < n:
            return (f"{free} bytes free in {where}, {n} needed (the copy VACUUM writes to {temp_dir()}"
                    " (SQLITE_TMPDIR), and the write-ahead log beside the database)")
    return ""


def _size(db_path: str) -> int:
    db = Database(db_path)
    try:
        page, pages, _free = store.space(db)
    finally:
        db.close()
    return page * pages

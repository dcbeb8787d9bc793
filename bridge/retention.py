"""Retention: what is kept how long (RETAIN_* settings, in days; 0 keeps forever), pruned by the
scheduler's leader in small batches so intake never waits for more than one short transaction.

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
import time
from dataclasses import dataclass
from typing import Any, Callable

from . import shipments
from .outbox import CANCELLED, DELIVERED, DRY_RUN, FAILED, SENT
from .payments.handler import REVIEW
from .shop_events import ERROR, IGNORED, PROCESSED, STALE
from .store import retention as store
from .store.db import Database

log = logging.getLogger(__name__)

DAY = 86_400.0
RUN_SECONDS = 20.0     # one pass stops after this long (the next one, RETAIN_EVERY later, goes on)
PAUSE = 0.02           # seconds between two batches: writers waiting for the lock go first
FINAL = (SENT, DELIVERED, FAILED, DRY_RUN, CANCELLED)
# States of rows that are decided: whatever else a row says (received, or a state added later) it
# keeps its payload and is never deleted.
DELIVERY_DECIDED = (PROCESSED, IGNORED, STALE, ERROR)
INBOX_DECIDED = ("handled", "stored", "duplicate")
CARRIER_DECIDED = (shipments.APPLIED, shipments.DUPLICATE, shipments.STALE, shipments.IGNORED,
                   shipments.CONTRADICTED, shipments.ERROR)
# table -> (time column, payload columns, decided states or None when every row is)
RAW = {
    "deliveries": ("received_at", ("body", "zbody", "headers", "replay_key"), DELIVERY_DECIDED),
    "inbox": ("created_at", ("raw",), INBOX_DECIDED),
    "shipment_events": ("received_at", ("raw",), CARRIER_DECIDED),
    "message_events": ("at", ("raw",), None),
}


@dataclass
class Pass:
    """One run: its deadline and what it did, per kind."""
    db: Database
    batch: int
    deadline: float
    done: dict[str, int]

    def more(self) -> bool:
        return time.monotonic() < self.deadline

    def batches(self, kind: str, find: Callable[[], list[Any]], apply: Callable[[Any, list[Any]], int]) -> None:
        """find() a batch with a read, apply() it in one short write transaction, pause, repeat
        until a batch comes back short or the pass is out of time."""
        while self.more():
            ids = find()
            if ids:
                with self.db.tx() as c:
                    self.done[kind] = self.done.get(kind, 0) + apply(c, ids)
            if len(ids) < self.batch:
                return
            time.sleep(PAUSE)


def run(bridge: Any) -> dict[str, int]:
    """One retention pass at the bridge's clock; rows pruned per kind (logged when any)."""
    s = bridge.settings
    db = bridge.db
    t = bridge.clock()
    p = Pass(db, s.retain_batch, time.monotonic() + RUN_SECONDS, {})
    if s.retain_messages_days:
        before = t - s.retain_messages_days * DAY
        p.batches("messages", lambda: store.old_messages(db, before, FINAL, p.batch),
                  lambda c, ids: store.delete_messages(c, ids, before, FINAL))
    if s.retain_attempts_days:
        for table in ("attempts", "message_events"):
            below = store.first_id_at(db, table, "at", t - s.retain_attempts_days * DAY)
            p.batches(table, lambda table=table, below=below: store.old_events(db, table, below, FINAL, p.batch),
                      lambda c, ids, table=table, below=below: store.delete_events(c, table, ids, below, FINAL))
    if s.retain_deliveries_days:
        below = store.first_id_at(db, "deliveries", "received_at", t - s.retain_deliveries_days * DAY)
        p.batches("deliveries", lambda: store.old_deliveries(db, below, DELIVERY_DECIDED, p.batch),
                  lambda c, ids: store.delete_deliveries(c, ids, below, DELIVERY_DECIDED))
    if s.retain_inbound_days:
        cutoff = t - s.retain_inbound_days * DAY
        below = store.first_id_at(db, "transactions", "created_at", cutoff)
        p.batches("transactions", lambda: store.old_transactions(db, below, REVIEW, p.batch),
                  lambda c, ids: store.delete_transactions(c, ids, below, REVIEW))
        below = store.first_id_at(db, "inbox", "created_at", cutoff)
        p.batches("inbox", lambda: store.old_inbox(db, below, INBOX_DECIDED, p.batch),
                  lambda c, ids: store.delete_inbox(c, ids, below, INBOX_DECIDED))
    if s.retain_raw_days:
        for table, (time_col, columns, decided) in RAW.items():
            _raw(p, table, time_col, columns, decided, t - s.retain_raw_days * DAY)
    if any(p.done.values()):
        log.info("retention: %s", ", ".join(f"{k} {n}" for k, n in p.done.items() if n))
    return p.done


def _raw(p: Pass, table: str, time_col: str, columns: tuple[str, ...], decided: tuple[str, ...] | None,
         cutoff: float) -> None:
    """Null the payloads of `table` older than `cutoff`, from the mark of the last pass on. A row
    passed over because it was not decided keeps its payload (deciding needs it)."""
    key = f"retention.raw.{table}"
    below = store.first_id_at(p.db, table, time_col, cutoff)
    while p.more():
        after = store.mark(p.db, key)
        rows = store.raw_candidates(p.db, table, after, below, p.batch)
        if not rows:
            return
        ids = [r["id"] for r in rows if decided is None or r["state"] in decided]
        with p.db.tx() as c:
            n = store.null_raw(c, table, columns, ids, decided, key, rows[-1]["id"])
        p.done[f"{table} payloads"] = p.done.get(f"{table} payloads", 0) + n
        if len(rows) < p.batch:
            return
        time.sleep(PAUSE)


def any_kept_limit(settings: Any) -> bool:
    """Whether any kind has a retention at all (else the job is not installed)."""
    return any((settings.retain_raw_days, settings.retain_attempts_days, settings.retain_messages_days,
                settings.retain_deliveries_days, settings.retain_inbound_days))


def vacuum(db_path: str) -> tuple[int, int]:
    """Give the free pages back to the file system: (bytes before, bytes after)."""
    return _size(db_path), (store.vacuum(db_path), _size(db_path))[1]


def _size(db_path: str) -> int:
    db = Database(db_path)
    try:
        page, pages, _free = store.space(db)
    finally:
        db.close()
    return page * pages

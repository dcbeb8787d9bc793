"""Catch up with SePay when a webhook did not reach us (we were down longer than SePay's 33
minutes of retries, or its retry is switched off): every SEPAY_RECONCILE_EVERY seconds, list the
transactions after the last one seen and hand each to the core exactly as the webhook would. The
core deduplicates on SePay's id, so one the webhook already brought is a duplicate and nothing
is done twice.

The API lists every account linked to the SePay company, the owner's own ones too; only
transactions to an account in BANK_ACCOUNTS (or to a virtual account of one) are handed over,
the ones a webhook set up as the README says would have brought.

The mark (kv `sepay.since_id`, the highest id handed over) moves only after the core has stored
every transaction up to it: a pass that fails half-way starts again from the last stored one.
What a pass did is kept in kv `sepay.reconcile.last` (JSON); a failure is recorded there and
logged, and never raised into the scheduler.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from ...events import BankTransaction
from ...payments.accounts import name_account
from ...rejections import record_rejection
from .client import SepayApiError, SepayClient
from .transactions import SEPAY_TIME_ZONE, BadTransaction, from_api

log = logging.getLogger(__name__)

CURSOR_KEY, LAST_KEY = "sepay.since_id", "sepay.reconcile.last"
FIRST_LOOK_BACK = 86_400.0      # no mark yet: take the last day's transactions (SePay filters by date)
MAX_PAGES = 50                  # a pass ends after this many pages; the next one goes on from the mark


def _id_of(item: Any) -> int | None:
    value = item.get("id") if isinstance(item, dict) else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def reconcile(bridge: Any, client: SepayClient | None = None) -> dict[str, Any]:
    """One pass; what it did (also kept in kv `sepay.reconcile.last`)."""
    s = bridge.settings
    client = client or SepayClient(s.sepay_api_url, s.sepay_api_token, s.sepay_timeout)
    stored = bridge.db.kv_get(CURSOR_KEY)
    mark = int(stored) if stored else None
    out: dict[str, Any] = {"at": bridge.clock(), "since_id": mark, "fetched": 0, "taken": 0, "duplicates": 0,
                           "other_accounts": 0, "refused": 0, "error": ""}
    date_min = None
    if mark is None:
        date_min = datetime.fromtimestamp(bridge.clock() - FIRST_LOOK_BACK, SEPAY_TIME_ZONE).strftime("%Y-%m-%d")
    try:
        for _ in range(MAX_PAGES):
            page = client.transactions(since_id=None if mark is None else mark + 1, date_min=date_min)
            out["fetched"] += len(page)
            # oldest first, so the mark never passes a transaction not yet stored
            page = sorted(page, key=lambda item: _id_of(item) or 0)
            highest = mark
            for item in page:
                tid = _id_of(item)
                if mark is not None and tid is not None and tid <= mark:
                    continue       # since_id is "at least": the one at the mark again
                try:
                    tx = from_api(item)
                except BadTransaction as exc:
                    out["refused"] += 1
                    _refuse(bridge, client, item, str(exc))
                else:
                    if _for_the_shop(tx, s.receiving_accounts):
                        result = bridge.accept(tx)
                        out["duplicates" if result.get("duplicate") else "taken"] += 1
                    else:
                        out["other_accounts"] += 1
                if tid is not None:
                    highest = tid if highest is None else max(highest, tid)
            if highest is None or highest == mark:
                break              # nothing after the mark: caught up
            bridge.db.kv_set(CURSOR_KEY, str(highest))
            mark, date_min = highest, None
    except SepayApiError as exc:
        out["error"] = str(exc)
        log.warning("SePay reconcile: %s; the next pass goes on from id %s", exc, mark)
    except Exception as exc:       # the database, a bug: the same, with the traceback in the log
        out["error"] = f"{type(exc).__name__}: {exc}"[:500]
        log.exception("SePay reconcile failed; the next pass goes on from id %s", mark)
    out["until_id"] = mark
    if out["taken"]:
        log.info("SePay reconcile: %d transaction(s) the webhook had not brought, %d already known",
                 out["taken"], out["duplicates"])
    bridge.db.kv_set(LAST_KEY, json.dumps(out))
    return out


def _for_the_shop(tx: BankTransaction, accounts: tuple[tuple[str, str], ...]) -> bool:
    """Paid to a receiving account (or its virtual account); with none configured, every one is
    handed over and the core says what it makes of it."""
    if not accounts:
        return True
    return any(name_account(paid_to, bank, accounts).configured for paid_to in (tx.account, tx.virtual_account)
               if paid_to for bank in {b for b, _ in accounts})


def _refuse(bridge: Any, client: SepayClient, item: Any, reason: str) -> None:
    """A listed transaction we cannot read is skipped, not retried forever, and recorded with the
    webhook refusals so the owner sees it (the webhook would have refused it the same way)."""
    log.warning("SePay reconcile: transaction %s not taken: %s", _id_of(item), reason)
    body = json.dumps(item, ensure_ascii=False).encode()
    record_rejection(bridge.db, "/userapi/transactions/list (SePay reconcile)", 400, reason,
                     urlsplit(client.url).hostname, {}, body)

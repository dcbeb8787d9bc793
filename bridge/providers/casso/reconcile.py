"""Catch up with Casso when a webhook did not reach us (we were down, Casso gave up, a refusal
while a key was being changed).

Each pass (the `casso_reconcile` job, when CASSO_API_KEY is set):
1. asks Casso to sync each receiving account with its bank now (`POST /sync`, body
   `{"bank_acc_id": ...}`): Casso then pushes what it finds to the webhook as usual;
2. pages through `GET /transactions?fromDate=...&page=...&pageSize=...&sort=ASC` and feeds every
   transaction through Bridge.accept like a webhook's: the inbox keeps one row per Casso id, so
   a transaction the webhook already brought is a duplicate and decides nothing twice.

The mark (kv `casso.reconcile_from`, the bank day of the newest transaction stored) moves only
after a page is stored; a pass reads from one day before it, since a bank may post a transfer
under an earlier day than the one already read. A 429 stops the pass and no request is made
before its Retry-After (kv `casso.not_before`, by Bridge.clock). What a pass did is in kv
`casso.reconcile_last` (JSON). The job never raises into the scheduler.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import requests

from ...events import BankTransaction
from ..base import Refused
from .transactions import BANK_TZ, TIME, to_event

log = logging.getLogger(__name__)

FROM_KEY, LAST_KEY, NOT_BEFORE_KEY = "casso.reconcile_from", "casso.reconcile_last", "casso.not_before"
PAGE_SIZE = 100
MAX_PAGES = 100            # 10,000 transactions in one pass: the rest is read by the next one
OVERLAP = timedelta(days=1)
DEFAULT_RETRY_AFTER = 60.0
MAX_SKIPPED_KEPT = 20      # unreadable records named in the summary (each is logged)


class RateLimited(Exception):
    def __init__(self, wait: float):
        super().__init__(f"Casso answered 429 (too many requests): next request in {int(wait)} s")
        self.wait = wait


class Trouble(Exception):
    """Casso's answer cannot be used; the message says why (shown in the pass's summary)."""


@dataclass
class Summary:
    at: float = 0.0
    from_date: str = ""
    synced: list[str] = field(default_factory=list)        # accounts Casso was asked to sync
    sync_errors: list[str] = field(default_factory=list)   # accounts Casso would not sync, and why
    fetched: int = 0                                       # transactions read from the list
    new: int = 0                                           # of which not seen before (stored now)
    skipped: list[str] = field(default_factory=list)       # records that are not a transaction we can read
    error: str = ""


class CassoApi:
    """The two calls we make, with the API key in the Authorization header (never in a URL)."""

    def __init__(self, settings: Any):
        self.base = settings.casso_api_url.rstrip("/")
        self.timeout = (5.0, settings.casso_timeout)
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Apikey {settings.casso_api_key}",
                                     "Content-Type": "application/json", "Accept": "application/json"})

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            r = self.session.request(method, self.base + path, timeout=self.timeout, **kw)
        except requests.Timeout:
            raise Trouble(f"Casso did not answer {path} within {self.timeout[1]:g} s (CASSO_TIMEOUT)") from None
        except requests.RequestException as exc:
            raise Trouble(f"cannot reach Casso ({path}): {exc}") from None
        if r.status_code == 429:
            raise RateLimited(_retry_after(r.headers.get("Retry-After")))
        try:
            body = r.json()
        except ValueError:
            body = None
        message = body.get("message", "") if isinstance(body, dict) else r.text[:200]
        if r.status_code != 200:
            hint = " (check CASSO_API_KEY)" if r.status_code in (401, 403) else ""
            raise Trouble(f"Casso {path}: HTTP {r.status_code} {message}{hint}".strip())
        if not isinstance(body, dict) or body.get("error") != 0:
            raise Trouble(f"Casso {path}: error {body.get('error') if isinstance(body, dict) else '?'} {message}")
        return body.get("data")

    def sync(self, account: str) -> None:
        self._call("POST", "/sync", json={"bank_acc_id": account})

    def transactions(self, from_date: str, page: int) -> dict[str, Any]:
        data = self._call("GET", "/transactions", params={"fromDate": from_date, "page": page,
                                                          "pageSize": PAGE_SIZE, "sort": "ASC"})
        if not isinstance(data, dict) or not isinstance(data.get("records"), list):
            raise Trouble(f"Casso /transactions page {page}: no data.records list in the answer")
        return data


def _retry_after(value: str | None) -> float:
    try:
        return min(3600.0, max(1.0, float(value))) if value else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER


def _day(record: Any) -> str:
    """The bank day of a record (`when`: "2021-04-15" or "2021-04-15T09:00:00"), or ""."""
    if not isinstance(record, dict):
        return ""
    text = next((str(record[n]) for n in TIME if isinstance(record.get(n), str) and record[n]), "")
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        return ""


def run(bridge: Any) -> Summary:
    """One pass; what it did (or why it stopped) is returned and kept in kv `casso.reconcile_last`."""
    s = bridge.settings
    now = bridge.clock()
    summary = Summary(at=now)
    not_before = float(bridge.db.kv_get(NOT_BEFORE_KEY) or 0)
    if now < not_before:
        summary.error = f"waiting {int(not_before - now)} s more after Casso's 429"
        return _finish(bridge, summary)
    api = CassoApi(s)
    try:
        for _, account in s.receiving_accounts:
            try:
                api.sync(account)
                summary.synced.append(account)
            except Trouble as exc:   # one account Casso does not read must not stop the catch-up
                summary.sync_errors.append(f"{account}: {exc}")
        _catch_up(bridge, api, summary, now)
    except RateLimited as exc:
        bridge.db.kv_set(NOT_BEFORE_KEY, str(now + exc.wait))
        summary.error = str(exc)
    except Trouble as exc:
        summary.error = str(exc)
    except Exception as exc:   # a bug or a locked database: recorded, and the next pass tries again
        log.exception("Casso reconcile failed")
        summary.error = f"{type(exc).__name__}: {exc}"
    return _finish(bridge, summary)


def _catch_up(bridge: Any, api: CassoApi, summary: Summary, now: float) -> None:
    today = datetime.fromtimestamp(now, BANK_TZ).date().isoformat()
    mark = bridge.db.kv_get(FROM_KEY) or today
    summary.from_date = (date.fromisoformat(mark) - OVERLAP).isoformat()
    for page in range(1, MAX_PAGES + 1):
        data = api.transactions(summary.from_date, page)
        records = data["records"]
        for i, record in enumerate(records):
            summary.fetched += 1
            try:
                event = to_event(record, f"records[{i}] of page {page}")
            except Refused as exc:
                log.warning("Casso reconcile: %s", exc.reason)
                if len(summary.skipped) < MAX_SKIPPED_KEPT:
                    summary.skipped.append(exc.reason)
                continue
            if isinstance(event, BankTransaction):
                summary.new += not bridge.accept(event)["duplicate"]
            mark = max(mark, min(_day(record) or mark, today))   # a day in the future is no mark
        bridge.db.kv_set(FROM_KEY, mark)     # this page is stored: the mark may pass it
        last = data.get("totalPages")
        if not records or (isinstance(last, int) and page >= last):
            return
    log.warning("Casso reconcile read %d pages; the next pass goes on from %s", MAX_PAGES, mark)


def _finish(bridge: Any, summary: Summary) -> Summary:
    bridge.db.kv_set(LAST_KEY, json.dumps(asdict(summary), ensure_ascii=False))
    if summary.error:
        log.warning("Casso reconcile: %s", summary.error)
    elif summary.new:
        log.info("Casso reconcile: %d new transaction(s) of %d read", summary.new, summary.fetched)
    return summary

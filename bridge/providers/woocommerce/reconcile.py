"""Catch up with WooCommerce when webhooks did not reach us.

WooCommerce never retries a webhook, disables it after repeated failed deliveries, and
delivers nothing while we are down (PROTOCOLS §1). The reconcile job asks the REST API for every
order modified since the last change we saw and feeds each through the same shop events as a
webhook: shop_events keeps per order the last `date_modified_gmt` and the last status notified,
so a status is notified exactly once whether the webhook, the reconcile or both bring it. The
same pass re-activates our webhooks that WooCommerce disabled (and tells the owner), and flags
bank-transfer orders left unpaid too long.

What a pass found is kept in kv `reconcile.last` (JSON, shown on the admin Settings page), the
high-water mark in `reconcile.since`, the unpaid orders in `reconcile.stale`. A failure (shop
down, bad answer, a bug) is recorded there and the next pass tries again: the job never raises
into the scheduler.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from ... import alerts
from . import ownership as woo_webhooks
from ...store.db import Database
from ...store import customers as stored_customers, orders as stored_orders
from .client import WooAnswer, WooClient
from .connection import effective
from .webhook import delivery

log = logging.getLogger(__name__)

SINCE_KEY, LAST_KEY, STALE_KEY = "reconcile.since", "reconcile.last", "reconcile.stale"
CUSTOMERS_KEY = "reconcile.customers_since_id"   # the highest customer id seen
# Re-read a little before the mark: two changes in one second, or written a moment apart.
OVERLAP = timedelta(minutes=2)
# A shop clock far ahead must not push the mark past changes still to come.
MAX_AHEAD = timedelta(minutes=10)
MAX_PASSES = 3       # orders changing while we page through them: read the range again
STALE_ALERT_ONE_BY_ONE = 3   # more new stale orders than this in one pass: one SMS listing them
ISO = "%Y-%m-%dT%H:%M:%S"

Progress = Callable[[int, int], None]   # (orders read, orders in the range as WooCommerce counts them)


@dataclass
class Summary:
    """One pass, as stored in `reconcile.last` and printed by the CLI."""
    kind: str = "reconcile"          # "import" (import-orders), "first" (nothing known yet: taken in quietly)
    at: str = ""
    finished_at: str = ""
    since: str = ""
    fetched: int = 0                 # orders read from WooCommerce (again when a range was re-read)
    processed: int = 0               # new order versions taken in by shop_events
    notified: int = 0                # messages queued from them
    failed: int = 0                  # orders shop_events could not use (recorded as deliveries in error)
    passes: int = 0
    webhooks_reactivated: list[int] = field(default_factory=list)   # disabled/foreign webhooks replaced
    webhooks: list[str] = field(default_factory=list)               # what the webhook check found, readable
    customers_fetched: int = 0       # customers registered since the last one seen
    customers_taken: int = 0         # of which taken in by shop_events now
    stale_pending: list[str] = field(default_factory=list)   # order numbers unpaid too long
    stale_new: list[str] = field(default_factory=list)       # of which flagged (and alerted) by this pass
    error: str = ""


def _gmt(ts: str) -> datetime:
    return datetime.fromisoformat(ts[:19]).replace(tzinfo=timezone.utc)


def start_mark(bridge: Any, since: str | None) -> str:
    """Where a pass starts: `since` when given, else the stored mark less OVERLAP; the first time,
    the newest order already known (or a day back)."""
    if since:
        return since
    stored = bridge.db.kv_get(SINCE_KEY)
    if stored:
        return (_gmt(stored) - OVERLAP).strftime(ISO)
    newest = stored_orders.newest_modified(bridge.db)
    base = _gmt(newest) - OVERLAP if newest else datetime.now(timezone.utc) - timedelta(days=1)
    return base.strftime(ISO)


def scheduled(bridge: Any) -> Summary | None:
    """The periodic pass; nothing while no shop is configured or connected, so a shop connected
    from the admin is reconciled from the next tick on, without a restart."""
    if not effective(bridge.settings).woo_configured:
        return None
    return run(bridge)


def run(bridge: Any, since: str | None = None, notify: bool = True, progress: Progress | None = None) -> Summary:
    """One pass; never raises for WooCommerce's or the data's sake (the error is in the summary).

    `since` (GMT, `YYYY-MM-DDTHH:MM:SS`) reads from that point instead of the stored mark and
    skips the webhook and stale checks (import-orders); `notify=False` records the orders as
    known without messaging anyone (old orders)."""
    summary = Summary(kind="reconcile" if since is None else "import", at=_utc_now())
    s = effective(bridge.settings)
    if not s.woo_configured:
        summary.error = "WooCommerce REST is not configured (WOO_URL, WOO_CONSUMER_KEY, WOO_CONSUMER_SECRET)"
        return _finish(bridge, summary)
    try:
        woo = WooClient(s)
        known = bridge.db.kv_get(SINCE_KEY) or stored_orders.any_known(bridge.db)
        if since is None and not known:
            # A new installation: the shop's past is not news. Take it in quietly (import-orders
            # reaches further back); from here on every change is told.
            summary.kind, notify = "first", False
        summary.since = start_mark(bridge, since)
        # Webhooks acknowledged and not decided yet are decided first: read after them, an
        # order's status taken in quietly here would silence the message its webhook brings.
        bridge.decide_pending()
        _orders(bridge, woo, summary, notify, progress)
        if since is None:
            _customers(bridge, woo, summary, notify)
            _webhooks(bridge, woo, summary)
            _stale(bridge, summary)
    except Exception as exc:   # a bug or a locked database: recorded, and the next pass tries again
        log.exception("reconcile failed")
        summary.error = summary.error or f"{type(exc).__name__}: {exc}"
    return _finish(bridge, summary)


def _orders(bridge: Any, woo: WooClient, summary: Summary, notify: bool, progress: Progress | None) -> None:
    """Read the range until one pass saw it whole, then move the mark to the newest change read."""
    newest = ""
    for _ in range(MAX_PASSES):
        summary.passes += 1
        complete, newest_here = _one_pass(bridge, woo, summary, notify, progress)
        newest = max(newest, newest_here)
        if summary.error or complete:
            break
        log.info("orders changed while reconcile paged through them; reading from %s again", summary.since)
    if not summary.error:
        # Nothing changed: the start stays the mark (the first pass of an empty shop sets one).
        cap = (datetime.now(timezone.utc) + MAX_AHEAD).strftime(ISO)
        bridge.db.kv_set(SINCE_KEY, max(bridge.db.kv_get(SINCE_KEY) or summary.since, min(newest, cap)))
    if summary.notified:
        bridge.wake_worker()


def _one_pass(bridge: Any, woo: WooClient, summary: Summary, notify: bool,
              progress: Progress | None) -> tuple[bool, str]:
    """Page through `modified_after=since`, oldest first. Paging is by offset, so an order changed
    meanwhile moves to the end and shifts the rest, and one could slip between two pages: when an
    order comes twice or the count moves, the pass says it was not complete."""
    seen: set[Any] = set()
    moved, first_total, last_total = False, None, None
    newest, page, pages = "", 1, 1
    while page <= pages:
        answer = woo.list_orders(summary.since, page)
        if not answer.ok or not isinstance(answer.data, list):
            summary.error = f"orders page {page}: {_problem(answer, 'a list of orders')}"
            return False, newest
        pages, last_total = answer.pages, answer.total
        if page == 1:
            first_total = answer.total
        moved = moved or answer.total != first_total
        for order in answer.data:
            summary.fetched += 1
            oid = order.get("id") if isinstance(order, dict) else None
            moved = moved or oid in seen       # came twice: an order before it changed and moved
            seen.add(oid)
            newest = max(newest, _take(bridge, summary, order, notify))
        if progress:
            progress(len(seen), max(len(seen), last_total or 0))
        page += 1
    moved = moved or (last_total is not None and len(seen) < last_total)
    return not moved, newest


def _take(bridge: Any, summary: Summary, order: Any, notify: bool) -> str:
    """One order through the shop events, as an `order.updated` delivery whose id names the
    version (id, modified, status): reading it again is a duplicate, not a second decision."""
    if not isinstance(order, dict):
        summary.failed += 1
        return ""
    modified = str(order.get("date_modified_gmt") or "")
    stored = _as_delivery(bridge, "order.updated", f"reconcile:{order.get('id')}:{modified}:{order.get('status')}",
                          order, notify)
    if not stored.duplicate:
        if stored.state == "processed":
            summary.processed += 1
            summary.notified += stored.messages
        elif stored.state == "error":
            summary.failed += 1
    return modified[:19]


def _as_delivery(bridge: Any, topic: str, delivery_id: str, resource: dict[str, Any], notify: bool) -> Any:
    """A resource read from REST, through the shop events as if WooCommerce had delivered it
    under `topic` (webhook id "reconcile"); the same version read again is an exact replay."""
    resource_type, _, event = topic.partition(".")
    headers = {"X-WC-Webhook-Topic": topic, "X-WC-Webhook-Resource": resource_type, "X-WC-Webhook-Event": event,
               "X-WC-Webhook-ID": "reconcile", "X-WC-Webhook-Delivery-ID": delivery_id,
               "X-WC-Webhook-Source": effective(bridge.settings).woo_url.rstrip("/") + "/"}
    raw = json.dumps(resource, ensure_ascii=False).encode()
    return bridge.shop_events.accept(delivery(headers, raw, resource), notify=notify)


def _problem(answer: WooAnswer, expected: str) -> str:
    return answer.detail if not answer.ok else f"WooCommerce answered HTTP {answer.status} without {expected}"


def _webhooks(bridge: Any, woo: WooClient, summary: Summary) -> None:
    """Repair our webhooks the way `connect` builds them: a disabled one (WooCommerce gives up
    after repeated failed deliveries and never tries again) is replaced by a new one, since
    re-activating keeps its failure count above the limit; the owner is told once per webhook."""
    report = woo_webhooks.ensure(woo, effective(bridge.settings), bridge.db, repair_only=True)
    summary.webhooks = report.lines()
    if report.error:
        summary.error = summary.error or f"webhooks: {report.error}"
    summary.webhooks_reactivated = list(report.deleted)
    if report.recreated:
        topics = ", ".join(report.recreated)
        alerts.alert_owner(bridge, "webhook", topics,
                           f"WooCommerce da tat webhook ({topics}) vi gui loi nhieu lan; da tao lai. "
                           "Kiem tra ket noi toi may chu woo-bridge.")


def _customers(bridge: Any, woo: WooClient, summary: Summary, notify: bool) -> None:
    """Customers registered while no webhook reached us, newest first down to the last one
    seen, through the shop events as `customer.created` (which welcomes each at most once). Only
    registrations within WELCOME_CATCH_UP_HOURS are welcomed: an old account is no news."""
    stored = bridge.db.kv_get(CUSTOMERS_KEY)
    mark = int(stored or 0)
    known_max = stored_customers.highest_id(bridge.db)
    first = stored is None   # never read before: one page sets the mark, however many customers there are
    cutoff = datetime.now(timezone.utc) - timedelta(hours=bridge.settings.welcome_catch_up_hours)
    newest, page, pages = mark, 1, 1
    found: list[dict[str, Any]] = []
    while page <= pages:
        answer = woo.list_customers(page)
        if not answer.ok or not isinstance(answer.data, list):
            summary.error = summary.error or f"customers page {page}: {_problem(answer, 'a list of customers')}"
            return
        pages = answer.pages
        older = False
        for cust in answer.data:
            cid = cust.get("id") if isinstance(cust, dict) else None
            if not isinstance(cid, int) or cid <= 0:
                continue
            if cid <= mark:
                older = True
                break
            newest = max(newest, cid)
            found.append(cust)
        if older or first:   # the first pass only sets the mark: the shop's past is not news
            break
        page += 1
    if not first:
        for cust in reversed(found):
            summary.customers_fetched += 1
            created = str(cust.get("date_created_gmt") or "")
            recent = bool(created) and _gmt(created) >= cutoff
            stored = _as_delivery(bridge, "customer.created", f"reconcile:customer:{cust['id']}", cust,
                                  notify and recent)
            if not stored.duplicate and stored.state == "processed":
                summary.customers_taken += 1
                summary.notified += stored.messages
    bridge.db.kv_set(CUSTOMERS_KEY, str(max(newest, known_max)))


def _stale(bridge: Any, summary: Summary) -> None:
    """Bank-transfer orders still unpaid STALE_PENDING_HOURS after they were placed: listed in
    kv `reconcile.stale` for the admin page, and each told to the owner once."""
    s = bridge.settings
    cutoff = datetime.now(timezone.utc) - timedelta(hours=s.stale_pending_hours)
    rows = stored_orders.unpaid_transfers(bridge.db)
    before = {o["id"]: o for o in stale_orders(bridge.db)}
    current = []
    for r in rows:
        created = _created(r)
        if created is None or created >= cutoff:
            continue
        flagged_at = before.get(r["id"], {}).get("flagged_at") or _utc_now()
        current.append({"id": r["id"], "number": r["number"], "customer": r["customer_name"],
                        "total_minor": r["total_minor"], "status": r["status"], "created_gmt": created.strftime(ISO),
                        "flagged_at": flagged_at})
    new = [o for o in current if o["id"] not in before]
    bridge.db.kv_set(STALE_KEY, json.dumps(current, ensure_ascii=False))
    summary.stale_pending = [o["number"] for o in current]
    summary.stale_new = [o["number"] for o in new]
    hours = f"{s.stale_pending_hours:g}"
    if len(new) > STALE_ALERT_ONE_BY_ONE:
        numbers = ", ".join(f"#{o['number']}" for o in new[:10])
        if len(new) > 10:
            numbers += f" va {len(new) - 10} don khac"
        alerts.alert_owner(bridge, "stale", f"batch:{new[0]['id']}-{new[-1]['id']}:{len(new)}",
                           f"{len(new)} don cho chuyen khoan qua {hours} gio: {numbers}. Xem trang quan tri.",
                           once=True)
        return
    for o in new:
        alerts.alert_owner(bridge, "stale", str(o["id"]),
                           f"don #{o['number']} ({o['customer']}) cho chuyen khoan qua {hours} gio."
                           " Lien he khach hoac huy don.", once=True)


def _created(row: Any) -> datetime | None:
    """When the order was placed (WooCommerce's date_created_gmt), else when we first saw it."""
    if row["created"]:
        try:
            return _gmt(str(row["created"]))
        except ValueError:
            pass
    return datetime.fromtimestamp(row["first_seen_at"], timezone.utc) if row["first_seen_at"] else None


def stale_orders(db: Database) -> list[dict[str, Any]]:
    """The bank-transfer orders the last reconcile found unpaid too long (for the admin page):
    id, number, customer, total_minor, status, created_gmt, flagged_at."""
    try:
        data = json.loads(db.kv_get(STALE_KEY) or "[]")
    except ValueError:
        return []
    return [o for o in data if isinstance(o, dict) and "id" in o] if isinstance(data, list) else []


def last_run(db: Database) -> dict[str, Any] | None:
    """The summary of the last pass (kv `reconcile.last`), or None before the first."""
    try:
        data = json.loads(db.kv_get(LAST_KEY) or "null")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _finish(bridge: Any, summary: Summary) -> Summary:
    summary.finished_at = _utc_now()
    bridge.db.kv_set(LAST_KEY, json.dumps(asdict(summary), ensure_ascii=False))
    if summary.error:
        log.warning("reconcile with WooCommerce: %s (tried again in the next pass)", summary.error)
    else:
        log.info("reconcile: %d orders read since %s, %d taken in, %d messages, %d webhooks re-activated,"
                 " %d stale", summary.fetched, summary.since, summary.processed, summary.notified,
                 len(summary.webhooks_reactivated), len(summary.stale_pending))
    return summary

"""Catch up with WooCommerce when webhooks did not reach us.

WooCommerce gives up on a webhook after repeated failed deliveries (it disables it), and nothing
is delivered while we are down. The reconcile job asks the REST API for every order modified
since the last change we saw and feeds each through the same intake as a webhook, so a status
is still notified exactly once whichever way it arrives. It also re-activates our disabled
webhooks (and tells the owner), and flags bank-transfer orders left unpaid too long.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from . import alerts
from .db import now
from .woo import WooClient

log = logging.getLogger(__name__)

SINCE_KEY, LAST_KEY = "reconcile.since", "reconcile.last"
OVERLAP = timedelta(minutes=2)   # re-read the edge: two changes in one second, clocks a little apart


@dataclass
class Summary:
    at: str = ""
    since: str = ""
    fetched: int = 0
    processed: int = 0              # orders taken in (not already seen in this version)
    notified: int = 0               # messages queued from what reconcile found
    webhooks_reactivated: list[int] = field(default_factory=list)
    stale_pending: list[str] = field(default_factory=list)
    error: str = ""


def _gmt(ts: str) -> datetime:
    return datetime.fromisoformat(ts[:19]).replace(tzinfo=timezone.utc)


def start_mark(bridge: Any, since: str | None) -> str:
    if since:
        return since
    stored = bridge.db.kv_get(SINCE_KEY)
    if stored:
        return (_gmt(stored) - OVERLAP).strftime("%Y-%m-%dT%H:%M:%S")
    newest = bridge.db.scalar("SELECT MAX(date_modified_gmt) FROM orders")
    base = _gmt(newest) - OVERLAP if newest else datetime.now(timezone.utc) - timedelta(days=1)
    return base.strftime("%Y-%m-%dT%H:%M:%S")


def run(bridge: Any, since: str | None = None, notify: bool = True,
        progress: Callable[[int, int], None] | None = None) -> Summary:
    """One pass. `since` (GMT ISO) overrides the stored mark (import-orders); `notify=False`
    records orders without telling anyone (old orders)."""
    s = bridge.settings
    summary = Summary(at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    if not s.woo_configured:
        summary.error = "WooCommerce REST is not configured (WOO_URL, WOO_CONSUMER_KEY, WOO_CONSUMER_SECRET)"
        return _finish(bridge, summary)
    woo = WooClient(s)
    summary.since = start_mark(bridge, since)
    newest = bridge.db.kv_get(SINCE_KEY) or ""
    page, pages = 1, 1
    while page <= pages:
        answer, pages = woo.list_orders(summary.since, page)
        if not answer.ok:
            summary.error = f"orders page {page}: {answer.detail}"
            break
        for order in answer.data or []:
            summary.fetched += 1
            modified = str(order.get("date_modified_gmt") or "")
            body = json.dumps(order, ensure_ascii=False).encode()
            headers = {"X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Resource": "order",
                       "X-WC-Webhook-Delivery-ID": f"reconcile:{order.get('id')}:{modified}:{order.get('status')}",
                       "X-WC-Webhook-Source": s.woo_url.rstrip("/") + "/"}
            stored = bridge.intake.accept(headers, body, order, notify=notify)
            if not stored.duplicate and stored.state == "processed":
                summary.processed += 1
                summary.notified += stored.messages
            newest = max(newest, modified)
        if progress:
            progress(page, pages)
        page += 1
    if newest and not summary.error:
        bridge.db.kv_set(SINCE_KEY, newest)
    if summary.notified:
        bridge.wake_worker()
    if since is None:
        _webhooks(bridge, woo, summary)
        _stale(bridge, summary)
    return _finish(bridge, summary)


def _webhooks(bridge: Any, woo: WooClient, summary: Summary) -> None:
    ours = bridge.settings.public_url.rstrip("/") + "/webhooks/woocommerce"
    answer, _ = woo.list_webhooks()
    if not answer.ok:
        summary.error = summary.error or f"webhooks: {answer.detail}"
        return
    for w in answer.data or []:
        if w.get("status") == "disabled" and str(w.get("delivery_url", "")).startswith(ours):
            done = woo.activate_webhook(int(w["id"]))
            if done.ok:
                summary.webhooks_reactivated.append(int(w["id"]))
                alerts.alert_owner(bridge, "webhook", str(w["id"]),
                                   f"WooCommerce da tat webhook #{w['id']} ({w.get('topic')}) vi loi gui; da bat lai. "
                                   "Kiem tra ket noi toi may chu woo-bridge.")
            else:
                summary.error = summary.error or f"webhook {w['id']}: {done.detail}"


def _stale(bridge: Any, summary: Summary) -> None:
    s = bridge.settings
    cutoff = now() - s.stale_pending_hours * 3600
    rows = bridge.db.query(
        "SELECT id, number, total_minor, customer_name FROM orders WHERE status IN ('pending', 'on-hold')"
        " AND payment_method='bacs' AND paid_at IS NULL AND deleted=0 AND first_seen_at < ? ORDER BY id", (cutoff,))
    for r in rows:
        summary.stale_pending.append(r["number"])
        alerts.alert_owner(bridge, "stale", str(r["id"]),
                           f"don #{r['number']} ({r['customer_name']}) cho chuyen khoan qua {s.stale_pending_hours:g}"
                           " gio. Lien he khach hoac huy don.", once=True)


def _finish(bridge: Any, summary: Summary) -> Summary:
    bridge.db.kv_set(LAST_KEY, json.dumps(asdict(summary), ensure_ascii=False))
    if summary.error:
        log.warning("reconcile with WooCommerce: %s", summary.error)
    else:
        log.info("reconcile: %d orders fetched since %s, %d messages, %d webhooks re-activated, %d stale",
                 summary.fetched, summary.since, summary.notified, len(summary.webhooks_reactivated),
                 len(summary.stale_pending))
    return summary

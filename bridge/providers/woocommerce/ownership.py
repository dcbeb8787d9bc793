"""Our webhooks in the shop: created, checked and repaired through the REST API.

`connect` (CLI and the admin's Settings) makes the shop deliver every topic the bridge needs to
`PUBLIC_URL/webhooks/woocommerce` signed with our secret; running it again changes nothing. The
reconcile job uses the same code to repair what WooCommerce broke.

Facts of WooCommerce 9.x this is built on (tested against the real shop in tests/woolab):
- a webhook is disabled after more than 5 consecutive failed deliveries, and `failure_count` is
  neither shown nor reset by REST: `PUT {"status": "active"}` leaves it at 6, so the next single
  failure disables it again. A disabled webhook is therefore deleted and created anew (count 0);
- neither the secret nor the API version is readable through REST v3, so a webhook is trusted
  only when we created it (our name prefix; REST v3 creates `wp_api_v3` webhooks) and its secret
  is the one we last set (a hash of it is kept in kv); anything else delivering to us is replaced;
- webhooks cannot be trashed, only deleted with `force=true`.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ...store.db import Database
from .client import WooClient

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/woocommerce"
NAME_PREFIX = "woo-bridge: "
# Every topic the bridge decides from. customer.updated keeps phones current for password-reset
# notices; the action topic is WooCommerce's "a password reset was asked" hook.
TOPICS = ("order.created", "order.updated", "order.deleted", "order.restored", "customer.created",
          "customer.updated", "action.woocommerce_reset_password_notification")
KV_IDS = "woo.webhooks"                 # {topic: webhook id} as last ensured, for the admin page
KV_SECRET = "woo.webhook_secret.{id}"   # sha256 of the secret we last set on that webhook
DELIVERABLE_PORTS = (80, 443, 8080)


@dataclass
class WebhookReport:
    """What one pass did, in the order it did it."""
    created: list[str] = field(default_factory=list)      # topics
    recreated: list[str] = field(default_factory=list)    # topics whose disabled webhook was replaced
    replaced: list[str] = field(default_factory=list)     # topics whose foreign webhook became ours
    fixed: list[str] = field(default_factory=list)        # "order.updated: delivery URL" etc.
    deleted: list[int] = field(default_factory=list)      # duplicates and replaced webhooks
    healthy: list[str] = field(default_factory=list)      # topics left as they were
    paused: list[str] = field(default_factory=list)       # left paused (reconcile respects the owner's pause)
    warnings: list[str] = field(default_factory=list)
    error: str = ""
    transient: bool = False   # the error was the shop unreachable or failing (5xx): worth another try

    @property
    def changed(self) -> bool:
        return bool(self.created or self.recreated or self.replaced or self.fixed or self.deleted)

    def lines(self) -> list[str]:
        out = []
        for label, items in (("created", self.created), ("re-created (was disabled)", self.recreated),
                             ("replaced by ours", self.replaced), ("fixed", self.fixed),
                             ("deleted", [str(i) for i in self.deleted]), ("already right", self.healthy),
                             ("left paused", self.paused)):
            if items:
                out.append(f"{label}: {', '.join(items)}")
        out += [f"warning: {w}" for w in self.warnings]
        if self.error:
            out.append(f"error: {self.error}")
        return out


def delivery_url(settings: Any) -> str:
    return settings.public_url.rstrip("/") + WEBHOOK_PATH


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _same_url(a: str, b: str) -> bool:
    return str(a or "").strip().rstrip("/").lower() == str(b or "").strip().rstrip("/").lower()


def ours(settings: Any, hook: dict[str, Any]) -> bool:
    """Created by the bridge (our name), or delivering under PUBLIC_URL."""
    base = settings.public_url.rstrip("/").lower()
    url = str(hook.get("delivery_url") or "").strip().lower()
    return str(hook.get("name") or "").startswith(NAME_PREFIX) or url == base or url.startswith(base + "/")


def port_warning(settings: Any) -> str:
    """WordPress delivers only to ports 80, 443 and 8080 (or the shop's own host and port)."""
    parts = urlsplit(settings.public_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    shop = urlsplit(settings.woo_url or "")
    if port in DELIVERABLE_PORTS or (parts.hostname == shop.hostname and port == (shop.port or 80)):
        return ""
    return (f"PUBLIC_URL {settings.public_url} uses port {port}: WordPress delivers webhooks only to ports 80, 443 "
            "and 8080, so the shop will refuse to call it (put the bridge behind a proxy on 443)")


def _all_webhooks(woo: WooClient) -> list[dict[str, Any]]:
    hooks: list[dict[str, Any]] = []
    page, pages = 1, 1
    while page <= pages:
        answer = woo.list_webhooks(page)
        if not answer.ok or not isinstance(answer.data, list):
            raise WebhookError(answer.detail or f"WooCommerce answered HTTP {answer.status} without a list of webhooks",
                               answer.transient)
        hooks += [w for w in answer.data if isinstance(w, dict) and "id" in w]
        pages = answer.pages
        page += 1
    return hooks


class WebhookError(Exception):
    """WooCommerce refused or did not answer; the pass stops and says why."""

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.transient = transient


def ensure(woo: WooClient, settings: Any, db: Database, repair_only: bool = False) -> WebhookReport:
    """Make the shop deliver every topic in TOPICS to us, once each, active, with our secret.

    `repair_only` (the reconcile job) fixes what exists (disabled, wrong URL or secret, foreign)
    but creates no missing topic, deletes no duplicate and leaves a paused webhook paused: those
    are the owner's choices until they run `connect` themselves.
    """
    report = WebhookReport()
    url, secret = delivery_url(settings), settings.woo_webhook_secret
    warning = port_warning(settings)
    if warning:
        report.warnings.append(warning)
    try:
        hooks = [w for w in _all_webhooks(woo) if ours(settings, w)]
        ids: dict[str, int] = {}
        for topic in TOPICS:
            mine = [w for w in hooks if w.get("topic") == topic]
            keeper = _pick(mine, url)
            if keeper is None:
                if not repair_only:
                    ids[topic] = _create(woo, db, topic, url, secret)
                    report.created.append(topic)
                continue
            ids[topic] = _repair(woo, db, keeper, topic, url, secret, repair_only, report)
            if not repair_only:
                for extra in mine:
                    if extra is not keeper:
                        _delete(woo, int(extra["id"]))
                        report.deleted.append(int(extra["id"]))
        if not repair_only:   # ours, but for a topic the bridge does not use: deliveries nobody reads
            for extra in hooks:
                if extra.get("topic") not in TOPICS:
                    _delete(woo, int(extra["id"]))
                    report.deleted.append(int(extra["id"]))
        db.kv_set(KV_IDS, json.dumps(ids))
    except WebhookError as exc:
        report.error, report.transient = str(exc), exc.transient
    return report


def _pick(candidates: list[dict[str, Any]], url: str) -> dict[str, Any] | None:
    """The webhook to keep for a topic: ours by name, active, delivering to the right URL first."""
    if not candidates:
        return None
    return sorted(candidates, key=lambda w: (not str(w.get("name") or "").startswith(NAME_PREFIX),
                                             w.get("status") != "active", not _same_url(w.get("delivery_url"), url),
                                             int(w["id"])))[0]


def _repair(woo: WooClient, db: Database, hook: dict[str, Any], topic: str, url: str, secret: str,
            repair_only: bool, report: WebhookReport) -> int:
    wid = int(hook["id"])
    if not str(hook.get("name") or "").startswith(NAME_PREFIX):
        # Made by hand: its secret and API version cannot be read back, so it cannot be trusted.
        return _replace(woo, db, wid, topic, url, secret, report, report.replaced, "was not made by woo-bridge")
    if hook.get("status") == "disabled":
        # failure_count stays above 5 through a re-activation: only a new webhook starts from 0.
        return _replace(woo, db, wid, topic, url, secret, report, report.recreated, "was disabled by WooCommerce")
    changes: dict[str, Any] = {}
    if not _same_url(hook.get("delivery_url"), url):
        changes["delivery_url"] = url
    if db.kv_get(KV_SECRET.format(id=wid)) != _secret_hash(secret):
        changes["secret"] = secret
    if hook.get("status") == "paused":
        if repair_only:
            report.paused.append(topic)
        else:
            changes["status"] = "active"
    if changes:
        answer = woo.update_webhook(wid, changes)
        if not answer.ok:
            raise WebhookError(f"webhook {wid} ({topic}): {answer.detail}", answer.transient)
        if "secret" in changes:
            db.kv_set(KV_SECRET.format(id=wid), _secret_hash(secret))
        report.fixed.append(f"{topic}: {', '.join(k.replace('_', ' ') for k in changes)}")
    else:
        report.healthy.append(topic)
    return wid


def _replace(woo: WooClient, db: Database, wid: int, topic: str, url: str, secret: str, report: WebhookReport,
             listed_in: list[str], why: str) -> int:
    """A new webhook of ours for `topic` first (no gap in deliveries), then the old one goes."""
    new = _create(woo, db, topic, url, secret)
    _delete(woo, wid)
    listed_in.append(topic)
    report.deleted.append(wid)
    log.warning("webhook %s (%s) %s; replaced by webhook %s", wid, topic, why, new)
    return new


def _create(woo: WooClient, db: Database, topic: str, url: str, secret: str) -> int:
    answer = woo.create_webhook({"name": NAME_PREFIX + topic, "topic": topic, "delivery_url": url,
                                 "secret": secret, "status": "active"})
    if not answer.ok or not isinstance(answer.data, dict) or "id" not in answer.data:
        hint = " (the REST key needs Read/Write permission)" if answer.status in (401, 403) else ""
        raise WebhookError(f"creating the {topic} webhook: {answer.detail or answer.status}{hint}", answer.transient)
    wid = int(answer.data["id"])
    db.kv_set(KV_SECRET.format(id=wid), _secret_hash(secret))
    return wid


def _delete(woo: WooClient, wid: int) -> None:
    answer = woo.delete_webhook(wid)
    if not answer.ok and answer.status != 404:
        raise WebhookError(f"deleting webhook {wid}: {answer.detail}", answer.transient)


def ensured_ids(db: Database) -> dict[str, int]:
    """Our webhook per topic, as the last connect or reconcile left them."""
    try:
        data = json.loads(db.kv_get(KV_IDS) or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def endpoints(bridge: Any, translate: Any = None) -> list[tuple[str, str, str]]:
    """The banner's lines for the shop: where WooCommerce delivers, and our secret (printed only by
    the start that generated it: logs are kept for weeks). The Settings page (`translate` given)
    has its own WooCommerce section with both, so nothing is listed twice there."""
    if translate is not None:
        return []
    s = bridge.settings
    out = [("WooCommerce webhook URL", delivery_url(s), "")]
    origin = bridge.secret_origin.get("woo_webhook_secret")
    if origin == "generated":
        out.append(("WooCommerce secret", s.woo_webhook_secret,
                    "generated in the database; `python -m bridge connect` sets it on the shop's webhooks, or paste "
                    "it into WooCommerce > Settings > Advanced > Webhooks > Secret"))
    elif origin == "stored":
        out.append(("WooCommerce secret", "stored in the database (admin page > Settings shows it)", ""))
    return out

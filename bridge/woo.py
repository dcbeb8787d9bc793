"""The shop's WooCommerce REST API v3 through the official `woocommerce` client.

Over HTTPS it authenticates with Basic auth, over plain HTTP with OAuth 1.0a (the only way a
real shop accepts there). Answers are turned into our vocabulary: an order, "not found", or a
failure that is transient (retry later) or permanent (fix configuration).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from woocommerce import API

from .config import Settings


@dataclass(frozen=True)
class WooAnswer:
    ok: bool
    status: int
    data: Any = None
    transient: bool = False
    detail: str = ""
    pages: int = 1       # X-WP-TotalPages of a list answer
    total: int | None = None   # X-WP-Total of a list answer


class WooClient:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.api = API(url=settings.woo_url, consumer_key=settings.woo_consumer_key,
                       consumer_secret=settings.woo_consumer_secret, version="wc/v3", timeout=settings.woo_timeout)

    def _call(self, method: str, endpoint: str, data: Any = None, **kw: Any) -> WooAnswer:
        try:
            if method in ("post", "put"):
                r = getattr(self.api, method)(endpoint, data, **kw)
            else:
                r = getattr(self.api, method)(endpoint, **kw)
        except requests.Timeout as exc:
            return WooAnswer(False, 0, transient=True, detail=f"WooCommerce did not answer in time: {exc}")
        except requests.RequestException as exc:
            return WooAnswer(False, 0, transient=True, detail=f"cannot reach WooCommerce: {exc}")
        try:
            body = r.json()
        except ValueError:
            body = None
        if 200 <= r.status_code < 300:
            pages = _header_int(r, "X-WP-TotalPages")
            return WooAnswer(True, r.status_code, body, pages=1 if pages is None else pages,
                             total=_header_int(r, "X-WP-Total"))
        code = body.get("code", "") if isinstance(body, dict) else ""
        message = body.get("message", "") if isinstance(body, dict) else r.text[:200]
        transient = r.status_code >= 500 or r.status_code == 429
        return WooAnswer(False, r.status_code, body, transient,
                         f"WooCommerce HTTP {r.status_code} {code}: {message}".strip())

    def get_order(self, order_id: int) -> WooAnswer:
        return self._call("get", f"orders/{order_id}")

    def mark_paid(self, order_id: int, status: str, transaction_id: str | None) -> WooAnswer:
        body: dict[str, Any] = {"status": status, "set_paid": True}
        if transaction_id:
            body["transaction_id"] = transaction_id
        return self._call("put", f"orders/{order_id}", body)

    def notes(self, order_id: int) -> WooAnswer:
        return self._call("get", f"orders/{order_id}/notes")

    def add_note(self, order_id: int, note: str) -> WooAnswer:
        return self._call("post", f"orders/{order_id}/notes", {"note": note, "customer_note": False})

    def list_orders(self, modified_after: str, page: int, per_page: int = 100) -> WooAnswer:
        """One page of orders changed after `modified_after` (GMT), oldest change first; the page
        count and total are in `pages` and `total` (X-WP-TotalPages, X-WP-Total)."""
        return self._call("get", "orders", params={"modified_after": modified_after, "dates_are_gmt": "true",
                                                   "orderby": "modified", "order": "asc",
                                                   "per_page": str(per_page), "page": str(page)})

    def list_webhooks(self, page: int = 1) -> WooAnswer:
        """One page of the shop's webhooks, every status (reconcile looks for disabled ones of ours)."""
        return self._call("get", "webhooks", params={"status": "all", "per_page": "100", "page": str(page)})

    def activate_webhook(self, webhook_id: int) -> WooAnswer:
        """Turn a webhook WooCommerce disabled after failed deliveries back on."""
        return self._call("put", f"webhooks/{webhook_id}", {"status": "active"})


def _header_int(r: requests.Response, name: str) -> int | None:
    """A WordPress pagination header (X-WP-Total, X-WP-TotalPages); None when absent or garbled."""
    try:
        return int(r.headers[name])
    except (KeyError, ValueError):
        return None

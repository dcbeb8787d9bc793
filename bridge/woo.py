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
            try:
                pages = int(r.headers.get("X-WP-TotalPages", 1))
            except ValueError:
                pages = 1
            return WooAnswer(True, r.status_code, body, pages=pages)
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

    def list_orders(self, modified_after: str, page: int, per_page: int = 100) -> tuple[WooAnswer, int]:
        """One page of orders changed after `modified_after` (GMT, oldest first) and the page count."""
        return self._paged("orders", page, per_page, modified_after=modified_after, dates_are_gmt="true",
                           orderby="modified", order="asc")

    def list_webhooks(self, page: int = 1) -> tuple[WooAnswer, int]:
        return self._paged("webhooks", page, 100)

    def activate_webhook(self, webhook_id: int) -> WooAnswer:
        return self._call("put", f"webhooks/{webhook_id}", {"status": "active"})

    def _paged(self, endpoint: str, page: int, per_page: int, **params: str) -> tuple[WooAnswer, int]:
        answer = self._call("get", endpoint, params={**params, "per_page": str(per_page), "page": str(page)})
        return answer, answer.pages

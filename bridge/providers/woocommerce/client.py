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

from ...config import Settings


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

    def find_order_by_number(self, number: str) -> dict[str, Any] | None:
        """The order whose *number* is `number`, or None: the order with that id when its number
        agrees (plain shops, number == id), else a search, each answer checked against `number`.
        A shop whose plugin keeps the number where search cannot see it gives None (the payment
        then waits for a person)."""
        answer = self.get_order(int(number)) if number.isdigit() and len(number) < 19 else None
        if answer is not None and answer.ok and isinstance(answer.data, dict) \
                and str(answer.data.get("number")) == number:
            return answer.data
        found = self._call("get", "orders", params={"search": number, "per_page": "20"})
        if found.ok and isinstance(found.data, list):
            same = [o for o in found.data if isinstance(o, dict) and str(o.get("number")) == number]
            if len(same) == 1:
                return same[0]
        return None

    def mark_paid(self, order_id: int, status: str, transaction_id: str | None) -> WooAnswer:
        body: dict[str, Any] = {"status": status, "set_paid": True}
        if transaction_id:
            body["transaction_id"] = transaction_id
        return self._call("put", f"orders/{order_id}", body)

    def cancel(self, order_id: int) -> WooAnswer:
        """Status cancelled: WooCommerce itself gives the order's reduced stock back."""
        return self._call("put", f"orders/{order_id}", {"status": "cancelled"})

    def set_status(self, order_id: int, status: str) -> WooAnswer:
        """Any status the shop knows (a custom one too); to cancelled, WooCommerce gives stock back."""
        return self._call("put", f"orders/{order_id}", {"status": status})

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
        """One page of the shop's webhooks, every status (REST v3 shows neither secret nor failure count)."""
        return self._call("get", "webhooks", params={"status": "all", "per_page": "100", "page": str(page)})

    def create_webhook(self, spec: dict[str, Any]) -> WooAnswer:
        return self._call("post", "webhooks", spec)

    def update_webhook(self, webhook_id: int, changes: dict[str, Any]) -> WooAnswer:
        return self._call("put", f"webhooks/{webhook_id}", changes)

    def delete_webhook(self, webhook_id: int) -> WooAnswer:
        """WooCommerce refuses to trash webhooks (501): only a forced delete removes one."""
        return self._call("delete", f"webhooks/{webhook_id}", params={"force": "true"})

    def list_customers(self, page: int, per_page: int = 100) -> WooAnswer:
        """One page of customers, newest registration (highest id) first."""
        return self._call("get", "customers", params={"orderby": "id", "order": "desc", "per_page": str(per_page),
                                                      "page": str(page)})


def _header_int(r: requests.Response, name: str) -> int | None:
    """A WordPress pagination header (X-WP-Total, X-WP-TotalPages); None when absent or garbled."""
    try:
        return int(r.headers[name])
    except (KeyError, ValueError):
        return None

"""SePay's list-transactions API (v1, `GET /userapi/transactions/list`), as the reconcile job needs
it: one page of transactions from an id on, at SePay's pace.

Not SePay's API v2 (`userapi.sepay.vn/v2/transactions`): v2 names transactions by UUID, while the
webhook sends v1's numeric `id`, so only v1 lets a transaction found again be recognised as the
one the webhook already delivered.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import requests

PAGE = 5000                     # the documented maximum (and default) of `limit`
MIN_INTERVAL = 0.5              # SePay allows 2 requests a second (3 in its newer docs): stay under both
MAX_WAIT = 10.0                 # the longest Retry-After we wait through inside one pass
RETRY_AFTER_HEADERS = ("Retry-After", "x-sepay-userapi-retry-after")


class SepayApiError(Exception):
    """The API gave no usable page (unreachable, slow, refused, rate limited, not the documented
    shape); the message is for the owner and holds no credential."""


class SepayClient:
    def __init__(self, base_url: str, token: str, timeout: float,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic):
        self.url = base_url.rstrip("/") + "/userapi/transactions/list"
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        self.sleep = sleep
        self.clock = clock
        self._last = float("-inf")

    def _get(self, params: dict[str, Any]) -> requests.Response:
        wait = self._last + MIN_INTERVAL - self.clock()
        if wait > 0:
            self.sleep(wait)
        self._last = self.clock()
        try:
            return self.session.get(self.url, params=params, timeout=(5.0, self.timeout))
        except requests.Timeout:
            raise SepayApiError(f"SePay's API did not answer within {self.timeout:g} s (SEPAY_TIMEOUT)") from None
        except requests.RequestException as exc:
            raise SepayApiError(f"cannot reach SePay's API at {self.url}: {type(exc).__name__}") from None

    def transactions(self, since_id: int | None = None, date_min: str | None = None) -> list[Any]:
        """Transactions with an id of at least `since_id` (or booked on or after `date_min`,
        YYYY-MM-DD), as SePay lists them. A 429 is waited out once (its Retry-After, at most
        MAX_WAIT); a second one ends the attempt, and the caller tries again next pass."""
        params: dict[str, Any] = {"limit": PAGE}
        if since_id is not None:
            params["since_id"] = since_id
        if date_min:
            params["transaction_date_min"] = date_min
        r = self._get(params)
        if r.status_code == 429:
            self.sleep(retry_after(r))
            r = self._get(params)
        if r.status_code == 429:
            raise SepayApiError("SePay's API is rate limiting us (HTTP 429)")
        if r.status_code in (401, 403):
            raise SepayApiError(f"SePay's API refused SEPAY_API_TOKEN (HTTP {r.status_code}): make a new token at "
                                "my.sepay.vn → Company settings → API Access")
        if r.status_code != 200:
            raise SepayApiError(f"SePay's API answered HTTP {r.status_code}")
        try:
            data = r.json()
        except ValueError:
            raise SepayApiError("SePay's API answered something that is not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("transactions"), list):
            raise SepayApiError("SePay's API answer has no 'transactions' list")
        if data.get("error"):
            raise SepayApiError(f"SePay's API says: {str(data['error'])[:200]}")
        return data["transactions"]


def retry_after(r: requests.Response) -> float:
    """Seconds SePay asks us to wait (1 when it does not say), at most MAX_WAIT."""
    for name in RETRY_AFTER_HEADERS:
        try:
            return min(MAX_WAIT, max(0.0, float(r.headers[name])))
        except (KeyError, ValueError):
            continue
    return 1.0

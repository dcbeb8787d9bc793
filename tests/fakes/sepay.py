"""A fake SePay on 127.0.0.1, speaking what PAYMENT_SOURCES.md §1 and SePay's API pages document.

It keeps the shop's bank transactions (ids counting up, like SePay's) and
- pushes each to a webhook URL as SePay does: one JSON object per POST, with `Authorization: Apikey
  <key>` or signed (`X-SePay-Timestamp`, `X-SePay-Signature: sha256=<hex HMAC-SHA256(secret,
  "{timestamp}.{raw body}")>`), a delivery failing on any non-2xx answer or no answer and retried
  on SePay's schedule (+1, +1, +2, +3, +5, +8, +13 minutes: 8 attempts), the minutes passing when
  the test says (`retry()`), never in real time;
- serves `GET /userapi/transactions/list` (v1) with `Authorization: Bearer <token>`: ids and
  amounts as text, `since_id` (at least), `transaction_date_min` (a date), `limit` (at most
  5000, and at most `page_cap`), oldest first; it can answer 429 with a Retry-After, and be slow.

The signature is computed here independently of the bridge's code, so a change on either side
that breaks the other fails the tests.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from flask import Flask, jsonify, request

from .server import LoopbackServer

RETRY_MINUTES = (1, 1, 2, 3, 5, 8, 13)     # after the first attempt: 8 attempts over 33 minutes


@dataclass
class Delivery:
    """One transaction being pushed: the answers so far, and the minutes of SePay's schedule spent."""
    transaction: dict[str, Any]
    url: str
    api_key: str | None              # sent as `Authorization: Apikey …`
    secret: str | None               # signs the request (HMAC-SHA256)
    at: float | None                 # the timestamp it is signed with (None: the moment of each attempt)
    statuses: list[int | None] = field(default_factory=list)   # None: no answer (refused, timed out)
    answers: list[Any] = field(default_factory=list)
    minutes: int = 0

    @property
    def delivered(self) -> bool:
        return bool(self.statuses) and self.statuses[-1] is not None and 200 <= self.statuses[-1] < 300

    @property
    def failed(self) -> bool:
        """Given up: every attempt of the schedule failed (SePay marks it Failed and alerts)."""
        return not self.delivered and len(self.statuses) > len(RETRY_MINUTES)


class FakeSepay(LoopbackServer):
    def __init__(self, api_token: str = "test-sepay-api-token", account: str = "0181003749261",
                 gateway: str = "Vietcombank"):
        self.api_token = api_token
        self.account = account
        self.gateway = gateway
        self.transactions: list[dict[str, Any]] = []
        self.deliveries: list[Delivery] = []
        self.api_calls: list[dict[str, str]] = []
        self.page_cap = 5000
        self.rate_limited = 0          # answer the next N list calls with 429
        self.retry_after = "1"
        self.delay = 0.0               # seconds before the list API answers
        self.balance = 10_000_000
        self._next_id = 92704
        self._lock = threading.Lock()
        super().__init__()
        self.app = self._make_app()

    # -- the bank side ---------------------------------------------------------------------------
    def transaction(self, amount: int, content: str, direction: str = "in", code: str | None = None,
                    account: str | None = None, sub_account: str | None = None,
                    at: float | None = None) -> dict[str, Any]:
        """A transaction on the shop's account, as SePay's webhook body has it."""
        with self._lock:
            tid, self._next_id = self._next_id, self._next_id + 1 + len(self.transactions) % 3   # ids are not contiguous
            self.balance += amount if direction == "in" else -amount
            tx = {"id": tid, "gateway": self.gateway,
                  "transactionDate": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime((at or time.time()) + 7 * 3600)),
                  "accountNumber": account or self.account, "code": code, "content": content,
                  "transferType": direction, "transferAmount": amount, "accumulated": self.balance,
                  "subAccount": sub_account, "referenceCode": f"FT{tid:014d}", "description": ""}
            self.transactions.append(tx)
        return tx

    # -- the webhook -----------------------------------------------------------------------------
    def push(self, url: str, tx: dict[str, Any], api_key: str | None = None, secret: str | None = None,
             at: float | None = None) -> Delivery:
        """The first attempt of a delivery; `retry()` makes the next ones."""
        d = Delivery(tx, url, api_key, secret, at)
        self.deliveries.append(d)
        self._attempt(d)
        return d

    def retry(self) -> list[Delivery]:
        """SePay's next retry of every delivery not yet through (as if its minutes had passed)."""
        due = [d for d in self.deliveries if not d.delivered and not d.failed]
        for d in due:
            d.minutes += RETRY_MINUTES[len(d.statuses) - 1]
            self._attempt(d)
        return due

    def _attempt(self, d: Delivery) -> None:
        body = json.dumps(d.transaction, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        if d.api_key is not None:
            headers["Authorization"] = f"Apikey {d.api_key}"
        if d.secret is not None:
            ts = str(int(time.time() if d.at is None else d.at))
            mac = hmac.new(d.secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
            headers.update({"X-SePay-Timestamp": ts, "X-SePay-Signature": f"sha256={mac}"})
        try:
            r = requests.post(d.url, data=body, headers=headers, timeout=30)
        except requests.RequestException as exc:
            d.statuses.append(None)
            d.answers.append(type(exc).__name__)
            return
        d.statuses.append(r.status_code)
        try:
            d.answers.append(r.json())
        except ValueError:
            d.answers.append(r.text)

    # -- the list-transactions API ---------------------------------------------------------------
    @staticmethod
    def listed(tx: dict[str, Any]) -> dict[str, Any]:
        """A transaction as `GET /userapi/transactions/list` shows it."""
        amount = f"{tx['transferAmount']:.2f}"
        return {"id": str(tx["id"]), "bank_brand_name": tx["gateway"], "account_number": tx["accountNumber"],
                "transaction_date": tx["transactionDate"],
                "amount_out": amount if tx["transferType"] == "out" else "0.00",
                "amount_in": amount if tx["transferType"] == "in" else "0.00",
                "accumulated": f"{tx['accumulated']:.2f}", "transaction_content": tx["content"],
                "reference_number": tx["referenceCode"], "code": tx["code"], "sub_account": tx["subAccount"],
                "bank_account_id": "19"}

    def _make_app(self) -> Flask:
        app = Flask("fake-sepay")

        @app.get("/userapi/transactions/list")
        def list_transactions():
            self.api_calls.append(request.args.to_dict())
            if request.headers.get("Authorization") != f"Bearer {self.api_token}":
                return jsonify({"status": 401, "error": "unauthorized", "messages": {"success": False}}), 401
            if self.rate_limited:
                self.rate_limited -= 1
                r = jsonify({"status": 429, "error": "Too Many Requests", "messages": {"success": False}})
                r.headers["x-sepay-userapi-retry-after"] = self.retry_after
                return r, 429
            if self.delay:
                time.sleep(self.delay)
            since = int(request.args.get("since_id") or 0)
            day = request.args.get("transaction_date_min") or ""
            limit = min(int(request.args.get("limit") or 5000), 5000, self.page_cap)
            with self._lock:
                rows = [t for t in self.transactions if t["id"] >= since and t["transactionDate"][:10] >= day]
            rows = sorted(rows, key=lambda t: t["id"])[:limit]
            return jsonify({"status": 200, "error": None, "messages": {"success": True},
                            "transactions": [self.listed(t) for t in rows]})

        return app

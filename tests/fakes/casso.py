"""A fake Casso on 127.0.0.1 (PAYMENT_SOURCES.md §2, developer.casso.vn): the bank transactions it
has read, pushed to our webhook as Webhook v1 (`Secure-Token`, `data` a list) or V2 (signed
`X-Casso-Signature` exactly as Casso's official samples compute it, `data` one object), with
retries until a 2xx; and its API v2: `POST /v2/sync` (read the bank now, push what is new) and
`GET /v2/transactions` (paged, `fromDate`, `sort`), `Authorization: Apikey <key>`, with 429s and
slow answers on demand.

Transactions live in two places, as at Casso: `at_bank` (the bank booked it, Casso has not read
it yet: only a sync or time brings it) and `records` (Casso has it; the API lists it)."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import requests
from flask import Flask, Response, request

from .server import LoopbackServer

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def sort_by_key(data: dict[str, Any]) -> dict[str, Any]:
    """Casso's sample `sort_obj_data_by_key`: keys A -> Z, into nested objects."""
    return {k: sort_by_key(data[k]) if isinstance(data[k], dict) else data[k] for k in sorted(data)}


def as_javascript_numbers(value: Any) -> Any:
    """JSON.parse then JSON.stringify prints 2.0 as 2."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: as_javascript_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_javascript_numbers(v) for v in value]
    return value


def sign_v2(body: dict[str, Any], t: int, key: str, style: str = "js") -> str:
    """`v1` as Casso's samples compute it: HMAC-SHA512(key, t + "." + sorted compact JSON).
    style "js" is the JavaScript sample's JSON.stringify (letters kept, 2.0 printed 2), "python"
    the Python sample's json.dumps (non-ASCII escaped)."""
    data = sort_by_key(as_javascript_numbers(body) if style == "js" else body)
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=(style == "python"))
    return hmac.new(key.encode(), f"{t}.{text}".encode(), hashlib.sha512).hexdigest()


class FakeCasso(LoopbackServer):
    def __init__(self, api_key: str = "test-casso-api-key", secure_token: str = "test-casso-token",
                 webhook_key: str = "test-casso-key", account: str = "0071009998887", bank: str = "Vietcombank",
                 abbreviation: str = "VCB"):
        self.api_key, self.secure_token, self.webhook_key = api_key, secure_token, webhook_key
        self.account, self.bank, self.abbreviation = account, bank, abbreviation
        self.webhook_url = ""             # our /inbound/casso
        self.version = "v2"               # which integration pushes on a sync: "v1" or "v2"
        self.push_on_sync = True
        self.attempts = 3                 # a push is retried until a 2xx, this many times (UNCERTAIN at Casso)
        self.records: list[dict[str, Any]] = []
        self.at_bank: list[dict[str, Any]] = []
        self.balance = 10_000_000
        self.next_id = 5000
        self.api_log: list[dict[str, Any]] = []
        self.pushes: list[dict[str, Any]] = []
        self.retry_after = "30"
        self.slow_seconds = 2.0
        self._failures: list[str] = []
        self._lock = threading.RLock()
        super().__init__()
        self.app = self._make_app()

    @property
    def api_url(self) -> str:
        return self.url + "/v2"

    def fail_next(self, n: int, mode: str) -> None:
        """The next n API calls: "429" (with Retry-After), "slow" (answers after slow_seconds), "500"."""
        with self._lock:
            self._failures.extend([mode] * n)

    # -- transactions ---------------------------------------------------------------------
    def transaction(self, amount: int, description: str, at: datetime | None = None, account: str | None = None,
                    payer: str = "", payer_account: str = "", payer_bank: str = "") -> dict[str, Any]:
        """One transaction as Casso keeps it (its own id, the bank's reference, the balance after)."""
        with self._lock:
            self.next_id += 1
            self.balance += amount
            when = (at or datetime.now(VN)).astimezone(VN).replace(microsecond=0)
            return {"id": self.next_id, "reference": f"FT{when:%y%m%d}{self.next_id:08d}", "description": description,
                    "amount": amount, "balance": self.balance, "when": when, "account": account or self.account,
                    "payer": payer, "payer_account": payer_account, "payer_bank": payer_bank}

    def casso_reads(self, tx: dict[str, Any]) -> dict[str, Any]:
        """Casso has the transaction (listed by the API) without pushing it: a webhook we missed."""
        with self._lock:
            self.records.append(tx)
        return tx

    def bank_books(self, tx: dict[str, Any]) -> dict[str, Any]:
        """The bank has it; Casso reads it at the next sync."""
        with self._lock:
            self.at_bank.append(tx)
        return tx

    # -- the three shapes -------------------------------------------------------------------
    @staticmethod
    def v1_item(tx: dict[str, Any]) -> dict[str, Any]:
        return {"id": tx["id"], "tid": tx["reference"], "description": tx["description"], "amount": tx["amount"],
                "cusum_balance": tx["balance"], "when": tx["when"].strftime("%Y-%m-%d %H:%M:%S"),
                "bank_sub_acc_id": tx["account"], "subAccId": tx["account"]}

    def v2_data(self, tx: dict[str, Any]) -> dict[str, Any]:
        return {"id": tx["id"], "reference": tx["reference"], "description": tx["description"], "amount": tx["amount"],
                "runningBalance": tx["balance"], "transactionDateTime": tx["when"].strftime("%Y-%m-%d %H:%M:%S"),
                "accountNumber": tx["account"], "bankName": self.bank, "bankAbbreviation": self.abbreviation,
                "virtualAccountNumber": "", "virtualAccountName": "", "counterAccountName": tx["payer"],
                "counterAccountNumber": tx["payer_account"], "counterAccountBankId": "",
                "counterAccountBankName": tx["payer_bank"]}

    @staticmethod
    def api_record(tx: dict[str, Any]) -> dict[str, Any]:
        """As developer.casso.vn shows GET /v2/transactions records (`when` a day at 00:00:00)."""
        return {"id": tx["id"], "tid": tx["reference"], "description": tx["description"], "amount": tx["amount"],
                "cusum_balance": tx["balance"], "when": tx["when"].strftime("%Y-%m-%dT00:00:00"),
                "bankSubAccId": tx["account"], "paymentChannel": "", "virtualAccount": "", "virtualAccountName": "",
                "corresponsiveName": tx["payer"], "corresponsiveAccount": tx["payer_account"],
                "corresponsiveBankId": "", "corresponsiveBankName": tx["payer_bank"], "accountId": 733,
                "bankCodeName": "vietcombank"}

    # -- webhooks ---------------------------------------------------------------------------
    def _post(self, raw: bytes, headers: dict[str, str]) -> requests.Response:
        last = None
        for attempt in range(1, self.attempts + 1):
            last = requests.post(self.webhook_url, data=raw, headers={"Content-Type": "application/json",
                                                                       "User-Agent": "Casso-Webhook", **headers},
                                 timeout=10)
            with self._lock:
                self.pushes.append({"attempt": attempt, "status": last.status_code, "body": raw})
            if 200 <= last.status_code < 300:
                break
        return last

    def push_v1(self, txs: list[dict[str, Any]], token: str | None = None, error: int = 0,
                headers: dict[str, str] | None = None) -> requests.Response:
        body = {"error": error, "data": [self.v1_item(tx) for tx in txs]}
        sent = {"Secure-Token": self.secure_token if token is None else token} if headers is None else headers
        return self._post(json.dumps(body, ensure_ascii=False).encode(), sent)

    def push_v2(self, tx: dict[str, Any] | None = None, body: dict[str, Any] | None = None, key: str | None = None,
                t: int | None = None, style: str = "js", tamper: bool = False) -> requests.Response:
        """One V2 delivery, signed now (or at `t`, ms) as Casso's samples sign; `tamper` changes the
        body after signing. The body goes out as JSON.stringify sends it: in its own key order."""
        body = body if body is not None else {"error": 0, "data": self.v2_data(tx)}
        t = int(time.time() * 1000) if t is None else t
        v1 = sign_v2(body, t, self.webhook_key if key is None else key, style)
        if tamper:
            body = json.loads(json.dumps(body))
            body["data"]["amount"] += 1000
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return self._post(raw, {"X-Casso-Signature": f"t={t},v1={v1}"})

    # -- API v2 -----------------------------------------------------------------------------
    def _make_app(self) -> Flask:
        app = Flask("fake-casso")

        def answer(data: Any, status: int = 200, error: int = 0, message: str = "success") -> Response:
            return Response(json.dumps({"error": error, "message": message, "data": data}), status=status,
                            content_type="application/json")

        def gate() -> Response | None:
            with self._lock:
                mode = self._failures.pop(0) if self._failures else None
                self.api_log.append({"path": request.path, "args": request.args.to_dict(), "mode": mode,
                                     "authorization": request.headers.get("Authorization", "")})
            if request.headers.get("Authorization") != f"Apikey {self.api_key}":
                return answer(None, 401, 401, "Unauthorized Access")
            if mode == "429":
                r = answer(None, 429, 429, "Too many requests")
                r.headers["Retry-After"] = self.retry_after
                return r
            if mode == "500":
                return Response("internal error", status=500)
            if mode == "slow":
                time.sleep(self.slow_seconds)
            return None

        @app.post("/v2/sync")
        def sync():
            refused = gate()
            if refused is not None:
                return refused
            account = str((request.get_json(silent=True) or {}).get("bank_acc_id") or "")
            with self._lock:
                new = [tx for tx in self.at_bank if tx["account"] == account]
                self.at_bank = [tx for tx in self.at_bank if tx["account"] != account]
                self.records.extend(new)
            if new and self.push_on_sync and self.webhook_url:
                if self.version == "v1":
                    self.push_v1(new)
                else:
                    for tx in new:
                        self.push_v2(tx)
            return answer(None)

        @app.get("/v2/transactions")
        def transactions():
            refused = gate()
            if refused is not None:
                return refused
            a = request.args
            try:
                start = date.fromisoformat(a.get("fromDate") or (date.today() - timedelta(days=7)).isoformat())
                page, size = int(a.get("page", 1)), int(a.get("pageSize", 10))
            except ValueError:
                return answer(None, 400, 400, "bad parameters")
            with self._lock:
                rows = sorted((tx for tx in self.records if tx["when"].date() >= start),
                              key=lambda tx: (tx["when"], tx["id"]), reverse=a.get("sort", "ASC").upper() == "DESC")
            total = len(rows)
            pages = max(1, -(-total // size))
            chunk = rows[(page - 1) * size: page * size]
            return answer({"page": page, "pageSize": size, "nextPage": page + 1 if page < pages else None,
                           "prevPage": page - 1 if page > 1 else None, "totalPages": pages, "totalRecords": total,
                           "records": [self.api_record(tx) for tx in chunk]})

        return app

"""A fake payOS merchant API (api-merchant.payos.vn) on 127.0.0.1, written from PAYMENT_SOURCES.md
§3: `x-client-id`/`x-api-key` on every call, the envelope {code, desc, data, signature} with
`data` signed (hex HMAC-SHA256 of its sorted `k=v&...`, lists as compact JSON with sorted keys),
create-payment-link signed over its five fields, cancel signed over its body.

What it does as payOS does, or as integrations report it (UNCERTAIN items marked there): a second
create under an orderCode it has is refused with code 231 "Đơn thanh toán đã tồn tại"; get-link by
link id or orderCode; cancel of a PENDING link; confirm-webhook calls the URL with the docs'
sample (orderCode 123) and registers it only on a 2xx; a paid link pushes its webhook, signed.
Failure modes on demand: a create carried out whose answer comes too late (`lose_next_create`),
429 (`rate_limit_next`), a payment whose webhook never comes (`pay(..., deliver=False)`).

The official SDK (PyPI `payos`) talks to it in tests: its own answer-signature check is the
proof that this fake signs like payOS."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import requests
from flask import Flask, Response, request

from .server import LoopbackServer

VN = timezone(timedelta(hours=7))
DOCS_SAMPLE = {"orderCode": 123, "amount": 3000, "description": "VQRIO123", "accountNumber": "12345678",
               "reference": "TF230204212323", "transactionDateTime": "2023-02-04 18:25:00", "currency": "VND",
               "paymentLinkId": "124c33293c43417ab7879e14c8d9eb18", "code": "00", "desc": "Thành công",
               "counterAccountBankId": "", "counterAccountBankName": "", "counterAccountName": "",
               "counterAccountNumber": "", "virtualAccountName": "", "virtualAccountNumber": ""}


def _value(v: Any) -> str:
    if v is None or v in ("null", "undefined"):
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return json.dumps([dict(sorted(x.items())) if isinstance(x, dict) else x for x in v],
                          separators=(",", ":"), ensure_ascii=False)
    return str(v)


def sign(data: dict[str, Any], key: str) -> str:
    text = "&".join(f"{k}={_value(data[k])}" for k in sorted(data))
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def sign_create(body: dict[str, Any], key: str) -> str:
    text = "&".join(f"{k}={_value(body.get(k))}" for k in ("amount", "cancelUrl", "description", "orderCode",
                                                           "returnUrl"))
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


class FakePayos(LoopbackServer):
    def __init__(self, client_id: str = "payos-client", api_key: str = "payos-api-key",
                 checksum_key: str = "payos-checksum-key", account: str = "0071009998887", bin_: str = "970436"):
        self.client_id, self.api_key, self.checksum_key = client_id, api_key, checksum_key
        self.account, self.bin = account, bin_
        self.links: dict[str, dict[str, Any]] = {}         # link id -> link (our view of payOS's)
        self.by_code: dict[int, str] = {}
        self.calls: list[tuple[str, str]] = []             # (method, path) of every API call
        self.creates: list[dict[str, Any]] = []            # every create request body, refused or not
        self.cancels: list[tuple[str, dict[str, Any]]] = []
        self.webhook_url = ""
        self.paid: list[dict[str, Any]] = []              # the webhook `data` of every payment, pushed or not
        self.late_by = 3.0
        self._lose_creates = 0
        self._rate_limited = 0
        self._lock = threading.RLock()
        super().__init__()
        self.app = self._make_app()

    def settings(self) -> dict[str, Any]:
        """What the service needs to talk to this fake."""
        return dict(payos_client_id=self.client_id, payos_api_key=self.api_key, payos_checksum_key=self.checksum_key,
                    payos_base_url=self.url, payos_checkout_url=self.url + "/web/{id}")

    # -- what tests make happen -----------------------------------------------------------
    def lose_next_create(self, n: int = 1) -> None:
        """The next n creates are carried out, then answered `late_by` seconds later."""
        with self._lock:
            self._lose_creates += n

    def rate_limit_next(self, n: int = 1) -> None:
        with self._lock:
            self._rate_limited += n

    def link_of(self, order_code: int) -> dict[str, Any] | None:
        with self._lock:
            return self.links.get(self.by_code.get(order_code, ""))

    def pay(self, order_code: int, amount: int | None = None, deliver: bool = True, reference: str = "",
            counter_name: str = "NGUYEN VAN AN") -> requests.Response | None:
        """The customer pays the link: a transaction on it, PAID when it is paid in full, and its
        webhook pushed to the registered URL (unless `deliver` is False: a webhook we miss)."""
        with self._lock:
            link = self.links[self.by_code[order_code]]
            amount = link["amount"] if amount is None else amount
            tx = {"reference": reference or f"FT{int(time.time() * 1000) % 10**10:010d}{len(link['transactions'])}",
                  "amount": amount, "accountNumber": self.account, "description": link["description"],
                  "transactionDateTime": datetime.now(VN).strftime("%Y-%m-%d %H:%M:%S"),
                  "virtualAccountName": None, "virtualAccountNumber": None, "counterAccountBankId": "970415",
                  "counterAccountBankName": "VietinBank", "counterAccountName": counter_name,
                  "counterAccountNumber": "113366668888"}
            link["transactions"].append(tx)
            link["amountPaid"] += amount
            link["amountRemaining"] = max(0, link["amount"] - link["amountPaid"])
            link["status"] = "PAID" if link["amountRemaining"] == 0 else "UNDERPAID"
            data = {"orderCode": order_code, "amount": amount, "description": tx["description"],
                    "accountNumber": self.account, "reference": tx["reference"],
                    "transactionDateTime": tx["transactionDateTime"], "currency": "VND",
                    "paymentLinkId": link["id"], "code": "00", "desc": "Thành công",
                    "counterAccountBankId": tx["counterAccountBankId"],
                    "counterAccountBankName": tx["counterAccountBankName"], "counterAccountName": counter_name,
                    "counterAccountNumber": tx["counterAccountNumber"], "virtualAccountName": "",
                    "virtualAccountNumber": ""}
            self.paid.append(data)
        return self.push(data) if deliver else None

    def push(self, data: dict[str, Any], url: str = "", key: str | None = None) -> requests.Response:
        """A webhook as payOS sends it: `data` signed with the checksum key (or `key`)."""
        body = {"code": "00", "desc": "success", "success": True, "data": data,
                "signature": sign(data, self.checksum_key if key is None else key)}
        return requests.post(url or self.webhook_url, json=body, timeout=10)

    def expire(self, order_code: int) -> None:
        with self._lock:
            self.links[self.by_code[order_code]]["status"] = "EXPIRED"

    # -- HTTP --------------------------------------------------------------------------------
    def _answer(self, data: Any, code: str = "00", desc: str = "success", status: int = 200) -> Response:
        body = {"code": code, "desc": desc, "data": data,
                "signature": sign(data, self.checksum_key) if isinstance(data, dict) else None}
        return Response(json.dumps(body, ensure_ascii=False), status=status, content_type="application/json")

    def _public(self, link: dict[str, Any]) -> dict[str, Any]:
        keys = ("id", "orderCode", "amount", "amountPaid", "amountRemaining", "status", "createdAt", "transactions",
                "cancellationReason", "canceledAt")
        return {k: link[k] for k in keys}

    def _find(self, ident: str) -> dict[str, Any] | None:
        if ident in self.links:
            return self.links[ident]
        return self.links.get(self.by_code.get(int(ident), "")) if ident.isdigit() else None

    def _make_app(self) -> Flask:
        app = Flask("fake-payos")

        @app.before_request
        def auth():
            self.calls.append((request.method, request.path))
            if request.path.startswith("/web/"):
                return None
            if request.headers.get("x-client-id") != self.client_id or request.headers.get("x-api-key") != self.api_key:
                return self._answer(None, "401", "Unauthorized", 401)
            with self._lock:
                if self._rate_limited:
                    self._rate_limited -= 1
                    return self._answer(None, "429", "Too many requests", 429)
            return None

        @app.post("/v2/payment-requests")
        def create():
            body = request.get_json(force=True)
            self.creates.append(body)
            if body.get("signature") != sign_create(body, self.checksum_key):
                return self._answer(None, "201", "Mã kiểm tra(signature) không hợp lệ")
            if not isinstance(body.get("orderCode"), int) or not isinstance(body.get("amount"), int):
                return self._answer(None, "20", "Thông tin truyền lên không đúng.")
            with self._lock:
                if body["orderCode"] in self.by_code:
                    return self._answer(None, "231", "Đơn thanh toán đã tồn tại")
                link_id = uuid.uuid4().hex
                self.links[link_id] = {
                    "id": link_id, "orderCode": body["orderCode"], "amount": body["amount"], "amountPaid": 0,
                    "amountRemaining": body["amount"], "status": "PENDING", "description": body["description"],
                    "createdAt": datetime.now(VN).isoformat(timespec="seconds"), "transactions": [],
                    "cancellationReason": None, "canceledAt": None}
                self.by_code[body["orderCode"]] = link_id
                lose, self._lose_creates = self._lose_creates > 0, max(0, self._lose_creates - 1)
            data = {"bin": self.bin, "accountNumber": self.account, "accountName": "CONG TY TNHH SHOP DEMO",
                    "amount": body["amount"], "description": body["description"], "orderCode": body["orderCode"],
                    "currency": "VND", "paymentLinkId": link_id, "status": "PENDING", "expiredAt": None,
                    "checkoutUrl": f"{self.url}/web/{link_id}",
                    "qrCode": f"00020101021238570010A00000072701270006{self.bin}0113{self.account}0208QRIBFTTA"
                              f"5303704540{len(str(body['amount']))}{body['amount']}5802VN62{len(body['description']) + 4:02d}"
                              f"08{len(body['description']):02d}{body['description']}6304ABCD"}
            if lose:
                time.sleep(self.late_by)
            return self._answer(data)

        @app.get("/v2/payment-requests/<ident>")
        def get(ident: str):
            with self._lock:
                link = self._find(ident)
                if link is None:
                    return self._answer(None, "101", "Không tìm thấy thông tin đơn hàng")
                return self._answer(self._public(link))

        @app.post("/v2/payment-requests/<ident>/cancel")
        def cancel(ident: str):
            body = request.get_json(force=True) or {}
            signature = body.pop("signature", None)
            if signature != sign(body, self.checksum_key):
                return self._answer(None, "201", "Mã kiểm tra(signature) không hợp lệ")
            with self._lock:
                link = self._find(ident)
                if link is None:
                    return self._answer(None, "101", "Không tìm thấy thông tin đơn hàng")
                if link["status"] not in ("PENDING", "UNDERPAID"):
                    return self._answer(None, "20", f"Đơn thanh toán đang ở trạng thái {link['status']}")
                link.update(status="CANCELLED", cancellationReason=body.get("cancellationReason"),
                            canceledAt=datetime.now(VN).isoformat(timespec="seconds"))
                self.cancels.append((link["id"], body))
                return self._answer(self._public(link))

        @app.post("/confirm-webhook")
        def confirm():
            url = (request.get_json(force=True) or {}).get("webhookUrl", "")
            try:
                ok = 200 <= self.push(dict(DOCS_SAMPLE), url).status_code < 300
            except requests.RequestException:
                ok = False
            if not ok:
                return self._answer(None, "20", "Webhook url invalid.", 400)
            self.webhook_url = url
            return self._answer({"webhookUrl": url, "accountName": "CONG TY TNHH SHOP DEMO",
                                 "accountNumber": self.account, "name": "Shop Demo", "shortName": "Vietcombank"})

        @app.get("/web/<link_id>")
        def checkout(link_id: str):
            return Response(f"payOS checkout {link_id}", content_type="text/plain")

        return app

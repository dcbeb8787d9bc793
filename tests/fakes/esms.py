"""A fake eSMS.vn REST API on 127.0.0.1, faithful to PROTOCOLS §3 and seeds 004/002.

It answers like the real service (HTTP 200 with a CodeResult for nearly everything), refuses a
repeated RequestId within 24 h with 124, charges a balance per segment, and can misbehave on
demand: error codes, HTTP 500, slow answers, answers lost after the message was accepted, too
many requests in a second (`max_per_second`: eSMS documents no limit nor an answer of its own for
it, so the fake answers HTTP 429 with Retry-After, the web's answer). It also performs the
delivery callback eSMS makes (HTTP GET to the CallbackUrl).
"""
from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections import deque
from typing import Any, Callable
from urllib.parse import urlencode

import requests
from flask import Flask, Response, request

from .server import LoopbackServer

MESSAGES = {
    "99": "Lỗi không xác định, thử lại sau",
    "101": "Đăng nhập thất bại (api key hoặc secrect key không đúng)",
    "102": "Tài khoản đã bị khóa",
    "103": "Số dư tài khoản không đủ dể gửi tin",
    "104": "Brandname không tồn tại hoặc đã bị hủy",
    "118": "Loại tin nhắn không hợp lệ",
    "124": "RequestId đã tồn tại",
    "145": "Sai template mạng xã hội",
    "146": "Template chưa được đăng ký",
    "159": "RequestId quá 120 ký tự",
    "177": "Brandname không có hướng",
    "789": "Template chưa được cấu hình cho OA",
    "799": "OA chưa được kích hoạt",
}


def _gsm_segments(n: int) -> int:
    return 1 if n <= 160 else math.ceil(n / 153)


def _ucs_segments(n: int) -> int:
    return 1 if n <= 70 else math.ceil(n / 67)


class FakeEsms(LoopbackServer):
    def __init__(self, api_key: str = "test-api-key", secret_key: str = "test-secret-key",
                 brandnames: tuple[str, ...] = ("SHOPDEMO",), balance: int = 1_000_000,
                 price_per_segment: int = 800, send_delay: float = 0.0, max_per_second: int | None = None):
        self.api_key = api_key
        self.secret_key = secret_key
        self.brandnames = tuple(brandnames)
        self.balance = balance
        self.price_per_segment = price_per_segment
        self.send_delay = send_delay
        self.max_per_second = max_per_second    # send requests taken in any 1 s; more are answered 429
        self.rate_limited = 0                   # send requests answered 429
        self.retry_after = 1                    # seconds, in the 429's Retry-After
        self.busiest_second = 0                 # the most send requests taken within one second
        self._recent: deque[float] = deque()    # arrival times (monotonic) of the sends taken in the last second
        self.oaid = "4097311281936189049"      # the shop's Zalo Official Account
        self.oa_active = True                   # False: every ZNS answers 799
        self.zns_templates = {"2056446": ["order_code", "amount", "customer_name"]}  # TempID -> its keys
        self.zns_price = 300
        self.timeout_delay = 3.0
        self.locked = False
        self.clock: Callable[[], float] = time.time
        self.accepted: list[dict[str, Any]] = []
        self.requests_log: list[dict[str, Any]] = []
        self.balance_calls: list[float] = []
        self.base_url = ""
        self._by_request_id: dict[str, dict[str, Any]] = {}
        self._by_smsid: dict[str, dict[str, Any]] = {}
        self._failures: list[str] = []
        self._outage: str | None = None
        self._lock = threading.RLock()
        super().__init__()
        self.app = self._make_app()

    def started(self) -> None:
        self.base_url = f"http://127.0.0.1:{self.port}/MainService.svc"

    @property
    def root_url(self) -> str:
        return self.base_url.rsplit("/MainService.svc", 1)[0]

    # -- behaviour on demand -------------------------------------------------------------
    def fail_next(self, n: int, mode: str) -> None:
        """The next n sends fail in `mode`: an error code ("99", "104", ...), "http500",
        "timeout" (answers after timeout_delay but accepts), or "drop" (accepts, answers 502)."""
        with self._lock:
            self._failures.extend([mode] * n)

    def set_outage(self, mode: str | None) -> None:
        """Every send fails in `mode` ("99", "http500", "timeout": slow then 503) until None."""
        with self._lock:
            self._outage = mode

    def accepted_for(self, request_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [a for a in self.accepted if a["RequestId"] == request_id]

    def set_status(self, smsid: str, send_status: int, success: int | None = None, failed: int | None = None) -> None:
        with self._lock:
            entry = self._by_smsid[smsid]
            entry["SendStatus"] = send_status
            if success is not None:
                entry["SendSuccess"] = success
            if failed is not None:
                entry["SendFailed"] = failed

    def fire_callback(self, smsid: str, send_status: int = 5, success: int = 1, failed: int = 0,
                      telcoid: int = 1) -> requests.Response:
        """The GET eSMS makes to CallbackUrl, with seed 002's parameters in its order."""
        with self._lock:
            entry = self._by_smsid[smsid]
            entry.update(SendStatus=send_status, SendSuccess=success, SendFailed=failed)
        params = [("SMSID", smsid), ("SendFailed", str(failed)), ("SendStatus", str(send_status)),
                  ("SendSuccess", str(success)), ("TotalPrice", f"{entry['price']:.4f}"), ("TotalReceiver", "1"),
                  ("TotalSent", "1"), ("RequestId", entry["RequestId"]), ("TypeId", str(entry["SmsType"])),
                  ("telcoid", str(telcoid)), ("phonenumber", entry["Phone"])]
        url = entry["CallbackUrl"]
        sep = "&" if "?" in url else "?"
        return requests.get(url + sep + urlencode(params), timeout=10)

    def fire_zalo_callback(self, smsid: str, ok: bool, error: int = -114,
                           message: str = "User is inactive, or reject the message, or using an outdated Zalo"
                                          " version, or other internal errors",
                           style: str = "json-string") -> requests.Response:
        """The GET eSMS makes for a ZNS (seed 002): TypeId 24/25, RequestId empty, `error_info`
        JSON encoded the way the seed shows ("json-string": JSON inside a JSON string;
        "double-url": URL-encoded twice with `____<time>` appended)."""
        with self._lock:
            entry = self._by_smsid[smsid]
            entry.update(SendStatus=5, SendSuccess=1 if ok else 0, SendFailed=0 if ok else 1, zalo_reported=True)
        info = {"error": 0, "message": "Success", "data": {"msg_id": uuid.uuid4().hex[:20]}} if ok else \
            {"error": error, "message": message}
        if style == "double-url":
            from urllib.parse import quote
            error_info = quote(json.dumps(info, separators=(",", ":")), safe="") + "____24/11/2026 09:30:00"
        else:
            error_info = json.dumps(json.dumps(info, separators=(",", ":")))
        params = [("SMSID", smsid), ("SendFailed", "0" if ok else "1"), ("SendStatus", "5"),
                  ("SendSuccess", "1" if ok else "0"), ("TotalPrice", f"{entry['price'] if ok else 0:.4f}"),
                  ("TotalReceiver", "1"), ("TotalSent", "1" if ok else "0"), ("RequestId", ""),
                  ("TypeId", entry["TypeId"]), ("telcoid", "2"), ("phonenumber", entry["Phone"]),
                  ("partnerids", info.get("data", {}).get("msg_id", "") if ok else ""), ("error_info", error_info),
                  ("oaid", entry["OAID"]), ("tempid", entry["TempID"])]
        url = entry["CallbackUrl"]
        sep = "&" if "?" in url else "?"
        return requests.get(url + sep + urlencode(params), timeout=10)

    # -- the HTTP API --------------------------------------------------------------------
    @staticmethod
    def _json(data: dict[str, Any], status: int = 200) -> Response:
        return Response(json.dumps(data, ensure_ascii=False), status=status,
                        content_type="application/json; charset=utf-8")

    def _error(self, code: str) -> Response:
        return self._json({"CodeResult": code, "ErrorMessage": MESSAGES.get(code, "Lỗi")})

    def _make_app(self) -> Flask:
        app = Flask("fake-esms")
        base = "/MainService.svc/json"

        @app.post(base + "/SendMultipleMessage_V4_post_json/")
        @app.post(base + "/SendMultipleMessage_V4_post_json")
        def send_post():
            try:
                data = json.loads(request.get_data() or b"{}")
            except ValueError:
                return self._error("99")
            return self._send(data if isinstance(data, dict) else {}, "POST")

        @app.get(base + "/SendMultipleMessage_V4_get")
        def send_get():
            data = dict(request.args)
            if "CallBackUrl" in data and "CallbackUrl" not in data:
                data["CallbackUrl"] = data.pop("CallBackUrl")
            return self._send(data, "GET")

        @app.post(base + "/SendZaloMessage_V5_post/")
        @app.post(base + "/SendZaloMessage_V5_post")
        def send_zns():
            data = self._body()
            return self._send_zalo(data, data, None) if data is not None else self._error("99")

        @app.post(base + "/MultiChannelMessage/")
        @app.post(base + "/MultiChannelMessage")
        def send_multi():
            data = self._body()
            if data is None:
                return self._error("99")
            channels, parts = data.get("Channels"), data.get("Data")
            if channels != ["zalo", "sms"] or not isinstance(parts, list) or len(parts) != 2 \
                    or not all(isinstance(p, dict) for p in parts):
                return self._error("99")
            zalo, sms = parts
            if not sms.get("Content"):
                return self._error("99")
            return self._send_zalo({**data, **zalo}, zalo, sms)

        @app.get(base + "/GetSendStatus")
        def get_status():
            a = request.args
            if (a.get("ApiKey"), a.get("SecretKey")) != (self.api_key, self.secret_key):
                return self._json({"CodeResponse": "101"})
            with self._lock:
                e = self._by_smsid.get(a.get("RefId", ""))
                if e is None:
                    return self._json({"CodeResponse": "105", "SMSID": a.get("RefId")})
                return self._json({"CodeResponse": "100", "SMSID": e["SMSID"], "SendFailed": e["SendFailed"],
                                   "SendStatus": e["SendStatus"], "SendSuccess": e["SendSuccess"],
                                   "TotalReceiver": 1, "TotalSent": 1})

        @app.get(base + "/GetSmsReceiverStatus_get")
        def receiver_status():
            a = request.args
            if (a.get("ApiKey"), a.get("SecretKey")) != (self.api_key, self.secret_key):
                return self._json({"CodeResult": "101"})
            with self._lock:
                e = self._by_smsid.get(a.get("RefId", ""))
                if e is None:
                    return self._json({"CodeResult": "105"})
                sent = e["SendStatus"] in (5, 7)
                return self._json({"CodeResult": "100", "ReceiverList": [
                    {"IsSent": sent, "Phone": e["Phone"], "SentResult": sent and e["SendSuccess"] > 0}]})

        @app.get(base + "/GetBalance/<api_key>/<secret_key>")
        def balance(api_key: str, secret_key: str):
            with self._lock:
                self.balance_calls.append(time.time())
            if (api_key, secret_key) != (self.api_key, self.secret_key):
                return self._json({"CodeResponse": "101"})
            return self._json({"Balance": self.balance, "CodeResponse": "100", "UserID": 1})

        @app.get(base + "/GetListBrandname/<api_key>/<secret_key>")
        def brandnames(api_key: str, secret_key: str):
            if (api_key, secret_key) != (self.api_key, self.secret_key):
                return self._json({"CodeResponse": "101"})
            return self._json({"CodeResponse": "100",
                               "ListBrandName": [{"Brandname": b, "Type": 2} for b in self.brandnames]})

        @app.get("/_fake/accepted")
        def fake_accepted():
            """Control endpoint for tests and benchmarks that run the fake in another process."""
            with self._lock:
                ids = [a["RequestId"] for a in self.accepted]
            return self._json({"accepted": len(ids), "unique_request_ids": len(set(ids)), "balance": self.balance,
                               "rate_limited": self.rate_limited, "busiest_second": self.busiest_second})

        return app

    @staticmethod
    def _body() -> dict[str, Any] | None:
        try:
            data = json.loads(request.get_data() or b"{}")
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def _too_many(self) -> Response | None:
        """Every send request (SMS, ZNS, MultiChannel) counts in one sliding second per account."""
        with self._lock:
            t = time.monotonic()
            while self._recent and self._recent[0] <= t - 1.0:
                self._recent.popleft()
            if self.max_per_second is not None and len(self._recent) >= self.max_per_second:
                self.rate_limited += 1
                return Response("Too Many Requests", status=429, headers={"Retry-After": str(self.retry_after)})
            self._recent.append(t)
            self.busiest_second = max(self.busiest_second, len(self._recent))
        return None

    def _send_zalo(self, data: dict[str, Any], zalo: dict[str, Any], sms: dict[str, Any] | None) -> Response:
        """ZNS (V5, TempData key/value) or ZNS-then-SMS (MultiChannel, Params in template order)."""
        refused = self._too_many()
        if refused is not None:
            return refused
        f = {k: ("" if data.get(k) is None else str(data.get(k)))
             for k in ("ApiKey", "SecretKey", "Phone", "OAID", "TempID", "Sandbox", "RequestId", "CallbackUrl")}
        with self._lock:
            mode = self._failures.pop(0) if self._failures else self._outage
        log = {**f, "method": "POST", "at": self.clock(), "kind": "multi" if sms else "zns",
               "TempData": zalo.get("TempData"), "Params": zalo.get("Params"), "sms": sms}

        def answer(code: str, resp: Response) -> Response:
            with self._lock:
                self.requests_log.append({**log, "CodeResult": code})
            return resp

        if mode == "http500":
            return answer("http500", Response("Internal Server Error", status=500))
        if mode not in (None, "timeout", "drop"):
            return answer(mode, self._error(mode))
        with self._lock:
            code = "100"
            keys = self.zns_templates.get(f["TempID"])
            if (f["ApiKey"], f["SecretKey"]) != (self.api_key, self.secret_key):
                code = "101"
            elif self.locked:
                code = "102"
            elif not f["Phone"]:
                code = "99"
            elif f["OAID"] != self.oaid or not self.oa_active:
                code = "799"
            elif keys is None:
                code = "789"
            elif sms is None and sorted(d.get("key") for d in (zalo.get("TempData") or [])
                                        if isinstance(d, dict)) != sorted(keys):
                code = "99"   # a template parameter missing or unknown
            elif sms is not None and len(zalo.get("Params") or []) != len(keys):
                code = "99"
            elif len(f["RequestId"]) > 120:
                code = "159"
            else:
                prev = self._by_request_id.get(f["RequestId"]) if f["RequestId"] else None
                if prev is not None and self.clock() - prev["at"] < 86_400:
                    code = "124"
            if code != "100":
                return answer(code, self._error(code))
            smsid = uuid.uuid4().hex + "25"
            entry = {**log, "SMSID": smsid, "SendStatus": 2, "SendSuccess": 0, "SendFailed": 0,
                     "price": self.zns_price, "TypeId": "25", "SmsType": "2", "Content": json.dumps(
                         zalo.get("TempData") or zalo.get("Params"), ensure_ascii=False)}
            if f["Sandbox"] != "1":
                self.balance -= self.zns_price
            self.accepted.append(entry)
            self._by_smsid[smsid] = entry
            if f["RequestId"]:
                self._by_request_id[f["RequestId"]] = entry
        if mode == "timeout":
            time.sleep(self.timeout_delay)
        if mode == "drop":
            return answer("100", Response("Bad Gateway", status=502))
        return answer("100", self._json({"CodeResult": "100", "CountRegenerate": 0, "SMSID": smsid}))

    def _send(self, data: dict[str, Any], method: str) -> Response:
        fields = {k: ("" if data.get(k) is None else str(data.get(k)))
                  for k in ("ApiKey", "SecretKey", "Phone", "Content", "Brandname", "SmsType", "IsUnicode",
                            "Sandbox", "RequestId", "SendDate", "CallbackUrl")}
        refused = self._too_many()
        if refused is not None:
            return refused
        with self._lock:
            mode = self._failures.pop(0) if self._failures else self._outage
            outage = mode is not None and not self._failures and mode == self._outage
        if self.send_delay:
            time.sleep(self.send_delay)
        log = {**fields, "method": method, "at": self.clock()}

        def answer(code: str, resp: Response) -> Response:
            with self._lock:
                self.requests_log.append({**log, "CodeResult": code})
            return resp

        if mode == "http500":
            return answer("http500", Response("<html><body>500 Internal Server Error</body></html>", status=500,
                                              content_type="text/html"))
        if mode == "timeout" and outage:
            time.sleep(self.timeout_delay)
            return answer("http503", Response("Service Unavailable", status=503))
        if mode not in (None, "timeout", "drop"):
            return answer(mode, self._error(mode))
        code = self._validate(fields)
        if code != "100":
            return answer(code, self._error(code))
        with self._lock:
            code = self._validate(fields)  # again under the lock: concurrent duplicates
            if code != "100":
                return answer(code, self._error(code))
            smsid = uuid.uuid4().hex + "99"
            unicode = fields["IsUnicode"] == "1"
            n = len(fields["Content"])
            price = self.price_per_segment * (_ucs_segments(n) if unicode else _gsm_segments(n))
            entry = {**log, "SMSID": smsid, "SendStatus": 2, "SendSuccess": 0, "SendFailed": 0, "price": price}
            if fields["Sandbox"] != "1":
                self.balance -= price
            self.accepted.append(entry)
            self._by_smsid[smsid] = entry
            if fields["RequestId"]:
                self._by_request_id[fields["RequestId"]] = entry
        if mode == "timeout":
            time.sleep(self.timeout_delay)
        if mode == "drop":
            return answer("100", Response("Bad Gateway", status=502))
        return answer("100", self._json({"CodeResult": "100", "CountRegenerate": "0", "SMSID": smsid}))

    def _validate(self, f: dict[str, str]) -> str:
        if (f["ApiKey"], f["SecretKey"]) != (self.api_key, self.secret_key):
            return "101"
        if self.locked:
            return "102"
        if f["SmsType"] not in ("1", "2", "8"):
            return "118"
        if f["SmsType"] == "2" and f["Brandname"] not in self.brandnames:
            return "104"
        if len(f["RequestId"]) > 120:
            return "159"
        if not f["Phone"] or not f["Content"]:
            return "99"
        n = len(f["Content"])
        price = self.price_per_segment * (_ucs_segments(n) if f["IsUnicode"] == "1" else _gsm_segments(n))
        if f["Sandbox"] != "1" and self.balance < price:
            return "103"
        prev = self._by_request_id.get(f["RequestId"]) if f["RequestId"] else None
        if prev is not None and self.clock() - prev["at"] < 86_400:
            return "124"
        return "100"


if __name__ == "__main__":  # run on its own: python -m tests.fakes.esms [send_delay [max_per_second]]
    import sys
    import logging
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    fake = FakeEsms(balance=10**12, send_delay=float(sys.argv[1]) if len(sys.argv) > 1 else 0.0,
                    max_per_second=int(sys.argv[2]) if len(sys.argv) > 2 else None).start()
    print(fake.base_url, flush=True)
    threading.Event().wait()

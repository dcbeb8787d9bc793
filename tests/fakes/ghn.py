"""A fake GHN on 127.0.0.1, speaking what PAYMENT_SOURCES.md §5a documents.

- It keeps its parcels (order code -> status, its log, the COD) and pushes each change to the
  callback URL the way GHN does: one JSON object per POST in the docs' sample shape (`OrderCode`,
  `ClientOrderCode`, `Status`, `Type`, `CODAmount`, `Time` ISO UTC, `Reason`, `Fee`...); any
  answer but 200, or none, is retried up to 10 more times, `retry_interval` apart (GHN: 5 s; the
  tests make it short). `lose_answers` makes it drop our answer as if the connection broke after
  we sent it (it then retries as for no answer).
- It serves the order-detail API, `POST /shiip/public-api/v2/shipping-order/detail` with headers
  `Token` and `ShopId`, body {"order_code": ...}: {"code": 200, "message": "Success", "data":
  {..., "status", "cod_amount", "updated_date", "log": [{"status", "updated_date"}]}}, 400 for
  an order it does not know, 401 for a wrong token; `down` makes it answer 503, `says` makes it
  disagree (a status of its own for an order).
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

from flask import Flask, jsonify, request

from .pushes import Pushes
from .server import LoopbackServer

RETRIES = 10            # after the first attempt (GHN: "10 more times, 5 s apart")


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(t * 1000) % 1000:03d}Z"


class FakeGhn(LoopbackServer, Pushes):
    def __init__(self, token: str = "test-ghn-api-token", shop_id: str = "81558", retry_interval: float = 0.05):
        LoopbackServer.__init__(self)
        Pushes.__init__(self, RETRIES, retry_interval)
        self.token, self.shop_id = token, shop_id
        self.orders: dict[str, dict[str, Any]] = {}
        self.down = False
        self.says: dict[str, str] = {}              # order code -> the status the API claims instead
        self.detail_calls: list[dict[str, Any]] = []
        self.app = self._make_app()

    # -- GHN's side of a parcel --------------------------------------------------------------
    def event(self, code: str, status: str, type_: str = "switch_status", client_order_code: str = "",
              cod: int = 0, at: float | None = None, reason: str = "", reason_code: str = "",
              fee: int = 33000) -> dict[str, Any]:
        """GHN's record moves to `status` (when the type is a status change) and the call it makes."""
        at = time.time() if at is None else at
        order = self.orders.setdefault(code, {"status": "", "log": [], "cod_amount": cod,
                                              "client_order_code": client_order_code})
        if type_.lower() in ("create", "switch_status"):
            order["status"] = status
            order["log"].append({"status": status, "updated_date": iso(at)})
        order["cod_amount"] = cod
        order["updated_date"] = iso(at)
        return {"CODAmount": cod, "CODTransferDate": None, "ClientOrderCode": client_order_code,
                "ConvertedWeight": 200, "Description": "Cập nhật trạng thái", "Fee": {
                    "CODFailedFee": 0, "CODFee": 0, "Coupon": 0, "DeliverRemoteAreasFee": 0, "DocumentReturn": 0,
                    "DoubleCheck": 0, "Insurance": 0, "MainService": fee, "PickRemoteAreasFee": 0, "R2S": 0,
                    "Return": 0, "StationDO": 0, "StationPU": 0, "Total": fee},
                "Height": 10, "IsPartialReturn": False, "Length": 10, "OrderCode": code, "PartialReturnCode": "",
                "PaymentType": 1, "Reason": reason, "ReasonCode": reason_code, "ShopID": int(self.shop_id),
                "Status": status, "Time": iso(at), "TotalFee": fee, "Type": type_,
                "Warehouse": "Bưu Cục 229 Quan Nhân-Q.Thanh Xuân-HN", "Weight": 200, "Width": 10}

    def push(self, url: str, body: dict[str, Any] | bytes) -> list[int | None]:
        """Deliver one call as GHN does (retries included); the HTTP status of each attempt."""
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        return self.deliver(url, data, "application/json")

    # -- the order-detail API --------------------------------------------------------------------
    def _make_app(self) -> Flask:
        app = Flask("fake-ghn")

        @app.post("/shiip/public-api/v2/shipping-order/detail")
        def detail():
            body = request.get_json(silent=True) or {}
            self.detail_calls.append({"headers": dict(request.headers), "body": body})
            if self.down:
                return jsonify({"code": 503, "message": "Service Unavailable"}), 503
            if request.headers.get("Token") != self.token:
                return jsonify({"code": 401, "message": "Token is not valid", "data": None}), 401
            code = str(body.get("order_code") or "")
            order = self.orders.get(code)
            if order is None:
                return jsonify({"code": 400, "message": "Không tìm thấy đơn hàng", "data": None}), 400
            status = self.says.get(code, order["status"])
            log = order["log"] if code not in self.says else order["log"] + [
                {"status": status, "updated_date": order["updated_date"]}]
            return jsonify({"code": 200, "message": "Success", "data": {
                "shop_id": int(self.shop_id), "order_code": code, "client_order_code": order["client_order_code"],
                "status": status, "cod_amount": order["cod_amount"], "updated_date": order["updated_date"],
                "log": log}})
        return app

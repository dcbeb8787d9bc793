"""A fake SMSGate ("SMS Gateway for Android") on 127.0.0.1, per PROTOCOLS §5.

Cloud/private-server paths (`/3rdparty/v1/messages`) and the phone's local server (`/message`),
Basic auth, E.164 numbers, 409 on a repeated id, 503 when its queue is full, message states,
and the webhooks it POSTs back signed exactly as the real one: hex HMAC-SHA256 of the raw body
followed by X-Timestamp.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import requests
from flask import Flask, Response, request

from .server import LoopbackServer


def sign(body: bytes, timestamp: str, key: str) -> str:
    return hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()


class FakeSmsGate(LoopbackServer):
    def __init__(self, user: str = "sms", password: str = "gate-pass", signing_key: str = "test-signing-key",
                 device_id: str = "dev-1", max_queue: int = 1000):
        self.user, self.password, self.signing_key = user, password, signing_key
        self.device_id = device_id
        self.max_queue = max_queue
        self.webhook_url = ""             # where it POSTs events (our /inbound/smsgate)
        self.timeout_delay = 3.0
        self.messages: dict[str, dict[str, Any]] = {}
        self.requests_log: list[dict[str, Any]] = []
        self.events_sent: list[dict[str, Any]] = []
        self._failures: list[str] = []
        self._lock = threading.RLock()
        super().__init__()
        self.app = self._make_app()

    # -- behaviour on demand ---------------------------------------------------------------
    def fail_next(self, n: int, mode: str) -> None:
        """Next n sends: "http500", "503" (queue full), "timeout" (slow, but accepts), "unauthorized"."""
        with self._lock:
            self._failures.extend([mode] * n)

    @property
    def accepted(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.messages.values())

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.messages.values() if m["state"] in ("Pending", "Processed")]

    # -- the phone doing its work: states and webhooks ---------------------------------------
    def process(self, message_id: str, outcome: str = "Delivered", parts: int = 1, reason: str = "",
                webhooks: bool = True) -> list[requests.Response]:
        """Move a message to Sent / Delivered / Failed, POSTing the events the phone would."""
        with self._lock:
            m = self.messages[message_id]
        out = []
        now = datetime.now(timezone.utc).isoformat()
        phone = m["phoneNumbers"][0]
        if outcome == "Failed":
            m["state"] = "Failed"
            m["recipients"] = [{"phoneNumber": phone, "state": "Failed", "error": reason or "RESULT_ERROR_GENERIC_FAILURE"}]
            if webhooks:
                out.append(self.post_event("sms:failed", {"messageId": message_id, "phoneNumber": phone,
                                                          "failedAt": now, "reason": reason or "RESULT_ERROR_GENERIC_FAILURE"}))
            return out
        m["state"] = "Sent"
        m["recipients"] = [{"phoneNumber": phone, "state": "Sent", "error": None}]
        if webhooks:
            out.append(self.post_event("sms:sent", {"messageId": message_id, "phoneNumber": phone, "sentAt": now}))
        if outcome == "Delivered":
            m["state"] = "Delivered"
            m["recipients"][0]["state"] = "Delivered"
            for _ in range(parts):  # one event per SMS part
                if webhooks:
                    out.append(self.post_event("sms:delivered", {"messageId": message_id, "phoneNumber": phone,
                                                                 "deliveredAt": now}))
        return out

    def receive(self, sender: str, text: str, message_id: str | None = None, sim: int = 1,
                received_at: str | None = None, **kw: Any) -> requests.Response:
        """An SMS arrives at the phone: it POSTs sms:received."""
        payload = {"messageId": message_id or uuid.uuid4().hex[:16], "message": text, "sender": sender,
                   "phoneNumber": sender, "recipient": "+84901234567", "simNumber": sim,
                   "receivedAt": received_at or datetime.now(timezone.utc).astimezone().isoformat()}
        return self.post_event("sms:received", payload, **kw)

    def envelope(self, event: str, payload: dict[str, Any], event_id: str | None = None) -> bytes:
        return json.dumps({"deviceId": self.device_id, "event": event, "id": event_id or uuid.uuid4().hex,
                           "payload": payload, "webhookId": "wh-" + event.replace(":", "-")}).encode()

    def post_event(self, event: str, payload: dict[str, Any], event_id: str | None = None, key: str | None = None,
                   timestamp: int | None = None, tamper: bool = False, body: bytes | None = None) -> requests.Response:
        raw = body if body is not None else self.envelope(event, payload, event_id)
        ts = str(int(time.time()) if timestamp is None else timestamp)
        headers = {"Content-Type": "application/json", "User-Agent": "SMSGate/1.0",
                   "X-Signature": sign(raw, ts, key or self.signing_key), "X-Timestamp": ts}
        if tamper:
            raw = raw.replace(b"}", b" }", 1)
        with self._lock:
            self.events_sent.append({"event": event, "payload": payload})
        return requests.post(self.webhook_url, data=raw, headers=headers, timeout=10)

    # -- HTTP API ----------------------------------------------------------------------------
    @staticmethod
    def _json(data: Any, status: int = 200) -> Response:
        return Response(json.dumps(data), status=status, content_type="application/json")

    def _make_app(self) -> Flask:
        app = Flask("fake-smsgate")

        def authorized() -> bool:
            a = request.authorization
            return a is not None and a.username == self.user and a.password == self.password

        def send():
            if not authorized():
                return self._json({"message": "Unauthorized"}, 401)
            with self._lock:
                mode = self._failures.pop(0) if self._failures else None
            self.requests_log.append({"at": time.time(), "mode": mode})
            if mode == "http500":
                return Response("internal error", status=500)
            if mode == "unauthorized":
                return self._json({"message": "Unauthorized"}, 401)
            try:
                body = json.loads(request.get_data() or b"{}")
            except ValueError:
                return self._json({"message": "invalid JSON"}, 400)
            text = (body.get("textMessage") or {}).get("text") or body.get("message")
            phones = body.get("phoneNumbers")
            if not text or not isinstance(phones, list) or not phones:
                return self._json({"message": "textMessage.text and phoneNumbers are required"}, 400)
            if not all(isinstance(p, str) and p.startswith("+") and p[1:].isdigit() for p in phones):
                return self._json({"message": "phone numbers must be E.164"}, 400)
            with self._lock:
                mid = body.get("id") or uuid.uuid4().hex
                if mid in self.messages:
                    return self._json({"message": f"message with id {mid} already exists"}, 409)
                if mode == "503" or len(self.pending()) >= self.max_queue:
                    return self._json({"message": "queue is full"}, 503)
                m = {"id": mid, "state": "Pending", "text": text, "phoneNumbers": phones,
                     "simNumber": body.get("simNumber"), "withDeliveryReport": body.get("withDeliveryReport"),
                     "deviceId": body.get("deviceId"), "ttl": body.get("ttl"), "at": time.time(),
                     "recipients": [{"phoneNumber": p, "state": "Pending", "error": None} for p in phones]}
                self.messages[mid] = m
            if mode == "timeout":
                time.sleep(self.timeout_delay)
            return self._json({"id": mid, "state": "Pending", "recipients": m["recipients"]}, 202)

        def state(message_id: str):
            if not authorized():
                return self._json({"message": "Unauthorized"}, 401)
            with self._lock:
                m = self.messages.get(message_id)
                if m is None:
                    return self._json({"message": "not found"}, 404)
                return self._json({"id": m["id"], "state": m["state"], "recipients": m["recipients"]})

        app.add_url_rule("/3rdparty/v1/messages", "send_cloud", send, methods=["POST"])
        app.add_url_rule("/message", "send_local", send, methods=["POST"])
        app.add_url_rule("/3rdparty/v1/messages/<message_id>", "state_cloud", state, methods=["GET"])
        app.add_url_rule("/message/<message_id>", "state_local", state, methods=["GET"])
        return app

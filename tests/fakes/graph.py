"""A fake Facebook Graph API (Send API, v21.0) on 127.0.0.1, and the Meta side of our webhook.

Send: `POST /v21.0/me/messages` with the page token as `Authorization: Bearer` or in the query
(`?access_token=`, Graph takes either), and `{recipient: {id}, messaging_type, message,
tag?}` -> `{"recipient_id", "message_id"}`, or Graph's error body `{"error": {message, type, code,
error_subcode, fbtrace_id}}` with the HTTP status Graph uses. Enforces what the real one does
that matters to us: a valid page token, a known PSID, RESPONSE only within 24 h of the user's
last message (else error 10 / 2018278 unless a MESSAGE_TAG is given), text <= 2000 characters,
button template text <= 640, quick replies (1 to 13; a text one with a title of at most 20
characters and a payload of at most 1000). Errors on demand; it also plays Meta posting signed webhook events
(referrals, messages, deliveries) to our endpoint.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from typing import Any

import requests
from flask import Flask, Response, request

from .server import LoopbackServer

VERSION = "v21.0"
ERRORS = {  # name -> (HTTP status, code, subcode, message)
    "token": (401, 190, 460, "Error validating access token: The session has been invalidated."),
    "temporary": (503, 2, None, "An unexpected error has occurred. Please retry your request later."),
    "rate": (400, 613, None, "Calls to this api have exceeded the rate limit."),
    "app-rate": (400, 4, None, "Application request limit reached"),
    "user-rate": (400, 17, None, "User request limit reached"),   # Graph rate limiting: account level
    "page-rate": (400, 32, None, "Page request limit reached"),   # Graph rate limiting: page level
    "rate-sub": (400, 613, 1390008, "Calls to this api have exceeded the rate limit."),   # Send API, per page
    "http429": (429, None, None, ""),   # a "too many requests" from in front of Graph, without its error body
    "unavailable": (400, 551, 1545041, "This person isn't available right now."),
    "window": (400, 10, 2018278, "This message is sent outside of allowed window."),
    "no-user": (400, 100, 2018001, "No matching user found"),
    "http500": (500, None, None, ""),
}


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class FakeGraph(LoopbackServer):
    def __init__(self, page_token: str = "EAAG-test-page-token", app_secret: str = "test-app-secret",
                 page_id: str = "104857361122334"):
        super().__init__()
        self.page_token, self.app_secret, self.page_id = page_token, app_secret, page_id
        self.users: dict[str, float] = {}         # PSID -> time of their last message to the page
        self.sent: list[dict[str, Any]] = []      # accepted sends (request body + message_id)
        self.requests_log: list[dict[str, Any]] = []
        self._failures: list[str] = []
        self.delay = 0.0
        self.answer_delay = 0.0   # accept the message, then wait before answering (receipts can overtake)
        self._lock = threading.Lock()
        self.webhook_url = ""
        self.app = self._make_app()

    def started(self) -> None:
        self.base_url = f"http://127.0.0.1:{self.port}/{VERSION}"

    # -- control --------------------------------------------------------------------------
    def add_user(self, psid: str, last_message_at: float | None = None) -> None:
        self.users[psid] = time.time() if last_message_at is None else last_message_at

    def fail_next(self, n: int, name: str) -> None:
        with self._lock:
            self._failures.extend([name] * n)

    def sent_to(self, psid: str) -> list[dict[str, Any]]:
        return [s for s in self.sent if s["recipient"]["id"] == psid and not s.get("by_hand")]

    # -- Meta's side of our webhook -----------------------------------------------------
    def post_events(self, *events: dict[str, Any], secret: str | None = None,
                    signature: str | None = None) -> requests.Response:
        body = json.dumps({"object": "page", "entry": [{"id": self.page_id, "time": int(time.time() * 1000),
                                                        "messaging": list(events)}]}).encode()
        sig = signature if signature is not None else sign(body, secret or self.app_secret)
        return requests.post(self.webhook_url, data=body, timeout=10,
                             headers={"Content-Type": "application/json", "X-Hub-Signature-256": sig})

    def referral(self, psid: str, ref: str, via: str = "referral") -> requests.Response:
        """The user opened m.me/<page>?ref=...: a messaging_referrals event (or the Get Started
        postback carrying the referral, for a first conversation)."""
        now_ms = int(time.time() * 1000)
        self.add_user(psid)
        ev: dict[str, Any] = {"sender": {"id": psid}, "recipient": {"id": self.page_id}, "timestamp": now_ms}
        referral = {"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"}
        if via == "postback":
            ev["postback"] = {"title": "Get Started", "payload": "GET_STARTED", "referral": referral}
        else:
            ev["referral"] = referral
        return self.post_events(ev)

    def user_message(self, psid: str, text: str, at: float | None = None) -> requests.Response:
        at = time.time() if at is None else at
        self.add_user(psid, at)
        return self.post_events({"sender": {"id": psid}, "recipient": {"id": self.page_id},
                                 "timestamp": int(at * 1000),
                                 "message": {"mid": f"m_{uuid.uuid4().hex}", "text": text}})

    def quick_reply(self, psid: str, title: str, payload: str, mid: str | None = None) -> requests.Response:
        """The user tapped one of a message's quick replies: a message event whose text is the
        button's title and whose `quick_reply.payload` is the one we sent."""
        at = time.time()
        self.add_user(psid, at)
        return self.post_events({"sender": {"id": psid}, "recipient": {"id": self.page_id},
                                 "timestamp": int(at * 1000),
                                 "message": {"mid": mid or f"m_{uuid.uuid4().hex}", "text": title,
                                             "quick_reply": {"payload": payload}}})

    def deliver(self, psid: str, mids: list[str]) -> requests.Response:
        return self.post_events({"sender": {"id": psid}, "recipient": {"id": self.page_id},
                                 "delivery": {"mids": mids, "watermark": int(time.time() * 1000)}})

    def read(self, psid: str, at: float | None = None) -> requests.Response:
        """The user read the conversation up to `at` (a message_reads event: a watermark, no ids)."""
        at = time.time() if at is None else at
        return self.post_events({"sender": {"id": psid}, "recipient": {"id": self.page_id},
                                 "timestamp": int(at * 1000), "read": {"watermark": int(at * 1000)}})

    # -- Graph --------------------------------------------------------------------------
    def _error(self, name: str) -> Response:
        status, code, sub, message = ERRORS[name]
        if code is None:
            return Response("<html>Internal Server Error</html>", status=status, content_type="text/html")
        err: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code,
                               "fbtrace_id": uuid.uuid4().hex[:11]}
        if sub:
            err["error_subcode"] = sub
        return Response(json.dumps({"error": err}), status=status, content_type="application/json")

    def _make_app(self) -> Flask:
        app = Flask("fake-graph")

        @app.post(f"/{VERSION}/me/messages")
        def send():
            body = request.get_json(silent=True)
            with self._lock:
                mode = self._failures.pop(0) if self._failures else None
                self.requests_log.append({"body": body, "mode": mode, "at": time.time(), "url": request.url})
            if self.delay:
                time.sleep(self.delay)
            if mode:
                return self._error(mode)
            auth = request.headers.get("Authorization", "")
            token = auth[len("Bearer "):] if auth.startswith("Bearer ") else request.args.get("access_token")
            if token != self.page_token:
                return self._error("token")
            if not isinstance(body, dict) or not isinstance(body.get("recipient"), dict):
                return self._bad("param recipient must be non-empty.")
            psid = str(body["recipient"].get("id", ""))
            if psid not in self.users:
                return self._error("no-user")
            kind = body.get("messaging_type")
            if kind not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
                return self._bad("param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}")
            if kind == "MESSAGE_TAG" and not body.get("tag"):
                return self._bad("param tag is required for MESSAGE_TAG")
            if kind != "MESSAGE_TAG" and time.time() - self.users[psid] > 24 * 3600:
                return self._error("window")
            message = body.get("message")
            if not isinstance(message, dict):
                return self._bad("param message must be non-empty.")
            if "text" in message and len(message["text"]) > 2000:
                return self._bad("param message[text] must be UTF-8 encoded and less than 2000 characters")
            quick = message.get("quick_replies")
            if quick is not None:
                if not isinstance(quick, list) or not quick or len(quick) > 13:
                    return self._bad("param message[quick_replies] must be an array of 1 to 13 quick replies")
                for q in quick:
                    if not isinstance(q, dict) or q.get("content_type") not in ("text", "user_phone_number",
                                                                                "user_email"):
                        return self._bad("param message[quick_replies][content_type] is invalid")
                    if q["content_type"] == "text" and (not q.get("title") or len(q["title"]) > 20):
                        return self._bad("param message[quick_replies][title] must be 1 to 20 characters")
                    if q["content_type"] == "text" and (not q.get("payload") or len(str(q["payload"])) > 1000):
                        return self._bad("param message[quick_replies][payload] must be 1 to 1000 characters")
            payload = ((message.get("attachment") or {}).get("payload") or {})
            if payload and len(payload.get("text", "")) > 640:
                return self._bad("param message[attachment][payload][text] must be at most 640 characters")
            mid = f"m_{uuid.uuid4().hex}"
            with self._lock:
                self.sent.append({**body, "message_id": mid})
            if self.answer_delay:
                time.sleep(self.answer_delay)
            return Response(json.dumps({"recipient_id": psid, "message_id": mid}), content_type="application/json")

        @app.get(f"/{VERSION}/<mid>")
        def message(mid: str):
            """The Conversations API's message lookup (`GET /{message-id}?fields=message`)."""
            auth = request.headers.get("Authorization", "")
            token = auth[len("Bearer "):] if auth.startswith("Bearer ") else request.args.get("access_token")
            if token != self.page_token:
                return self._error("token")
            with self._lock:
                found = next((m for m in self.sent if m["message_id"] == mid), None)
            if found is None:
                return Response(json.dumps({"error": {"message": f"Unsupported get request. Object with ID '{mid}' "
                                                                 "does not exist", "type": "GraphMethodException",
                                                      "code": 100, "error_subcode": 33}}),
                                status=400, content_type="application/json")
            msg = found.get("message") or {}
            text = msg.get("text") or (((msg.get("attachment") or {}).get("payload") or {}).get("text") or "")
            return Response(json.dumps({"id": mid, "message": text}), content_type="application/json")

        return app

    def page_reply(self, psid: str, text: str) -> str:
        """The shop answers by hand from the Page inbox: a message of the page we did not send."""
        mid = f"m_{uuid.uuid4().hex}"
        with self._lock:
            self.sent.append({"recipient": {"id": psid}, "message": {"text": text}, "message_id": mid, "by_hand": True})
        return mid

    @staticmethod
    def _bad(message: str) -> Response:
        return Response(json.dumps({"error": {"message": f"(#100) {message}", "type": "OAuthException", "code": 100,
                                              "fbtrace_id": uuid.uuid4().hex[:11]}}),
                        status=400, content_type="application/json")

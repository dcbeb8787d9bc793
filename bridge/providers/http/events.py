"""Outgoing events (bridge/outgoing.py) POSTed to the owner's URLs, signed with each endpoint's
secret at send time (so a retry carries a fresh timestamp and a rotated secret takes effect).

The event id goes out as `X-WooBridge-Event-Id` and `Idempotency-Key`: the same on every retry
and replay of one event, so a receiver drops the repeat a lost answer causes. The answer's
status and its first characters are the attempt's code and detail, what the admin shows. Every
answer but 2xx is retried with the outbox's backoff until SEND_MAX_ATTEMPTS, except 410 Gone.
"""
from __future__ import annotations

import time
from typing import Any

import requests

from ...outgoing import SIGNATURE_HEADER, body_bytes, signature
from ...store import hooks as store
from ...config import Settings
from ..base import Channel, OutgoingMessage, Outcome, SendResult, lane_session

EXCERPT = 300   # characters of an answer kept with its attempt


def excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text[:EXCERPT] + ("…" if len(text) > EXCERPT else "")


class HttpEventChannel(Channel):
    listed = False

    def __init__(self, name: str, settings: Settings, db: Any = None):
        super().__init__(name, settings, db)
        self.session = lane_session(settings)

    def send(self, msg: OutgoingMessage) -> SendResult:
        job = msg.meta.get("job") or {}
        body, endpoint_id = job.get("event"), job.get("endpoint")
        if not isinstance(body, dict) or not isinstance(endpoint_id, int):
            return SendResult(Outcome.PERMANENT, code="bad-job", detail="event job without its event or endpoint")
        signing = store.signing(self.db, endpoint_id)
        if signing is None or signing["url"] != msg.recipient:   # deleted (ids are never reused: AUTOINCREMENT)
            return SendResult(Outcome.PERMANENT, code="deleted", detail="the endpoint was deleted")
        if not signing["enabled"]:   # disabled while this job was being claimed: it goes once enabled again
            return SendResult(Outcome.TRANSIENT, code="disabled", detail="the endpoint is disabled")
        data = body_bytes(body)
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "woo-bridge-events/1",
                   SIGNATURE_HEADER: signature(signing["secret"], int(time.time()), data),
                   "X-WooBridge-Event-Id": str(body.get("id", "")), "X-WooBridge-Event": str(body.get("type", "")),
                   "Idempotency-Key": str(body.get("id", ""))}
        try:
            r = self.session.post(msg.recipient, data=data, headers=headers, allow_redirects=False,
                                  timeout=(5, self.settings.hooks_timeout))
        except requests.Timeout as exc:
            return SendResult(Outcome.TRANSIENT, code="timeout", maybe_taken=True,
                              detail=f"no answer in time: {excerpt(str(exc))}")
        except requests.RequestException as exc:
            return SendResult(Outcome.TRANSIENT, code="connection", maybe_taken=True,
                              detail=f"cannot reach {msg.recipient}: {excerpt(str(exc))}")
        said = f"HTTP {r.status_code}: {excerpt(r.text)}".rstrip(": ")
        if 200 <= r.status_code < 300:
            return SendResult(Outcome.ACCEPTED, code=str(r.status_code), detail=said, delivered=True)
        if r.status_code == 410:   # Gone: the receiver says it never wants this again
            return SendResult(Outcome.PERMANENT, code=str(r.status_code), detail=said)
        # Any other answer is retried with backoff up to SEND_MAX_ATTEMPTS: a 404 or 401 while the
        # receiver is redeployed or its secret rotated must not lose the event.
        return SendResult(Outcome.TRANSIENT, code=str(r.status_code), detail=said)

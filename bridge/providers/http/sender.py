"""Forward an inbound SMS as JSON to a URL (a chatbot, a CRM), durably through the outbox.

The message text is the JSON body; our message id goes out as `Idempotency-Key` and inside the
body, so a receiver can drop the repeat that a retry after a lost answer may cause.
"""
from __future__ import annotations

import requests

from ..base import Channel, OutgoingMessage, Outcome, SendResult


class HttpForwardChannel(Channel):
    listed = False

    def send(self, msg: OutgoingMessage) -> SendResult:
        body = msg.meta.get("job")
        if not isinstance(body, dict) or not body:
            return SendResult(Outcome.PERMANENT, code="bad-body", detail="forward body is not JSON")
        try:
            r = requests.post(msg.recipient, json=body, headers={"Idempotency-Key": msg.id}, timeout=(5, 15))
        except requests.RequestException as exc:
            return SendResult(Outcome.TRANSIENT, code="connection", detail=f"cannot reach {msg.recipient}: {exc}")
        if 200 <= r.status_code < 300:
            return SendResult(Outcome.ACCEPTED, code=str(r.status_code), detail=f"forwarded: HTTP {r.status_code}",
                              delivered=True)
        if r.status_code >= 500 or r.status_code in (408, 429):
            return SendResult(Outcome.TRANSIENT, code=str(r.status_code), detail=f"HTTP {r.status_code}")
        return SendResult(Outcome.PERMANENT, code=str(r.status_code), detail=f"refused: HTTP {r.status_code}")

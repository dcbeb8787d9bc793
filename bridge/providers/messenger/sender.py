"""Facebook Messenger adapter (PROTOCOLS §6): the Send API, translated to our outcomes.

A customer is reachable only after they opened our signed m.me link (their PSID is bound to
the order's phone and email), and freely only within 24 h of their last message; outside it the
configured MESSENGER_TAG is used, or the message goes to the next channel of the rule. Graph
answers errors as `{"error": {"code", "error_subcode", "message"}}`; the table below says what
each means for the message.
"""
from __future__ import annotations

import json
import time
from typing import Any

import requests

from ...reasons import N_
from . import contacts as messenger_contacts
from .. import N_
from ..base import RATE_LIMITED, HttpChannel, retry_after, OutgoingMessage, Outcome, SendResult

TEXT_LIMIT = 2000      # Send API text message
BUTTON_TEXT_LIMIT = 640  # button template text
BUTTON_TITLE_LIMIT = 20
QUICK_REPLY_TITLE_LIMIT = 20
QUICK_REPLY_PAYLOAD_LIMIT = 1000
QUICK_REPLIES_MAX = 13

# Graph error code -> (outcome, what it means). Subcodes refine a few below.
GRAPH_CODES: dict[int, tuple[Outcome, str]] = {
    190: (Outcome.PERMANENT, "Messenger page token invalid or expired (MESSENGER_PAGE_TOKEN)"),
    2: (Outcome.TRANSIENT, "Messenger temporarily unavailable"),
    4: (Outcome.TRANSIENT, "Messenger rate limit (application)"),
    17: (Outcome.TRANSIENT, "Messenger rate limit (account)"),
    32: (Outcome.TRANSIENT, "Messenger rate limit (page)"),
    613: (Outcome.TRANSIENT, "Messenger rate limit (calls)"),
    1200: (Outcome.TRANSIENT, "Messenger temporary send failure"),
    551: (Outcome.UNAVAILABLE, "this person is not available on Messenger right now"),
    10: (Outcome.UNAVAILABLE, "outside the window in which the page may message this person"),
    100: (Outcome.UNAVAILABLE, "Messenger refused the recipient or the message type"),
    200: (Outcome.PERMANENT, "the page lacks permission to send (pages_messaging)"),
}
# Graph's "too many calls" codes (Messenger Platform rate limits): seconds before the page asks
# again. 613 is the per-second Send API limit; 4 the app's call budget, 17 the account's and 32
# the page's (Graph's rate-limiting table), counted over hours.
RATE_WAITS: dict[str, float] = {"613": 5.0, "4": 60.0, "17": 60.0, "32": 60.0}
GRAPH_SUBCODES: dict[int, tuple[Outcome, str]] = {
    2018278: (Outcome.UNAVAILABLE, "outside the 24 h window and the tag is not allowed"),
    2018001: (Outcome.UNAVAILABLE, "no Messenger user with this id"),
    2018108: (Outcome.UNAVAILABLE, "this person cannot receive messages from the page"),
    1545041: (Outcome.UNAVAILABLE, "this person is not available on Messenger right now"),
}


def translate_error(status: int, body: Any) -> tuple[Outcome, str, str]:
    """(outcome, code, readable reason) of a Graph error answer."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        if status >= 500 or status == 429:
            return Outcome.TRANSIENT, f"http-{status}", f"Graph HTTP {status}"
        return Outcome.PERMANENT, f"http-{status}", f"Graph HTTP {status} without an error body: check GRAPH_BASE_URL"
    code, sub = err.get("code"), err.get("error_subcode")
    outcome, meaning = GRAPH_SUBCODES.get(sub) if sub in GRAPH_SUBCODES else GRAPH_CODES.get(
        code, (Outcome.TRANSIENT if status >= 500 else Outcome.PERMANENT, "Messenger error"))
    text = f"{meaning} (Graph {code}{'/' + str(sub) if sub else ''}: {err.get('message', '')})".strip()
    return outcome, str(code if not sub else f"{code}/{sub}"), text


def graph_error(r: requests.Response) -> SendResult:
    """A Graph error answer as our outcome; a 5xx may have sent the message all the same."""
    try:
        data = r.json()
    except ValueError:
        data = None
    outcome, code, reason = translate_error(r.status_code, data)
    # nothing was sent: wait, then the same message again (not an attempt). The code may come with
    # a subcode ("613/1390008"); a 429 without Graph's error body is the same "too many calls".
    main = code.split("/", 1)[0]
    if main in RATE_WAITS or r.status_code == 429:
        wait = RATE_WAITS.get(main) or retry_after(r.headers.get("Retry-After"), default=RATE_WAITS["613"])
        return SendResult(Outcome.DEFERRED, code=RATE_LIMITED, detail=reason, raw=r.text[:2000],
                          retry_at=time.time() + wait)
    return SendResult(outcome, code=code, detail=reason, raw=r.text[:2000] or json.dumps(data),
                      maybe_taken=r.status_code >= 500)


class MessengerChannel(HttpChannel):
    who = "Graph"
    price_label = N_("Facebook Messenger (free)")
    billed_per = "message"

    @property
    def configured(self) -> bool:
        return bool(self.settings.messenger_page_token)

    def read_timeout(self) -> float:
        return self.settings.messenger_timeout

    @property
    def why_not_configured(self) -> str:
        return "" if self.configured else N_("MESSENGER_PAGE_TOKEN is not set")

    def body(self, psid: str, msg: OutgoingMessage, tag: str | None) -> dict[str, Any]:
        """The Send API request: plain text, or a button template when the rule has a link; with
        quick replies (up to 13, titles of 20 characters) when the message asks a question."""
        link = msg.meta.get("link") if isinstance(msg.meta.get("link"), dict) else None
        if link and link.get("url"):
            message: dict[str, Any] = {"attachment": {"type": "template", "payload": {
                "template_type": "button", "text": msg.text[:BUTTON_TEXT_LIMIT],
                "buttons": [{"type": "web_url", "url": link["url"],
                             "title": (link.get("title") or "Xem")[:BUTTON_TITLE_LIMIT]}]}}}
        else:
            message = {"text": msg.text[:TEXT_LIMIT]}
        answers = msg.meta.get("quick_replies")
        if isinstance(answers, list) and answers:   # the answers a question offers (a COD confirmation's)
            message["quick_replies"] = [
                {"content_type": "text", "title": str(a.get("title", ""))[:QUICK_REPLY_TITLE_LIMIT],
                 "payload": str(a.get("payload", ""))[:QUICK_REPLY_PAYLOAD_LIMIT]}
                for a in answers[:QUICK_REPLIES_MAX] if isinstance(a, dict) and a.get("title")]
        out: dict[str, Any] = {"recipient": {"id": psid}, "message": message}
        if tag:
            out.update(messaging_type="MESSAGE_TAG", tag=tag)
        else:
            out["messaging_type"] = "RESPONSE"
        return out

    def budgets(self) -> tuple[tuple[str, float], ...]:
        return (("messenger", self.settings.messenger_max_per_second),)

    def send(self, msg: OutgoingMessage) -> SendResult:
        s = self.settings
        contact = messenger_contacts.find(self.db, msg.recipient, msg.meta)
        if contact is None:
            return SendResult(Outcome.UNAVAILABLE, code="no-psid",
                              detail="the customer has not linked Messenger (no m.me referral from them)")
        tag = None
        if not contact.in_window():
            if not s.messenger_tag:
                return SendResult(Outcome.UNAVAILABLE, code="window",
                                  detail="more than 24 h since the customer last wrote, and no MESSENGER_TAG")
            tag = s.messenger_tag
        body = self.body(contact.psid, msg, tag)
        # The token goes in a header (Graph takes it there as well as in the query): URLs end up
        # in access logs and exception texts, headers do not.
        r = self.request("POST", f"{s.graph_base_url}/me/messages", json=body, errors=graph_error,
                         headers={"Authorization": f"Bearer {s.messenger_page_token}"})
        if isinstance(r, SendResult):
            return r
        raw = r.text[:2000]
        try:
            data = r.json()
        except ValueError:
            data = None
        if r.status_code == 200 and isinstance(data, dict) and data.get("message_id"):
            how = f"tag {tag}" if tag else "within 24 h"
            return SendResult(Outcome.ACCEPTED, provider_id=str(data["message_id"]), code="200",
                              detail=f"accepted by Messenger for PSID {contact.psid} ({how})", raw=raw,
                              device=None)
        return graph_error(r)

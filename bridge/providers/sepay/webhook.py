"""POST /inbound/sepay: SePay pushes one bank transaction per request, authenticated by an API
key or an HMAC signature (SEPAY_AUTH). Whatever we take (a credit, a debit, the same id again)
is answered `{"success": true}`, so SePay stops retrying; a refusal is `{"success": false, ...}`
with 401 or 400 and recorded where the admin sees refusals."""
from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any, Callable

from ...config import Settings
from ..base import Refused, Request, Webhook, secret_matches
from .transactions import BadTransaction, from_webhook

# UNCERTAIN (PAYMENT_SOURCES.md §1): SePay's page on HMAC does not show, where we could read it,
# the signature header and the string it signs. Every integration we found sends
# `X-SePay-Signature: sha256=<hex>` over "{X-SePay-Timestamp}.{raw body}"; these three lines are
# the whole of that assumption.
SIGNATURE_HEADER = "X-SePay-Signature"
TIMESTAMP_HEADER = "X-SePay-Timestamp"          # the timestamp header is SePay's documented one


def signed_message(timestamp: str, body: bytes) -> bytes:
    return timestamp.encode() + b"." + body


MAX_SKEW = 300      # SePay's advice: refuse a timestamp more than 5 minutes from our clock (no replay later)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """What SePay puts in SIGNATURE_HEADER for this body (the fake SePay signs with it too)."""
    return "sha256=" + hmac.new(secret.encode(), signed_message(timestamp, body), hashlib.sha256).hexdigest()


def _timestamp_problem(ts: str, now: float) -> str | None:
    if not ts.isascii() or not ts.isdigit() or len(ts) > 13:
        return f"{TIMESTAMP_HEADER} {ts[:20]!r} is not Unix seconds"
    seconds = int(ts) / 1000 if len(ts) == 13 else int(ts)    # milliseconds are read as such
    skew = abs(now - seconds)
    if skew > MAX_SKEW:
        return f"{TIMESTAMP_HEADER} is {int(skew)} s away from our clock (more than {MAX_SKEW} s): not replayed"
    return None


class SepayWebhook(Webhook):
    rule = "/inbound/sepay"

    def validate(self, req: Request, settings: Settings) -> None:
        """The API key (constant-time compare) or the HMAC signature over timestamp and body,
        whichever SEPAY_AUTH names; the other one is refused with a hint, so a webhook set up
        with the wrong method in my.sepay.vn says so in the refusals instead of only "401"."""
        if settings.sepay_auth == "hmac":
            self._signed(req, settings)
            return
        auth = req.headers.get("Authorization", "")
        scheme, _, given = auth.strip().partition(" ")
        if scheme.lower() != "apikey":
            hint = (f" (this request is signed: set SEPAY_AUTH=hmac, or choose API Key in the webhook's "
                    "security step)" if req.headers.get(SIGNATURE_HEADER) else "")
            raise Refused(401, "missing 'Authorization: Apikey <SEPAY_API_KEY>'" + hint)
        if not secret_matches(given.strip(), settings.sepay_api_key):
            raise Refused(401, "Authorization: Apikey does not match SEPAY_API_KEY")

    def _signed(self, req: Request, settings: Settings) -> None:
        sig, ts = req.headers.get(SIGNATURE_HEADER, "").strip(), req.headers.get(TIMESTAMP_HEADER, "").strip()
        if not sig or not ts:
            hint = (" (this request carries an API key: set SEPAY_AUTH=apikey, or choose HMAC-SHA256 in the "
                    "webhook's security step)" if req.headers.get("Authorization", "").lower().startswith("apikey")
                    else "")
            raise Refused(401, f"SEPAY_AUTH=hmac: both {SIGNATURE_HEADER} and {TIMESTAMP_HEADER} are needed" + hint)
        problem = _timestamp_problem(ts, time.time())
        if problem:
            raise Refused(401, problem)
        given = sig[7:] if sig.lower().startswith("sha256=") else sig
        expected = signature(settings.sepay_webhook_secret, ts, req.body)[7:]
        if not settings.sepay_webhook_secret or not hmac.compare_digest(expected.encode(), given.lower().encode()):
            raise Refused(401, f"{SIGNATURE_HEADER} does not match: HMAC-SHA256(SEPAY_WEBHOOK_SECRET, "
                               f"'<{TIMESTAMP_HEADER}>.<raw body>'), hex")

    def parse(self, req: Request, settings: Settings) -> list[Any]:
        data = req.json_object("(one SePay transaction)")
        try:
            return [from_webhook(data, req.body.decode("utf-8-sig"))]
        except BadTransaction as exc:
            raise Refused(400, str(exc)) from None

    def answer(self, events: list[Any], results: list[Any]) -> tuple[Any, int]:
        """SePay reads `success` only; the rest says what became of it, for a person testing."""
        return {"success": True, **results[0]}, 200

    def refusal(self, status: int, reason: str) -> tuple[Any, int]:
        return {"success": False, "error": reason}, status


webhook = SepayWebhook()


def endpoints(bridge: Any, _: Callable[..., str] | None = None) -> list[tuple[str, str, str]]:
    """What to paste into my.sepay.vn → WebHooks: for the banner, or (given the admin's gettext)
    the settings page."""
    s = bridge.settings
    url = f"{s.public_url}/inbound/sepay"
    if s.sepay_auth == "hmac":
        if _ is None:
            return [("SePay webhook", url, f"security HMAC-SHA256, secret key {s.sepay_webhook_secret}")]
        return [(_("SePay webhook"), url,
                 _("In my.sepay.vn → WebHooks, security step: HMAC-SHA256 with the secret key %(key)s.",
                   key=s.sepay_webhook_secret))]
    if _ is None:
        return [("SePay webhook", url, f"security API Key, key {s.sepay_api_key}")]
    return [(_("SePay webhook"), url,
             _("In my.sepay.vn → WebHooks, security step: API Key, with the key %(key)s.", key=s.sepay_api_key))]

"""POST /inbound/notification: app notifications (MoMo, bank apps) from a notification forwarder
on the shop's phone, read like bank SMS by the payment handler."""
from __future__ import annotations

from typing import Any, Callable

from ...config import Settings
from ...events import ReceivedText
from ..base import Refused, Request, Webhook, secret_matches
from ..common import BadTime, legacy_hint, parse_time, signature_ok, signed_headers, timestamp_problem

# Android package -> the sender name the bank parsers know, when the forwarder does not say
KNOWN_APPS = {"com.mbmobile": "MBBank", "com.mservice.momotransfer": "MoMo"}


class NotificationWebhook(Webhook):
    rule = "/inbound/notification"

    def validate(self, req: Request, settings: Settings) -> None:
        """Signed like SMSGate: X-Signature = hex HMAC-SHA256(NOTIFY_TOKEN, raw body + X-Timestamp),
        X-Timestamp within 5 minutes: the body cannot be altered and an old request cannot be
        replayed later. A bearer token (NOTIFY_AUTH=bearer, the default) is accepted too because
        the forwarder apps a shop can install (MacroDroid, Tasker, notification forwarders) send a
        fixed header but cannot compute an HMAC; it travels in a header over TLS, never in a URL
        or a log."""
        sig, ts = signed_headers(req)
        if sig or ts:
            if not sig or not ts:
                raise Refused(401, "signed requests need both X-Signature and X-Timestamp")
            problem = timestamp_problem(ts)
            if problem:
                raise Refused(401, problem)
            if not signature_ok(req.body, ts.strip(), sig, settings.notify_token):
                raise Refused(401, "X-Signature does not match: sign body + X-Timestamp with NOTIFY_TOKEN "
                                   "(HMAC-SHA256, hex)")
            return
        auth = req.headers.get("Authorization", "")
        given = auth[7:].strip() if auth.startswith("Bearer ") else None
        if settings.notify_auth == "signed":
            raise Refused(401, "NOTIFY_AUTH=signed: sign the request (X-Signature, X-Timestamp); "
                               "a bearer token is not accepted")
        if not secret_matches(given, settings.notify_token):
            raise Refused(401, "missing or wrong 'Authorization: Bearer <NOTIFY_TOKEN>' (or sign the request)"
                          + legacy_hint(given, settings))

    def parse(self, req: Request, settings: Settings) -> list[Any]:
        data = req.json_object("{device, package, title, text, posted_at}")
        text, package = data.get("text"), data.get("package")
        if not isinstance(text, str) or not text:
            raise Refused(400, "field 'text' (the notification text) is required")
        for field in ("package", "title", "device", "app", "id"):
            if data.get(field) is not None and not isinstance(data[field], (str, int)):
                raise Refused(400, f"field {field!r} must be text")
        app = str(data.get("app") or KNOWN_APPS.get(str(package or "")) or data.get("title") or package or "")
        if not app:
            raise Refused(400, "say which app posted it: 'package' (or 'app')")
        try:
            received = parse_time(data.get("posted_at"), "posted_at")
        except BadTime as exc:
            raise Refused(400, str(exc)) from None
        return [ReceivedText(source="notification", external_id=str(data.get("id") or ""), sender=app, text=text,
                             raw=req.body.decode("utf-8"), device=str(data.get("device") or ""),
                             received_at=received, package=str(package) if package else None,
                             title=str(data["title"]) if data.get("title") else None)]

    def answer(self, events: list[Any], results: list[Any]) -> tuple[Any, int]:
        return {"ok": True, **results[0]}, 200


webhook = NotificationWebhook()


def endpoints(bridge: Any, _: Callable[..., str] | None = None) -> list[tuple[str, str, str]]:
    """How the forwarder on the phone must call us: for the banner, or (given the admin's
    gettext) the settings page."""
    s = bridge.settings
    url = f"{s.public_url}/inbound/notification"
    if _ is None:
        note = (f"X-Signature = hex HMAC-SHA256(NOTIFY_TOKEN, body + X-Timestamp), NOTIFY_TOKEN {s.notify_token}"
                + ("" if s.notify_auth == "signed" else f"; or Authorization: Bearer {s.notify_token}"))
        return [("App notifications", url, note)]
    note = _("Sign each request: X-Timestamp (Unix seconds) and X-Signature = hex HMAC-SHA256(NOTIFY_TOKEN, body + "
             "X-Timestamp); NOTIFY_TOKEN: %(key)s.", key=s.notify_token)
    if s.notify_auth != "signed":
        note += " " + _("Or send the header Authorization: Bearer %(key)s.", key=s.notify_token)
    return [(_("App notifications"), url, note)]

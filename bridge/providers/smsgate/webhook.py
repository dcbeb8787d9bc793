"""POST /inbound/smsgate: what the shop's phones tell us (PROTOCOLS §5): a received SMS, the fate of
one we sent, or a ping. Signed with SMSGATE_SIGNING_KEY over body + X-Timestamp, so a captured
request cannot be altered or replayed minutes later."""
from __future__ import annotations

from typing import Any, Callable

from ...config import Settings
from ...events import Acknowledged, DeliveryReport, ReceivedText
from ..base import Refused, Request, StatusReport, Webhook
from ..common import BadTime, parse_time, signature_ok, signed_headers, timestamp_problem
from .sender import WEBHOOK_EVENT


class SmsGateWebhook(Webhook):
    rule = "/inbound/smsgate"

    def validate(self, req: Request, settings: Settings) -> None:
        sig, ts = signed_headers(req)
        if not sig or not ts:
            raise Refused(401, "missing X-Signature or X-Timestamp: SMSGate webhooks must be signed "
                               "(set the signing key in the app to SMSGATE_SIGNING_KEY)")
        problem = timestamp_problem(ts)
        if problem:
            raise Refused(401, problem)
        if not signature_ok(req.body, ts, sig, settings.smsgate_signing_key):
            raise Refused(401, "X-Signature does not match: the signing key differs from SMSGATE_SIGNING_KEY")

    def parse(self, req: Request, settings: Settings) -> list[Any]:
        envelope = req.json()
        if not isinstance(envelope, dict) or not isinstance(envelope.get("event"), str):
            raise Refused(400, "body must be a JSON object with an 'event'")
        event, payload = envelope["event"], envelope.get("payload")
        if event == "system:ping":
            return [Acknowledged("smsgate-webhook", event)]
        if not isinstance(payload, dict):
            raise Refused(400, f"{event}: 'payload' must be an object")
        raw = req.body.decode("utf-8")
        if event == "sms:received":
            return [self._received(envelope, payload, raw)]
        normalized = WEBHOOK_EVENT.get(event)
        if normalized is None:   # an event we did not register for: answered, so it is not retried for days
            return [Acknowledged("smsgate-webhook", event, ignored=True)]
        message_id = payload.get("messageId")
        if not isinstance(message_id, str) or not message_id:
            raise Refused(400, f"{event}: payload.messageId is required")
        detail = f"SMSGate {event}" + (f": {payload['reason']}" if payload.get("reason") else "")
        report = StatusReport(event=normalized, provider_status=event, detail=detail, raw=raw)
        return [DeliveryReport("smsgate-webhook", report, message_id)]

    @staticmethod
    def _received(envelope: dict[str, Any], payload: dict[str, Any], raw: str) -> ReceivedText:
        text, sender = payload.get("message"), payload.get("sender") or payload.get("phoneNumber")
        if not isinstance(text, str):
            raise Refused(400, "sms:received: payload.message (the SMS text) is required and must be text")
        if not isinstance(sender, str) or not sender:
            raise Refused(400, "sms:received: payload.sender is required")
        sim = payload.get("simNumber")
        try:
            received_at = parse_time(payload.get("receivedAt"), "payload.receivedAt")
        except BadTime as exc:
            raise Refused(400, f"sms:received: {exc}") from None
        return ReceivedText(source="smsgate", external_id=str(payload.get("messageId") or envelope.get("id") or ""),
                            sender=sender, text=text, raw=raw, device=str(envelope.get("deviceId") or ""),
                            sim=sim if isinstance(sim, int) and not isinstance(sim, bool) else None,
                            recipient=str(payload.get("recipient") or ""), received_at=received_at)

    def answer(self, events: list[Any], results: list[Any]) -> tuple[Any, int]:
        result = dict(results[0])
        if isinstance(events[0], ReceivedText):
            result.pop("decision", None)   # the phone needs to know it is stored, not what we made of it
        return {"ok": True, **result}, 200


webhook = SmsGateWebhook()


def endpoints(bridge: Any, _: Callable[..., str] | None = None) -> list[tuple[str, str, str]]:
    """What to paste into the SMSGate app: for the banner, or (given the admin's gettext) the
    settings page."""
    s = bridge.settings
    url = f"{s.public_url}/inbound/smsgate"
    if _ is not None:
        return [(_("SMSGate webhooks"), url, _("Signing key: %(key)s", key=s.smsgate_signing_key))]
    origin = bridge.secret_origin["smsgate_signing_key"]
    return [("SMSGate webhooks", url,
             f"signing key: {s.smsgate_signing_key}" + ("" if origin == "configured" else f", {origin} in the database"))]

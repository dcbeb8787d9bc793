"""GET /callbacks/esms: eSMS delivery reports (seed 002), unsigned, guarded by our token.

The token travels to eSMS inside every message's CallbackUrl, so it opens this endpoint only: it
can move a message's delivery status, never pay an order."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from ...config import Settings
from ...events import DeliveryReport
from ..base import Refused, Request, Webhook, secret_matches
from .sender import is_zalo_report, normalize_status


class DeliveryCallback(Webhook):
    rule = "/callbacks/esms"
    methods = ("GET",)
    secret_in_query = True

    def validate(self, req: Request, settings: Settings) -> None:
        given = req.args.get("token")
        if not secret_matches(given, settings.esms_callback_token):
            reason = "missing or wrong token" if given is not None else "missing token"
            raise Refused(403, f"{reason}: use the callback URL shown at start (ESMS_CALLBACK_TOKEN)")

    def parse(self, req: Request, settings: Settings) -> list[Any]:
        smsid = (req.args.get("SMSID") or "").strip()
        request_id = (req.args.get("RequestId") or "").strip()
        if not smsid and not request_id:
            raise Refused(400, "SMSID or RequestId is required")
        params = {k: v for k, v in req.args.items() if k != "token"}
        report = normalize_status(params)
        if is_zalo_report(params) and smsid:
            # ZNS-then-SMS (MultiChannel): a failed Zalo leg means eSMS sends the SMS itself now.
            report = replace(report, provider_retries="eSMS sends the SMS instead")
        return [DeliveryReport("esms-callback", report, smsid or None, request_id or None)]

    def answer(self, events: list[Any], results: list[Any]) -> tuple[Any, int]:
        return {"ok": True, **results[0]}, 200


callback = DeliveryCallback()

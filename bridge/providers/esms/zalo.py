"""Zalo ZNS through eSMS.vn (PROTOCOLS §3, seeds 001 and 002).

ZNS sends a template registered for the shop's Zalo Official Account, not free text: the rule
names the template (`zns.template_id`) and renders its parameters (`zns.data`). Two channels:

- `zalo`: ZNS alone (`SendZaloMessage_V5_post`). When it fails, our own chain moves on
  (`channel: [zalo, esms]`), so the customer's SMS goes out with its own RequestId.
- `zalo-sms`: ZNS with eSMS's own SMS fallback (`MultiChannelMessage`): one request, eSMS sends
  the SMS itself when Zalo cannot deliver. A Zalo failure report is then not the end of the
  message; only the SMS report is.

Same account, same codes and same callback as eSMS SMS, so this builds on the eSMS adapter.
"""
from __future__ import annotations

from typing import Any

from ...phones import national
from .. import N_
from ..base import Outcome, OutgoingMessage, SendResult
from .sender import SEND_CODES, EsmsChannel

ZNS_PATH = "/json/SendZaloMessage_V5_post/"
MULTI_PATH = "/json/MultiChannelMessage/"

ZNS_CODES: dict[str, tuple[Outcome, str]] = {
    **SEND_CODES,
    "789": (Outcome.PERMANENT, "Zalo: this ZNS template is not set up for the Official Account (ZALO_OAID)"),
    "799": (Outcome.PERMANENT, "Zalo: the Official Account is not active (ZALO_OAID)"),
}


class ZaloZnsChannel(EsmsChannel):
    path = ZNS_PATH
    price_label = N_("Zalo ZNS (eSMS)")
    billed_per = "message"
    bulk = ""             # a ZNS template, not a text

    @property
    def configured(self) -> bool:
        return self.settings.esms_configured and bool(self.settings.zalo_oaid)

    @property
    def why_not_configured(self) -> str:
        keys, oaid = self.settings.esms_configured, bool(self.settings.zalo_oaid)
        if keys and oaid:
            return ""
        if not keys and not oaid:
            return N_("ESMS_API_KEY and ESMS_SECRET_KEY and ZALO_OAID not set")
        return N_("ZALO_OAID not set") if keys else N_("ESMS_API_KEY and ESMS_SECRET_KEY not set")

    def budgets(self) -> tuple[tuple[str, float], ...]:
        """A ZNS request counts against the eSMS account and against the ZNS budget."""
        return (*super().budgets(), ("zalo", self.settings.zalo_max_per_second))

    def body(self, msg: OutgoingMessage, zns: dict[str, Any]) -> dict[str, Any]:
        s = self.settings
        return {
            "ApiKey": s.esms_api_key, "SecretKey": s.esms_secret_key, "OAID": s.zalo_oaid,
            "Phone": national(msg.recipient), "TempID": str(zns["template_id"]),
            "TempData": [{"key": k, "value": str(v)} for k, v in (zns.get("data") or {}).items()],
            "Sandbox": "1" if s.esms_sandbox else "0", "RequestId": msg.id, "CallbackUrl": self.callback_url(),
        }

    def send(self, msg: OutgoingMessage) -> SendResult:
        if not msg.recipient.startswith("+84"):
            return SendResult(Outcome.UNAVAILABLE, code="not-vn",
                              detail=f"Zalo ZNS reaches Vietnamese numbers only, not {msg.recipient}")
        zns = msg.meta.get("zns")
        if not zns or not zns.get("template_id"):
            return SendResult(Outcome.PERMANENT, code="no-template",
                              detail="the rule has no 'zns' template for this Zalo channel")
        return self.post(self.path, self.body(msg, zns), ZNS_CODES)


class ZaloSmsChannel(ZaloZnsChannel):
    """ZNS first, and eSMS itself sends the SMS text when Zalo cannot deliver."""

    path = MULTI_PATH
    provider_falls_back = True
    price_label = N_("Zalo ZNS, then SMS if Zalo cannot deliver (eSMS)")

    def body(self, msg: OutgoingMessage, zns: dict[str, Any]) -> dict[str, Any]:
        s = self.settings
        sms: dict[str, Any] = {"Content": msg.text, "IsUnicode": 1 if msg.unicode else 0,
                               "SmsType": int(s.esms_sms_type), "CallbackUrl": self.callback_url()}
        if s.esms_brandname:
            sms["Brandname"] = s.esms_brandname
        return {
            "ApiKey": s.esms_api_key, "SecretKey": s.esms_secret_key, "Phone": national(msg.recipient),
            "Channels": ["zalo", "sms"],
            "Data": [{"TempID": str(zns["template_id"]),
                      "Params": [str(v) for v in (zns.get("data") or {}).values()],
                      "OAID": s.zalo_oaid, "CallbackUrl": self.callback_url(), "RequestId": msg.id},
                     sms],
        }

    def send(self, msg: OutgoingMessage) -> SendResult:
        if not msg.recipient.startswith("+84"):
            return SendResult(Outcome.UNAVAILABLE, code="not-vn",
                              detail=f"Zalo and eSMS reach Vietnamese numbers only, not {msg.recipient}")
        return super().send(msg)

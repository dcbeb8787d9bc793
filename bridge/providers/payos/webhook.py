"""POST /inbound/payos: payOS tells us a payment link was paid. `data` is signed (signature.py);
nothing else in the body is, so nothing else is read to decide.

A payment for a link we made becomes a BankTransaction (transactions.py) that the payment
handler decides like any bank credit, with the link's order number as a signed order hint. A
signed notification for an orderCode we made no link for (payOS's own check when the URL is
registered, which sends sample data, or a link made by another integration of the shop) is
answered 200 and books nothing."""
from __future__ import annotations

import logging
from typing import Any, Callable

from ...config import Settings
from ...events import Acknowledged
from ...store import payos as store
from ..base import Refused, Request, Webhook
from .signature import data_signed
from .transactions import bank_transaction

log = logging.getLogger(__name__)


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit() \
            or not str(value).strip().isascii():   # "²" is a digit to isdigit, not to int
        raise Refused(400, f"data.{name} must be a whole number, not {str(value)[:40]!r}")
    return int(value)


class PayosWebhook(Webhook):
    rule = "/inbound/payos"

    def validate(self, req: Request, settings: Settings) -> None:
        if not settings.payos_checksum_key:
            raise Refused(404, "payOS is not configured here (PAYOS_CHECKSUM_KEY is unset)")
        body = req.json_object("{code, desc, success, data, signature}")
        if not isinstance(body.get("data"), dict):
            raise Refused(400, "field 'data' (the payment payOS signs) must be an object")
        signature = body.get("signature")
        if not isinstance(signature, str) or not signature.strip():
            raise Refused(401, "field 'signature' is missing: payOS signs every notification")
        if not data_signed(body["data"], signature, settings.payos_checksum_key):
            raise Refused(401, "signature does not match 'data' (hex HMAC-SHA256 with PAYOS_CHECKSUM_KEY over the "
                               "sorted key=value pairs): wrong key, or not from payOS")

    def parse(self, req: Request, settings: Settings) -> list[Any]:
        data = req.json_object()["data"]
        order_code = _int(data.get("orderCode"), "orderCode")
        link = store.link_for_code(settings.db_path, order_code)
        link_id = str(data.get("paymentLinkId") or "")
        if link is None or (link["link_id"] and link["link_id"] != link_id):
            log.info("payOS notification for orderCode %s (link %s): no payment link of ours; nothing booked",
                     order_code, link_id or "-")
            return [Acknowledged("payos", f"orderCode {order_code}: no payment link of ours (payOS's URL check or "
                                          "another integration); nothing booked", ignored=True)]
        if str(data.get("code")) != "00":
            return [Acknowledged("payos", f"orderCode {order_code}: payment not successful "
                                          f"({data.get('code')}: {str(data.get('desc'))[:80]}); nothing booked",
                                 ignored=True)]
        amount = _int(data.get("amount"), "amount")
        if amount <= 0:
            raise Refused(400, "data.amount must be more than 0")
        return [bank_transaction(settings, link, {**data, "amount": amount}, link_id or link["link_id"])]

    def answer(self, events: list[Any], results: list[Any]) -> tuple[Any, int]:
        """payOS's documented answer; what we made of it travels along for people reading logs."""
        return {"success": True, **(results[0] if results and results[0] else {})}, 200

    def refusal(self, status: int, reason: str) -> tuple[Any, int]:
        return {"success": False, "error": reason}, status


webhook = PayosWebhook()


def endpoints(bridge: Any, translate: Callable[..., str] | None = None) -> list[tuple[str, str, str]]:
    """Where payOS must send its payments (banner and settings page); nothing while it is off."""
    s = bridge.settings
    if not s.payos_configured:
        return []
    _ = translate or (lambda text: text)
    url = f"{s.public_url}/inbound/payos"
    return [(_("payOS payments"), url,
             _("Register it with `python -m bridge payos-confirm-webhook` (or in my.payos.vn); each notification is "
               "signed with PAYOS_CHECKSUM_KEY."))]

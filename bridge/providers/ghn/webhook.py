"""POST /inbound/ghn?token=…: GHN's order-status webhook (PAYMENT_SOURCES.md §5a).

GHN staff register the callback URL; GHN signs nothing, so the URL carries our own secret
(GHN_WEBHOOK_TOKEN, compared in constant time, redacted from access logs and recorded refusals).
One JSON object per call, `Type` create / switch_status / update_weight / update_cod /
update_fee (the docs capitalize them, the sample does not: either is read). Whatever is stored
(a new status, a repeat, an unknown word) is answered 200, since GHN retries anything else only
ten times, five seconds apart; a wrong token is 401/403, a body we cannot read 400.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any, Callable

from ...config import Settings
from ...events import ShipmentUpdate
from ..base import Refused, Request, Webhook, require_query_secret
from .statuses import STATUS_TYPES, ours

MAX_CODE = 64


def iso_time(value: Any) -> float | None:
    """GHN's ISO-8601 time ("2021-11-11T03:52:50.158Z"; UTC when it names no zone) as Unix seconds."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()


def amount(value: Any) -> int | None:
    """A whole number of dong, as a number or as text; None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and value == int(value) and value >= 0:
        return int(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) <= 15:
        return int(value.strip())
    return None


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""


def from_webhook(data: dict[str, Any], raw: str) -> ShipmentUpdate:
    code = _text(data, "OrderCode")
    if not code:
        raise Refused(400, "OrderCode (GHN's tracking code) is missing")
    if len(code) > MAX_CODE:
        raise Refused(400, f"OrderCode is longer than {MAX_CODE} characters")
    kind = _text(data, "Type").lower()
    word = _text(data, "Status")
    status = ours(word) if kind in STATUS_TYPES or not kind else ""
    time = _text(data, "Time")
    cod = amount(data.get("CODAmount"))
    # GHN's retries are the same call; a later call about the same parcel differs in one of these
    key = f"ghn:{code}:{kind}:{word}:{time}:{cod}:{_text(data, 'TotalFee')}:{_text(data, 'Weight')}"
    if not time:
        key += ":" + hashlib.sha256(raw.encode()).hexdigest()[:16]
    reason = " ".join(x for x in (_text(data, "ReasonCode"), _text(data, "Reason")) if x)
    return ShipmentUpdate(carrier="ghn", tracking=code, order_ref=_text(data, "ClientOrderCode"), status=status,
                          carrier_status=word, event_at=iso_time(time), raw=raw, dedupe_key=key, cod_amount=cod,
                          reason=reason[:500], kind=kind)


class GhnWebhook(Webhook):
    rule = "/inbound/ghn"
    secret_in_query = True

    def validate(self, req: Request, settings: Settings) -> None:
        require_query_secret(req, "token", settings.ghn_webhook_token, "GHN_WEBHOOK_TOKEN")

    def parse(self, req: Request, settings: Settings) -> list[Any]:
        data = req.json_object("(one GHN order event)")
        return [from_webhook(data, req.body.decode("utf-8-sig"))]

    def answer(self, events: list[Any], results: list[Any]) -> tuple[Any, int]:
        return {"ok": True, **results[0]}, 200


webhook = GhnWebhook()


def endpoints(bridge: Any, _: Callable[..., str] | None = None) -> list[tuple[str, str, str]]:
    """The callback URL to give GHN staff (with the shop's Client ID, environment Production)."""
    s = bridge.settings
    url = f"{s.public_url}/inbound/ghn?token={s.ghn_webhook_token}"
    if _ is None:
        how = "confirmed with GHN's order-detail API" if s.ghn_token else "no GHN_TOKEN: the URL's token is the only proof"
        return [("GHN webhook", url, f"give it to GHN staff with your Client ID; {how}")]
    how = (_("each call is confirmed with GHN's order-detail API.") if s.ghn_token
           else _("without GHN_TOKEN the token in this URL is the only proof a call comes from GHN."))
    return [(_("GHN webhook"), url, _("Give this URL to GHN staff with your Client ID (environment Production);")
             + " " + how)]

"""POST /inbound/ghtk?hash=…: GHTK's order-status webhook (PAYMENT_SOURCES.md §5b).

GHTK calls the URL it was given, with our own secret as `hash` (compared in constant time,
redacted from access logs and recorded refusals); it signs nothing. The body is form-encoded
(`label_id=…&partner_id=…&status_id=5&…`); the JSON rendering the docs also show is read too
(UNCERTAIN which one a given account sends). Whatever is stored is answered 200 (GHTK retries
anything else, "once" or more: the docs disagree); a wrong hash is 401/403, a body without a
label or a status 400.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from urllib.parse import parse_qsl

from ...config import Settings
from ...events import ShipmentUpdate
from ..base import Refused, Request, Webhook, require_query_secret
from .statuses import MEANINGS, ours

MAX_CODE = 64
VIETNAM = timezone(timedelta(hours=7))


def _time(value: str) -> float | None:
    """GHTK's action_time ("2016-11-02T12:18:39+07:00"); Vietnam's time when it names no zone. The
    docs' own form example sends the "+" unencoded, which a form reads as a space: put back."""
    if not value:
        return None
    value = re.sub(r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$", r"\1+\2", value.strip())
    value = re.sub(r"^(\d{4}-\d{2}-\d{2}) ", r"\1T", value)
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=VIETNAM)).timestamp()


def _amount(value: str) -> int | None:
    """A whole number of dong ("100000", "100000.0"); None when it is not one."""
    try:
        number = float(value)
    except ValueError:
        return None
    return int(number) if number == int(number) and 0 <= number < 1e15 else None


def fields(req: Request) -> tuple[dict[str, str], str]:
    """The call's fields as text, and the body as stored: a form, or a JSON object."""
    try:
        text = req.body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Refused(400, "body is not UTF-8") from None
    if text.lstrip().startswith("{") or "json" in req.headers.get("Content-Type", "").lower():
        data = req.json_object("(one GHTK status update)")
        return {k: ("" if v is None else str(v)) for k, v in data.items()
                if isinstance(v, (str, int, float)) or v is None}, text
    return dict(parse_qsl(text, keep_blank_values=True)), text


def from_fields(f: dict[str, str], raw: str) -> ShipmentUpdate:
    label = f.get("label_id", "").strip()
    if not label:
        raise Refused(400, "label_id (GHTK's tracking code) is missing")
    if len(label) > MAX_CODE:
        raise Refused(400, f"label_id is longer than {MAX_CODE} characters")
    word = f.get("status_id", "").strip()
    try:
        status_id = int(word)
    except ValueError:
        raise Refused(400, f"status_id {word[:20]!r} is not a number") from None
    at = f.get("action_time", "").strip()
    cod = _amount(f.get("pick_money", "").strip()) if f.get("pick_money", "").strip() else None
    reason = " ".join(x for x in (f.get("reason_code", "").strip(), f.get("reason", "").strip()) if x)
    status = ours(status_id)
    if not status and not reason:
        reason = MEANINGS.get(status_id, "")      # the owner reads GHTK's meaning of a number we do not apply
    key = f"ghtk:{label}:{status_id}:{at}:{cod}:{f.get('reason_code', '').strip()}:{f.get('fee', '').strip()}"
    return ShipmentUpdate(carrier="ghtk", tracking=label, order_ref=f.get("partner_id", "").strip(), status=status,
                          carrier_status=str(status_id), event_at=_time(at), raw=raw, dedupe_key=key,
                          cod_amount=cod, reason=reason[:500])


class GhtkWebhook(Webhook):
    rule = "/inbound/ghtk"
    secret_in_query = True

    def validate(self, req: Request, settings: Settings) -> None:
        require_query_secret(req, "hash", settings.ghtk_webhook_hash, "GHTK_WEBHOOK_HASH")

    def parse(self, req: Request, settings: Settings) -> list[Any]:
        f, raw = fields(req)
        return [from_fields(f, raw)]

    def answer(self, events: list[Any], results: list[Any]) -> tuple[Any, int]:
        return {"ok": True, **results[0]}, 200


webhook = GhtkWebhook()


def endpoints(bridge: Any, _: Callable[..., str] | None = None) -> list[tuple[str, str, str]]:
    """The callback URL to give GHTK (its shop settings, or its staff)."""
    s = bridge.settings
    url = f"{s.public_url}/inbound/ghtk?hash={s.ghtk_webhook_hash}"
    if _ is None:
        return [("GHTK webhook", url, "give it to GHTK as the order-status callback URL")]
    return [(_("GHTK webhook"), url, _("Give this URL to GHTK as the order-status callback (webhook) URL."))]

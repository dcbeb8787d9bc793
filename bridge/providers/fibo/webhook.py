"""GET /inbound/fibo: FiboSMS push (seed 003, PROTOCOLS §4). Answered `<Status>2</Status>` once
stored (FiboSMS stops pushing) and `<Status>1</Status>` when we could not store it (it pushes
again, up to 5 times); the same `guid` arriving again is stored once.

Guarded by FIBO_TOKEN alone. The push names its sender in a query parameter, so it proves only
that the token holder sent it: what a bank credit from here may do is FIBO_PAYMENTS."""
from __future__ import annotations

from typing import Any, Callable

from ...config import Settings
from ...events import ReceivedText
from ..base import Refused, Request, Text, Webhook, secret_matches
from ..common import legacy_hint


def status(code: int, http: int = 200) -> tuple[Text, int]:
    """FiboSMS's XML answer: 2 = handled, do not push again; 1 = our error, push again."""
    return Text(f"<Status>{code}</Status>", "text/xml; charset=utf-8"), http


class FiboPush(Webhook):
    rule = "/inbound/fibo"
    methods = ("GET",)
    secret_in_query = True

    def validate(self, req: Request, settings: Settings) -> None:
        given = req.args.get("token")
        if not secret_matches(given, settings.fibo_token):
            raise Refused(403, "missing or wrong token" + legacy_hint(given, settings)
                          + ": use the FiboSMS push URL shown at start (FIBO_TOKEN)")

    def parse(self, req: Request, settings: Settings) -> list[Any]:
        message, phone, guid = req.args.get("message"), req.args.get("phone"), req.args.get("guid")
        missing = [k for k, v in (("message", message), ("phone", phone), ("guid", guid)) if not v]
        if missing:
            raise Refused(400, f"missing query parameter(s): {', '.join(missing)}")
        return [ReceivedText(source="fibo", external_id=str(guid), sender=str(phone), text=str(message),
                             device="fibo", raw={k: v for k, v in req.args.items() if k != "token"})]

    def answer(self, events: list[Any], results: list[Any]) -> tuple[Text, int]:
        return status(2)

    def failed(self, exc: Exception) -> tuple[Text, int]:
        return status(1, 500)   # we could not store it: FiboSMS will push it again


push = FiboPush()


def endpoints(bridge: Any, _: Callable[..., str] | None = None) -> list[tuple[str, str, str]]:
    """The push URL to register in FiboSMS: for the banner, or (given the admin's gettext) the
    settings page, which says what a push may do."""
    s = bridge.settings
    url = f"{s.public_url}/inbound/fibo?token={s.fibo_token}"
    if _ is None:
        return [("FiboSMS push URL", url, f"bank credits: FIBO_PAYMENTS={s.fibo_payments}")]
    mode = {"review": _("queued for a person to confirm"), "confirm": _("confirmed automatically"),
            "off": _("not read as payments")}[s.fibo_payments]
    return [(_("FiboSMS push URL"), url,
             _("A push proves only that the FIBO_TOKEN holder sent it: bank credits from it are %(mode)s "
               "(FIBO_PAYMENTS).", mode=mode))]

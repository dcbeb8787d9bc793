"""POST /inbound/casso: Casso's bank transactions, from a Webhook v1 integration (the secret in
the `Secure-Token` header, `data` a list) or a Webhook V2 one (`X-Casso-Signature`, `data` one
object). Every request proves it comes from Casso, so each credit is decided like a signed bank
SMS; our own reading of the transfer content decides, as for every source."""
from __future__ import annotations

from typing import Any, Callable

from ...config import Settings
from ..base import Refused, Request, Webhook, secret_matches
from . import signature
from .transactions import from_body


class CassoWebhook(Webhook):
    rule = "/inbound/casso"

    def validate(self, req: Request, settings: Settings) -> None:
        """V2: the signature over t and the body, with t within CASSO_SIGNATURE_MAX_AGE of our
        clock (a captured request cannot be replayed later, nor altered). V1: the secret itself in
        `Secure-Token`, compared in constant time (v1 signs nothing: its replays are stopped by
        the transaction id, stored once)."""
        header = req.headers.get(signature.HEADER)
        if header is not None:
            try:
                t, v1 = signature.parse_header(header)
            except signature.BadHeader as exc:
                raise Refused(401, str(exc)) from None
            skew = abs(req.at - t / 1000)
            limit = settings.casso_signature_max_age
            if skew > limit:
                raise Refused(401, f"{signature.HEADER} t is {int(skew)} s away from our clock (more than "
                                   f"{int(limit)} s, CASSO_SIGNATURE_MAX_AGE): a replay, or a wrong clock")
            try:
                ok = signature.matches(req.json(), t, v1, settings.casso_webhook_key)
            except RecursionError:   # nested deeper than we re-serialise: not a body Casso signed
                ok = False
            if not ok:
                raise Refused(401, f"{signature.HEADER} does not match: v1 must be hex HMAC-SHA512 with "
                                   "CASSO_WEBHOOK_KEY of t + '.' + the body as compact JSON with sorted keys")
            return
        token = req.headers.get("Secure-Token")
        if token is None:
            raise Refused(401, "missing Secure-Token (Casso Webhook v1) or X-Casso-Signature (Webhook V2)")
        if not secret_matches(token, settings.casso_secure_token):
            raise Refused(401, "wrong Secure-Token: it must be CASSO_SECURE_TOKEN, the 'Key bảo mật' "
                               "of the Casso webhook")

    def parse(self, req: Request, settings: Settings) -> list[Any]:
        return from_body(req.json_object("{error, data}"))


webhook = CassoWebhook()


def endpoints(bridge: Any, _: Callable[..., str] | None = None) -> list[tuple[str, str, str]]:
    """What to paste into Casso (Thiết lập -> Tích hợp -> Webhook): for the banner, or (given the
    admin's gettext) the settings page."""
    s = bridge.settings
    url = f"{s.public_url}/inbound/casso"
    if _ is None:
        return [("Casso", url, f"Webhook V2: Key bảo mật = CASSO_WEBHOOK_KEY {s.casso_webhook_key}; "
                               f"Webhook v1: Key bảo mật = CASSO_SECURE_TOKEN {s.casso_secure_token}")]
    note = _("Casso → Thiết lập → Tích hợp → Webhook V2: paste this URL and, as Key bảo mật, "
             "CASSO_WEBHOOK_KEY: %(key)s.", key=s.casso_webhook_key)
    note += " " + _("For an older Webhook (v1) integration the Key bảo mật is CASSO_SECURE_TOKEN: %(token)s.",
                    token=s.casso_secure_token)
    return [("Casso", url, note)]

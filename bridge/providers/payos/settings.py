"""payOS settings: the merchant channel's three keys, where its API lives, and the pace of the
link job. Unset keys: payOS is off and nothing in the service changes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ... import envparse as p

KEYS = ("PAYOS_CLIENT_ID", "PAYOS_API_KEY", "PAYOS_CHECKSUM_KEY")


@dataclass(frozen=True)
class PayosSettings:
    payos_client_id: str = ""
    payos_api_key: str = ""
    payos_checksum_key: str = ""         # signs our requests, payOS's answers and its webhooks
    payos_base_url: str = "https://api-merchant.payos.vn"
    # The payOS checkout page of a link, for a link whose create answer was lost (the get-link
    # answer carries no checkoutUrl): UNCERTAIN, seen only in third-party integrations.
    payos_checkout_url: str = "https://pay.payos.vn/web/{id}"
    payos_timeout: float = 10.0          # seconds to wait for payOS's answer to one call
    payos_every: float = 10.0            # seconds between passes creating and cancelling links
    payos_reconcile_every: float = 300.0  # seconds between get-link checks of the open links
    payos_link_hours: float = 72.0       # orders first seen longer ago get no link (turning payOS on)
    # The longest transfer description payOS takes (UNCERTAIN: 25 is quoted for accounts linked
    # through payOS, 9 for others); an order whose payment code is longer gets no link.
    payos_description_max: int = 9

    @property
    def payos_configured(self) -> bool:
        return bool(self.payos_client_id and self.payos_api_key and self.payos_checksum_key)


def config_errors(settings: Any) -> list[str]:
    """Some of the three keys without the others is a typo, not a choice: said by check-config."""
    given = {k: getattr(settings, k.lower()) for k in KEYS}
    if all(given.values()) or not any(given.values()):
        return []
    return ["payOS needs all of " + ", ".join(KEYS) + "; missing: " + ", ".join(k for k, v in given.items() if not v)]


def checkout_template(v: str) -> str:
    if "{id}" not in v:
        raise ValueError("must contain {id} (where the payment link id goes)")
    return p.url(v)


ENV: dict[str, tuple[str, Callable[[str], Any]]] = {
    "PAYOS_CLIENT_ID": ("payos_client_id", str),
    "PAYOS_API_KEY": ("payos_api_key", str),
    "PAYOS_CHECKSUM_KEY": ("payos_checksum_key", str),
    "PAYOS_BASE_URL": ("payos_base_url", p.url),
    "PAYOS_CHECKOUT_URL": ("payos_checkout_url", checkout_template),
    "PAYOS_TIMEOUT": ("payos_timeout", p.positive_float),
    "PAYOS_EVERY": ("payos_every", p.positive_float),
    "PAYOS_RECONCILE_EVERY": ("payos_reconcile_every", p.positive_float),
    "PAYOS_LINK_HOURS": ("payos_link_hours", p.positive_float),
    "PAYOS_DESCRIPTION_MAX": ("payos_description_max", p.positive_int),
}

"""GHN settings: the secret in the callback URL GHN calls, and the shop's API token its calls are
confirmed with (optional: without it the URL's secret is the only proof).

A mixin of `bridge.config.Settings`; the env table below is merged into the one the README and
`.env.example` are checked against.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ... import envparse as p

GHN_REAL_API_URL = "https://online-gateway.ghn.vn"


@dataclass(frozen=True)
class GhnSettings:
    ghn_webhook_token: str = ""          # `?token=` of the callback URL GHN staff register (generated)
    ghn_token: str = ""                  # the shop's GHN API token: each call is confirmed with the order detail
    ghn_shop_id: str = ""                # the shop's GHN ShopId, sent with the token
    ghn_api_url: str = GHN_REAL_API_URL
    ghn_timeout: float = 5.0
    ghn_verify_every: float = 300.0      # seconds between passes over calls GHN's API could not confirm yet


ENV: dict[str, tuple[str, Callable[[str], Any]]] = {
    "GHN_WEBHOOK_TOKEN": ("ghn_webhook_token", str),
    "GHN_TOKEN": ("ghn_token", str),
    "GHN_SHOP_ID": ("ghn_shop_id", str),
    "GHN_API_URL": ("ghn_api_url", p.url),
    "GHN_TIMEOUT": ("ghn_timeout", p.positive_float),
    "GHN_VERIFY_EVERY": ("ghn_verify_every", p.positive_float),
}

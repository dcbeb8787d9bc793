"""SePay settings: how its webhook proves itself, and the API token the reconcile job reads
transactions with.

A mixin of `bridge.config.Settings`; the env table below is merged into the one the README and
`.env.example` are checked against.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ... import envparse as p

SEPAY_REAL_API_URL = "https://my.sepay.vn"


@dataclass(frozen=True)
class SepaySettings:
    sepay_auth: str = "apikey"           # "apikey": Authorization: Apikey <key>; "hmac": signed requests
    sepay_api_key: str = ""              # what SePay sends as `Authorization: Apikey …` (generated)
    sepay_webhook_secret: str = ""       # the HMAC-SHA256 key of signed webhooks (generated)
    sepay_api_token: str = ""            # our token at SePay's API: reconcile reads transactions with it
    sepay_api_url: str = SEPAY_REAL_API_URL
    sepay_timeout: float = 15.0
    sepay_reconcile_every: float = 900.0


ENV: dict[str, tuple[str, Callable[[str], Any]]] = {
    "SEPAY_AUTH": ("sepay_auth", p.choice("apikey", "hmac")),
    "SEPAY_API_KEY": ("sepay_api_key", str),
    "SEPAY_WEBHOOK_SECRET": ("sepay_webhook_secret", str),
    "SEPAY_API_TOKEN": ("sepay_api_token", str),
    "SEPAY_API_URL": ("sepay_api_url", p.url),
    "SEPAY_TIMEOUT": ("sepay_timeout", p.positive_float),
    "SEPAY_RECONCILE_EVERY": ("sepay_reconcile_every", p.positive_float),
}

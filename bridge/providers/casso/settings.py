"""Casso settings: the two webhook secrets (v1 token, v2 signing key), how old a v2 signature may
be, and the API key that lets the reconcile job catch up on what a webhook missed."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ... import envparse as p

API_URL = "https://oauth.casso.vn/v2"


@dataclass(frozen=True)
class CassoSettings:
    casso_secure_token: str = ""          # v1: the "Key bảo mật" Casso sends back as the Secure-Token header
    casso_webhook_key: str = ""           # v2: the "Key bảo mật" that signs X-Casso-Signature (never sent)
    casso_signature_max_age: float = 300.0   # seconds a v2 signature's t may be from our clock, either way
    casso_api_key: str = ""               # "Apikey ..." for the reconcile job; empty: no reconcile
    casso_api_url: str = API_URL
    casso_reconcile_every: float = 600.0
    casso_timeout: float = 20.0


ENV: dict[str, tuple[str, Callable[[str], Any]]] = {
    "CASSO_SECURE_TOKEN": ("casso_secure_token", str),
    "CASSO_WEBHOOK_KEY": ("casso_webhook_key", str),
    "CASSO_SIGNATURE_MAX_AGE": ("casso_signature_max_age", p.positive_float),
    "CASSO_API_KEY": ("casso_api_key", str),
    "CASSO_API_URL": ("casso_api_url", p.url),
    "CASSO_RECONCILE_EVERY": ("casso_reconcile_every", p.positive_float),
    "CASSO_TIMEOUT": ("casso_timeout", p.positive_float),
}

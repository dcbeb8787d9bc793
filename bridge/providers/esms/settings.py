"""eSMS.vn and Zalo ZNS settings: the account, how messages are sent, polling and the balance watch.

A mixin of `bridge.config.Settings` (code reads `settings.esms_api_key` like any core field);
the env table below is merged into the one the README and `.env.example` are checked against.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ... import envparse as p

ESMS_REAL_BASE_URL = "https://rest.esms.vn/MainService.svc"


def sms_type(v: str) -> int:
    """ESMS_SMS_TYPE: only the two kinds a shop sends to its own customers (PROTOCOLS §3)."""
    n = int(v)
    if n not in (2, 8):
        raise ValueError("eSMS SmsType must be 2 (brandname customer care) or 8 (fixed 10-digit number)")
    return n


@dataclass(frozen=True)
class EsmsSettings:
    esms_api_key: str = ""
    esms_secret_key: str = ""
    esms_brandname: str = ""
    esms_sms_type: int = 2
    esms_sandbox: bool = False
    esms_base_url: str = ESMS_REAL_BASE_URL
    esms_timeout: float = 10.0
    esms_low_balance: int = 50_000
    esms_poll_after: float = 600.0
    esms_poll_give_up: float = 86_400.0
    esms_balance_every: float = 3_600.0
    esms_callback_token: str = ""        # in the CallbackUrl handed to eSMS: opens only /callbacks/esms
    zalo_oaid: str = ""
    # Requests per second to eSMS's send API (SMS, ZNS and ZNS-then-SMS together: one account), and
    # to ZNS alone. Neither eSMS nor Zalo documents a per-second limit (only a daily ZNS quota per
    # OA): both numbers are ours (README "Sending speed and rate limits").
    esms_max_per_second: float = 80.0
    zalo_max_per_second: float = 20.0

    @property
    def esms_configured(self) -> bool:
        return bool(self.esms_api_key and self.esms_secret_key)


def config_errors(settings: Any) -> list[str]:
    """One key without the other is a typo, not a choice: said by check-config."""
    if bool(settings.esms_api_key) == bool(settings.esms_secret_key):
        return []
    return ["eSMS needs both ESMS_API_KEY and ESMS_SECRET_KEY; missing: "
            + ("ESMS_SECRET_KEY" if settings.esms_api_key else "ESMS_API_KEY")]


ENV: dict[str, tuple[str, Callable[[str], Any]]] = {
    "ESMS_API_KEY": ("esms_api_key", str),
    "ESMS_SECRET_KEY": ("esms_secret_key", str),
    "ESMS_BRANDNAME": ("esms_brandname", str),
    "ESMS_SMS_TYPE": ("esms_sms_type", sms_type),
    "ESMS_SANDBOX": ("esms_sandbox", p.boolean),
    "ESMS_BASE_URL": ("esms_base_url", p.url),
    "ESMS_TIMEOUT": ("esms_timeout", p.positive_float),
    "ESMS_LOW_BALANCE": ("esms_low_balance", int),
    "ESMS_POLL_AFTER": ("esms_poll_after", p.positive_float),
    "ESMS_POLL_GIVE_UP": ("esms_poll_give_up", p.positive_float),
    "ESMS_BALANCE_EVERY": ("esms_balance_every", p.positive_float),
    "ESMS_CALLBACK_TOKEN": ("esms_callback_token", str),
    "ZALO_OAID": ("zalo_oaid", str),
    "ESMS_MAX_PER_SECOND": ("esms_max_per_second", p.non_negative_float),
    "ZALO_MAX_PER_SECOND": ("zalo_max_per_second", p.non_negative_float),
}

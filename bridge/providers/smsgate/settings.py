"""SMSGate settings: where the phones are, how fast each SIM may send, how a failing one rests."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ... import envparse as p


def gateway_mode(v: str) -> str:
    s = v.strip().lower()
    if s not in ("cloud", "local"):
        raise ValueError("expected cloud (cloud or private server) or local (the phone's own server)")
    return s


@dataclass(frozen=True)
class SmsGateSettings:
    smsgate_url: str = ""
    smsgate_user: str = ""
    smsgate_password: str = ""
    smsgate_mode: str = "cloud"
    smsgate_device_id: str = ""
    smsgate_sim: int | None = None
    smsgate_devices: str = ""
    smsgate_signing_key: str = ""
    smsgate_per_minute: int = 6
    smsgate_per_hour: int = 60
    smsgate_gap_min: float = 10.0
    smsgate_gap_max: float = 25.0
    smsgate_pause_after: int = 5
    smsgate_cooldown: float = 900.0
    smsgate_timeout: float = 10.0
    smsgate_poll_after: float = 300.0
    smsgate_poll_give_up: float = 86_400.0   # a message without a report this long is left as it is

    @staticmethod
    def problems_in(values: dict[str, Any]) -> list[str]:
        """A gap range that cannot be drawn from would stop every phone at its first send."""
        if values.get("smsgate_gap_min", SmsGateSettings.smsgate_gap_min) > \
                values.get("smsgate_gap_max", SmsGateSettings.smsgate_gap_max):
            return ["SMSGATE_GAP_MIN must not be larger than SMSGATE_GAP_MAX"]
        return []


ENV: dict[str, tuple[str, Callable[[str], Any]]] = {
    "SMSGATE_URL": ("smsgate_url", p.url),
    "SMSGATE_USER": ("smsgate_user", str),
    "SMSGATE_PASSWORD": ("smsgate_password", str),
    "SMSGATE_MODE": ("smsgate_mode", gateway_mode),
    "SMSGATE_DEVICE_ID": ("smsgate_device_id", str),
    "SMSGATE_SIM": ("smsgate_sim", p.positive_int),
    "SMSGATE_DEVICES": ("smsgate_devices", str),
    "SMSGATE_SIGNING_KEY": ("smsgate_signing_key", str),
    "SMSGATE_PER_MINUTE": ("smsgate_per_minute", p.positive_int),
    "SMSGATE_PER_HOUR": ("smsgate_per_hour", p.positive_int),
    "SMSGATE_GAP_MIN": ("smsgate_gap_min", float),
    "SMSGATE_GAP_MAX": ("smsgate_gap_max", float),
    "SMSGATE_PAUSE_AFTER": ("smsgate_pause_after", p.positive_int),
    "SMSGATE_COOLDOWN": ("smsgate_cooldown", p.positive_float),
    "SMSGATE_TIMEOUT": ("smsgate_timeout", p.positive_float),
    "SMSGATE_POLL_AFTER": ("smsgate_poll_after", p.positive_float),
    "SMSGATE_POLL_GIVE_UP": ("smsgate_poll_give_up", p.positive_float),
}

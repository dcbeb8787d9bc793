"""What eSMS shows outside its own requests: the callback URL handed to eSMS (banner and admin
settings), the last balance read (dashboard, health, metrics) and the owner's low-balance alert."""
from __future__ import annotations

from typing import Any, Callable

from ...money import format_vnd
from .. import N_, StatusItem

BALANCE_KEY = "esms.balance"        # written by jobs.check_balance


def callback_url(settings: Any) -> str:
    return f"{settings.public_url}/callbacks/esms?token={settings.esms_callback_token}"


def endpoints(bridge: Any, translate: Callable[..., str] | None = None) -> list[tuple[str, str, str]]:
    _ = translate or (lambda text: text)
    return [(_("eSMS delivery callback"), callback_url(bridge.settings),
             _("Sent to eSMS with every message; this token opens nothing else."))]


def balance(bridge: Any) -> list[StatusItem]:
    return [StatusItem("esms_balance", N_("eSMS balance"), bridge.db.kv_get(BALANCE_KEY), unit="vnd",
                       help="Last eSMS balance read")]


def low_balance(bridge: Any) -> list[tuple[str, str, str]]:
    """The owner hears of a balance below ESMS_LOW_BALANCE before eSMS starts refusing (code 103)."""
    value, floor = bridge.db.kv_get(BALANCE_KEY), bridge.settings.esms_low_balance
    if value is None or int(float(value)) >= floor:
        return []
    return [("balance", "esms", f"so du eSMS con {format_vnd(int(float(value)))}, duoi muc {format_vnd(floor)}."
                                " Nap them de khong bi gian doan tin nhan.")]

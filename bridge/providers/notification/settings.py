"""App-notification settings: the forwarder's token and whether it must sign each request."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ... import envparse as p


@dataclass(frozen=True)
class NotificationSettings:
    notify_token: str = ""               # signs (or is the bearer of) /inbound/notification requests
    notify_auth: str = "bearer"          # "signed": only X-Signature/X-Timestamp; "bearer": that or the bearer token


ENV: dict[str, tuple[str, Callable[[str], Any]]] = {
    "NOTIFY_TOKEN": ("notify_token", str),
    "NOTIFY_AUTH": ("notify_auth", p.choice("signed", "bearer")),
}

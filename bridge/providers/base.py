"""What every outbound adapter speaks: our message in, a normalized outcome out.

Adapters translate a provider's vocabulary (result codes, status numbers) into the few words
the outbox understands, the way django-anymail's backends do: mostly a table from the
provider's codes to ours. The raw answer travels with the outcome for the admin to read.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..config import Settings
from ..plugins import load_class

log = logging.getLogger(__name__)


class Outcome(str, Enum):
    ACCEPTED = "accepted"      # the provider took the message (not yet delivered)
    DUPLICATE = "duplicate"    # the provider already had this message id: it was sent before
    TRANSIENT = "transient"    # try again later (provider error, 5xx, timeout, connection)
    PERMANENT = "permanent"    # will not work until someone fixes configuration or data
    DRY_RUN = "dry-run"        # recorded only; the channel has no credentials
    DEFERRED = "deferred"      # not now (no capacity on the phones): wait until retry_at, not an attempt
    UNAVAILABLE = "unavailable"  # this channel cannot reach this recipient (no Messenger link, outside the
                                 # 24 h window): not a failure of the message, the next channel should try


class Event(str, Enum):
    """Normalized delivery events, in the seeds' status vocabulary."""
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class OutgoingMessage:
    id: str              # our message id: the provider's idempotency key
    recipient: str       # E.164
    text: str
    unicode: bool
    segments: int
    channel: str
    meta: dict[str, Any] = field(default_factory=dict)  # the rule's extras (link, zns) and order/customer ids
    device: str | None = None   # the phone an earlier attempt may have reached: a retry must go there


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    provider_id: str | None = None
    code: str | None = None
    detail: str = ""
    raw: str = ""
    retry_at: float | None = None    # with DEFERRED
    device: str | None = None        # which phone took it (phone gateway)
    delivered: bool = False          # the receiver itself answered (HTTP forward): nothing more to wait for
    # A failed attempt whose request may still have been taken (timeout, 5xx): True pins the
    # message to `device`, whose idempotency on our id is the only thing that makes a retry safe;
    # False releases it (the device answered that it does not have it); None leaves it as it was.
    sticky: bool | None = None


@dataclass(frozen=True)
class StatusReport:
    event: Event
    provider_status: str
    detail: str = ""
    raw: str = ""


class Channel:
    """Base class: an adapter sets `name` and implements `send` (and `poll` if it can)."""

    name = "base"
    # True when the provider itself tries another way after its first one fails (eSMS
    # MultiChannel: Zalo, then SMS): a failure report for the first way is not the end.
    provider_falls_back = False

    def __init__(self, name: str, settings: Settings, db: Any = None):
        self.name = name
        self.settings = settings
        self.db = db

    @property
    def configured(self) -> bool:
        return True

    @property
    def why_not_configured(self) -> str:
        return ""

    def send(self, msg: OutgoingMessage) -> SendResult:  # pragma: no cover - interface
        raise NotImplementedError

    def poll(self, provider_id: str, device: str | None = None) -> StatusReport | None:
        return None

    def status(self) -> dict[str, Any]:
        return {"configured": self.configured, "mode": "live" if self.configured else "dry-run",
                "reason": self.why_not_configured}


def load_channels(settings: Settings, db: Any = None) -> dict[str, Channel]:
    """Instantiate every adapter named in settings.channel_adapters ("pkg.module:Class")."""
    channels: dict[str, Channel] = {}
    for name, target in settings.channel_adapters.items():
        channels[name] = load_class(target, "CHANNEL_ADAPTERS", name)(name, settings, db)
    if "dry-run" not in channels:
        raise ValueError("CHANNEL_ADAPTERS: a 'dry-run' channel is required")
    return channels

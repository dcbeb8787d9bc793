"""Inbound SMS: what every handler receives, and how handlers are found.

Sources (the phone gateway's webhook, FiboSMS push) store the SMS first; then each handler
named in INBOUND_HANDLERS looks at it, in order, inside the same transaction. The payment
confirmation plugs in here as one more handler.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from .. import providers
from ..config import Settings
from ..plugins import load_class


@dataclass(frozen=True)
class InboundSms:
    id: int               # our inbox row id
    source: str           # the provider it came from
    external_id: str
    device: str
    sim: int | None
    sender: str
    recipient: str
    text: str
    received_at: float
    package: str | None = None      # app notifications: the Android package
    title: str | None = None        # app notifications: the notification title
    # A transaction a provider reported as fields (bridge.events.BankTransaction), not a text to
    # read: payments decide it from these; text handlers (keyword forwards) leave it alone.
    fields: dict[str, Any] | None = None
    payload: str | None = None      # a chat app's button answer (Messenger quick reply payload)
    arrived: float | None = None    # when we acknowledged it: deliveries before it are decided first

    @property
    def channel(self) -> str:
        """What kind of text it is for the bank parsers ("sms" unless its provider says otherwise)."""
        return providers.text_kind(self.source)


class InboundHandler:
    """Base class. `handle` returns a short note when it acted on the SMS, else None."""

    name = "handler"

    def __init__(self, name: str, settings: Settings, bridge: Any):
        self.name = name
        self.settings = settings
        self.bridge = bridge

    def handle(self, c: sqlite3.Connection, sms: InboundSms) -> str | None:  # pragma: no cover - interface
        raise NotImplementedError

    def prepare(self, sms: InboundSms, call_out: bool = True) -> bool:
        """Runs before the deciding transaction, outside the write lock: what must be asked of the
        outside world first (e.g. look an order up). May run more than once for one SMS (two
        processes, a crash), so it only fetches and stores what `handle` then reads. False: it
        must ask and `call_out` says this process may not (only the scheduler's leader asks, so
        several processes never repeat the same slow calls); the text is left to the leader."""
        return True


def load_handlers(settings: Settings, bridge: Any) -> list[InboundHandler]:
    return [load_class(target, "INBOUND_HANDLERS", name)(name, settings, bridge)
            for name, target in settings.inbound_handlers.items()]

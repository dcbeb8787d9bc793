"""The stand-in for any channel without credentials: the message is rendered and stored, not sent."""
from __future__ import annotations

from .base import Channel, OutgoingMessage, Outcome, SendResult


class DryRunChannel(Channel):
    def send(self, msg: OutgoingMessage) -> SendResult:
        return SendResult(Outcome.DRY_RUN, code="dry-run",
                          detail=f"dry-run: channel {msg.channel!r} is not configured; recorded, not sent")

"""The stand-in for any channel without credentials: the message is rendered and stored, not sent."""
from __future__ import annotations

from ..base import Channel, OutgoingMessage, Outcome, SendResult


class DryRunChannel(Channel):
    listed = False

    def send(self, msg: OutgoingMessage) -> SendResult:
        return SendResult(Outcome.DRY_RUN, code="dry-run",
                          detail=f"dry-run: {_names(msg.channel)}; recorded, not sent")


def _names(chain: str) -> str:
    names = [x for x in chain.split(",") if x]
    if len(names) == 1:
        return f"channel {names[0]!r} is not configured"
    return "channels " + ", ".join(repr(x) for x in names) + " are not configured"

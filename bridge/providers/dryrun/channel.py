"""The stand-in for any channel without credentials: the message is rendered and stored, not sent."""
from __future__ import annotations

from ... import reasons
from ...reasons import N_
from ..base import Channel, OutgoingMessage, Outcome, SendResult

reasons.register({
    "dryrun.not_configured": N_("dry-run: channel %(channels)s is not configured; recorded, not sent"),
    "dryrun.none_configured": N_("dry-run: channels %(channels)s are not configured; recorded, not sent"),
})


class DryRunChannel(Channel):
    listed = False

    def send(self, msg: OutgoingMessage) -> SendResult:
        names = [x for x in msg.channel.split(",") if x]
        code = "dryrun.not_configured" if len(names) == 1 else "dryrun.none_configured"
        return SendResult(Outcome.DRY_RUN, code="dry-run",
                          detail=reasons.encode(code, channels=", ".join(repr(x) for x in names)))

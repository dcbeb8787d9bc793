"""SMSGate periodic job: ask the phone for the state of messages without a report."""
from __future__ import annotations

from ...jobs import poll_channel


def poll_smsgate(bridge) -> int:
    s = bridge.settings
    return poll_channel(bridge, "smsgate", s.smsgate_poll_after, s.smsgate_poll_give_up)

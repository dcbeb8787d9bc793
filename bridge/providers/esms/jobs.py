"""eSMS periodic jobs: ask for the status of messages without a report, watch the balance."""
from __future__ import annotations

import logging

from ...store.db import now
from ...jobs import poll_channel
from .status import BALANCE_KEY

log = logging.getLogger(__name__)


def poll_esms(bridge) -> int:
    s = bridge.settings
    return poll_channel(bridge, "esms", s.esms_poll_after, s.esms_poll_give_up)


def check_balance(bridge) -> int | None:
    ch = bridge.channels.get("esms")
    if ch is None or not ch.configured or not hasattr(ch, "balance"):
        return None
    balance = ch.balance()
    if balance is None:
        return None
    bridge.db.kv_set(BALANCE_KEY, str(balance))
    bridge.db.kv_set(BALANCE_KEY + "_at", str(now()))
    if balance < bridge.settings.esms_low_balance:
        log.warning("eSMS balance is low: %s VND (below ESMS_LOW_BALANCE=%s); top up to keep sending",
                    balance, bridge.settings.esms_low_balance)
    else:
        log.info("eSMS balance: %s VND", balance)
    return balance



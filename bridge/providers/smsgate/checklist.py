"""The set-up checklist's line for the shop's phone: seen in the last hour, or what to check.

A phone that stopped reporting (battery saver, no data, the app closed) silently stops both the
bank SMS that confirm payments and the messages sent through it. Any signed request from it
counts as seen: a received SMS, a delivery report, or the app's periodic ping.
"""
from __future__ import annotations

from typing import Any

from ... import setup_checklist
from ...reasons import N_
from ...setup_checklist import DONE, TODO, Step

SOURCES = ("smsgate", "smsgate-webhook")   # ReceivedText, and delivery reports / pings


def steps(bridge: Any) -> list[Step]:
    """Nothing for a shop that neither sends through SMSGate nor ever heard from a phone."""
    channel = bridge.channels.get("smsgate")
    last = setup_checklist.heard(bridge, *SOURCES)
    if (channel is None or not channel.configured) and last is None:
        return []
    url = f"{bridge.settings.public_url}/inbound/smsgate"
    if last is not None and bridge.clock() - last <= setup_checklist.HEARD_WITHIN:
        minutes = max(0, int((bridge.clock() - last) // 60))
        return [Step("smsgate", DONE, N_("The shop's phone (SMSGate) reported %(minutes)s min ago"), "",
                     "admin.settings", (("minutes", str(minutes)),))]
    title = N_("The shop's phone (SMSGate) has not reported in the last hour") if last is not None \
        else N_("The shop's phone (SMSGate) has never reported")
    return [Step("smsgate", TODO, title,
                 N_("Open SMS Gateway on the phone: online, not in battery saver, its webhooks pointing at %(url)s "
                    "with the signing key shown in Settings. Turn on its ping so a quiet phone is still seen."),
                 "admin.settings", (("url", url),))]

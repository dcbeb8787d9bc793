"""Opt-out from marketing: a customer texting TU CHOI / TỪ CHỐI / STOP (bridge/bulk.py
is_opt_out says exactly which texts) is put on the opt-out list, and that phone's waiting bulk
messages are cancelled at once. Order notices are other rules and still go.

No confirmation SMS is sent: it would cost the shop a message per opt-out, a brandname would
refuse it as unregistered text, and a customer who asked for silence is better answered by it.
"""
from __future__ import annotations

import sqlite3

from .. import reasons
from ..bulk import is_opt_out, opt_out
from ..phones import national, normalize_phone
from . import InboundHandler, InboundSms


class OptOut(InboundHandler):
    def handle(self, c: sqlite3.Connection, sms: InboundSms) -> str | None:
        if sms.fields is not None or not is_opt_out(sms.text):
            return None   # a provider's transaction record, or any other text
        phone = normalize_phone(sms.sender)
        if not phone.ok or not phone.e164:
            return None   # a chat's sender id or a bank's name: no phone to keep off the list
        n = opt_out(c, phone.e164, self.bridge.clock(), "sms", f"inbox {sms.id}")
        return reasons.encode("bulk.optout_noted", phone=national(phone.e164), n=n)

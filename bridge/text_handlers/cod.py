"""Customers answering a cash-on-delivery question by text: an SMS to the shop's own phone
whose whole text is an answer ("1", "OK", "HUY DON", ...: bridge/cod.py parse_reply), or a chat's
quick-reply button (its payload names the answer and the order). Typed chat text never answers:
a chat is a conversation ("Chị có cần xuất hóa đơn không?" "ko"), it stays in the inbox; a typed
text that would be an answer by SMS ("ok", "huy don"), from a chat whose phone has a waiting
order, is kept as `unclear` for the owner to confirm with the customer.

Only the phone the order belongs to may answer it: an SMS's sender, a chat identity's bound
phone. A text from anyone else never touches an order. A reply that is not understood, or that
could be for several waiting orders, is kept for a person (the inbox says why), never guessed.
"""
from __future__ import annotations

import sqlite3

from .. import cod, providers, reasons
from ..phones import normalize_phone
from ..store import cod as store
from . import InboundHandler, InboundSms


class CodReplies(InboundHandler):
    def handle(self, c: sqlite3.Connection, sms: InboundSms) -> str | None:
        if sms.fields is not None:
            return None   # a provider's transaction record
        chat = sms.source in providers.chat_sources()
        if chat:
            try:
                identities = providers.chat(sms.source)
            except LookupError:   # a chat source whose provider keeps no identities: nobody to match
                return None
            phone, via, reply = identities.phone_of(self.bridge.db, sms.sender), sms.source, identities.channel
        elif providers.text_kind(sms.source) == "sms" and providers.reply_channel(sms.source):
            phone, via, reply = normalize_phone(sms.sender).e164, "sms", providers.reply_channel(sms.source)
        else:
            return None   # an app notification, a bank's feed: nobody answers a question there
        t = self.bridge.clock()
        named = cod.parse_payload(sms.payload)
        if named is not None:
            said, order_id = named
            row = store.get(c, order_id)
            if row is None:
                return None
            if not phone or row["phone"] != phone:
                return reasons.encode("cod.not_theirs", order=order_id)
            return self._take(c, order_id, said, via, sms, t, reply, "")
        if not phone:
            return None
        said = cod.parse_reply(sms.text)
        waiting = store.open_for_phone(c, phone)
        if chat:
            if said is None or not waiting:
                return None
            return cod.unclear_several(c, waiting, via, sms.sender, t, sms.id, code="cod.typed")
        if len(waiting) > 1:
            if said is None:   # kept once, on the oldest order, naming them all
                return cod.unclear_several(c, waiting, via, sms.sender, t, sms.id)
            note = reasons.encode("cod.several", n=len(waiting), orders=cod.orders_named(waiting))
            for w in waiting:
                store.add_answer(c, w["order_id"], t, via, sms.sender, said, False, note, sms.id)
            return note
        if len(waiting) == 1:
            order_id = waiting[0]["order_id"]
            if said is None:
                return cod.unclear(c, order_id, via, sms.sender, t, sms.id)
            return self._take(c, order_id, said, via, sms, t, reply, cod.customer_words(sms.text, said))
        if said is None:
            return None
        since = t - cod.SECOND_ANSWER_DAYS * 86_400
        answered = store.latest_answered_for_phone(c, phone, since)
        if answered is None:
            return None
        return self._take(c, answered["order_id"], said, via, sms, t, reply, cod.customer_words(sms.text, said))

    def _take(self, c: sqlite3.Connection, order_id: int, said: str, via: str, sms: InboundSms, t: float,
              reply: str | None, words: str) -> str | None:
        return cod.answer(c, self.settings, order_id, said, via, sms.sender, t, words=words, inbox_id=sms.id,
                          ack_channel=reply, ack_unicode=via != "sms").note or None

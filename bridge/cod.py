"""Cash on delivery: the customer confirms or cancels before the parcel leaves.

A new COD order matching an `event: order.cod_confirm` rule is asked once (a cod_confirmations
row and the message, in the delivery's transaction). The customer answers on the signed page
(`PUBLIC_URL/c/<token>`, any channel), by SMS to the shop's own phone, or with Messenger quick
replies; every answer is a cod_answers row, and only the first one, while the question is open,
decides (`answer`): the order's write-back to the shop goes through the outbox like every other.
A periodic job reminds once, then marks the order for a call, and closes questions the order
outgrew (shipped, finished in the shop).

The link's token is the order id and a MAC of it, the order's key and the question's nonce
under COD_LINK_SECRET: short enough for an SMS, unguessable, only ever good for its own order,
and no longer good once the order's phone changes (a new nonce, a new link to the new number).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from . import alerts, providers, reasons
from .config import Settings
from .context import order_context
from .orders import OrderSnapshot
from .outbox import ORDER_UPDATE, Draft, Job, enqueue, enqueue_job, withdraw
from .outgoing import COD_ANSWERED, emit, iso
from .phones import normalize_phone
from .reasons import N_
from .rules import Rule, RuleSet
from .smstext import prepare, strip_diacritics
from .store import cod as store
from .store import orders as stored_orders
from .store.db import Database

log = logging.getLogger(__name__)

EVENT = "order.cod_confirm"
WRITEBACK_RULE = "cod-answer"   # the write-back jobs' rule: a refused one is the owner's to fix (alerts.py)
EVERY = 300.0                 # seconds between passes of the reminder job
MAC_CHARS = 16                # 96 bits of HMAC-SHA256, base64url
SECOND_ANSWER_DAYS = 14       # a reply this long after a decided question still counts as its second answer
REASON_MAX = 300              # a customer's cancel reason as kept and written to the order note
CONFIRM, CANCEL, UNCLEAR = "confirm", "cancel", "unclear"
VIAS = {"page": "trang xác nhận", "sms": "SMS", "messenger": "Messenger"}
QUICK_REPLIES = (("Xác nhận", CONFIRM), ("Hủy đơn", CANCEL))
PAYLOAD = re.compile(r"^COD:(confirm|cancel):(\d{1,12})$")
PARCEL_FLAG_CANCELLED = "order_cancelled"   # shipments.flag: the order is cancelled (by anyone), its label still live
# A status an order may sit in before it is a real order (WooCommerce's checkout-draft, a plugin's
# own new-order status): an order entering pending/on-hold/processing from any status but these
# finished ones is asked then (a finished order reopened by hand is the shop's to handle).
FINISHED = ("completed", "cancelled", "refunded")

reasons.register({
    "cod.applied": N_("order %(order)s: the customer's answer (%(answer)s, by %(via)s) was applied"),
    "cod.second": N_("order %(order)s: the customer's answer (%(answer)s, by %(via)s) came after the order was already "
                     "%(state)s: recorded, not applied"),
    "cod.too_late": N_("order %(order)s: the customer's answer (%(answer)s, by %(via)s) came after the order shipped "
                       "or was finished in the shop: recorded, not applied"),
    "cod.unclear": N_("order %(order)s waits for the customer's confirmation, but this reply was not understood: "
                      "a person should read it"),
    "cod.several": N_("this phone has %(n)s cash-on-delivery orders waiting for an answer (%(orders)s): "
                      "not guessed, a person should decide"),
    "cod.several_unclear": N_("this phone has %(n)s cash-on-delivery orders waiting for an answer (%(orders)s) "
                              "and this reply was not understood: a person should read it"),
    "cod.typed": N_("order(s) %(orders)s wait for the customer's confirmation; this reply was typed in the chat, "
                    "not the button: a person should confirm with the customer"),
    "cod.not_theirs": N_("an answer for order %(order)s from someone the order does not belong to: ignored"),
    "cod.customer_reason": N_("the customer's words: %(text)s"),
    "cod.reminder_answered": N_("not sent: the customer answered order %(order)s's question"),
    "cod.reminder_closed": N_("not sent: order %(order)s can no longer be confirmed or cancelled (shipped or moved on "
                              "in the shop)"),
    "cod.reminder_phone": N_("not sent: order %(order)s's phone changed; the question goes to the new number"),
    # the stored codes inside those sentences, in the reader's language
    "cod.answer.confirm": N_("confirm"), "cod.answer.cancel": N_("cancel"),
    "cod.via.page": N_("the confirm page"), "cod.via.sms": N_("SMS"), "cod.via.messenger": N_("Messenger"),
    "cod.state.confirmed": N_("confirmed"), "cod.state.cancelled": N_("cancelled"), "cod.state.closed": N_("closed"),
})


def _word(kind: str, value: str) -> str:
    """A stored code (an answer, a channel, a state) as a nested reason, so it is read translated."""
    return reasons.word(f"cod.{kind}.{value}", value)


# -- the signed link ---------------------------------------------------------------------------
def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


def _mac(secret: str, order_id: int, order_key: str, nonce: str) -> str:
    digest = hmac.new(secret.encode(), f"cod-confirm:{order_id}:{order_key}:{nonce}".encode(),
                      hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:MAC_CHARS]


def new_nonce() -> str:
    """A question's link nonce: a new one when the question goes to a new phone, so the link the
    old number (maybe a stranger's) holds stops working."""
    return secrets.token_urlsafe(9)


def make_token(settings: Settings, order_id: int, order_key: str, nonce: str) -> str:
    """The order id (base 36) followed by its MAC: about 20 characters for a shop's order ids."""
    return _b36(order_id) + _mac(settings.cod_link_secret, order_id, order_key or "", nonce or "")


def token_order(token: str) -> int | None:
    """The order a token claims (unverified): None when it is not even shaped like one."""
    head = token[:-MAC_CHARS]
    if len(token) <= MAC_CHARS or len(head) > 8 or not re.fullmatch(r"[0-9a-z]+", head):
        return None
    return int(head, 36)


def token_matches(settings: Settings, token: str, order_id: int, order_key: str, nonce: str) -> bool:
    """Constant-time check that the token was made by us for this order (and its key) and its
    question's current nonce."""
    return bool(settings.cod_link_secret) and hmac.compare_digest(
        token.encode(), make_token(settings, order_id, order_key, nonce).encode())


def confirm_link(settings: Settings, order_id: int, order_key: str, nonce: str) -> str:
    return f"{settings.public_url}/c/{make_token(settings, order_id, order_key, nonce)}"


# -- reading a reply -----------------------------------------------------------------------------
# The whole reply, folded (case, diacritics, spaces, trailing punctuation), must be one of these:
# everyday chat ("Huy day shop oi": Huy is a name; "co size L k?"; "ko") is never an answer.
CONFIRM_REPLIES = ("1", "ok", "oke", "okay", "yes", "co", "dong y", "xac nhan")
CANCEL_REPLIES = ("2", "huy don", "huy don hang")   # a bare "Huy" is a man's name, signed alone
# Only after these may a cancel carry the customer's reason ("HUY DON vi dat nham"), and only a
# reason that asks nothing and denies nothing: "Hủy đơn hả shop? em không hủy đâu", "huy don cu,
# giu don moi" are for a person to read.
_CANCEL_WITH_REASON = (("huy", "don", "hang"), ("huy", "don"))
_NOT_A_REASON = frozenset({"khong", "ko", "k", "kg", "dung", "chua", "dau", "cu", "moi"})
_PUNCT = ".,!?;:~…-–—\"'()[]"


def _fold(text: str) -> list[str]:
    return [w for w in (w.strip(_PUNCT) for w in strip_diacritics(text or "").lower().split()) if w]


def _read(text: str) -> tuple[str | None, str]:
    words = _fold(text)
    whole = " ".join(words)
    if whole in CONFIRM_REPLIES:
        return CONFIRM, ""
    if whole in CANCEL_REPLIES:
        return CANCEL, ""
    for lead in _CANCEL_WITH_REASON:
        if tuple(words[:len(lead)]) == lead:
            if "?" in text or _NOT_A_REASON & set(words[len(lead):]):
                return None, ""
            # the customer's own words after the keyword, as written
            return CANCEL, " ".join(text.split()[len(lead):]).strip(_PUNCT + " ")[:REASON_MAX]
    return None, ""


def parse_reply(text: str) -> str | None:
    """CONFIRM, CANCEL or None (a person reads it) for a customer's SMS: the whole text must be a
    confirm or cancel word, `HUY DON` alone may be followed by a reason that asks and denies nothing."""
    return _read(text)[0]


def customer_words(text: str, said: str) -> str:
    """A cancelling customer's reason after `HUY DON` / `HUY DON HANG`, kept and written to the
    order note; "" for a bare "2" or "HUY DON"."""
    return _read(text)[1] if said == CANCEL else ""


def parse_payload(payload: str | None) -> tuple[str, int] | None:
    """(answer, order id) of one of our quick-reply buttons' payload."""
    m = PAYLOAD.match((payload or "").strip())
    return (m.group(1), int(m.group(2))) if m else None


def quick_replies(order_id: int) -> list[dict[str, str]]:
    """The buttons a chat channel offers under the question (Messenger quick replies)."""
    return [{"title": title, "payload": f"COD:{answer}:{order_id}"} for title, answer in QUICK_REPLIES]


# -- asking --------------------------------------------------------------------------------------
def context(settings: Settings, snap: OrderSnapshot, source_url: str, nonce: str,
            reminder: bool = False) -> dict[str, Any]:
    """An order's template variables plus `confirm_link` (with the question's nonce) and `reminder`."""
    return {**order_context(settings, snap, source_url),
            "confirm_link": confirm_link(settings, snap.id, snap.order_key, nonce), "reminder": reminder}


def _draft(settings: Settings, rules: RuleSet, rule: Rule, ctx: dict[str, Any], snap: OrderSnapshot, key: str,
           urgent: bool, due_at: float | None = None, delivery_ref: int | None = None) -> Draft:
    extras = rules.extras(rule, ctx) or {}
    return Draft.to_phone(normalize_phone(snap.phone_raw), dedupe_key=key, rule=rule.name, event=rule.event,
                          audience="customer", channels=rule.channels, sms=prepare(rules.render(rule, ctx), rule.unicode),
                          order_id=snap.id, delivery_ref=delivery_ref, urgent=urgent, due_at=due_at,
                          payload={**extras, "quick_replies": quick_replies(snap.id)},
                          fallback_after=rule.fallback_after)


def _rule(rules: RuleSet, name: str) -> Rule | None:
    """The rule that asked, still there and switched on."""
    return next((r for r in rules.rules if r.name == name and r.event == EVENT and r.enabled), None)


def ask(c: sqlite3.Connection, settings: Settings, rules: RuleSet, snap: OrderSnapshot, source_url: str,
        delivery_ref: int, t: float) -> int:
    """Ask a new order's customer to confirm, inside the delivery's transaction: the first
    matching customer rule makes the order's one confirmation and its message. Returns the
    number of messages queued. Only an order a customer may still answer for is asked."""
    if snap.status not in store.ASKABLE:
        return 0
    for rule in rules.matching(EVENT, payment_method=snap.payment_method):
        if rule.to != "customer":   # the question is the customer's; an owner copy would be answered by nobody
            log.warning("rule %s: event %s is for the customer; to: %s ignored", rule.name, EVENT, rule.to)
            continue
        nonce = new_nonce()
        if not store.ask(c, snap.id, rule.name, snap.phone.e164 or "", t, nonce):
            return 0
        draft = _draft(settings, rules, rule, context(settings, snap, source_url, nonce), snap, f"cod:{snap.id}:ask",
                       rule.urgent, delivery_ref=delivery_ref)
        return 1 if enqueue(c, draft, settings.quiet_hours, settings.timezone) else 0
    return 0


def order_saved(c: sqlite3.Connection, settings: Settings, rules: RuleSet, snap: OrderSnapshot, source_url: str,
                delivery_ref: int, t: float, was: str = "") -> int:
    """A known order saved again by the shop (`was`: the status we had), inside the delivery's
    transaction. Cancelled now: a label not picked up yet is flagged for the owner to cancel.
    Never asked and entering pending/on-hold/processing now (from checkout-draft or a plugin's
    own new-order status): asked now. An open question follows the order: moved out of those
    statuses, closed; a new valid phone: the unsent question and reminder to the old number are
    withdrawn, the question goes to the new number with a new link (the old link stops working)
    and its reminder and call are counted from now. Returns the number of messages queued."""
    if snap.status == "cancelled" and was != "cancelled":
        store.flag_live_parcels(c, snap.id, PARCEL_FLAG_CANCELLED, t)
    row = store.get(c, snap.id)
    if row is None:
        if was and was not in store.ASKABLE and was not in FINISHED:
            return ask(c, settings, rules, snap, source_url, delivery_ref, t)
        return 0
    if row["state"] not in store.OPEN:
        return 0
    if snap.status not in store.ASKABLE:
        close(c, snap.id, t)
        return 0
    phone = snap.phone.e164 if snap.phone.ok else ""
    if not phone or phone == row["phone"]:
        return 0
    number = _number(c, snap.id)
    for key in _keys(snap.id, row["phone"]):
        withdraw(c, key, reasons.encode("cod.reminder_phone", order=number))
    rule = _rule(rules, row["rule"])
    nonce = new_nonce()
    queued = None
    if rule is not None:
        draft = _draft(settings, rules, rule, context(settings, snap, source_url, nonce), snap,
                       f"cod:{snap.id}:ask:{phone}", rule.urgent, delivery_ref=delivery_ref)
        queued = enqueue(c, draft, settings.quiet_hours, settings.timezone)
    store.set_phone(c, snap.id, phone, nonce, t, asked_again=bool(queued))
    return 1 if queued else 0


def _keys(order_id: int, phone: str) -> tuple[str, ...]:
    """The dedupe keys of the question and reminder that went (or wait to go) to `phone`."""
    return (f"cod:{order_id}:ask", f"cod:{order_id}:ask:{phone}", f"cod:{order_id}:remind:{phone}")


# -- answers -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Answered:
    """What became of an answer: "applied" (it decided), "repeat" (the deciding answer, or the
    last recorded one, again: nothing recorded), "recorded" (kept for the owner, not applied: a
    second different answer), "late" (kept for the owner: the question closed unanswered, so the
    customer is told nothing but how to reach the shop), "unknown" (no question was asked for that order);
    `note`: the stored reason, for the inbox row it came in."""
    kind: str
    note: str = ""


def closed_order(c: Database | sqlite3.Connection, order_id: int) -> bool:
    """The shop moved the order out of the statuses a customer may still answer in (shipping,
    completed, a custom one), or the carrier has the parcel: no longer ours to change."""
    o = stored_orders.get(c, order_id)
    return o is None or bool(o["deleted"]) or o["status"] not in store.ASKABLE or store.shipped(c, order_id)


def close(c: sqlite3.Connection, order_id: int, t: float) -> bool:
    """The question closes unanswered: its waiting reminder is withdrawn with it."""
    if not store.close(c, order_id, t):
        return False
    _withdraw_reminder(c, order_id, "cod.reminder_closed")
    return True


def _withdraw_reminder(c: sqlite3.Connection, order_id: int, code: str) -> None:
    row = store.get(c, order_id)
    if row is not None:
        withdraw(c, f"cod:{order_id}:remind:{row['phone']}", reasons.encode(code, order=_number(c, order_id)))


def answer(c: sqlite3.Connection, settings: Settings, order_id: int, said: str, via: str, sender: str, t: float,
           words: str = "", inbox_id: int | None = None, ack_channel: str | None = None,
           ack_unicode: bool = False) -> Answered:
    """The one way an answer (CONFIRM or CANCEL) is taken, inside the caller's transaction: from
    the page, an SMS or a chat. `words`: what the customer wrote (a cancel's reason); `ack_channel`:
    where to tell them it was taken (the channel they wrote on; None: the page shows it), with
    diacritics (`ack_unicode`: a chat) or without (an SMS at the cheap rate)."""
    row = store.get(c, order_id)
    if row is None:
        return Answered("unknown")
    if row["state"] in store.OPEN and closed_order(c, order_id):
        close(c, order_id, t)
        row = store.get(c, order_id)
    if row["state"] in store.OPEN:
        state = "confirmed" if said == CONFIRM else "cancelled"
        reason = reasons.encode("cod.customer_reason", text=words[:REASON_MAX]) if words else ""
        if store.decide(c, order_id, state, said, via, reason, t):
            store.add_answer(c, order_id, t, via, sender, said, True, reason, inbox_id)
            emit(c, COD_ANSWERED, {"order_id": order_id, "order_number": _number(c, order_id), "answer": state,
                                   "via": via, "phone": row["phone"], "reason": words[:REASON_MAX],
                                   "answered_at": iso(t)})
            _withdraw_reminder(c, order_id, "cod.reminder_answered")
            _write_back(c, settings, row, state, via, t, words)
            if state == "cancelled":   # a label already made would still be picked up: the owner cancels it
                store.flag_live_parcels(c, order_id, PARCEL_FLAG_CANCELLED, t)
            _acknowledge(c, settings, row, ack_channel, ack_unicode, state)
            return Answered("applied", reasons.encode("cod.applied", order=_number(c, order_id),
                                                      answer=_word("answer", said), via=_word("via", via)))
        row = store.get(c, order_id)
    last = store.last_answer(c, order_id)
    if said == row["answer"] or (last is not None and not last["applied"] and (last["answer"], last["via"]) == (said, via)):
        return Answered("repeat")
    code = "cod.second" if row["state"] in ("confirmed", "cancelled") else "cod.too_late"
    note = reasons.encode(code, order=_number(c, order_id), answer=_word("answer", said), via=_word("via", via),
                          state=_word("state", row["state"]))
    answer_id = store.add_answer(c, order_id, t, via, sender, said, False, note, inbox_id)
    if row["state"] == "closed":   # nothing true to say but "call the shop": no SMS; the owner sees it
        return Answered("late", note)
    _acknowledge(c, settings, row, ack_channel, ack_unicode, "", key=f"cod:{order_id}:ack:{answer_id}")
    return Answered("recorded", note)


def unclear(c: sqlite3.Connection, order_id: int, via: str, sender: str, t: float, inbox_id: int | None) -> str:
    """A reply to an open question that says neither: kept for the owner, not applied."""
    note = reasons.encode("cod.unclear", order=_number(c, order_id))
    store.add_answer(c, order_id, t, via, sender, UNCLEAR, False, note, inbox_id)
    return note


def unclear_several(c: sqlite3.Connection, waiting: list[sqlite3.Row], via: str, sender: str, t: float,
                    inbox_id: int | None, code: str = "cod.several_unclear") -> str:
    """A reply for a person from a phone with waiting orders (one not understood, or an answer
    typed in a chat): kept once, on the oldest order, naming them all, for the owner."""
    note = reasons.encode(code, n=len(waiting), orders=orders_named(waiting))
    store.add_answer(c, waiting[0]["order_id"], t, via, sender, UNCLEAR, False, note, inbox_id)
    return note


def orders_named(waiting: list[sqlite3.Row]) -> str:
    """A phone's waiting orders as a reason names them: "#1021, #1022"."""
    return ", ".join(f"#{w['number'] or w['order_id']}" for w in waiting)


def _number(c: sqlite3.Connection, order_id: int) -> str:
    o = stored_orders.get(c, order_id)
    return o["number"] if o is not None and o["number"] else str(order_id)


def local_time(settings: Settings, t: float) -> str:
    return datetime.fromtimestamp(t, ZoneInfo(settings.timezone)).strftime("%H:%M %d/%m/%Y")


def _write_back(c: sqlite3.Connection, settings: Settings, row: sqlite3.Row, state: str, via: str, t: float,
                words: str) -> None:
    """The decision to the shop, through the outbox: a note, the confirmed status (when set) or
    the cancel, only from a status a customer may still answer in (a shop that moved the order
    on meanwhile wins)."""
    order_id = row["order_id"]
    o = stored_orders.get(c, order_id)
    seen = o["status"] if o is not None else ""
    when = local_time(settings, t)
    if state == "confirmed":
        note = f"woo-bridge: Khách xác nhận đơn qua {VIAS.get(via, via)} lúc {when}."
        action: dict[str, Any] = {"action": "note", "note": note}
        if settings.cod_confirmed_status and settings.cod_confirmed_status != seen:
            action = {"action": "set_status", "status": settings.cod_confirmed_status, "from": list(store.ASKABLE),
                      "note": note}
    else:
        note = f"woo-bridge: Khách hủy đơn qua {VIAS.get(via, via)} lúc {when}." + (
            f" Lý do: {words[:REASON_MAX]}" if words else "")
        action = {"action": "set_status", "status": "cancelled", "from": list(store.ASKABLE), "note": note}
    enqueue_job(c, Job(kind=ORDER_UPDATE, dedupe_key=f"cod:{order_id}:writeback", rule=WRITEBACK_RULE,
                       event="order.update", audience="shop", target=str(order_id), target_label=f"order {order_id}",
                       payload={"order_id": order_id, **action}, summary=f"{action['action']}: {note}",
                       order_id=order_id))


def _acknowledge(c: sqlite3.Connection, settings: Settings, row: sqlite3.Row, channel: str | None, unicode: bool,
                 state: str, key: str = "") -> None:
    """A short word back on the line the customer answered on (the page shows its own)."""
    if not channel or not row["phone"]:
        return
    number = _number(c, row["order_id"])
    text = {"confirmed": f"{settings.shop_name}: Đã xác nhận đơn #{number}. Cảm ơn bạn!",
            "cancelled": f"{settings.shop_name}: Đã hủy đơn #{number} theo yêu cầu của bạn."}.get(
        state, f"{settings.shop_name}: Đơn #{number} đã được trả lời trước đó; cửa hàng đã ghi nhận và sẽ liên hệ.")
    enqueue(c, Draft.to_phone(normalize_phone(row["phone"]), dedupe_key=key or f"cod:{row['order_id']}:ack",
                              rule=row["rule"], event="cod.answer", audience="customer", channels=(channel,),
                              sms=prepare(text, unicode), order_id=row["order_id"]))


# -- the periodic job ----------------------------------------------------------------------------
def run(bridge: Any) -> dict[str, int]:
    """One pass at the bridge's clock: close what the order outgrew, remind once, then ask the
    owner to call. Returns how many of each."""
    s, db = bridge.settings, bridge.db
    t = bridge.clock()
    done = {"closed": 0, "reminded": 0, "call": 0}
    for r in store.to_close(db):
        with db.tx() as c:
            done["closed"] += close(c, r["order_id"], t)
    if s.cod_remind_after_hours > 0:
        for r in store.due_reminder(db, t - s.cod_remind_after_hours * 3600):
            if s.cod_call_after_hours > 0 and r["asked_at"] <= t - s.cod_call_after_hours * 3600:
                continue   # past the call: a reminder now would cross the owner's call
            with db.tx() as c:
                done["reminded"] += _remind(bridge, c, r, t)
    for r in store.due_call(db, t - s.cod_call_after_hours * 3600) if s.cod_call_after_hours > 0 else ():
        with db.tx() as c:
            marked = store.mark_call(c, r["order_id"], t)
        if not marked:
            continue
        done["call"] += 1
        if s.cod_alert_owner:
            alerts.alert_owner(bridge, "cod-call", str(r["order_id"]),
                               f"don #{r['number'] or r['order_id']} (COD) chua duoc khach xac nhan sau "
                               f"{s.cod_call_after_hours:g} gio: goi khach {r['phone'] or ''}.", once=True)
    if done["reminded"]:
        bridge.wake_worker()
    if any(done.values()):
        log.info("COD confirmations: %(closed)d closed, %(reminded)d reminded, %(call)d to call", done)
    return done


def _remind(bridge: Any, c: sqlite3.Connection, row: sqlite3.Row, t: float) -> int:
    """The question once more, by the rule that asked it (quiet hours respected: not urgent), to
    the order's current phone (the key names it: a reminder withdrawn for an old number never
    blocks the new one's); never for a question that reached nobody. Marked reminded only once
    it is queued."""
    k = store.get(c, row["order_id"])
    if k is None or k["state"] != "asked" or k["reminded_at"] is not None or not k["phone"]:
        return 0
    rule = _rule(bridge.rules, k["rule"])
    o = stored_orders.get(c, k["order_id"])
    if rule is None or o is None:
        log.info("order %s: no reminder, its rule %s is gone or switched off", k["order_id"], k["rule"])
        return 0
    try:
        snap = providers.shop().order(stored_orders.body(o))
    except (ValueError, TypeError):
        log.warning("order %s: stored body unreadable, no reminder", k["order_id"])
        return 0
    s = bridge.settings
    draft = _draft(s, bridge.rules, rule, context(s, snap, o["source_url"] or "", k["nonce"] or "", reminder=True),
                   snap, f"cod:{k['order_id']}:remind:{k['phone']}", urgent=False, due_at=t)
    if not enqueue(c, draft, s.quiet_hours, s.timezone):
        return 0
    return 1 if store.mark_reminded(c, k["order_id"], t) else 0

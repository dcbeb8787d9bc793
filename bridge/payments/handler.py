"""Bank and MoMo messages -> a decision on which order they pay, made once, recorded always.

Order of the rules (BANK_SMS.md): authenticity and kind, then the event fingerprint (a second
delivery gets no action), then direction, receiving account, payment code, order and amount.
Only an exact match confirms; every other credit is kept with its reason and, where a person
can act, is queued for review. Confirming marks the order paid in our books at once and hands
the WooCommerce update to the outbox, which retries it durably and never doubles it.
"""
from __future__ import annotations

import hashlib
import json
import logging
from functools import lru_cache
import sqlite3
from typing import Any

from .. import providers, reasons
from ..context import order_context
from ..store import intake as stored_intake, orders as stored_orders, payments as stored_payments
from ..store.db import now
from ..text_handlers import InboundHandler, InboundSms
from ..money import format_vnd
from ..reasons import N_
from ..outbox import ORDER_UPDATE, Draft, Job, enqueue, enqueue_job
from ..outgoing import PAYMENT_CONFIRMED, PAYMENT_REVIEW, emit, iso
from ..store import hooks as store_hooks
from ..phones import normalize_phone
from ..smstext import prepare
from . import generic
from .expiry import expired
from .matcher import account_problem, fingerprint, prints_event, read_codes, with_order_hint
from .parsers import NOTICE, OTP, PROMO, TRANSACTION, Parsed, looks_like_money, parse
from .transfer import (SAME_ARRIVAL, Seen, account_tail, bank_time, parsed_from_fields, plausible_balance,
                       proven_different, ref_key, same_transfer)

log = logging.getLogger(__name__)

CONFIRM, IGNORE_DEBIT, IGNORE_NON_TX, REJECT_SPOOF = "confirm", "ignore_debit", "ignore_non_transaction", "reject_spoof"
NO_CODE, AMBIGUOUS, DUPLICATE, UNDERPAID, OVERPAID, WRONG_ACCOUNT = (
    "no_code", "ambiguous", "duplicate", "underpaid", "overpaid", "wrong_account")
UNVERIFIED = "unverified_source"   # a credit from a source that proves only who holds its token
ALREADY_PAID = "already_paid"      # a credit naming an order that is paid already: never confirmed twice
PAID_AFTER_EXPIRY = "paid_after_expiry"   # names an order we cancelled for want of payment (payments/expiry.py)
UNKNOWN_LAYOUT = "unknown_layout"  # a genuine bank's credit read by the generic rule (template drift)
REVIEW = (NO_CODE, AMBIGUOUS, UNDERPAID, OVERPAID, WRONG_ACCOUNT, UNVERIFIED, ALREADY_PAID, PAID_AFTER_EXPIRY,
          UNKNOWN_LAYOUT)
# What the matcher writes in review_action of an underpaid transfer that a later one completed
# (with its reviewer MATCHER): it leaves the review queue, its decision stays what it was.
ADDED_UP, MATCHER = "added_up", "woo-bridge"
AWAITING = ("on-hold", "pending")
BIDV_HARD_CUT = 160
# A message that prints no balance, reference or time (MoMo) is identified by its text and
# amount: the same text again within this many seconds of its posted time is a re-delivery of
# one transfer (no action), unless the forwarder gave both a notification id and they differ.
REPEAT_WINDOW = 86_400.0

# WooCommerce's own order statuses as a reason says them (the same words as the admin's labels)
reasons.register({f"order.status.{k}": v for k, v in {
    "pending": N_("pending payment"), "processing": N_("processing"), "on-hold": N_("on hold"),
    "completed": N_("completed"), "cancelled": N_("cancelled"), "refunded": N_("refunded"), "failed": N_("failed"),
    "checkout-draft": N_("draft"), "trash": N_("in the trash")}.items()})


def status_said(status: str) -> str:
    """An order's status as a reason's parameter: its word (translated where shown), or the
    shop's own code for a status a plugin added."""
    return reasons.word(f"order.status.{status}", status)


# Every decision's reason, stored as a code and its parameters (bridge/reasons.py).
reasons.register({
    "pay.not_money": N_("%(bank)s %(kind)s, not a money movement"),
    "pay.not_genuine": N_("not a genuine bank message: %(why)s"),
    "pay.same_event": N_("same event as transaction #%(tx)s: no second action"),
    "pay.money_out": N_("money out (%(amount)s): no order action"),
    "pay.wrong_account": N_("credit to %(bank)s %(account)s, not a configured receiving account: %(why)s"),
    "pay.wrong_account_none": N_("credit to %(bank)s (no account), not a configured receiving account: %(why)s"),
    "pay.hint_clash": N_("the %(source)s payment link is for order %(hint)s but the transfer text names %(named)s: "
                         "a person must check"),
    "pay.several_codes": N_("several payment codes (%(codes)s): a person must choose"),
    "pay.glued": N_("%(text)s: the prefix glued after a letter or digit is not a payment code; a person must check"),
    "pay.oversized": N_("%(text)s looks like a payment code but has more digits than any order number: a person "
                        "must check"),
    "pay.cut_off": N_("payment code %(pay_code)s is cut off: not repaired"),
    "pay.usable_and_cut": N_("one usable payment code and one cut off: a person must check"),
    "pay.wrap_differs": N_("only a line-wrapped reading (%(pay_code)s) names an order, and it does not match exactly"),
    "pay.code_unknown_order": N_("payment code %(pay_code)s names no order awaiting payment (order is unknown)"),
    "pay.code_not_awaiting": N_("payment code %(pay_code)s names no order awaiting payment (order is %(status)s)"),
    "pay.no_code": N_("no payment code (%(prefix)s + order number) in the transfer text; never matched by amount "
                      "alone"),
    "pay.same_transfer": N_("the same transfer as transaction #%(tx)s from %(source)s (%(why)s): no second action"),
    "pay.maybe_same": N_("maybe the same transfer as transaction #%(tx)s from %(source)s (%(why)s): a person must "
                         "check"),
    "pay.unverified_order": N_("%(why)s; it names order %(number)s (%(status)s)"),
    "pay.unverified_code": N_("%(why)s; it names %(pay_code)s, unknown"),
    "pay.redelivered": N_("same text and amount as transaction #%(tx)s within %(hours)s h: the same transfer "
                          "delivered again, no second action"),
    "pay.repeat_other_id": N_("same text and amount as transaction #%(tx)s, under another notification id: a second "
                              "identical transfer or a late re-delivery; a person must check"),
    "pay.repeat_apart": N_("same text and amount as transaction #%(tx)s, %(hours)s h apart: a second identical "
                           "transfer or a late re-delivery; a person must check"),
    "pay.after_expiry": N_("%(amount)s for order %(number)s, which was cancelled for want of payment "
                           "(PAYMENT_EXPIRE_HOURS): paid after expiry, a person restores and confirms it or refunds"),
    "pay.after_expiry_differs": N_("%(amount)s for order %(number)s, not its total %(total)s, which was cancelled for "
                                   "want of payment (PAYMENT_EXPIRE_HOURS): paid after expiry, a person restores and "
                                   "confirms it or refunds"),
    "pay.exact": N_("%(amount)s pays order %(number)s exactly"),
    "pay.exact_wrapped": N_("%(amount)s pays order %(number)s exactly (code read across a line wrap)"),
    "pay.more": N_("%(excess)s more than order %(number)s of %(total)s"),
    "pay.short_held": N_("%(amount)s for order %(number)s of %(total)s: %(short)s short; not added up while "
                         "#%(held)s (more than the total) waits for the owner"),
    "pay.short_maybe_twice": N_("%(amount)s for order %(number)s of %(total)s: not added up with %(twins)s, which "
                                "another source reported and which may be this same transfer; a person must check "
                                "(%(short)s short on its own)"),
    "pay.completes": N_("%(amount)s completes order %(number)s (%(total)s) with %(ids)s: transfers within %(hours)s h "
                        "add up to its total"),
    "pay.more_together": N_("%(amount)s with %(ids)s makes %(paid)s, %(excess)s more than order %(number)s of "
                            "%(total)s"),
    "pay.short": N_("%(amount)s for order %(number)s of %(total)s: %(short)s short; order stays on-hold"),
    "pay.short_together": N_("%(amount)s for order %(number)s of %(total)s, %(paid)s with %(ids)s: %(short)s short; "
                             "order stays on-hold"),
    "pay.added_up": N_("added up with #%(tx)s: order %(number)s paid"),
    "pay.over_confirmed": N_("%(why)s: confirmed with a note (PAYMENT_OVERPAID=confirm)"),
    "pay.over_held": N_("%(why)s: held for the owner"),
    "pay.already_paid_tx": N_("%(amount)s for order %(number)s, which is already paid (transaction #%(tx)s): "
                              "recorded with a note, not confirmed again"),
    "pay.already_paid_shop": N_("%(amount)s for order %(number)s, which is already paid (%(status)s in the shop): "
                                "recorded with a note, not confirmed again"),
})


def not_awaiting(order: Any) -> str | None:
    """Why an order cannot be confirmed as paid now ("paid", "deleted", "status"), or None when it
    awaits payment. The automatic match and a person's confirmation both ask this one question,
    so a person cannot do what the matcher refuses (e.g. move a completed order back to
    processing and tell the customer "paid" a second time)."""
    if order["paid_at"]:
        return "paid"
    if order["deleted"]:
        return "deleted"
    if order["status"] not in AWAITING:
        return "status"
    return None


@lru_cache(maxsize=8192)
def codes_named(memo: str | None, prefix: str) -> tuple[int, ...]:
    """The order numbers a memo names. Cached: one record is compared with every record of its
    amount that arrives within the hour after it."""
    return read_codes(memo, prefix).orders


class PaymentHandler(InboundHandler):
    def __init__(self, name: str, settings: Any, bridge: Any):
        super().__init__(name, settings, bridge)
        self.db = bridge.db

    # -- entry ----------------------------------------------------------------------------
    def _parsed(self, sms: InboundSms) -> Parsed | None:
        """The SMS (or a provider's fields) as a bank message; None when payments leave it alone."""
        if sms.source in providers.chat_sources():
            return None  # a customer writing to the shop's chat is never a bank
        if providers.payment_trust(sms.source, self.settings)[0] == "off":
            return None  # its provider says texts from there are not a payment source here
        if sms.fields is not None:   # a provider's transaction record: its fields, not a text to read
            return parsed_from_fields(sms.source, sms.fields, self.settings.receiving_accounts, self.settings.timezone)
        p = parse(sms.sender, sms.channel, sms.text, sms.package, sms.title,
                  self.settings.receiving_accounts, self.settings.payment_code_prefix)
        if p.bank is None and p.kind in ("unknown", "spoof") and not looks_like_money(sms.text):
            return None  # not from a bank and not about money: other handlers may want it
        return p

    def prepare(self, sms: InboundSms, call_out: bool = True) -> bool:
        """An order a credit names that we never got a webhook for is asked of the shop first,
        outside the write lock (by the leader only)."""
        p = self._parsed(sms)
        if p is None or stored_payments.decided_for_inbox(self.db, sms.id) is not None:
            return True
        if p.kind == TRANSACTION and p.direction == "in":
            hint = str((sms.fields or {}).get("order_hint") or "")
            for n in [*self._order_numbers(p), *([int(hint)] if hint.isdigit() else [])]:
                if stored_orders.number_known(self.db, str(n)):
                    continue
                if not call_out:
                    return False
                self._ensure_order(n, sms.arrived)
        return True

    def handle(self, c: sqlite3.Connection, sms: InboundSms) -> str | None:
        p = self._parsed(sms)
        if p is None:
            return None
        done = stored_payments.decided_for_inbox(c, sms.id)
        if done is not None:  # handled before a crash: never twice
            return f"{done['decision']}: {reasons.english(done['reason'])}"
        decision, reason, tx_id = self.decide(c, sms, p)
        log.log(logging.INFO if decision != REJECT_SPOOF else logging.WARNING,
                "inbox #%s -> transaction #%s: %s (%s)", sms.id, tx_id, decision, reasons.english(reason))
        return f"{decision}: {reasons.english(reason)}"

    def _order_numbers(self, p: Parsed) -> list[int]:
        reading = read_codes(p.memo, self.settings.payment_code_prefix, len(p.memo or ""),
                             BIDV_HARD_CUT if p.bank == "BIDV" else None)
        return [*reading.orders, *([reading.wrapped] if reading.wrapped else [])]

    def _ensure_order(self, number: int, arrived: float | None) -> None:
        """An order we never received a webhook for: ask the shop before deciding.

        A payment code names an order *number*, never an id (bridge/orders.py); the shop provider
        answers only an order whose number is exactly the code's. Not saved while a delivery about
        it acknowledged before the text waits: that delivery decides it (and tells the owner) first."""
        hit = providers.shop().order_named(self.settings, str(number))
        if hit is None:
            return
        snap, found = hit.snapshot, hit.body
        t = now()
        with self.db.tx() as c:
            if arrived is not None and stored_intake.earlier_delivery_undecided(c, snap.id, arrived):
                return
            stored_orders.save(c, snap, self.settings.woo_url, json.dumps(found), t, notified_status=snap.status,
                               keep_existing=True)

    # -- the rules --------------------------------------------------------------------------
    def decide(self, c: sqlite3.Connection, sms: InboundSms, p: Parsed) -> tuple[str, str, int]:
        row: dict[str, Any] = {"inbox_id": sms.id, "source": sms.source, "sender": sms.sender, "channel": sms.channel,
                               "bank": p.bank, "family": p.family, "kind": p.kind, "direction": p.direction,
                               "amount": p.amount, "balance": p.balance, "memo": p.memo, "account": p.account,
                               "time_printed": p.time, "reference": p.reference, "text": sms.text}
        if p.kind in (OTP, PROMO, NOTICE):
            return self._record(c, row, IGNORE_NON_TX, reasons.encode("pay.not_money", bank=p.bank,
                                                                         kind=reasons.encode(f"parse.kind.{p.kind}")))
        if p.kind != TRANSACTION:
            return self._record(c, row, REJECT_SPOOF, reasons.encode("pay.not_genuine", why=p.reason))
        fields = sms.fields
        when = float(fields["bank_time"]) if fields and fields.get("bank_time") is not None \
            else bank_time(p.time, sms.received_at, self.settings.timezone)
        row.update(bank_time=when, event_at=when if when is not None else sms.received_at,
                   account_tail=account_tail(p.account), ref_key=ref_key(p.reference))
        # a provider's record is one event per provider id (the inbox already refused a second);
        # a text is one event per what it prints (the same SMS by two phones, SMS and app notice)
        fp = hashlib.sha256(f"{sms.source}|{sms.external_id}".encode()).hexdigest()[:32] if fields \
            else fingerprint(p, sms.text, int(sms.received_at // 60), event_key=f"inbox:{sms.id}")
        first = stored_payments.by_fingerprint(c, fp)
        if first is not None:
            row["duplicate_of"] = first["id"]
            return self._record(c, row, DUPLICATE, reasons.encode("pay.same_event", tx=first["id"]))
        row["fingerprint"] = fp
        if p.direction != "in":
            return self._record(c, row, IGNORE_DEBIT, reasons.encode("pay.money_out", amount=format_vnd(p.amount or 0)))
        if not fields and not prints_event(p):
            repeat = self._repeat(c, sms, p, row)
            if repeat is not None:
                return repeat
        twin = self._other_source(c, row, sms.source)
        if twin is not None:
            return twin
        problem = account_problem(p, self.settings.receiving_accounts)
        if problem:
            return self._record(c, row, WRONG_ACCOUNT, reasons.encode("pay.wrong_account", bank=p.bank,
                                                                      account=p.account, why=problem) if p.account
                                else reasons.encode("pay.wrong_account_none", bank=p.bank, why=problem))
        reading = read_codes(p.memo, self.settings.payment_code_prefix, len(p.memo or ""),
                             BIDV_HARD_CUT if p.bank == "BIDV" else None)
        prefix = self.settings.payment_code_prefix
        hint = str((fields or {}).get("order_hint") or "")
        if hint:
            reading, clash = with_order_hint(reading, hint, prefix)
            if clash:
                row["code"] = f"{prefix}{hint}"
                return self._record(c, row, AMBIGUOUS, reasons.encode("pay.hint_clash", source=sms.source, hint=hint,
                                                                      named=clash))
        trust, why = providers.payment_trust(sms.source, self.settings)
        if trust != "confirm":
            return self._unverified(c, row, reading, why)
        if p.family == generic.GENERIC:   # template drift: never stronger than review, whatever it reads
            row["fingerprint"] = None   # like an unverified source: the same transfer read by a template still counts
            order = self._order(c, reading.single) if reading.single is not None else None
            row["code"] = f"{prefix}{reading.single}" if reading.single is not None else None
            return self._record(c, row, UNKNOWN_LAYOUT, generic.review_reason(
                p.doubts, p.amount or 0, reading, order, not_awaiting(order) if order else None, prefix))
        if len(reading.orders) >= 2:
            codes = ", ".join(f"{prefix}{n}" for n in reading.orders)
            return self._record(c, row, AMBIGUOUS, reasons.encode("pay.several_codes", codes=codes))
        if reading.glued:
            return self._record(c, row, AMBIGUOUS, reasons.encode("pay.glued", text=reading.glued[0]))
        if reading.oversized and reading.orders:
            return self._record(c, row, AMBIGUOUS, reasons.encode("pay.oversized", text=reading.oversized[0][:40]))
        if reading.unusable and not reading.orders:
            if reading.wrapped is None:
                return self._record(c, row, AMBIGUOUS, reasons.encode("pay.cut_off", pay_code=reading.unusable[0]))
        if reading.unusable and reading.orders:
            return self._record(c, row, AMBIGUOUS, reasons.encode("pay.usable_and_cut"))
        order = self._order(c, reading.single) if reading.single is not None else None
        if order is not None and not_awaiting(order) is None:
            return self._amount(c, row, p, order, via_wrap=False, at=row["event_at"])
        if order is not None and expired(order):
            return self._after_expiry(c, row, p, order)
        if order is not None and (order["paid_at"] or order["status"] in ("processing", "completed")):
            return self._already_paid(c, row, p, order)
        # the narrow line-wrap exception
        if reading.wrapped is not None:
            wrapped = self._order(c, reading.wrapped)
            if wrapped is not None and wrapped["status"] in AWAITING and not wrapped["paid_at"] \
                    and wrapped["total_minor"] == p.amount:
                return self._amount(c, row, p, wrapped, via_wrap=True, at=row["event_at"])
            return self._record(c, row, AMBIGUOUS, reasons.encode("pay.wrap_differs",
                                                                  pay_code=f"{prefix}{reading.wrapped}"))
        if reading.single is not None:
            code = f"{prefix}{reading.single}"
            return self._record(c, row, AMBIGUOUS, reasons.encode("pay.code_unknown_order", pay_code=code) if order is None
                                else reasons.encode("pay.code_not_awaiting", pay_code=code, status=status_said(order["status"])))
        return self._record(c, row, NO_CODE, reasons.encode("pay.no_code", prefix=prefix))

    def _other_source(self, c: sqlite3.Connection, row: dict[str, Any], source: str) -> tuple[str, str, int] | None:
        """The same transfer already reported by another source (bank SMS and SePay, an app
        notification and Casso, payOS and the bank's SMS): no second action. Only probably the
        same (nothing but amount, memo and minute to compare): a person decides, nothing acts."""
        at = row["event_at"]
        new = self._seen(row | {"id": 0, "source": source})
        for old in stored_payments.credits_near(c, row["bank"], row["amount"], at - SAME_ARRIVAL, at + SAME_ARRIVAL,
                                                source):
            verdict = same_transfer(new, self._seen(old, row["amount"]))
            if verdict is None:
                continue
            kind, why = verdict
            if kind == "same":
                row["duplicate_of"] = old["id"]
                return self._record(c, row, DUPLICATE, reasons.encode("pay.same_transfer", tx=old["id"],
                                                                      source=old["source"], why=why))
            row["fingerprint"] = None
            return self._record(c, row, AMBIGUOUS, reasons.encode("pay.maybe_same", tx=old["id"], source=old["source"],
                                                                  why=why))
        return None

    def _seen(self, r: Any, amount: int | None = None) -> Seen:
        """A transaction row (or the row being decided) as compared with another source's record."""
        amount = r["amount"] if amount is None else amount
        return Seen(r["id"], r["source"], r["account_tail"], plausible_balance(r["balance"], amount), r["ref_key"],
                    r["bank_time"], r["event_at"], r["memo"], codes_named(r["memo"], self.settings.payment_code_prefix))

    def _unverified(self, c: sqlite3.Connection, row: dict[str, Any], reading: Any, why: str) -> tuple[str, str, int]:
        """A bank credit from a source that proves less than a signed one (its provider's
        payment_trust says "review"). It waits for a person with the order it names, acts on
        nothing (no confirmation, no note on the order), and keeps no fingerprint, so the same
        transfer arriving by a signed source still counts."""
        row["fingerprint"] = None
        prefix = self.settings.payment_code_prefix
        order = self._order(c, reading.single) if reading.single is not None else None
        said = why
        if order is not None:
            row["order_id"], row["code"] = order["id"], f"{prefix}{order['number']}"
            said = reasons.encode("pay.unverified_order", why=why, number=order["number"],
                                  status=status_said(order["status"]))
        elif reading.single is not None:
            row["code"] = f"{prefix}{reading.single}"
            said = reasons.encode("pay.unverified_code", why=why, pay_code=row["code"])
        return self._record(c, row, UNVERIFIED, said)

    def _repeat(self, c: sqlite3.Connection, sms: InboundSms, p: Parsed,
                row: dict[str, Any]) -> tuple[str, str, int] | None:
        """The same text and amount seen before, for a message without event fields (MoMo).

        Within REPEAT_WINDOW of the earlier one's posted time and without two different
        forwarder ids: the same transfer delivered again, no action (a forwarder re-posted one
        MoMo notification with later posted_at values: one confirmation and 15 "overpaid" notes).
        Two different ids, or outside the window: maybe a second identical transfer, maybe a late
        re-delivery; a person decides (review, no WooCommerce note), it is never confirmed twice."""
        earlier = stored_payments.same_text_and_amount(c, p.bank, sms.text, p.amount, p.direction, sms.received_at)
        if not earlier:
            return None
        mine = sms.external_id or ""
        for e in earlier:
            near = abs((e["received_at"] or 0) - sms.received_at) <= REPEAT_WINDOW
            if near and (not mine or not e["external_id"] or e["external_id"] == mine):
                row["duplicate_of"], row["fingerprint"] = e["id"], None
                return self._record(c, row, DUPLICATE, reasons.encode("pay.redelivered", tx=e["id"],
                                                                      hours=f"{REPEAT_WINDOW / 3600:g}"))
        e = earlier[0]
        hours = abs((e["received_at"] or 0) - sms.received_at) / 3600
        return self._record(c, row, AMBIGUOUS, reasons.encode("pay.repeat_other_id", tx=e["id"])
                            if hours * 3600 <= REPEAT_WINDOW else
                            reasons.encode("pay.repeat_apart", tx=e["id"], hours=f"{hours:.0f}"))

    def _after_expiry(self, c: sqlite3.Connection, row: dict[str, Any], p: Parsed,
                      order: sqlite3.Row) -> tuple[str, str, int]:
        """A transfer for an order cancelled by payment expiry: never confirmed by itself (the
        stock went back, the customer heard "cancelled"); a person restores and confirms it
        (review.restore_and_confirm) or refunds it. The order gets a private note."""
        row["order_id"], row["code"] = order["id"], f"{self.settings.payment_code_prefix}{order['number']}"
        amount, total = p.amount or 0, order["total_minor"]
        self._shop_note(c, order["id"], row, f"Nhận {format_vnd(amount)} ({self._facts(p)}) sau khi đơn đã bị hủy vì "
                                             "quá hạn thanh toán. Cần kiểm tra: khôi phục và xác nhận, hoặc hoàn tiền.")
        return self._record(c, row, PAID_AFTER_EXPIRY, reasons.encode(
            "pay.after_expiry", amount=format_vnd(amount), number=order["number"]) if amount == total else
            reasons.encode("pay.after_expiry_differs", amount=format_vnd(amount), number=order["number"],
                           total=format_vnd(total)))

    def _order(self, c: sqlite3.Connection, number: int) -> sqlite3.Row | None:
        """The order a code names: by its number only, never by its id (they differ in shops
        with sequential order numbers, and a transfer must not pay the order whose *id* it is)."""
        return stored_orders.by_number(c, str(number))

    def _amount(self, c: sqlite3.Connection, row: dict[str, Any], p: Parsed, order: sqlite3.Row,
                via_wrap: bool, at: float) -> tuple[str, str, int]:
        row["order_id"], row["code"] = order["id"], f"{self.settings.payment_code_prefix}{order['number']}"
        total, amount = order["total_minor"], p.amount or 0
        if amount == total:
            decision, reason, tx_id = self._record(c, row, CONFIRM, reasons.encode(
                "pay.exact_wrapped" if via_wrap else "pay.exact", amount=format_vnd(amount), number=order["number"]))
            self._confirm(c, order, p, tx_id, note="")
            return decision, reason, tx_id
        if amount < total:
            return self._partial(c, row, p, order, at)
        excess = format_vnd(amount - total)
        note = f"Nhận {format_vnd(amount)} ({self._facts(p)}), thừa {excess} so với tổng {format_vnd(total)}."
        return self._over(c, row, p, order, note, reasons.encode("pay.more", excess=excess, number=order["number"],
                                                                 total=format_vnd(total)))

    def _partial(self, c: sqlite3.Connection, row: dict[str, Any], p: Parsed, order: sqlite3.Row,
                 at: float) -> tuple[str, str, int]:
        """A credit below the total. With the transfers for this order still open in the window
        (PAYMENT_PARTIAL_WINDOW_HOURS either side of this one's time `at`: the bank's time, or
        when it reached us) it may complete the order: their sum equal to the total confirms,
        above it is overpaid. One of them held as more than the total stops the adding: which
        transfers were meant is then a person's call."""
        total, amount, number = order["total_minor"], p.amount or 0, order["number"]
        earlier = self._earlier_partials(c, order, at)
        held = [e["id"] for e in earlier if e["decision"] == OVERPAID]
        if held:
            short = format_vnd(total - amount)
            self._shop_note(c, order["id"], row, f"Nhận {format_vnd(amount)} ({self._facts(p)}), thiếu {short} so với "
                                                f"tổng {format_vnd(total)}. Không cộng dồn: giao dịch #{held[0]} (thừa "
                                                "tiền) đang chờ chủ shop kiểm tra.")
            return self._record(c, row, UNDERPAID, reasons.encode(
                "pay.short_held", amount=format_vnd(amount), number=number, total=format_vnd(total), short=short,
                held=held[0]))
        paid = amount + sum(e["amount"] for e in earlier)
        ids = ", ".join(f"#{e['id']}" for e in earlier)
        if earlier and paid >= total:
            twins = self._maybe_one_transfer(row, earlier)
            if twins:
                short = format_vnd(total - amount)
                return self._record(c, row, UNDERPAID, reasons.encode(
                    "pay.short_maybe_twice", amount=format_vnd(amount), number=number, total=format_vnd(total),
                    twins=twins, short=short))
        if earlier and paid == total:
            hours = f"{self.settings.payment_partial_window_hours:g}"
            why = reasons.encode("pay.completes", amount=format_vnd(amount), number=number, total=format_vnd(total),
                                 ids=ids, hours=hours)
            decision, reason, tx_id = self._record(c, row, CONFIRM, why)
            parts = ", ".join(f"#{e['id']} {format_vnd(e['amount'])}" for e in earlier)
            self._confirm(c, order, p, tx_id, note=f"Đủ tổng {format_vnd(total)} cùng các lần chuyển trước ({parts}).")
            self._added_up(c, earlier, tx_id, number)
            return decision, reason, tx_id
        if paid > total:
            excess = format_vnd(paid - total)
            note = (f"Nhận {format_vnd(amount)} ({self._facts(p)}); cùng {ids} là {format_vnd(paid)}, thừa {excess} so "
                    f"với tổng {format_vnd(total)}.")
            return self._over(c, row, p, order, note, reasons.encode(
                "pay.more_together", amount=format_vnd(amount), ids=ids, paid=format_vnd(paid), excess=excess,
                number=number, total=format_vnd(total)), earlier)
        short = format_vnd(total - paid)
        so_far = f"; cùng {ids} đã nhận {format_vnd(paid)}" if earlier else ""
        self._shop_note(c, order["id"], row, f"Nhận {format_vnd(amount)} ({self._facts(p)}){so_far}, thiếu {short} so "
                                            f"với tổng {format_vnd(total)}. Đơn vẫn chờ thanh toán.")
        return self._record(c, row, UNDERPAID, reasons.encode(
            "pay.short_together", amount=format_vnd(amount), number=number, total=format_vnd(total),
            paid=format_vnd(paid), ids=ids, short=short) if earlier else reasons.encode(
            "pay.short", amount=format_vnd(amount), number=number, total=format_vnd(total), short=short))

    def _maybe_one_transfer(self, row: dict[str, Any], earlier: list[sqlite3.Row]) -> str:
        """The earlier partials that may be this very transfer reported by another source (not
        recognised as such: a bank name or a time zone read differently): adding them up would
        count one payment twice, so the sum is a person's call. "" when each is surely another."""
        mine = self._seen(row | {"id": 0})
        doubtful = [e for e in earlier if e["amount"] == row["amount"]
                    and not proven_different(mine, self._seen(e))]
        return ", ".join(f"#{e['id']} ({e['source']})" for e in doubtful)

    def _earlier_partials(self, c: sqlite3.Connection, order: sqlite3.Row, at: float) -> list[sqlite3.Row]:
        """Credits decided underpaid or overpaid (held) for this order that no person has acted
        on, made within the window of this one (none when the window is 0: partials never add
        up). Duplicates, debits, other orders' and reviewed transfers never count."""
        window = self.settings.payment_partial_window_hours * 3600
        if window <= 0:
            return []
        return stored_payments.open_credits_of_order(c, order["id"], (UNDERPAID, OVERPAID), at - window, at + window)

    @staticmethod
    def _added_up(c: sqlite3.Connection, earlier: list[sqlite3.Row], tx_id: int, number: str) -> None:
        """The partials a transfer completed leave the review queue: marked by the matcher, their
        own decision (what was true when each arrived) kept."""
        for e in earlier:
            stored_payments.mark_reviewed(c, e["id"], ADDED_UP, MATCHER, now(),
                                          reasons.encode("pay.added_up", tx=tx_id, number=number))

    def _over(self, c: sqlite3.Connection, row: dict[str, Any], p: Parsed, order: sqlite3.Row, note: str, why: str,
              earlier: list[sqlite3.Row] | None = None) -> tuple[str, str, int]:
        """More than the total (one transfer, or several adding up): held for the owner, or
        confirmed with a note under PAYMENT_OVERPAID=confirm."""
        if self.settings.payment_overpaid == "confirm":
            decision, reason, tx_id = self._record(c, row, OVERPAID, reasons.encode("pay.over_confirmed", why=why))
            self._confirm(c, order, p, tx_id, note=note)
            self._added_up(c, earlier or [], tx_id, order["number"])
            return decision, reason, tx_id
        self._shop_note(c, order["id"], row, note + " Đơn được giữ để chủ shop kiểm tra.")
        return self._record(c, row, OVERPAID, reasons.encode("pay.over_held", why=why))

    def _already_paid(self, c: sqlite3.Connection, row: dict[str, Any], p: Parsed,
                      order: sqlite3.Row) -> tuple[str, str, int]:
        """A credit naming an order that is paid already (by an earlier transfer, a person, or in
        the shop): recorded with a note on the order and queued for a person (a second order of
        the same customer? a refund?), never confirmed a second time."""
        row["order_id"], row["code"] = order["id"], f"{self.settings.payment_code_prefix}{order['number']}"
        amount = format_vnd(p.amount or 0)
        self._shop_note(c, order["id"], row, f"Nhận thêm {amount} ({self._facts(p)}) cho đơn đã thanh toán. Không xác "
                                            "nhận lại; cần kiểm tra: có thể là tiền cho đơn khác hoặc cần hoàn tiền.")
        return self._record(c, row, ALREADY_PAID, reasons.encode(
            "pay.already_paid_tx", amount=amount, number=order["number"], tx=order["paid_transaction"])
            if order["paid_at"] and order["paid_transaction"] else reasons.encode(
            "pay.already_paid_shop", amount=amount, number=order["number"], status=status_said(order["status"])))

    @staticmethod
    def _facts(p: Parsed) -> str:
        return ", ".join(x for x in (p.bank, f"TK {p.account}" if p.account else "", p.time or "",
                                     f"mã GD {p.reference}" if p.reference else "") if x)

    def _record(self, c: sqlite3.Connection, row: dict[str, Any], decision: str, reason: str) -> tuple[str, str, int]:
        """Store the decision with its reason (encoded: bridge/reasons.py) and the order notes it queued."""
        notes = row.pop("_notes", [])
        data = {**row, "decision": decision, "reason": reason, "created_at": now()}
        tx_id = stored_payments.insert(c, data)
        if decision in REVIEW:
            emit(c, PAYMENT_REVIEW, {
                "transaction_id": tx_id, "decision": decision, "reason": reasons.english(reason),
                "amount": row.get("amount"), "bank": row.get("bank"), "source": row.get("source"),
                "reference": row.get("reference"), "memo": row.get("memo"), "order_id": row.get("order_id"),
                "order_number": store_hooks.order_number(c, row.get("order_id")), "code": row.get("code")})
        for i, (order_id, note) in enumerate(notes):
            shop_action(c, f"tx:{tx_id}:note:{i}", order_id,
                       {"action": "note", "note": f"woo-bridge: {note}\nTin nhắn: {row['text']}"}, "payment-note")
        return decision, reason, tx_id

    def _shop_note(self, c: sqlite3.Connection, order_id: int, row: dict[str, Any], note: str) -> None:
        """A private order note, queued once the transaction row exists."""
        row.setdefault("_notes", []).append((order_id, note))

    def _confirm(self, c: sqlite3.Connection, order: sqlite3.Row, p: Parsed, tx_id: int, note: str) -> None:
        text = stored_payments.text_of(c, tx_id)
        confirm_orders(self.bridge, c, order, tx_id, p.reference, p.amount or 0,
                       f"woo-bridge: đã nhận {format_vnd(p.amount or 0)} ({self._facts(p)}). {note}".strip()
                       + f"\nTin nhắn: {text}", paid_bank=p.bank or "")


def shop_action(c: sqlite3.Connection, key: str, order_id: int, action: dict[str, Any], rule: str) -> None:
    """Queue an order update in the shop (mark paid and/or a private note) as an outbox job."""
    summary = action.get("note") or ""
    if action.get("action") == "mark_paid":
        summary = f"mark paid ({action.get('status', '')}): {summary}".rstrip(": ")
    enqueue_job(c, Job(kind=ORDER_UPDATE, dedupe_key=key, rule=rule, event="order.update", audience="shop",
                       target=str(order_id), target_label=f"order {order_id}",
                       payload={"order_id": order_id, **action}, summary=summary, order_id=order_id))


def confirm_orders(bridge: Any, c: sqlite3.Connection, order: sqlite3.Row, tx_id: int, reference: str | None,
                   amount: int, note: str, paid_bank: str = "", by: str = "") -> None:
    """Mark paid in our books now (an order is confirmed at most once), then queue the
    WooCommerce update and the customer's payment.confirmed message."""
    s = bridge.settings
    t = now()
    if not stored_orders.mark_paid(c, order["id"], tx_id, s.payment_paid_status, t):
        raise ValueError(f"order {order['id']} is already paid")
    stored_payments.set_order(c, tx_id, order["id"])
    emit(c, PAYMENT_CONFIRMED, {"transaction_id": tx_id, "order_id": order["id"], "order_number": order["number"],
                                "amount": amount, "bank": paid_bank, "reference": reference or "",
                                "confirmed_by": by or "woo-bridge", "paid_at": iso(t)})
    shop_action(c, f"tx:{tx_id}:mark-paid", order["id"],
               {"action": "mark_paid", "status": s.payment_paid_status, "transaction_id": reference or "",
                "note": note + (f" Xác nhận bởi {by}." if by else "")}, "payment-mark-paid")
    try:
        snap = providers.shop().order(stored_orders.body(order))
    except (ValueError, TypeError):
        return
    ctx = {**order_context(s, snap, order["source_url"] or ""), "paid_amount": format_vnd(amount),
           "paid_bank": paid_bank, "transaction_ref": reference or ""}
    for rule in bridge.rules.matching("payment.confirmed"):
        phones = list(s.owner_phones) if rule.to == "owner" else [snap.phone_raw]
        text = bridge.rules.render(rule, ctx)
        for raw in phones:
            enqueue(c, Draft.to_phone(normalize_phone(raw), dedupe_key=f"tx:{tx_id}:{rule.name}:{raw}", rule=rule.name,
                                      event=rule.event, audience=rule.to, channels=rule.channels,
                                      sms=prepare(text, rule.unicode), order_id=order["id"], urgent=rule.urgent,
                                      payload=bridge.rules.extras(rule, ctx), fallback_after=rule.fallback_after),
                    s.quiet_hours, s.timezone)

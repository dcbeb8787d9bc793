"""A carrier's word on a parcel (bridge.events.ShipmentUpdate): stored raw, matched to its order,
applied once and never backwards.

Every call is a shipment_events row committed before the carrier hears 200; the same call again
(its dedupe key) changes nothing. A carrier whose API can confirm a call (Provider.shipment_check)
is asked after the call is stored and before anything is applied; a call it cannot confirm now
waits ("unverified") for the periodic pass, one it contradicts is kept and not applied.

Applied means: the parcel's row moves to the new status, the order gets a private note (keyed on
carrier, tracking code and status, so a repeat never doubles it), the `shipment.status` rules
message the customer once per parcel and status, a delivered parcel completes a processing
order, a returned one is flagged for the owner. Order: the carrier's event time, then arrival; a
final status (delivered, returned, cancelled, lost) is never left. The COD the carrier will
collect is compared with what the order should collect.

Calls whose order is not known yet ("unmatched": the carrier echoes a code no order has, or only
its own tracking code before the shop stored it on the order, or a bare number nothing
corroborates) are taken again by the periodic pass for 30 days, in the order they happened. A
call whose decision fails unexpectedly stays "received" for that pass, TRIES times, then "error".
"""
from __future__ import annotations

import json
import logging
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from . import providers, reasons
from .context import SHIPMENT_LABELS as STATUS_LABELS, order_context, shipment_context
from .events import ShipmentUpdate
from .money import format_money
from .outbox import CANCELLED, ORDER_UPDATE, WAITING as WAITING_MESSAGES, Draft, Job, enqueue, enqueue_job
from .phones import normalize_phone
from .reasons import N_
from .smstext import prepare
from .store import cod as cod_store
from .store import kv
from .store import messages as stored_messages
from .store import orders as stored_orders
from .store import shipments as store
from .store.db import now
from .store.intake import before_deliveries
from .intake import NETWORK_BUDGET

log = logging.getLogger(__name__)

EVENT = "shipment.status"
TERMINAL = ("delivered", "returned", "cancelled", "lost")
# shipment_events.state: the contract's words, and two of this module's own while a call waits
# ("received": stored, not decided yet; "unverified": the carrier's API could not confirm it yet)
# and "contradicted" (the carrier's API says otherwise: kept, never applied).
RECEIVED, UNVERIFIED, CONTRADICTED = "received", "unverified", "contradicted"
APPLIED, DUPLICATE, STALE, UNMATCHED, IGNORED, ERROR = "applied", "duplicate", "stale", "unmatched", "ignored", "error"
WAITING = (RECEIVED, UNVERIFIED)
EVERY = 60.0                   # seconds between the passes deciding the calls that wait
WAIT_DAYS = 30                 # an unmatched or unverified call is taken again for this long
DELIVERED_FROM = ("processing", "on-hold")   # a delivered parcel completes its order only from these (and
                                             # COD_CONFIRMED_STATUS: the order the customer confirmed)
TRIES = 5                      # an unexpected error deciding a call: decided again this many times, then "error"
PAGE = 200                     # calls read per page by the periodic pass
PASSED = "shipments.unmatched_passed"   # kv: the match generation the last full pass of unmatched calls saw
BARE_DAYS = 60                 # a bare order number matches only an order at most this old (and the COD agrees)
# The parcel is (still) on its way: picking it up or carrying it costs shipping, and for an
# order the shop or its customer cancelled, shipping back as well.
MOVING = ("created", "picking", "picked", "in_transit", "delivering", "delivery_failed")
ORDER_CANCELLED = "order_cancelled"          # shipments.flag: the parcel moves for a cancelled order

reasons.register({
    "shipment.applied": N_("%(carrier)s %(tracking)s: %(old)s -> %(status)s; %(n)s message(s)"),
    "shipment.order_cancelled": N_("%(then)s; the order is cancelled (%(by)s): the parcel is flagged"),
    "shipment.by_shop": N_("in the shop"), "shipment.by_customer": N_("by the customer"),
    "shipment.withdrawn": N_("not sent: the parcel is %(status)s now"),
    "shipment.bare_number": N_("the code %(ref)s looks like order %(number)s, but %(why)s: not taken. Give the "
                               "carrier the order code with its prefix %(prefix)s, or store the tracking code on "
                               "the order"),
    "shipment.why.no_cod": N_("the carrier gave no COD amount to compare"),
    "shipment.why.cod_differs": N_("the carrier collects %(cod)s and that order %(expected)s"),
    "shipment.why.old": N_("that order is %(days)s days old"),
    "shipment.why.unreadable": N_("that order's stored copy cannot be read"),
    "shipment.retrying": N_("processing failed (attempt %(n)s of %(of)s), tried again later: %(error)s"),
    "shipment.same_status": N_("%(carrier)s %(tracking)s is %(status)s already (%(word)s): nothing changed"),
    "shipment.stale": N_("happened at %(at)s, before the status already applied (%(status)s at %(then)s): "
                         "recorded, not applied"),
    "shipment.after_final": N_("the parcel is %(status)s already, a final status: %(new)s recorded, not applied"),
    "shipment.unknown_status": N_("%(carrier)s status %(word)s is not one we know: recorded, not applied"),
    "shipment.no_status": N_("%(carrier)s %(kind)s: no status change"),
    "shipment.unmatched": N_("no order with the code %(ref)s or the tracking code %(tracking)s yet"),
    "shipment.ambiguous": N_("the tracking code %(tracking)s is on more than one order: a person decides"),
    "shipment.unverified": N_("%(carrier)s could not be asked to confirm it (%(detail)s): asked again later"),
    "shipment.contradicted": N_("%(carrier)s's own records say otherwise (%(detail)s): recorded, not applied"),
    "shipment.cod_mismatch": N_("%(then)s; the carrier collects %(cod)s, the order %(expected)s"),
    "shipment.failed": N_("processing failed: %(error)s"),
    "shipment.none": N_("none yet"),
    # our parcel statuses inside those sentences, in the reader's language (the admin's words)
    "shipment.status.created": N_("label created"), "shipment.status.picking": N_("being picked up"),
    "shipment.status.picked": N_("picked up"), "shipment.status.in_transit": N_("in transit"),
    "shipment.status.delivering": N_("out for delivery"), "shipment.status.delivery_failed": N_("delivery failed"),
    "shipment.status.delivered": N_("delivered to the customer"),
    "shipment.status.returning": N_("returning to the shop"), "shipment.status.returned": N_("returned to the shop"),
    "shipment.status.cancelled": N_("shipment cancelled"), "shipment.status.lost": N_("lost or damaged"),
})


def _word(status: str) -> str:
    """One of our parcel statuses as a nested reason, so the owner reads it in their language."""
    return reasons.word(f"shipment.status.{status}", status) if status else reasons.encode("shipment.none")


@dataclass(frozen=True)
class Checked:
    """What a carrier's own API says of a call (Provider.shipment_check).

    verdict "verified": `event` is the call as the API has it (its status is the one applied);
    "contradicted": the API does not know the parcel or never had that status (`detail` says);
    "unreachable": the API could not be asked now (`detail` says why): asked again later."""
    verdict: str
    event: ShipmentUpdate | None = None
    detail: str = ""


def carrier_name(carrier: str) -> str:
    """How a person reads the carrier's name (its provider's name, upper case: "GHN")."""
    return carrier.upper()


def accept(bridge: Any, ev: ShipmentUpdate) -> dict[str, Any]:
    """Store the call (committed before the caller is answered; decided after the answer by
    `decide_pending`); what the answer to the carrier reports."""
    t = bridge.clock()
    raw = ev.raw if isinstance(ev.raw, str) else json.dumps(ev.raw, ensure_ascii=False, default=str)
    with bridge.db.tx() as c:
        eid = store.insert_event(c, {
            "received_at": t, "carrier": ev.carrier, "tracking": ev.tracking, "order_ref": ev.order_ref,
            "carrier_status": ev.carrier_status, "status": ev.status, "event_at": ev.event_at,
            "cod_amount": ev.cod_amount, "state": RECEIVED, "reason": "", "dedupe_key": ev.dedupe_key,
            "raw": raw, "kind": ev.kind, "carrier_reason": ev.reason})
        if eid is None:
            row = store.event_by_key(c, ev.dedupe_key)
            return {"duplicate": True, "event": row["id"], "state": row["state"]}
    return {"event": eid, "state": RECEIVED}


def decide_pending(bridge: Any, limit: int, _budget: float) -> int:
    """Decide the calls acknowledged and not decided yet, oldest first (bridge/intake.py). Each is
    checked with its carrier outside the write lock (by the leader only, `Bridge.calls_out`), then
    applied in its own transaction, which
    takes it only while it is still undecided (`decide`): exactly once across processes."""
    done, call_out, started = 0, bridge.calls_out(), time.monotonic()
    for row in before_deliveries(bridge.db, store.undecided(bridge.db, limit), "received_at"):
        if time.monotonic() - started > NETWORK_BUDGET:
            break   # the rest waits for the next pass: this one has asked carriers long enough
        if not call_out and providers.shipment_check(row["carrier"]) is not None:
            break   # the leader asks the carrier; the calls after it wait behind it
        try:
            decide(bridge, row["id"], from_row(row))
            done += 1
        except Exception:  # the disk, a bug: this call waits for the sweep's next pass, the others go on
            log.exception("deciding carrier call #%s failed", row["id"])
    return done


def decide(bridge: Any, eid: int, ev: ShipmentUpdate) -> str:
    """Confirm the stored call with its carrier when it can, then apply it in one transaction."""
    check = providers.shipment_check(ev.carrier)
    try:
        checked = check(bridge.settings, ev) if check is not None else None
    except Exception as exc:       # a bug in a carrier's check: the call waits, as when its API is down
        log.exception("checking %s %s with the carrier failed", ev.carrier, ev.tracking)
        checked = Checked("unreachable", detail=f"{type(exc).__name__}: {exc}"[:200])
    if checked is not None and checked.verdict != "verified":
        state = UNVERIFIED if checked.verdict == "unreachable" else CONTRADICTED
        code = "shipment.unverified" if state == UNVERIFIED else "shipment.contradicted"
        with bridge.db.tx() as c:
            row = store.event(c, eid)
            if row is not None and row["state"] not in WAITING + (UNMATCHED,):
                return row["state"]    # decided meanwhile by another process
            store.set_outcome(c, eid, state, reasons.encode(code, carrier=carrier_name(ev.carrier),
                                                            detail=checked.detail), None)
        (log.info if state == UNVERIFIED else log.warning)("%s %s: %s (%s)", ev.carrier, ev.tracking, state,
                                                           checked.detail)
        return state
    if checked is not None and checked.event is not None:
        ev = checked.event
    received_at = bridge.clock()
    with bridge.db.tx() as c:
        row = store.event(c, eid)
        if row is not None:
            if row["state"] not in WAITING + (UNMATCHED,):
                return row["state"]    # a retry of the same call, decided meanwhile by its first arrival
            received_at = row["received_at"]
        c.execute("SAVEPOINT shipment")
        try:
            state, reason, order_id, n = _decide(bridge, c, ev, received_at)
        except Exception as exc:       # a bug, or the disk: the call is kept and decided again a few times
            log.exception("deciding carrier call %s failed", eid)
            c.execute("ROLLBACK TO shipment")
            tries, error = store.add_attempt(c, eid), f"{type(exc).__name__}: {exc}"[:300]
            state, reason = (RECEIVED, reasons.encode("shipment.retrying", n=tries, of=TRIES, error=error)) \
                if tries < TRIES else (ERROR, reasons.encode("shipment.failed", error=error))
            order_id, n = None, 0
        c.execute("RELEASE shipment")
        store.set_outcome(c, eid, state, reason, order_id)
    if n:
        bridge.wake_worker()
    return state


def _when(t: float | None) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if t is not None else "-"


def match(bridge: Any, c: sqlite3.Connection, ev: ShipmentUpdate) -> tuple[sqlite3.Row | None, str]:
    """The order the call is about, or why none: the order this parcel was matched to before,
    else the one order carrying its tracking code, else the shop's code the carrier echoes (the
    order number, then the order id). Echoed without PAYMENT_CODE_PREFIX, the code may be
    another shop's order (Shopee's, Facebook's, sent through the same carrier account): it is
    taken only when the carrier collects what that order should and the order is recent."""
    known = store.get(c, ev.carrier, ev.tracking)
    if known is not None and known["order_id"] is not None:
        order = stored_orders.get(c, known["order_id"])
        if order is not None:
            return order, ""
    ids = store.orders_with_code(c, ev.tracking)
    if len(ids) > 1:
        return None, reasons.encode("shipment.ambiguous", tracking=ev.tracking)
    if ids and (order := stored_orders.get(c, ids[0])) is not None:
        return order, ""
    ref = ev.order_ref.strip()
    prefix = bridge.settings.payment_code_prefix
    prefixed = bool(prefix) and len(ref) > len(prefix) and ref.upper().startswith(prefix.upper())
    order = _by_code(c, [ref, ref[len(prefix):]] if prefixed else [ref])
    if order is None:
        return None, reasons.encode("shipment.unmatched", ref=ref or "-", tracking=ev.tracking)
    why = "" if prefixed else _uncorroborated(bridge, order, ev)
    if why:
        return None, reasons.encode("shipment.bare_number", ref=ref, number=order["number"] or str(order["id"]),
                                    why=why, prefix=prefix or "-")
    return order, ""


def _by_code(c: sqlite3.Connection, candidates: list[str]) -> sqlite3.Row | None:
    """The order with one of these numbers, else with one of them as its id."""
    for candidate in filter(None, candidates):
        order = stored_orders.by_number(c, candidate)
        if order is not None:
            return order
    for candidate in filter(None, candidates):
        if candidate.isascii() and candidate.isdigit() and len(candidate) <= 18:
            order = stored_orders.get(c, int(candidate))
            if order is not None:
                return order
    return None


def _uncorroborated(bridge: Any, order: sqlite3.Row, ev: ShipmentUpdate) -> str:
    """Why a bare code's order is not taken ("" when it is): too old, or the carrier's COD is not
    what the order should collect (a prepaid order: nothing)."""
    age = bridge.clock() - (order["first_seen_at"] or 0)
    if age > BARE_DAYS * 86400:
        return reasons.encode("shipment.why.old", days=int(age // 86400))
    if ev.cod_amount is None:
        return reasons.encode("shipment.why.no_cod")
    try:
        snap = providers.shop().order(stored_orders.body(order))
    except (ValueError, TypeError):
        return reasons.encode("shipment.why.unreadable")
    expected = expected_cod(snap)
    if snap.currency != "VND" or ev.cod_amount != expected:
        return reasons.encode("shipment.why.cod_differs", cod=format_money(ev.cod_amount, "VND"),
                              expected=format_money(expected, snap.currency))
    return ""


def _decide(bridge: Any, c: sqlite3.Connection, ev: ShipmentUpdate,
            received_at: float) -> tuple[str, str, int | None, int]:
    """(state, reason, order id, messages queued) of one call, inside the caller's transaction."""
    order, why = match(bridge, c, ev)
    if order is None:
        return UNMATCHED, why, None, 0
    oid, t, name = order["id"], bridge.clock(), carrier_name(ev.carrier)
    at = ev.event_at if ev.event_at is not None else received_at
    store.save(c, ev.carrier, ev.tracking, oid, t)
    row = store.get(c, ev.carrier, ev.tracking)
    current, then = row["status"] or "", row["event_at"]
    try:
        snap = providers.shop().order(stored_orders.body(order))
    except (ValueError, TypeError):
        snap = None
    n = 0
    if then is not None and at < then:
        return STALE, reasons.encode("shipment.stale", at=_when(at), status=_word(current), then=_when(then)), oid, 0
    if ev.status and current in TERMINAL and ev.status != current:
        return STALE, reasons.encode("shipment.after_final", status=_word(current), new=_word(ev.status)), oid, 0
    if not ev.status:
        state = IGNORED
        reason = reasons.encode("shipment.no_status", carrier=name, kind=ev.kind) if ev.kind.lower().startswith("update") \
            else reasons.encode("shipment.unknown_status", carrier=name, word=ev.carrier_status or "-")
    elif ev.status == current:
        state = DUPLICATE
        store.save(c, ev.carrier, ev.tracking, oid, t, carrier_status=ev.carrier_status, event_at=at)
        reason = reasons.encode("shipment.same_status", carrier=name, tracking=ev.tracking, status=_word(current),
                                word=ev.carrier_status or "-")
    else:
        state = APPLIED
        flag = "returned" if ev.status == "returned" and bridge.settings.shipment_returned_flag else row["flag"]
        store.save(c, ev.carrier, ev.tracking, oid, t, status=ev.status, carrier_status=ev.carrier_status,
                   event_at=at, flag=flag or "")
        _withdraw(c, oid, ev)
        n = _applied(bridge, c, order, snap, ev)
        reason = reasons.encode("shipment.applied", carrier=name, tracking=ev.tracking, old=_word(current),
                                status=_word(ev.status), n=n)
        if ev.status in MOVING:
            reason = _cancelled_order(c, order, ev, t, reason)
    if ev.cod_amount is not None and snap is not None:
        reason = _cod(bridge, c, snap, ev, t, reason)
    return state, reason, oid, n


def _note(c: sqlite3.Connection, oid: int, key: str, note: str) -> bool:
    """A private note on the order, through the outbox (once per key, whatever repeats): whether
    it is new."""
    job = Job(kind=ORDER_UPDATE, dedupe_key=key, rule="shipment", event="order.update", audience="shop",
              target=str(oid), target_label=f"order {oid}", payload={"order_id": oid, "action": "note", "note": note},
              summary=f"note: {note}", order_id=oid)
    return enqueue_job(c, job) is not None


def _cancelled_order(c: sqlite3.Connection, order: sqlite3.Row, ev: ShipmentUpdate, t: float, reason: str) -> str:
    """A parcel moving for an order cancelled in the shop or by its customer (COD question): the
    shipper would carry it both ways at the shop's cost. Flagged and noted once per parcel (a
    flag the owner cleared is not raised again by the parcel's next step)."""
    if order["status"] == "cancelled":
        by, words = reasons.encode("shipment.by_shop"), "trong cửa hàng"
    else:
        asked = cod_store.get(c, order["id"])
        if asked is None or asked["state"] != "cancelled":
            return reason
        by, words = reasons.encode("shipment.by_customer"), "khách đã hủy khi xác nhận COD"
    label = STATUS_LABELS.get(ev.status, ev.status)
    note = (f"woo-bridge: {carrier_name(ev.carrier)} {ev.tracking}: {label}, nhưng đơn đã bị hủy ({words}). "
            "Báo hãng vận chuyển hủy vận đơn hoặc chặn giao để khỏi mất phí giao và phí hoàn.")
    if not _note(c, order["id"], f"shipment:{ev.carrier}:{ev.tracking}:{ORDER_CANCELLED}", note):
        return reason
    store.save(c, ev.carrier, ev.tracking, order["id"], t, flag=ORDER_CANCELLED)
    log.warning("order %s is cancelled but %s %s is %s: flagged", order["id"], ev.carrier, ev.tracking, ev.status)
    return reasons.encode("shipment.order_cancelled", then=reason, by=by)


def _message_key(oid: int, carrier: str, tracking: str) -> str:
    """The start of the dedupe key of a parcel's `shipment.status` messages (the status, rule and
    recipient follow)."""
    return f"order:{oid}:shipment:{carrier}:{tracking}:"


def _withdraw(c: sqlite3.Connection, oid: int, ev: ShipmentUpdate) -> None:
    """This parcel's `shipment.status` messages still waiting (quiet hours) for another status
    than its new one: out of date before they go, withdrawn. Another parcel of the same order
    keeps its own."""
    why, t = reasons.encode("shipment.withdrawn", status=_word(ev.status)), now()
    start = _message_key(oid, ev.carrier, ev.tracking)
    for row in stored_messages.waiting_for_order(c, oid, EVENT, WAITING_MESSAGES):
        key = row["dedupe_key"]
        if key.startswith(start) and key[len(start):].split(":", 1)[0] != ev.status:
            stored_messages.stop_unsent(c, key, CANCELLED, WAITING_MESSAGES, why, t)


def _applied(bridge: Any, c: sqlite3.Connection, order: sqlite3.Row, snap: Any, ev: ShipmentUpdate) -> int:
    """What a new status does: the order's note, the customer's messages, a delivered order
    completed. The number of messages queued."""
    s, oid = bridge.settings, order["id"]
    label = STATUS_LABELS.get(ev.status, ev.status)
    note = f"woo-bridge: {carrier_name(ev.carrier)} {ev.tracking}: {label} ({ev.carrier_status})" \
           + (f". Lý do: {ev.reason}" if ev.reason else "") + "."
    _note(c, oid, f"shipment:{ev.carrier}:{ev.tracking}:{ev.status}", note)
    target = s.shipment_delivered_status
    sources = DELIVERED_FROM + ((s.cod_confirmed_status,) if s.cod_confirmed_status else ())
    if ev.status == "delivered" and target and order["status"] in sources:
        enqueue_job(c, Job(kind=ORDER_UPDATE, dedupe_key=f"order:{oid}:shipment-delivered", rule="shipment",
                           event="order.update", audience="shop", target=str(oid), target_label=f"order {oid}",
                           payload={"order_id": oid, "action": "set_status", "status": target,
                                    "from": list(sources)},
                           summary=f"set_status {target}: {carrier_name(ev.carrier)} {ev.tracking} {label}",
                           order_id=oid))
    if snap is None:
        log.warning("order %s: %s %s is %s, but its stored body is unreadable: nobody is told", oid, ev.carrier,
                    ev.tracking, ev.status)
        return 0
    return _tell(bridge, c, order, snap, ev)


def _tell(bridge: Any, c: sqlite3.Connection, order: sqlite3.Row, snap: Any, ev: ShipmentUpdate) -> int:
    """The `shipment.status` rules' messages: once per parcel and status, whatever repeats it
    (delivering, delivery_failed, delivering again tells the customer twice, not three times). An
    order sent in two parcels tells of each: the message names its tracking code, and a status
    of one parcel never withdraws or stands in for the other's."""
    s, oid = bridge.settings, order["id"]
    ctx = {**order_context(s, snap, order["source_url"] or ""),
           **shipment_context(carrier_name(ev.carrier), ev.tracking, ev.status, ev.carrier_status, ev.reason,
                              ev.cod_amount)}
    n = 0
    for rule in bridge.rules.matching(EVENT, status=ev.status, payment_method=snap.payment_method):
        phones = list(s.owner_phones) if rule.to == "owner" else [snap.phone_raw]
        text = bridge.rules.render(rule, ctx)
        for raw in phones:
            key = f"{_message_key(oid, ev.carrier, ev.tracking)}{ev.status}:{rule.name}:{raw}"
            draft = Draft.to_phone(normalize_phone(raw), dedupe_key=key,
                                   rule=rule.name, event=EVENT, audience=rule.to, channels=rule.channels,
                                   sms=prepare(text, rule.unicode), order_id=oid, urgent=rule.urgent,
                                   payload=bridge.rules.extras(rule, ctx), fallback_after=rule.fallback_after)
            if enqueue(c, draft, s.quiet_hours, s.timezone):
                n += 1
    return n


def expected_cod(snap: Any) -> int:
    """What the carrier should collect: a cash-on-delivery order's total less its refunds; nothing
    for an order paid otherwise."""
    return max(0, snap.total_minor - snap.refunded_minor) if snap.payment_method == "cod" else 0


def _cod(bridge: Any, c: sqlite3.Connection, snap: Any, ev: ShipmentUpdate, t: float, reason: str) -> str:
    """Compare the carrier's COD with what the order should collect; a mismatch is flagged on the
    parcel and noted on the order once per pair of amounts. An order in another currency than
    the dong is not compared."""
    if snap.currency != "VND":
        return reason
    expected, cod = expected_cod(snap), int(ev.cod_amount or 0)
    row = store.get(c, ev.carrier, ev.tracking)
    # raised when either side changes into a mismatch: the carrier's amount, or the order's (the shop
    # edited its total after the label was made). The same pair again (every GHN and GHTK call
    # repeats the amount) leaves the owner's "seen" as it is. A pair stored before the expected
    # amount was kept (NULL) counts as changed: seen once more rather than missed.
    same = row is not None and row["cod_amount"] == cod and row["cod_expected"] == expected
    mismatch = 0 if cod == expected else row["cod_mismatch"] if same else 1
    store.save(c, ev.carrier, ev.tracking, snap.id, t, cod_amount=cod, cod_expected=expected, cod_mismatch=mismatch)
    if cod == expected:
        return reason
    note = (f"woo-bridge: {carrier_name(ev.carrier)} {ev.tracking} sẽ thu hộ (COD) {format_money(cod, 'VND')}, "
            f"nhưng đơn cần thu {format_money(expected, 'VND')}. Kiểm tra lại với hãng vận chuyển.")
    _note(c, snap.id, f"shipment:{ev.carrier}:{ev.tracking}:cod:{cod}:{expected}", note)
    return reasons.encode("shipment.cod_mismatch", then=reason, cod=format_money(cod, "VND"),
                          expected=format_money(expected, "VND"))


def from_row(row: sqlite3.Row) -> ShipmentUpdate:
    """A stored call as the event it came as (to decide it again)."""
    return ShipmentUpdate(carrier=row["carrier"], tracking=row["tracking"], order_ref=row["order_ref"] or "",
                          status=row["status"] or "", carrier_status=row["carrier_status"] or "",
                          event_at=row["event_at"], raw=row["raw"], dedupe_key=row["dedupe_key"],
                          cod_amount=row["cod_amount"], reason=row["carrier_reason"] or "", kind=row["kind"] or "")


def retry(bridge: Any, state: str, carrier: str | None = None, settle: float = EVERY) -> int:
    """Decide again the calls waiting in `state`, oldest first, every page of them; how many were
    applied or otherwise settled. They are read without the write lock, which is taken only for
    each call decided. "unmatched" ones are taken only when an order, its tracking codes or a
    parcel's order were saved since their last pass (nothing else makes a call match), and then
    decided only once their order is known (no carrier API is asked for one that still has no
    order); "received" ones only when left undecided for `settle` seconds (a call being decided
    right now is not taken twice)."""
    t = bridge.clock()
    generation = store.match_generation(bridge.db)
    if state == UNMATCHED and kv.get(bridge.db, PASSED) == str(generation):
        return 0
    settled, after = 0, None
    while True:
        rows = store.waiting(bridge.db, state, t - WAIT_DAYS * 86400, carrier, after, PAGE)
        for row in rows:
            if state == RECEIVED and row["received_at"] > t - settle:
                continue
            ev = from_row(row)
            if state == UNMATCHED and match(bridge, bridge.db.conn(), ev)[0] is None:
                continue
            if decide(bridge, row["id"], ev) not in WAITING + (UNMATCHED,):
                settled += 1
        if len(rows) < PAGE:
            break
        after = (rows[-1]["happened"], rows[-1]["id"])
    if state == UNMATCHED:
        kv.set(bridge.db, PASSED, str(generation))    # a change during the pass is taken by the next one
    return settled


def run(bridge: Any) -> int:
    """The periodic pass: calls left undecided, and calls whose order has arrived since."""
    n = retry(bridge, RECEIVED) + retry(bridge, UNMATCHED)
    if n:
        log.info("%d carrier call(s) decided late (their order arrived, or a decision was interrupted)", n)
    return n

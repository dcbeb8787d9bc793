"""Bulk sends: one text to a list (a CSV, or the customers of chosen orders), through the normal
outbox, and the opt-out list that marketing never crosses.

A bulk is prepared as a draft (every recipient read, normalized, checked against duplicates and
the opt-out list, and its text rendered once, so the owner sees what goes out and what it costs
before anything is queued). Starting it only changes its state: the leader's job then queues its
recipients as ordinary outbox messages (rule "bulk", not urgent, so quiet hours apply) a batch per
transaction, so a bulk of 10,000 never holds the write lock for long; the dedupe key
"bulk:<id>:<phone>" makes a restart, a second click or two processes queue each phone once.
The pacing is the outbox's own: a bulk through the shop's phones goes out at their anti-block pace.
"""
from __future__ import annotations

import csv
import io
import json
import re
import time
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from jinja2 import Template, TemplateError

from . import reasons
from .money import format_vnd
from .outbox import Draft, enqueue
from .phones import PhoneResult, national, normalize_phone
from .quiet import quiet_until
from .reasons import N_
from .rules import MAX_TEXT, describe, make_env, write
from .sending import Outcome, SendResult
from .smstext import SmsText, prepare, strip_diacritics
from .store import bulk as store
from .store import prices
from .store.db import Database

DRAFT, RUNNING, PAUSED, CANCELLED, DONE = "draft", "running", "paused", "cancelled", "done"
PREPARING = "preparing"   # its recipients being stored, a batch per transaction; a draft once all are in
# recipient states: queued as a message, or why not
OK, QUEUED, INVALID, DUPLICATE, OPTED_OUT, ERROR, DROPPED = (
    "ok", "queued", "invalid", "duplicate", "optout", "error", "dropped")
RULE, EVENT = "bulk", "bulk.send"
# A paused bulk's waiting messages are due at this time (year 3000): the claim never reaches them,
# and resuming finds them by it. Nothing else is scheduled that far.
PAUSED_DUE = 32_503_680_000.0
BATCH_SECONDS = 0.05     # a queueing transaction stops early past this, however few rows it wrote
BATCH_ROWS = 200         # rows a transaction stores, holds or cancels (a few ms): intake writes between two
# a writer waiting for the lock sleeps in steps (SQLite's busy handler): without a gap between two
# batches it could lose the lock to the next batch again and again
PAUSE_BETWEEN = 0.005
CANCEL_SWEEP = 3600.0    # a cancelled bulk's rows given back by a lane are cancelled for this long after
PREVIEW = 5
# A bulk is given slots at SHARE of its senders' pace (the rest is kept for order notices on the
# same phones), and a running bulk has only its next WINDOW seconds of slots queued: an order
# notice, due at once, is never behind more than a slot or two of marketing, and the senders'
# claims never take and give back a long backlog.
SHARE = 0.9
WINDOW = 60.0
LAG_SLOTS = 2   # a notice waits behind at most about this many late marketing messages
EVERY = 2.0              # seconds between two passes of the leader's job (bulk_sends)
PHONE_COLUMNS = ("phone", "sdt", "so_dien_thoai", "dien_thoai", "phone_number", "so_dt")
ORDER_VARIABLES = ("customer_name", "order_number", "total", "status", "phone")

reasons.register({
    "bulk.csv_too_large": N_("the file is %(size)s bytes; at most %(max)s bytes are accepted"),
    "bulk.csv_not_utf8": N_("the file is not UTF-8 text: save it as \"CSV UTF-8\" and upload it again"),
    "bulk.csv_empty": N_("the file has no header line"),
    "bulk.csv_no_phone": N_("the file has no phone column (a column named phone or sdt)"),
    "bulk.csv_duplicate_column": N_("two columns have the same name: %(name)s"),
    "bulk.csv_too_many_rows": N_("the file has more than %(max)s rows; split it into several bulk sends"),
    "bulk.csv_scientific": N_("row %(row)s: the phone %(value)s is in scientific notation (Excel changed the "
                              "number and lost its last digits): format the phone column as Text in Excel, type "
                              "the numbers again and save as \"CSV UTF-8\""),
    "bulk.csv_unclosed_quote": N_("a quotation mark (\") is opened and never closed: the rest of the file would "
                                  "be read as one cell; close it or remove it and upload again"),
    "bulk.csv_unreadable": N_("the file cannot be read as CSV: %(detail)s"),
    "bulk.no_recipients": N_("there is no recipient"),
    "bulk.template_empty": N_("write the text of the message"),
    "bulk.template_error": N_("the text cannot be used: %(detail)s"),
    "bulk.template_too_long": N_("the text is longer than %(max)s characters"),
    "bulk.channel_unknown": N_("channel %(channel)s cannot send bulk messages"),
    "bulk.not_draft": N_("this bulk send has already been started"),
    "bulk.not_running": N_("only a running bulk send can be paused"),
    "bulk.not_paused": N_("only a paused bulk send can be resumed"),
    "bulk.finished": N_("this bulk send is already over"),
    "bulk.no_bulk": N_("there is no bulk send %(id)s"),
    "bulk.paused": N_("bulk send %(id)s paused by %(who)s"),
    "bulk.cancelled": N_("bulk send %(id)s cancelled by %(who)s"),
    "bulk.opted_out": N_("the customer asked for no more marketing messages (%(source)s)"),
    "bulk.optout_noted": N_("opt-out: %(phone)s gets no more bulk sends (%(n)s waiting cancelled)"),
    "bulk.duplicate_of": N_("same number as row %(row)s"),
    "bulk.opted_out_before": N_("on the opt-out list"),
    "bulk.empty_text": N_("the text is empty for this row"),
    "bulk.phone_invalid": N_("not a usable phone number"),
    "bulk.optout_invalid": N_("%(phone)s is not a usable phone number"),
})


class BulkError(ValueError):
    """What the owner must fix; `str()` is a stored reason (reasons.render shows it)."""

    def __init__(self, code: str, **params: Any):
        super().__init__(reasons.encode(code, **params))


@dataclass(frozen=True)
class Row:
    """A recipient as given: the typed phone and the variables of its text."""
    raw: str
    variables: dict[str, Any]
    order_id: int | None = None


@dataclass(frozen=True)
class Recipient:
    seq: int
    raw: str
    phone: str | None
    variables: dict[str, Any]
    state: str
    detail: str = ""
    sms: SmsText | None = None


# -- reading the list -------------------------------------------------------------------------
def column_name(header: str, i: int) -> str:
    """A CSV header as a template variable: "Tên khách" -> "ten_khach" (lower case, no diacritics,
    `_` between words), so the owner writes {{ ten_khach }}."""
    name = re.sub(r"[^a-z0-9]+", "_", strip_diacritics(header or "").lower()).strip("_")
    if not name:
        return f"cot_{i + 1}"
    return f"c_{name}" if name[0].isdigit() else name


def read_csv(data: bytes, max_bytes: int, max_rows: int) -> tuple[list[str], list[Row]]:
    """The variables (column names) and the rows of an uploaded CSV: UTF-8 with or without BOM,
    comma, semicolon (Excel in Vietnamese writes semicolons) or tab, a `phone` (or `sdt`) column.
    A phone in scientific notation or an unclosed quote is refused with what to do: read as is,
    either would send to a wrong number or merge rows."""
    if len(data) > max_bytes:
        raise BulkError("bulk.csv_too_large", size=len(data), max=max_bytes)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BulkError("bulk.csv_not_utf8") from None
    delimiter = _delimiter(text)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise BulkError("bulk.csv_empty")
        names = [column_name(h, i) for i, h in enumerate(header)]
        seen: set[str] = set()
        for n in names:
            if n in seen:
                raise BulkError("bulk.csv_duplicate_column", name=n)
            seen.add(n)
        phone_at = next((i for i, n in enumerate(names) if n in PHONE_COLUMNS), None)
        if phone_at is None:
            raise BulkError("bulk.csv_no_phone")
        rows = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if len(rows) >= max_rows:
                raise BulkError("bulk.csv_too_many_rows", max=max_rows)
            values = {n: (cells[i].strip() if i < len(cells) else "") for i, n in enumerate(names)}
            if _SCIENTIFIC.match(values[names[phone_at]]):
                raise BulkError("bulk.csv_scientific", row=reader.line_num, value=values[names[phone_at]][:40])
            rows.append(Row(values[names[phone_at]], values))
    except csv.Error as exc:
        raise BulkError("bulk.csv_unreadable", detail=str(exc)[:200]) from None
    if text.count('"') % 2:   # the csv module reads an unclosed quote to the end of the file
        raise BulkError("bulk.csv_unclosed_quote")
    return names, rows


# Excel shows a long number as 9,12345678E+08 and saves it so: the digits after the 9th are lost
_SCIENTIFIC = re.compile(r"^\+?\d+([.,]\d+)?[eE][+-]?\d+$")


def _delimiter(text: str) -> str:
    """Tab, semicolon (Excel in Vietnamese) or comma: the one found most often outside quotes in
    the first lines, so a quoted header such as "Họ; tên",sdt does not flip it."""
    sample = "\n".join(text.splitlines()[:20])
    outside = re.sub(r'"[^"]*"', "", sample)
    counts = {d: outside.count(d) for d in ("\t", ";", ",")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def order_rows(db: Database, statuses: Sequence[str], since: float | None, until: float | None, payment: str,
               max_rows: int) -> list[Row]:
    """One row per distinct phone among the matching stored orders (its latest order)."""
    out = []
    for r in store.order_customers(db, statuses, since, until, payment, max_rows):
        out.append(Row(r["phone_raw"] or r["phone_e164"], {
            "customer_name": r["customer_name"] or "", "order_number": r["number"] or str(r["id"]),
            "total": format_vnd(r["total_minor"] or 0), "status": r["status"] or ""}, order_id=r["id"]))
    return out


# -- the text ---------------------------------------------------------------------------------
def compile_text(source: str) -> Template:
    """The owner's text in the rules' sandbox (bridge/rules.py): no reach into Python, bounded output."""
    if not source.strip():
        raise BulkError("bulk.template_empty")
    if len(source) > MAX_TEXT:
        raise BulkError("bulk.template_too_long", max=MAX_TEXT)
    try:
        return make_env().from_string(source)
    except TemplateError as exc:
        raise BulkError("bulk.template_error", detail=str(exc)[:300]) from None


def context(variables: dict[str, Any], phone: str | None, shop_name: str) -> dict[str, Any]:
    return {**variables, "phone": national(phone) if phone else variables.get("phone", ""), "shop_name": shop_name}


def render(tpl: Template, variables: dict[str, Any], phone: str | None, shop_name: str,
           unicode: bool) -> SmsText:
    """The text as sent to this recipient; raises what the template raises (shown per row)."""
    return prepare(write(tpl, context(variables, phone, shop_name)), unicode)


def examine(rows: Sequence[Row], phones: Sequence[PhoneResult], tpl: Template, shop_name: str, unicode: bool,
            opted_out: set[str]) -> list[Recipient]:
    """Every row (with its normalized phone) and what becomes of it: invalid, a duplicate of an
    earlier row, opted out, a text that cannot be written for it, or ok (with its text)."""
    seen: dict[str, int] = {}
    out = []
    for seq, (row, p) in enumerate(zip(rows, phones), 1):
        variables = {**row.variables, **({"order_id": row.order_id} if row.order_id else {})}
        if not p.ok:
            out.append(Recipient(seq, row.raw, None, variables, INVALID, reasons.encode("bulk.phone_invalid")))
            continue
        phone = p.e164 or ""
        if phone in seen:
            out.append(Recipient(seq, row.raw, phone, variables, DUPLICATE,
                                 reasons.encode("bulk.duplicate_of", row=seen[phone])))
            continue
        seen[phone] = seq
        if phone in opted_out:
            out.append(Recipient(seq, row.raw, phone, variables, OPTED_OUT, reasons.encode("bulk.opted_out_before")))
            continue
        try:
            sms = render(tpl, row.variables, phone, shop_name, unicode)
        except Exception as exc:   # whatever the owner's text raises on this row is shown, never a 500
            out.append(Recipient(seq, row.raw, phone, variables, ERROR, describe(exc)[:300]))
            continue
        if not sms.text:
            out.append(Recipient(seq, row.raw, phone, variables, ERROR, reasons.encode("bulk.empty_text")))
            continue
        out.append(Recipient(seq, row.raw, phone, variables, OK, sms=sms))
    return out


# -- channels, cost and time ------------------------------------------------------------------
def channels(bridge: Any) -> dict[str, Any]:
    """The configured channels a bulk may go through (each provider says whether it can)."""
    return {n: ch for n, ch in bridge.channels.items() if getattr(ch, "bulk", "") and ch.configured}


def interval(paces: Sequence[Any], tick: float) -> float:
    """Seconds between two of a bulk's slots on a channel: its senders' sustained pace together
    (a sender's slowest limit: its mean gap, plus half a worker pass when a waiting send is taken
    on the next pass, or its per-minute or per-hour cap spread evenly), of which a bulk takes
    SHARE. 0: a channel that declares no pace (its own request budget spaces the sends)."""
    rate = 0.0
    for p in paces:
        gap = max(p.gap + (tick / 2 if p.on_tick and p.gap > 0 else 0.0),
                  60.0 / p.per_minute if p.per_minute else 0.0, 3600.0 / p.per_hour if p.per_hour else 0.0)
        if gap <= 0:
            return 0.0
        rate += 1.0 / gap
    return 1.0 / (rate * SHARE) if rate else 0.0


def slot_after(t: float, step: float, quiet: tuple[int, int] | None, tz: str) -> float:
    """The bulk's next slot after one at `t`; a slot inside quiet hours moves to their end."""
    t += step
    return (quiet_until(t, quiet, tz) or t) if quiet else t


def estimate(paces: Sequence[Any], n: int, start: float, quiet: tuple[int, int] | None, tz: str,
             tick: float) -> float:
    """Seconds from `start` until the last of `n` messages is due: the bulk's messages are given
    slots `interval` apart (queue_batch), the first at `start` (or the end of quiet hours). Other
    messages on the same senders use the share a bulk leaves free."""
    if n <= 0 or not paces:
        return 0.0
    step = interval(paces, tick)
    if not quiet:
        return (n - 1) * step
    t = quiet_until(start, quiet, tz) or start
    for _ in range(n - 1):
        t = slot_after(t, step, quiet, tz)
    return t - start


def time_needed(bridge: Any, channel: str, n: int) -> float | None:
    ch = bridge.channels.get(channel)
    if ch is None:
        return None
    s = bridge.settings
    return estimate(ch.paces(), n, bridge.clock(), s.quiet_hours, s.timezone, s.worker_interval)


def cost_of(db: Database, channel: str, segments: Iterable[int]) -> int | None:
    price = prices.all_prices(db).get(channel)
    if price is None:
        return None
    return sum(prices.cost(price, s) or 0 for s in segments)


# -- a draft ----------------------------------------------------------------------------------
def create(bridge: Any, *, name: str, source: str, rows: Sequence[Row], template: str, channel: str,
           unicode: bool, filters: dict[str, Any], who: str) -> int:
    """A draft bulk: every recipient examined and stored; nothing queued."""
    if channel not in channels(bridge):
        raise BulkError("bulk.channel_unknown", channel=channel)
    tpl = compile_text(template)
    if not rows:
        raise BulkError("bulk.no_recipients")
    db: Database = bridge.db
    phones = [normalize_phone(r.raw) for r in rows]   # the slow part of a large list (~0.3 ms a number)
    usable = [p.e164 for p in phones if p.ok and p.e164]
    found = examine(rows, phones, tpl, bridge.settings.shop_name, unicode, store.opted_out_among(db, usable))
    ok = [r for r in found if r.state == OK]
    segments = [r.sms.segments for r in ok if r.sms]
    t = bridge.clock()
    states = [r.state for r in found]
    with db.tx() as c:
        bulk_id = store.create(c, {
            "created_at": t, "updated_at": t, "name": name[:200], "source": source,
            "filters": json.dumps(filters, ensure_ascii=False), "channel": channel, "template": template,
            "unicode": int(unicode), "total": len(found), "valid": len(ok),
            "invalid": states.count(INVALID), "duplicates": states.count(DUPLICATE),
            "opted_out": states.count(OPTED_OUT), "errors": states.count(ERROR), "segments": sum(segments),
            "cost": cost_of(db, channel, segments), "estimate_s": time_needed(bridge, channel, len(ok)),
            "created_by": who, "state": PREPARING})
    # up to BULK_MAX_ROWS recipients: in short transactions, so intake is not kept waiting for the lock
    for i in range(0, len(found), BATCH_ROWS):
        with db.tx() as c:
            store.add_recipients(c, bulk_id, ((r.seq, r.phone, r.raw, json.dumps(r.variables, ensure_ascii=False),
                                               r.state, r.detail) for r in found[i:i + BATCH_ROWS]))
        time.sleep(PAUSE_BETWEEN)
    with db.tx() as c:
        store.set_state(c, bulk_id, DRAFT, t)
    return bulk_id


def preview(bridge: Any, bulk: Any, limit: int = PREVIEW) -> list[dict[str, Any]]:
    """The first messages as they will be sent."""
    tpl = compile_text(bulk["template"])
    out = []
    for r in store.recipients(bridge.db, bulk["id"], (OK,), limit):
        variables = json.loads(r["vars"])
        try:
            sms = render(tpl, variables, r["phone"], bridge.settings.shop_name, bool(bulk["unicode"]))
        except Exception as exc:
            out.append({"phone": r["phone"], "error": describe(exc)})
            continue
        out.append({"phone": r["phone"], "text": sms.text, "encoding": sms.encoding, "length": sms.length,
                    "segments": sms.segments, "error": ""})
    return out


def delete_draft(bridge: Any, bulk_id: int) -> bool:
    with bridge.db.tx() as c:
        return store.delete_draft(c, bulk_id)


# -- running it -------------------------------------------------------------------------------
def _bulk(c: Any, bulk_id: int) -> Any:
    b = store.get(c, bulk_id)
    if b is None:
        raise BulkError("bulk.no_bulk", id=bulk_id)
    return b


def start(bridge: Any, bulk_id: int) -> None:
    """Running from now: the first batch is queued at once, the rest by the leader's job. A second
    click finds it running and changes nothing."""
    with bridge.db.tx() as c:
        b = _bulk(c, bulk_id)
        if b["state"] != DRAFT:
            raise BulkError("bulk.not_draft")
        # the estimate at the start is the one the run is measured against
        store.set_estimate(c, bulk_id, time_needed(bridge, b["channel"], b["valid"]))
        store.set_state(c, bulk_id, RUNNING, bridge.clock(), started=True)
    if queue_batch(bridge, bulk_id)[1]:
        bridge.wake_worker()


def pause(bridge: Any, bulk_id: int, who: str) -> int:
    """Its waiting messages stop going out (a message a phone is being handed at this moment may
    still go); no more are queued. Other messages are untouched. The state changes first (the
    worker checks it before each bulk message), then the waiting rows are held a batch per
    transaction."""
    t = bridge.clock()
    with bridge.db.tx() as c:
        b = _bulk(c, bulk_id)
        if b["state"] != RUNNING:
            raise BulkError("bulk.not_running")
        store.set_state(c, bulk_id, PAUSED, t)
    reason = reasons.encode("bulk.paused", id=bulk_id, who=who)
    return _each_batch(bridge, bulk_id, PAUSED, lambda c, keys: store.hold_waiting(c, keys, PAUSED_DUE, reason, t))


def _each_batch(bridge: Any, bulk_id: int, state: str, fn: Any) -> int:
    """fn(c, dedupe keys) over the bulk's queued recipients, BATCH_ROWS a transaction, while the
    bulk stays in `state` (a resume between two batches stops a pause's holding). The sum of fn."""
    after = total = 0
    while True:
        with bridge.db.tx() as c:
            b = store.get(c, bulk_id)
            if b is None or b["state"] != state:
                return total
            seqs = store.queued_after(c, bulk_id, after, BATCH_ROWS)
            if not seqs:
                return total
            total += fn(c, [store.dedupe_key(bulk_id, phone) for _, phone in seqs])
            after = seqs[-1][0]
        time.sleep(PAUSE_BETWEEN)


def resume(bridge: Any, bulk_id: int) -> int:
    t = bridge.clock()
    s = bridge.settings
    later = quiet_until(t, s.quiet_hours, s.timezone)
    with bridge.db.tx() as c:
        b = _bulk(c, bulk_id)
        if b["state"] != PAUSED:
            raise BulkError("bulk.not_paused")
        store.set_state(c, bulk_id, RUNNING, t)
        # the held messages (at most a WINDOW of slots) take the slots from now on, the rest after them
        ch = bridge.channels.get(b["channel"])
        step = interval(ch.paces(), s.worker_interval) if ch is not None else 0.0
        n = store.release_held(c, bulk_id, PAUSED_DUE, later or t, step,
                               reasons.encode("outbox.quiet_hours") if later else "", t)
        store.set_next_due(c, bulk_id, max(b["next_due"] or 0.0, (later or t) + n * step))
    bridge.wake_worker()
    return n


def cancel(bridge: Any, bulk_id: int, who: str) -> int:
    """Waiting messages cancelled, the rest never queued; what was sent stays sent."""
    t = bridge.clock()
    with bridge.db.tx() as c:
        b = _bulk(c, bulk_id)
        if b["state"] not in (RUNNING, PAUSED, DRAFT, PREPARING):
            raise BulkError("bulk.finished")
        store.set_state(c, bulk_id, CANCELLED, t, finished=True)
    while True:
        with bridge.db.tx() as c:
            if not store.drop_unqueued(c, bulk_id, DROPPED, BATCH_ROWS):
                break
        time.sleep(PAUSE_BETWEEN)
    reason = reasons.encode("bulk.cancelled", id=bulk_id, who=who)
    return _each_batch(bridge, bulk_id, CANCELLED, lambda c, keys: store.cancel_waiting(c, keys, reason, t))


def queue_batch(bridge: Any, bulk_id: int) -> tuple[int, int]:
    """Queue the next recipients of a running bulk in one transaction (at most BULK_BATCH, and
    stopping early past BATCH_SECONDS, or at the first slot beyond the next WINDOW seconds),
    each message due at its own slot. A phone on the opt-out list by now is skipped.
    (recipients handled, messages queued)."""
    s = bridge.settings
    started = time.perf_counter()
    handled = n = 0
    t = bridge.clock()
    with bridge.db.tx() as c:
        b = store.get(c, bulk_id)
        if b is None or b["state"] != RUNNING:
            return 0, 0
        ch = bridge.channels.get(b["channel"])
        step = interval(ch.paces(), s.worker_interval) if ch is not None else 0.0
        slot = max(b["next_due"] or t, t)
        slot = (quiet_until(slot, s.quiet_hours, s.timezone) or slot) if s.quiet_hours else slot
        if slot > t + WINDOW:
            return 0, 0
        rows = store.next_batch(c, bulk_id, s.bulk_batch)
        out = store.opted_out_among(c, [r["phone"] for r in rows])
        tpl = compile_text(b["template"])
        for r in rows:
            if slot > t + WINDOW:
                break
            handled += 1
            if r["phone"] in out:
                store.mark(c, bulk_id, r["seq"], OPTED_OUT, reasons.encode("bulk.opted_out_before"))
                continue
            variables = json.loads(r["vars"])
            try:
                sms = render(tpl, variables, r["phone"], s.shop_name, bool(b["unicode"]))
            except Exception as exc:
                store.mark(c, bulk_id, r["seq"], ERROR, describe(exc)[:300])
                continue
            enqueue(c, Draft(dedupe_key=store.dedupe_key(bulk_id, r["phone"]), rule=RULE, event=EVENT,
                             audience="customer", channels=(b["channel"],), recipient_raw=r["raw"],
                             recipient=r["phone"], problem=None, sms=sms, urgent=False,
                             order_id=variables.get("order_id"), due_at=slot), s.quiet_hours, s.timezone)
            store.mark(c, bulk_id, r["seq"], QUEUED)
            n += 1
            slot = slot_after(slot, step, s.quiet_hours, s.timezone)
            if time.perf_counter() - started > BATCH_SECONDS:
                break
        store.set_next_due(c, bulk_id, slot)
    return handled, n


def step(bridge: Any) -> int:
    """The leader's job: queue running bulks batch by batch (each its own transaction, so intake
    writes between them), a window of slots ahead, and mark bulks with nothing left to send done.
    A paused or cancelled bulk's message a lane gave back is stopped by the worker's check before
    sending (stopped_at_send), so those bulks need no pass."""
    queued = 0
    t = bridge.clock()
    end = time.monotonic() + EVERY   # the next pass goes on (each bulk gets a batch at least)
    _recent_opt_outs(bridge, t)
    for b in store.in_states(bridge.db, (RUNNING,)):
        _catch_up(bridge, b, t)
        while True:
            handled, n = queue_batch(bridge, b["id"])
            if n:
                queued += n
                bridge.wake_worker()
            if not handled or time.monotonic() >= end:
                break
            time.sleep(PAUSE_BETWEEN)
            bridge.give_way()   # webhooks queueing in a web process go first (bridge/pressure.py)
        _maybe_done(bridge, b["id"])
    return queued


def _catch_up(bridge: Any, b: Any, t: float) -> None:
    """Slots that passed while the service was down (or the phones were slower than their
    settings say) would all be due at once, and an order notice would wait behind them: once
    more than one message is LAG_SLOTS slots late, the bulk's waiting messages are given slots
    again from now. Nothing is done while the senders keep up (a count of the few late rows)."""
    ch = bridge.channels.get(b["channel"])
    step = interval(ch.paces(), bridge.settings.worker_interval) if ch is not None else 0.0
    with bridge.db.tx() as c:
        if store.lagging(c, b["id"], t - max(LAG_SLOTS * step, 0.5), t) < 2:
            return
        n = store.respread(c, b["id"], PAUSED_DUE, t, step, t)
        store.set_next_due(c, b["id"], max(b["next_due"] or 0.0, t + n * step))


WAITING_STATUSES = ("pending", "scheduled", "held", "in-doubt")


def _recent_opt_outs(bridge: Any, t: float) -> None:
    """A message a sender held at the moment its number opted out was not cancelled then; if the
    sender gave it back (the phone was busy), it is cancelled now, before its turn comes. Looked
    for without the write lock first: this runs every pass, and nearly always finds none."""
    if not store.opted_out_since(bridge.db.conn(), t - CANCEL_SWEEP):
        return
    with bridge.db.tx() as c:
        phones = store.opted_out_since(c, t - CANCEL_SWEEP)   # again under the lock: one removed meanwhile stays
        if not phones:
            return
        live = store.in_states(c, (RUNNING, PAUSED))
        for phone, source in phones:
            reason = reasons.encode("bulk.opted_out", source=source)
            for b in live:
                store.cancel_one(c, store.dedupe_key(b["id"], phone), reason, t)


def stopped_at_send(db: Database, row: Any, t: float) -> SendResult | None:
    """Checked by the worker just before a bulk message goes to its provider (one read of two
    primary keys): the customer opted out or the bulk was cancelled since it was queued (the
    message is cancelled now), or the bulk is paused (the message waits for the resume). A lane
    may have held the message at the click or the STOP, so the leader's passes alone can be late.
    None: send it. The answer is a DEFERRED result (nothing sent; a cancelled row stays cancelled)."""
    try:
        bulk_id = int(str(row["dedupe_key"]).split(":")[1])
    except (IndexError, ValueError):
        return None
    found = store.send_check(db, bulk_id, row["recipient"])
    if found is None:
        return None
    state, optout = found
    if optout is not None or state == CANCELLED:
        why = reasons.encode("bulk.opted_out", source=optout) if optout is not None else \
            reasons.encode("bulk.cancelled", id=bulk_id, who="admin")
        with db.tx() as c:
            store.cancel_claimed(c, row["id"], why, t)
        return SendResult(Outcome.DEFERRED, retry_at=t, detail=why)
    if state == PAUSED:
        return SendResult(Outcome.DEFERRED, retry_at=PAUSED_DUE,
                          detail=reasons.encode("bulk.paused", id=bulk_id, who="admin"))
    return None


def _maybe_done(bridge: Any, bulk_id: int) -> None:
    if store.left_to_queue(bridge.db, bulk_id):
        return
    counts = store.message_counts(bridge.db, bulk_id)
    if any(counts.get(s) for s in WAITING_STATUSES):
        return
    with bridge.db.tx() as c:
        b = store.get(c, bulk_id)
        if b is not None and b["state"] == RUNNING:
            store.set_state(c, bulk_id, DONE, bridge.clock(), finished=True)


def progress(bridge: Any, bulk_id: int) -> dict[str, int]:
    """Counts a person reads: not queued yet, waiting, with the provider, sent, delivered, failed,
    cancelled (from the messages themselves)."""
    m = store.message_counts(bridge.db, bulk_id)
    return {"to_queue": store.left_to_queue(bridge.db, bulk_id),
            "waiting": sum(m.get(s, 0) for s in ("pending", "scheduled", "held")),
            "in_doubt": m.get("in-doubt", 0), "queued": m.get("queued", 0), "sent": m.get("sent", 0),
            "delivered": m.get("delivered", 0), "failed": m.get("failed", 0) + m.get("dry-run", 0),
            "cancelled": m.get("cancelled", 0), "total": sum(m.values())}


# -- opt-out ----------------------------------------------------------------------------------
_OPT_OUT = ("tu choi", "tuchoi", "stop")
_TAILS = ("", "nhan tin", "tin nhan", "tin", "sms", "quang cao", "qc", "nhan quang cao", "nhan tin quang cao",
          "nhan qc", "nhan sms", "nhan tin qc", "nhan tin sms", "tin qc", "tin quang cao")
# words of politeness after the instruction ("Tu choi. Cam on"): they do not make it a conversation
_POLITE = ("", "cam on", "cam on shop", "cam on ban", "thanks", "thank you", "xin cam on", "ak", "a")


# every accepted text, folded: one set look-up per received text (it runs on every bank message)
_OPT_OUT_TEXTS = frozenset(" ".join(w for w in (k, tail, polite) if w)
                           for k in _OPT_OUT for tail in _TAILS for polite in _POLITE)


def is_opt_out(text: str) -> bool:
    """The whole text (case, diacritics, punctuation and spacing aside) is TU CHOI / TỪ CHỐI / STOP,
    alone or followed only by "nhan tin", "tin nhan", "quang cao", "sms"... A question ("Từ chối
    gì vậy?") or a longer sentence is not an instruction: the shop reads it."""
    if "?" in (text or ""):
        return False
    folded = " ".join(re.findall(r"[a-z0-9]+", strip_diacritics(text or "").lower()))
    return folded in _OPT_OUT_TEXTS


def opt_out(c: Any, phone: str, t: float, source: str, note: str) -> int:
    """Inside the caller's transaction: the phone gets no more bulk sends; its waiting bulk
    messages are cancelled (order notices are other rules: untouched). The cancelled count."""
    store.add_optout(c, phone, t, source, note)
    reason = reasons.encode("bulk.opted_out", source=source)
    return sum(store.cancel_one(c, store.dedupe_key(b["id"], phone), reason, t)
               for b in store.in_states(c, (RUNNING, PAUSED)))


def add_opt_out(bridge: Any, raw: str, who: str) -> str:
    p = normalize_phone(raw)
    if not p.ok or not p.e164:
        raise BulkError("bulk.optout_invalid", phone=raw.strip()[:40])
    with bridge.db.tx() as c:
        opt_out(c, p.e164, bridge.clock(), "admin", who)
    return p.e164


def remove_opt_out(bridge: Any, raw: str) -> bool:
    p = normalize_phone(raw)
    if not p.ok or not p.e164:
        return False
    with bridge.db.tx() as c:
        return store.remove_optout(c, p.e164)

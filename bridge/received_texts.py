"""Every inbound SMS is a row before anything is decided from it, and is decided once, right
after the answer (bridge/intake.py).

Gateways repeat themselves: FiboSMS pushes the same `guid` again until it hears
`<Status>2</Status>`, SMSGate retries webhooks for days and has been seen to resend one SMS
under a new id. So an SMS is deduplicated on the source's own id and again on (device, sender,
text, received within 2 minutes); a repeat is answered as success and not handed on again.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from itertools import takewhile
from typing import Any, Callable

from . import providers, reasons
from .events import BankTransaction
from .outgoing import RECEIVED, emit, iso
from .reasons import N_

from .intake import NETWORK_BUDGET, decide_rows
from .store import inbox as stored
from .store.intake import before_deliveries
from .store.deliveries import release, rollback_to, savepoint
from .store.db import Database, dumps, now
from .text_handlers import InboundHandler, InboundSms

log = logging.getLogger(__name__)

DEDUPE_WINDOW = 120.0

# What became of a received text (inbox.reason), in the owner's language where it is shown.
reasons.register({
    "inbox.twin": N_("same sender, device and text as #%(id)s within 2 minutes"),
    "inbox.handler_failed": N_("%(handler)s failed: %(error)s"),
    "inbox.and": N_("%(first)s; %(then)s"),
})


def joined(notes: list[str]) -> str:
    """Several handlers' notes as one stored reason (each stays a code, or its own text)."""
    if not notes:
        return ""
    out = notes[0]
    for note in notes[1:]:
        out = reasons.encode("inbox.and", first=out, then=note)
    return out


def storable(value: Any) -> Any:
    """Text as SQLite can store it: a lone surrogate (valid in JSON's \\uD800, not in UTF-8) would
    fail the insert; it becomes '?'. Anything else is returned as it is."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "replace").decode("utf-8")
    return value


@dataclass(frozen=True)
class InboxResult:
    row_id: int | None
    duplicate: bool
    state: str
    note: str = ""


class ReceivedTexts:
    def __init__(self, db: Database, handlers: list[InboundHandler], calls_out: Callable[[], bool] = lambda: True,
                 on_stored: Callable[[], None] = lambda: None):
        self.db = db
        self.handlers = handlers
        self.calls_out = calls_out   # this process may ask the outside world (the scheduler's leader)
        # a row to decide was committed: whoever stored it (a webhook, a provider's reconcile, a
        # command) wakes the decider, so no text waits for the leader's sweep
        self.on_stored = on_stored
        # texts this process prepared and found ready, not decided yet: a pass decides only what
        # fits its transaction's budget, and preparing (reading the bank's text, looking up the
        # codes) every waiting text again on every pass cost more than deciding them
        self._ready: set[int] = set()

    def accept(self, *, source: str, external_id: str, device: str, sim: int | None, sender: str, recipient: str,
               text: str, received_at: float | None, raw: Any, package: str | None = None,
               title: str | None = None, payload: str | None = None) -> InboxResult:
        """Store (committed before anything else, the one write before the answer); the handlers
        get it from the decider right after."""
        t = now()
        received = received_at or t
        if not isinstance(received, (int, float)) or not -1e12 < received < 1e12:
            received = t   # a timestamp no calendar has: when we got it
        external_id, device, sender, recipient, text, package, title, payload = (
            storable(v) for v in (external_id, device, sender, recipient, text, package, title, payload))
        raw = storable(raw if isinstance(raw, str) else dumps(raw))
        with self.db.tx() as c:
            if external_id:
                row = stored.by_external_id(c, source, external_id)
                if row:
                    return InboxResult(row["id"], True, "duplicate", f"{source} id {external_id} already stored")
            twin = stored.twin(c, sender, device, text, received - DEDUPE_WINDOW, received + DEDUPE_WINDOW)
            state, reason = ("duplicate", reasons.encode("inbox.twin", id=twin["id"])) if twin else ("received", "")
            row_id = stored.insert(c, t, source, external_id or None, device, sim, sender, recipient, text, received,
                                   raw, state, reason, package, title, payload=payload)
        if not twin:
            self.on_stored()
        return InboxResult(row_id, bool(twin), state, reasons.english(reason))

    def accept_transaction(self, event: BankTransaction) -> InboxResult:
        """Store a provider's transaction record (committed before the answer); decided after it.

        Its provider's id is its identity: the same id again is a re-delivery (a webhook retried,
        a reconcile run seeing it again). There is no twin check on text: two customers may send
        the same amount with the same memo within a minute, and the provider's ids tell them apart."""
        t = now()
        fields = {k: storable(v) for k, v in asdict(event).items() if k not in ("source", "external_id", "raw")}
        raw = storable(event.raw if isinstance(event.raw, str) else dumps(event.raw))
        text = storable(transaction_text(event))
        external_id = storable(event.external_id)
        with self.db.tx() as c:
            row = stored.by_external_id(c, event.source, external_id)
            if row:
                return InboxResult(row["id"], True, "duplicate", f"{event.source} id {external_id} already stored")
            row_id = stored.insert(c, t, event.source, external_id, "", None, fields["bank"], fields["account"],
                                   text, t, raw, "received", "", None, None, json.dumps(fields, ensure_ascii=False))
        self.on_stored()
        return InboxResult(row_id, False, "received")

    def decide_pending(self, limit: int, budget: float) -> int:
        """Hand the oldest stored texts to the handlers (bridge/intake.py), exactly once.

        What a handler must ask the outside world first (the shop, for an order a payment names)
        is asked before the write transaction (`prepare`, harmless twice); the decisions then run
        in one transaction that takes only rows still undecided and prepared, and only those
        acknowledged before every undecided delivery (read again there: a webhook acknowledged
        meanwhile is decided first)."""
        rows = before_deliveries(self.db, stored.undecided(self.db, limit), "created_at")
        if not rows:
            return 0
        prepared: set[int] = set()
        self._ready &= {r["id"] for r in rows}   # decided meanwhile (here or by another process): forgotten
        call_out, started = self.calls_out(), time.monotonic()
        for r in rows:
            if r["id"] in self._ready:
                prepared.add(r["id"])
                continue
            if time.monotonic() - started > NETWORK_BUDGET:
                break   # the rest waits for the next pass: this one has asked long enough
            try:
                sms = sms_of(r)
            except Exception:  # a row that cannot be read back: its decision marks it, the others go on
                log.exception("reading inbox #%s failed", r["id"])
                prepared.add(r["id"])
                continue
            ready = True
            for h in self.handlers:
                try:
                    ready = h.prepare(sms, call_out) and ready
                except Exception:  # the decision still runs, and says what it could not learn
                    log.exception("inbound handler %s failed to prepare inbox #%s", h.name, sms.id)
            if not ready:
                break   # the leader asks the outside world for it; what came after waits behind it
            prepared.add(r["id"])
            self._ready.add(r["id"])
        done = [0]

        def still_prepared(c: Any, n: int) -> list[Any]:
            return before_deliveries(c, list(takewhile(lambda r: r["id"] in prepared, stored.undecided(c, n))),
                                     "created_at")

        def decide(c: Any, r: Any) -> None:
            self._handle(c, sms_of(r))
            done[0] += 1

        def failed(c: Any, r: Any, exc: Exception) -> None:
            stored.set_handled(c, r["id"], "error", "", reasons.encode("inbox.handler_failed", handler="-",
                                                                       error=f"{type(exc).__name__}: {exc}"))
        return decide_rows(self.db, still_prepared, decide, failed, limit, budget)

    def _handle(self, c: Any, sms: InboundSms) -> None:
        """Every handler, each in its own savepoint: one broken handler neither loses the SMS nor
        stops the others, nor leaves half its writes."""
        names, notes = [], []
        for h in self.handlers:
            savepoint(c, "handler")
            try:
                note = h.handle(c, sms)
            except Exception as exc:
                log.exception("inbound handler %s failed on inbox #%s", h.name, sms.id)
                rollback_to(c, "handler")
                note = reasons.encode("inbox.handler_failed", handler=h.name, error=f"{type(exc).__name__}: {exc}")
            release(c, "handler")
            if note:
                names.append(h.name)
                notes.append(note)
        stored.set_handled(c, sms.id, "handled" if names else "stored", ",".join(names), joined(notes))
        if sms.fields is None:   # a text someone wrote (SMS, chat), not a provider's transaction record
            emit(c, RECEIVED, {"inbox_id": sms.id, "source": sms.source, "kind": "chat" if sms.source in
                               providers.chat_sources() else providers.text_kind(sms.source), "sender": sms.sender,
                               "recipient": sms.recipient, "device": sms.device, "sim": sms.sim, "text": sms.text,
                               "received_at": iso(sms.received_at), "handled_by": names})


def sms_of(r: Any) -> InboundSms:
    """A stored inbox row as the handlers read it."""
    return InboundSms(r["id"], r["source"], r["external_id"] or "", r["device"], r["sim"], r["sender"], r["recipient"],
                      r["text"], r["received_at"], r["package"], r["title"],
                      json.loads(r["fields"]) if r["fields"] else None, r["payload"], r["created_at"])


def transaction_text(event: BankTransaction) -> str:
    """What a person reads of a provider's transaction (inbox list, order notes): the facts the
    provider gave, in one line, memo last."""
    sign = "+" if event.direction == "in" else "-"
    parts = [f"{event.source}: {sign}{event.amount:,} VND".replace(",", "."), event.bank,
             f"TK {event.account}" if event.account else "", f"ref {event.reference}" if event.reference else "",
             f"ND: {event.memo}"]
    return "; ".join(p for p in parts if p)

"""Every inbound SMS is a row before anything is decided from it, and is decided once.

Gateways repeat themselves: FiboSMS pushes the same `guid` again until it hears
`<Status>2</Status>`, SMSGate retries webhooks for days and has been seen to resend one SMS
under a new id. So an SMS is deduplicated on the source's own id and again on (device, sender,
text, received within 2 minutes); a repeat is answered as success and not handed on again.
"""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from typing import Any

from .db import Database, dumps, now
from .inbound import InboundHandler, InboundSms

log = logging.getLogger(__name__)

DEDUPE_WINDOW = 120.0


@dataclass(frozen=True)
class InboxResult:
    row_id: int | None
    duplicate: bool
    state: str
    note: str = ""


class Inbox:
    def __init__(self, db: Database, handlers: list[InboundHandler]):
        self.db = db
        self.handlers = handlers

    def accept(self, *, source: str, external_id: str, device: str, sim: int | None, sender: str, recipient: str,
               text: str, received_at: float | None, raw: Any) -> InboxResult:
        t = now()
        received = received_at or t
        with self.db.tx() as c:
            if external_id:
                row = c.execute("SELECT id FROM inbox WHERE source=? AND external_id=?", (source, external_id)).fetchone()
                if row:
                    return InboxResult(row["id"], True, "duplicate", f"{source} id {external_id} already stored")
            twin = c.execute(
                "SELECT id FROM inbox WHERE sender=? AND device=? AND text=? AND received_at BETWEEN ? AND ?"
                " AND state != 'duplicate' LIMIT 1",
                (sender, device, text, received - DEDUPE_WINDOW, received + DEDUPE_WINDOW)).fetchone()
            state, reason = ("duplicate", f"same sender, device and text as #{twin['id']} within 2 minutes") \
                if twin else ("received", "")
            cur = c.execute(
                "INSERT INTO inbox(created_at, source, external_id, device, sim, sender, recipient, text, received_at,"
                " raw, state, handled_by, reason) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (t, source, external_id or None, device, sim, sender, recipient, text, received,
                 raw if isinstance(raw, str) else dumps(raw), state, "", reason))
            row_id = cur.lastrowid
            if twin:
                return InboxResult(row_id, True, state, reason)
            sms = InboundSms(row_id, source, external_id, device, sim, sender, recipient, text, received)
            state, handled_by, note = self._handle(c, sms)
            c.execute("UPDATE inbox SET state=?, handled_by=?, reason=? WHERE id=?", (state, handled_by, note, row_id))
            return InboxResult(row_id, False, state, note)

    def _handle(self, c: sqlite3.Connection, sms: InboundSms) -> tuple[str, str, str]:
        names, notes = [], []
        for h in self.handlers:
            c.execute("SAVEPOINT handler")
            try:
                note = h.handle(c, sms)
            except Exception as exc:  # one broken handler must not lose the SMS or stop the others
                log.exception("inbound handler %s failed on inbox #%s", h.name, sms.id)
                c.execute("ROLLBACK TO handler")
                note = f"{h.name} failed: {type(exc).__name__}: {exc}"
            c.execute("RELEASE handler")
            if note:
                names.append(h.name)
                notes.append(note)
        return ("handled" if names else "stored"), ",".join(names), "; ".join(notes)

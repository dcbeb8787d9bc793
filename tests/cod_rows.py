"""Rows of the COD confirmation (cod_confirmations, cod_answers) and of the carriers (shipments,
shipment_events) as the confirmation and the carriers' core leave them, in the vocabulary of
schema v11, for the tests of what the owner reads. Written with SQL: these tests are about the
owner's pages and figures, the rows' writers are tested through their own entrances.
"""
from __future__ import annotations

import json
import sqlite3
import uuid

LONG_TRACKING = "GHN-LZ8K3PQ7VN-HCM-BINHTHANH-20261123-000471"


def order(c: sqlite3.Connection, oid: int, name: str, phone: str, total: int, at: float) -> None:
    """A COD order as the shop's webhook left it (only the columns the pages read)."""
    c.execute("INSERT OR IGNORE INTO orders(id, number, status, total_minor, customer_name, phone_raw, phone_e164,"
              " payment_method, payment_method_title, currency, deleted, first_seen_at, updated_at)"
              " VALUES (?,?,?,?,?,?,?,'cod','Trả tiền mặt khi nhận hàng','VND',0,?,?)",
              (oid, str(oid), "processing", total, name, phone, phone, at, at))


def asked(c: sqlite3.Connection, oid: int, phone: str, state: str, asked_at: float, **fields) -> None:
    """The question of one order; `fields`: reminded_at, call_at, answer, answered_at, answered_via, reason."""
    row = {"order_id": oid, "rule": "cod-confirm", "phone": phone, "state": state, "asked_at": asked_at,
           "updated_at": fields.get("answered_at") or asked_at, **fields}
    cols = ", ".join(row)
    c.execute(f"INSERT INTO cod_confirmations({cols}) VALUES ({', '.join('?' for _ in row)})", tuple(row.values()))


def answer(c: sqlite3.Connection, oid: int, at: float, via: str, sender: str, said: str, applied: bool,
           reason: str = "", text: str = "") -> None:
    """One answer; `text`: what the customer wrote, as the inbox row it came in."""
    inbox_id = None
    if text:
        inbox_id = c.execute("INSERT INTO inbox(created_at, source, external_id, sender, text, received_at, state,"
                             " handled_by) VALUES (?,?,?,?,?,?,?,?)", (at, "smsgate", f"cod-{oid}-{at}", sender, text,
                                                                       at, "handled", "cod")).lastrowid
    c.execute("INSERT INTO cod_answers(order_id, at, via, sender, answer, applied, reason, inbox_id)"
              " VALUES (?,?,?,?,?,?,?,?)", (oid, at, via, sender, said, int(applied), reason, inbox_id))


def parcel(c: sqlite3.Connection, carrier: str, tracking: str, oid: int | None, status: str, at: float,
           cod_amount: int | None = None, flag: str = "", mismatch: bool = False, carrier_status: str = "") -> None:
    c.execute("INSERT INTO shipments(carrier, tracking, order_id, status, carrier_status, event_at, cod_amount,"
              " cod_mismatch, flag, first_seen_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
              (carrier, tracking, oid, status, carrier_status or status, at, cod_amount, int(mismatch), flag,
               at - 3600, at))


def call(c: sqlite3.Connection, carrier: str, tracking: str, status: str, carrier_status: str, state: str, at: float,
         oid: int | None = None, order_ref: str = "", raw: dict | None = None, cod_amount: int | None = None,
         reason: str = "") -> None:
    """One carrier webhook call as stored raw, with what became of it."""
    body = raw if raw is not None else {"OrderCode": tracking, "ClientOrderCode": order_ref, "Status": carrier_status}
    c.execute("INSERT INTO shipment_events(received_at, carrier, tracking, order_ref, order_id, carrier_status,"
              " status, event_at, cod_amount, state, reason, dedupe_key, raw) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
              (at, carrier, tracking, order_ref, oid, carrier_status, status, at - 30, cod_amount, state, reason,
               uuid.uuid4().hex, json.dumps(body, ensure_ascii=False)))


def busy_shop(svc, order_ids: list[int], now: float) -> dict[str, int]:
    """A shop's COD day on existing orders: a confirmed order with a second (not applied) answer
    and an unclear one (both for the owner to look at), its parcel out for delivery with a COD
    that differs from the total and a repeated and a late carrier call; customers to call, one
    waiting, one cancelled today (its label still live: flagged), one closed; a parcel back at
    the shop; carrier calls that matched no order. Returns the ids."""
    first, call1, call2, waiting, cancelled, closed, returned = order_ids[:7]
    o = {r["id"]: dict(r) for r in svc.db.query(
        f"SELECT id, phone_e164, total_minor FROM orders WHERE id IN ({', '.join('?' for _ in order_ids)})",
        tuple(order_ids))}
    phone = lambda oid: o[oid]["phone_e164"] or "+84912345000"   # noqa: E731
    with svc.db.tx() as c:
        asked(c, first, phone(first), "confirmed", now - 5 * 3600, answer="confirm", answered_at=now - 4 * 3600,
              answered_via="sms")
        answer(c, first, now - 4 * 3600, "sms", phone(first), "confirm", True)
        answer(c, first, now - 3 * 3600, "messenger", "7391846205519382", "cancel", False)
        answer(c, first, now - 2 * 3600, "sms", "+84987000111", "unclear", False,
               text="Chị ơi cho em hỏi đơn này giao buổi chiều được không ạ, sáng em đi làm không có nhà nhận hàng")
        parcel(c, "ghn", LONG_TRACKING, first, "delivering", now - 1800, cod_amount=o[first]["total_minor"] + 30_000,
               mismatch=True, carrier_status="delivering")
        story = (("created", "ready_to_pick", "applied"), ("picking", "picking", "applied"),
                 ("picking", "picking", "duplicate"), ("delivering", "delivering", "applied"),
                 ("created", "ready_to_pick", "stale"))
        for i, (st, word, state) in enumerate(story):
            call(c, "ghn", LONG_TRACKING, st, word, state, now - 4 * 3600 + i * 600, oid=first, order_ref=str(first),
                 cod_amount=o[first]["total_minor"] + 30_000)
        asked(c, call1, phone(call1), "call", now - 27 * 3600, reminded_at=now - 23 * 3600, call_at=now - 3 * 3600)
        asked(c, call2, phone(call2), "call", now - 30 * 3600, reminded_at=now - 26 * 3600, call_at=now - 6 * 3600)
        asked(c, waiting, phone(waiting), "asked", now - 2 * 3600)
        asked(c, cancelled, phone(cancelled), "cancelled", now - 3 * 3600, answer="cancel", answered_at=now - 600,
              answered_via="page")
        answer(c, cancelled, now - 600, "page", phone(cancelled), "cancel", True)
        parcel(c, "ghn", "GHN-LABEL-STILL-LIVE-1", cancelled, "created", now - 600, flag="order_cancelled",
               cod_amount=o[cancelled]["total_minor"], carrier_status="ready_to_pick")
        asked(c, closed, phone(closed), "closed", now - 50 * 3600)
        parcel(c, "ghtk", "S22598416.BO.MT5.A12.1793456789", returned, "returned", now - 900, flag="returned",
               cod_amount=o[returned]["total_minor"], carrier_status="21")
        call(c, "ghtk", "S22598416.BO.MT5.A12.1793456789", "returned", "21", "applied", now - 900, oid=returned,
             order_ref=str(returned))
        for i in range(2):
            call(c, "ghtk", f"S22598416.SGP{i}.B7.8812734{i}", "delivering", "4", "unmatched", now - 7200 + i,
                 order_ref=f"DON-NGOAI-SAN-{i}-shopee-2026-11", raw={
                     "partner_id": f"DON-NGOAI-SAN-{i}-shopee-2026-11", "label_id": f"S22598416.SGP{i}.B7.8812734{i}",
                     "status_id": 4, "action_time": "2026-11-23T09:15:00+07:00",
                     "reason": "Khách hẹn giao lại vào buổi chiều, shipper sẽ gọi lại trước khi giao hàng"})
    return {"first": first, "call": call1, "returned": returned}

"""Admin page speed at a year of data: server time of every admin GET page and search.

1. Seeds a database with a year of a busy shop: 100,000 orders (Vietnamese names, phones,
   WooCommerce bodies), 1,000,000 outbox rows (SMS, chat messages and the jobs beside them, the
   full-text index kept by its triggers as in production), one provider attempt per sent
   message, two webhook deliveries per order, and a bank SMS (inbox row + transaction) per
   bank-transfer order, a few of them waiting for review, and for every COD order its
   confirmation, answers, parcel and five carrier calls (schema v11). Rows are written with
   executemany in big transactions (this module writes the schema's tables directly, like a restore would);
   the seeding time is printed. The database is kept (--db) and reused when it is there.
2. Serves it with the real app (Flask test client, signed in) and times each page and search
   (p50/p95 over --repeat requests, after one untimed warm-up request each) against the target:
   every page and search under 200 ms at p95.

    .venv/bin/python bench/admin_pages.py [--db /tmp/woo-bridge-bench/admin.db] [--messages 1000000]
                                          [--orders 100000] [--repeat 20] [--reseed]

Figures only (no asserts): README "Figures" keeps the last ones.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
import unicodedata
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bridge.store.db import Database  # noqa: E402
from bridge.store import reports, search  # noqa: E402
from bridge.web.admin.messages import fts_query  # noqa: E402
from bridge.store.prices import PER_MESSAGE, PER_PART, Price, set_prices  # noqa: E402
from tests.conftest import make_settings  # noqa: E402

PASSWORD = "bench-admin-password"
YEAR = 365 * 86_400.0
TARGET_MS = 200.0
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô",
          "Dương", "Lý")
MIDDLE = ("Văn", "Thị", "Hữu", "Đức", "Minh", "Ngọc", "Thanh", "Quang", "Thu", "Hoài", "Bảo", "Gia")
GIVEN = ("An", "Bích", "Chi", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hùng", "Hương", "Khang", "Lan", "Linh", "Long",
         "Mai", "Nam", "Nga", "Nhung", "Phong", "Phương", "Quân", "Sơn", "Tâm", "Thảo", "Trang", "Tuấn", "Vy", "Yến")
RULES = (("order-awaiting-transfer", 0.22), ("order-processing", 0.2), ("order-completed", 0.18),
         ("payment-confirmed", 0.16), ("owner-new-order", 0.1), ("order-cancelled", 0.05),
         ("customer-welcome", 0.05), ("payment-expired", 0.04))
CHANNELS = (("esms", 0.55), ("smsgate", 0.3), ("messenger", 0.15))
STATUSES = (("delivered", 0.86), ("sent", 0.05), ("failed", 0.04), ("dry-run", 0.02), ("cancelled", 0.01),
            ("in-doubt", 0.01), ("queued", 0.01))
ORDER_STATUSES = (("completed", 0.55), ("processing", 0.2), ("on-hold", 0.1), ("cancelled", 0.1), ("pending", 0.05))
BANKS = ("Vietcombank", "Techcombank", "MB", "ACB", "VPBank", "BIDV")
ACCOUNT = "0071001234567"


def pick(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    x, acc = rng.random(), 0.0
    for value, share in table:
        acc += share
        if x < acc:
            return value
    return table[-1][0]


def fold(text: str) -> str:
    """What an SMS holds: Vietnamese without diacritics (a GSM-7 part is 160 characters)."""
    text = text.replace("Đ", "D").replace("đ", "d")
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")


def chunks(rows: Iterator[tuple], size: int = 50_000) -> Iterator[list[tuple]]:
    batch: list[tuple] = []
    for r in rows:
        batch.append(r)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# -- seeding ----------------------------------------------------------------------------------
class Seeder:
    """A year of a busy shop, deterministic (seeded random), ending now."""

    def __init__(self, db: Database, n_orders: int, n_messages: int, end: float) -> None:
        self.db, self.n_orders, self.n_messages, self.end = db, n_orders, n_messages, end
        self.start = end - YEAR
        self.rng = random.Random(15)
        self.orders: list[dict[str, Any]] = []

    def write(self, sql: str, rows: Iterator[tuple]) -> int:
        n = 0
        for batch in chunks(rows):
            with self.db.tx() as c:
                c.executemany(sql, batch)
            n += len(batch)
        return n

    def run(self) -> dict[str, float]:
        timings: dict[str, float] = {}
        for name, step in (("orders", self.seed_orders), ("deliveries", self.seed_deliveries),
                           ("payments", self.seed_payments), ("messages", self.seed_messages),
                           ("attempts", self.seed_attempts), ("cod and parcels", self.seed_cod)):
            t0 = time.perf_counter()
            count = step()
            timings[f"{name} ({count:,} rows)"] = time.perf_counter() - t0
        set_prices(self.db, {"esms": Price("esms", 850, PER_PART), "smsgate": Price("smsgate", 250, PER_PART),
                             "messenger": Price("messenger", 0, PER_MESSAGE)})
        return timings

    def seed_orders(self) -> int:
        rng = self.rng
        for i in range(self.n_orders):
            oid = i + 1
            first_seen = self.start + YEAR * (i + rng.random()) / self.n_orders
            name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
            phone = f"09{rng.randrange(10**8):08d}"
            status = pick(rng, ORDER_STATUSES)
            method = "bacs" if rng.random() < 0.6 else "cod"
            total = rng.randrange(90, 3000) * 1000
            self.orders.append({"id": oid, "number": str(10_000 + oid), "name": name, "ascii_name": fold(name),
                                "phone": phone, "status": status,
                                "method": method, "total": total, "first_seen": first_seen,
                                "paid": method == "bacs" and status in ("processing", "completed")})

        def rows() -> Iterator[tuple]:
            for o in self.orders:
                body = json.dumps({"id": o["id"], "number": o["number"], "status": o["status"], "total": str(o["total"]),
                                   "billing": {"first_name": o["name"].split(" ", 1)[1], "last_name": o["name"].split()[0],
                                               "phone": o["phone"], "address_1": "12 Nguyễn Trãi, Phường Bến Thành",
                                               "city": "Hồ Chí Minh", "email": f"khach{o['id']}@example.vn"},
                                   "line_items": [{"name": "Áo thun cotton cổ tròn", "quantity": 2,
                                                   "total": str(o["total"])}]}, ensure_ascii=False)
                yield (o["id"], o["number"], uuid.UUID(int=o["id"]).hex, o["status"], o["status"], o["method"],
                       "Chuyển khoản ngân hàng" if o["method"] == "bacs" else "Trả tiền mặt khi nhận hàng", "VND",
                       o["total"], o["name"], o["phone"], "+84" + o["phone"][1:], f"khach{o['id']}@example.vn",
                       "https://shop.example.vn", body, o["first_seen"], o["first_seen"] + 3600)
        return self.write(
            "INSERT INTO orders(id, number, order_key, status, notified_status, payment_method, payment_method_title,"
            " currency, total_minor, customer_name, phone_raw, phone_e164, email, source_url, deleted, body,"
            " first_seen_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,?,?,?)", rows())

    def seed_deliveries(self) -> int:
        def rows() -> Iterator[tuple]:
            for o in self.orders:
                for k, topic in enumerate(("order.created", "order.updated")):
                    at = o["first_seen"] + k * 1800
                    body = json.dumps({"id": o["id"], "status": o["status"], "customer": o["name"]},
                                      ensure_ascii=False).encode() + b" " * 600
                    yield (at, f"{o['id']}-{k}", "7", topic, "order", o["id"], "https://shop.example.vn", "{}", body,
                           "processed", "", at + 0.2, uuid.UUID(int=o["id"] * 2 + k).hex)
        return self.write(
            "INSERT INTO deliveries(received_at, delivery_id, webhook_id, topic, resource, resource_id, source_url,"
            " headers, body, state, reason, processed_at, replay_key) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows())

    def seed_payments(self) -> int:
        """A bank SMS for every paid transfer order (its inbox row and its transaction, the order
        marked paid by it), plus transfers without a code: most rejected by a person, 30 waiting."""
        rng = self.rng
        inbox, txs, paid = [], [], []
        tx_id = 0
        waiting = 0
        for o in self.orders:
            if not (o["paid"] or (o["method"] == "bacs" and rng.random() < 0.1)):
                continue
            tx_id += 1
            bank_time = o["first_seen"] + rng.uniform(60, 7200)
            created = bank_time + rng.uniform(5, 60)
            code = f"DH{o['number']}" if o["paid"] else "chuyen tien"
            stamp = datetime.fromtimestamp(bank_time, ZONE).strftime("%d-%m-%Y %H:%M:%S")
            text = (f"SD TK {ACCOUNT} +{o['total']:,}VND luc {stamp}. SD {rng.randrange(10**7, 10**9):,}VND. "
                    f"Ref MBVCB.{9_000_000_000 + tx_id}.{code}.CT tu {rng.randrange(10**9, 10**10)} "
                    f"{fold(o['name']).upper()} toi {ACCOUNT}")[:200]
            bank = rng.choice(BANKS)
            inbox.append((tx_id, created, "fibo", uuid.UUID(int=10**9 + tx_id).hex, "phone-1", 1, bank, "", text,
                          created, "{}", "handled", "payments", ""))
            review_action = by = reviewed_at = None
            if o["paid"]:
                decision = "confirm" if rng.random() < 0.9 else "no_code"
                if decision == "no_code":
                    review_action, by, reviewed_at = "confirmed", "admin (127.0.0.1)", created + rng.uniform(300, 30_000)
                paid.append((reviewed_at or created + 2, tx_id, o["id"]))
            else:
                decision = "no_code"
                if waiting < 30 and o["first_seen"] > self.end - 7 * 86_400:
                    waiting += 1
                else:
                    review_action, by, reviewed_at = "rejected", "admin (127.0.0.1)", created + 3600
            txs.append((tx_id, created, tx_id, "fibo", bank, "sms", bank, "vcb_sdtk", "transaction", "in",
                        o["total"], text, ACCOUNT, text, f"fp{tx_id}", o["id"] if o["paid"] else None,
                        code if o["paid"] else None, decision, "", review_action, by, reviewed_at, bank_time,
                        ACCOUNT[-4:], f"ref{tx_id}", bank_time))
        self.paid = {oid: (at, tx) for at, tx, oid in paid}
        n = self.write(
            "INSERT INTO inbox(id, created_at, source, external_id, device, sim, sender, recipient, text,"
            " received_at, raw, state, handled_by, reason) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", iter(inbox))
        n += self.write(
            "INSERT INTO transactions(id, created_at, inbox_id, source, sender, channel, bank, family, kind,"
            " direction, amount, memo, account, text, fingerprint, order_id, code, decision, reason, review_action,"
            " reviewed_by, reviewed_at, bank_time, account_tail, ref_key, event_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", iter(txs))
        self.write("UPDATE orders SET paid_at=?, paid_transaction=? WHERE id=?", iter(paid))
        return n

    def seed_messages(self) -> int:
        """The outbox: per order a few customer messages and an owner alert, and for a paid
        transfer its mark-paid job (dedupe key tx:<id>:mark-paid, as the matcher writes it).

        The full-text indexes (text, recipients) and the search terms are built once at the end
        (search.rebuild) instead of batch by batch from the rows the insert trigger lists as
        waiting; that trigger is put back exactly as it was."""
        c = self.db.conn()
        name = f"{search.PENDING}_ai"
        trigger = c.execute("SELECT sql FROM sqlite_master WHERE type='trigger' AND name=?", (name,)).fetchone()[0]
        c.execute(f"DROP TRIGGER {name}")
        try:
            n = self._seed_messages()
            with self.db.tx() as c:
                search.rebuild(c)
        finally:
            c.execute(trigger)
        return n

    def _seed_messages(self) -> int:
        rng = self.rng
        per_order = self.n_messages / max(1, len(self.orders))
        self.sent: list[tuple[str, float, str]] = []

        def rows() -> Iterator[tuple]:
            made = 0
            for i, o in enumerate(self.orders):
                want = int(per_order * (i + 1)) - int(per_order * i)
                if o["id"] in self.paid and want:
                    at, tx = self.paid[o["id"]]
                    want -= 1
                    made += 1
                    yield (uuid.uuid4().hex, at, at, f"tx:{tx}:mark-paid", None, o["id"], None, "payment-mark-paid",
                           "order.update", "shop", "woocommerce", f"order {o['id']}", f"order {o['id']}",
                           "mark paid (processing)", None, 0, 0, "delivered", "", 1, at, None, "order_update",
                           "{}", at + 1.5)
                for k in range(want):
                    made += 1
                    at = min(self.end - 1, o["first_seen"] + k * rng.uniform(60, 86_400))
                    rule, channel, status = pick(rng, RULES), pick(rng, CHANNELS), pick(rng, STATUSES)
                    owner = rule == "owner-new-order"
                    name = o["name"] if channel == "messenger" else o["ascii_name"]
                    text = (f"Shop Demo: don hang #{o['number']} cua {name} ({o['total']:,}d) da duoc cap nhat. "
                            f"Chuyen khoan {o['total']:,}d den TK {ACCOUNT} noi dung DH{o['number']}.")
                    if channel == "messenger":
                        text = (f"Chào {name}, đơn hàng #{o['number']} ({o['total']:,}đ) của bạn đã được cập nhật. "
                                "Cảm ơn bạn đã mua hàng!")
                    segments = 1 if len(text) <= 160 else 2
                    phone = "0901234567" if owner else o["phone"]
                    mid = uuid.uuid4().hex
                    if status in ("delivered", "sent", "failed", "in-doubt", "queued"):
                        self.sent.append((mid, at + 1, channel))
                    yield (mid, at, at + 2, f"{rule}:{o['id']}:{k}", None, o["id"], None, rule, "order.updated",
                           "owner" if owner else "customer", channel, phone, "+84" + phone[1:], text,
                           "UCS-2" if channel == "messenger" else "GSM-7", len(text), segments, status,
                           "", 1, at, f"p{mid[:12]}" if status != "dry-run" else None, "message", None,
                           at + rng.uniform(3, 40) if status == "delivered" else None)
            self.made = made
        return self.write(
            "INSERT INTO messages(id, created_at, updated_at, dedupe_key, delivery_ref, order_id, customer_id, rule,"
            " event, audience, channel, recipient_raw, recipient, text, encoding, length, segments, status, reason,"
            " attempts, due_at, provider_id, kind, payload, delivered_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows())

    def seed_attempts(self) -> int:
        return self.write(
            "INSERT INTO attempts(message_id, at, channel, outcome, code, detail, duration_ms) VALUES (?,?,?,?,?,?,?)",
            ((mid, at, ch, "ok", "100", "", 180.0) for mid, at, ch in self.sent))


# -- measuring --------------------------------------------------------------------------------
    def seed_cod(self) -> int:
        """Every COD order asked to confirm (most confirm, some cancel, the rest never answer),
        its answers (a second one now and then), its parcel and five carrier calls about it,
        returned for one in eight; a few hundred calls that matched no order."""
        rng = self.rng
        asked, answers, parcels, events = [], [], [], []
        end = self.end
        for o in self.orders:
            if o["method"] != "cod":
                continue
            at = o["first_seen"] + 60
            roll = rng.random()
            state = "confirmed" if roll < 0.7 else "cancelled" if roll < 0.8 else \
                ("closed" if at < end - 2 * 86400 else "call" if at < end - 86400 else "asked")
            answered = at + rng.randrange(60, 6 * 3600) if state in ("confirmed", "cancelled") else None
            via = rng.choice(("page", "sms", "messenger"))
            asked.append((o["id"], "cod-confirm", "+84" + o["phone"][1:], state, at, at + 4 * 3600, at + 86400,
                           "confirm" if state == "confirmed" else "cancel" if state == "cancelled" else None,
                           answered, via if answered else None, "", answered or at))
            if answered:
                answers.append((o["id"], answered, via, "+84" + o["phone"][1:], "confirm" if state == "confirmed"
                                else "cancel", 1, ""))
                if rng.random() < 0.05:
                    answers.append((o["id"], answered + 600, "sms", "+84" + o["phone"][1:], "unclear", 0, ""))
            if state == "cancelled":
                continue
            tracking = f"GHN{o['id']:09d}"
            final = "returned" if rng.random() < 0.125 else "delivered"
            steps = ("created", "picking", "delivering", "returning" if final == "returned" else "delivering", final)
            for k, st in enumerate(steps):
                t = at + 86400 + k * 6 * 3600
                events.append((t, "ghn", tracking, o["number"], o["id"], st, st, t, o["total"],
                               "applied" if k != 3 or final == "returned" else "duplicate", "",
                               f"ghn:{tracking}:{k}", json.dumps({"OrderCode": tracking, "Status": st})))
            flag = "returned" if final == "returned" and at > end - 7 * 86400 else ""
            parcels.append(("ghn", tracking, o["id"], final, final, at + 86400 + 24 * 3600, o["total"],
                            int(rng.random() < 0.002), flag, at + 86400, at + 86400 + 24 * 3600))
        for i in range(300):
            t = self.start + YEAR * rng.random()
            events.append((t, "ghtk", f"S{i:08d}", f"NGOAI-{i}", None, "delivering", "4", t, None, "unmatched", "",
                           f"ghtk:unmatched:{i}", json.dumps({"label_id": f"S{i:08d}", "status_id": 4})))
        n = self.write("INSERT INTO cod_confirmations(order_id, rule, phone, state, asked_at, reminded_at, call_at,"
                       " answer, answered_at, answered_via, reason, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                       iter(asked))
        n += self.write("INSERT INTO cod_answers(order_id, at, via, sender, answer, applied, reason)"
                        " VALUES (?,?,?,?,?,?,?)", iter(answers))
        n += self.write("INSERT INTO shipments(carrier, tracking, order_id, status, carrier_status, event_at,"
                        " cod_amount, cod_mismatch, flag, first_seen_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        iter(parcels))
        return n + self.write(
            "INSERT INTO shipment_events(received_at, carrier, tracking, order_ref, order_id, carrier_status, status,"
            " event_at, cod_amount, state, reason, dedupe_key, raw) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", iter(events))


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, -(-int(q * 100) * len(values) // 100) - 1))]


def pages(db: Database) -> list[tuple[str, str]]:
    """Every admin GET page and search, with arguments a shop owner would type."""
    some_order = db.one("SELECT id, number, customer_name, phone_raw FROM orders WHERE paid_at IS NOT NULL"
                        " ORDER BY id LIMIT 1 OFFSET (SELECT COUNT(*) / 2 FROM orders WHERE paid_at IS NOT NULL)")
    msg = db.one("SELECT id FROM messages WHERE kind='message' AND order_id=?", (some_order["id"],))
    tx = db.one("SELECT id FROM transactions WHERE order_id=?", (some_order["id"],))
    cod_order = db.one("SELECT order_id FROM shipments WHERE status = 'returned' ORDER BY order_id DESC LIMIT 1")
    now = datetime.now(ZONE)
    month = now.strftime("%Y-%m")
    prev = f"{now.year - (now.month == 1)}-{(now.month - 2) % 12 + 1:02d}"
    last_week = datetime.fromtimestamp(now.timestamp() - 7 * 86_400, ZONE).strftime("%Y-%m-%d")
    today = now.strftime("%Y-%m-%d")
    given = some_order["customer_name"].split()[-1]
    # a page far down a list, as its "next" links reach it (keyset cursors, no page numbers)
    deep = {}
    for name, sql, fmt in (
            ("messages", "SELECT created_at, rowid FROM messages WHERE kind = 'message' ORDER BY created_at DESC,"
             " rowid DESC LIMIT 1 OFFSET 49999", "{0!r}_{1}"),
            ("orders", "SELECT updated_at, id FROM orders ORDER BY updated_at DESC, id DESC LIMIT 1 OFFSET 4999",
             "{0!r}_{1}"),
            ("inbound", "SELECT id FROM inbox ORDER BY id DESC LIMIT 1 OFFSET 4999", "{0}"),
            ("payments", "SELECT id FROM transactions ORDER BY id DESC LIMIT 1 OFFSET 4999", "{0}"),
            ("cod", "SELECT asked_at, order_id FROM cod_confirmations ORDER BY asked_at DESC, order_id DESC LIMIT 1"
             " OFFSET 4999", "{0!r}_{1}")):
        row = db.one(sql)
        deep[name] = fmt.format(*row) if row else ""
    # the next page of a word in most messages, as its "next" link reaches it
    common = reports.search_messages(db, reports.MessageFilter(fts=fts_query("đơn")), 50).older or ""
    return [(name, path) for name, path in [   # a list too short for a deep page has none
        ("dashboard", "/admin/"),
        ("messages", "/admin/messages"),
        ("messages, 50,000 rows down", f"/admin/messages?before={deep['messages']}"),
        ("messages status=failed", "/admin/messages?status=failed"),
        ("messages channel=smsgate", "/admin/messages?channel=smsgate"),
        ("messages status+channel", "/admin/messages?status=delivered&channel=messenger"),
        ("messages kind=all", "/admin/messages?kind=all"),
        ("messages last 7 days", f"/admin/messages?from={last_week}&to={today}"),
        ("messages order", f"/admin/messages?order={some_order['number']}"),
        ("messages phone", f"/admin/messages?phone={some_order['phone_raw']}"),
        ("messages text: name", f"/admin/messages?q={given}"),
        ("messages text: nguyen (folded)", "/admin/messages?q=nguyen"),
        ("messages text: đơn (folded)", "/admin/messages?q=đơn"),
        ("messages text: ĐƠN (folded)", "/admin/messages?q=ĐƠN"),
        ("messages text: đơn, page 2", f"/admin/messages?q=đơn&before={common}"),
        ("messages text: full name", f"/admin/messages?q={some_order['customer_name']}"),
        ("messages text: DH code", f"/admin/messages?q=DH{some_order['number']}"),
        ("messages text: no match", "/admin/messages?q=khongcoaiten"),
        ("messages text + status", f"/admin/messages?q={given}&status=failed"),
        ("a message", f"/admin/messages/{msg['id']}"),
        ("orders", "/admin/orders"),
        ("orders, 5,000 rows down", f"/admin/orders?before={deep['orders']}"),
        ("orders search name", f"/admin/orders?q={given}"),
        ("orders search full name", f"/admin/orders?q={some_order['customer_name']}"),
        ("orders search phone", f"/admin/orders?q={some_order['phone_raw']}"),
        ("orders search number", f"/admin/orders?q={some_order['number']}"),
        ("orders search payment code", f"/admin/orders?q=DH{some_order['number']}"),
        ("orders search no match", "/admin/orders?q=khongcoaiten"),
        ("an order", f"/admin/orders/{some_order['id']}"),
        ("inbound", "/admin/inbound"),
        ("inbound source=fibo", "/admin/inbound?source=fibo"),
        ("inbound, 5,000 rows down", f"/admin/inbound?before={deep['inbound']}"),
        ("payments + review", "/admin/payments"),
        ("payments decision=no_code", "/admin/payments?decision=no_code"),
        ("payments, 5,000 rows down", f"/admin/payments?before={deep['payments']}"),
        ("a transaction", f"/admin/payments/{tx['id']}"),
        ("report this month", "/admin/report"),
        ("report last month", f"/admin/report?month={prev}"),
        ("report CSV", f"/admin/report.csv?month={month}"),
        ("COD orders (to call)", "/admin/cod"),
        ("COD orders all, 5,000 rows down", f"/admin/cod?state=all&before={deep['cod']}"),
        ("COD unmatched carrier calls", "/admin/cod/unmatched"),
        *([("a COD order with its parcel", f"/admin/orders/{cod_order['order_id']}")] if cod_order else []),
        ("templates", "/admin/templates"),
        # not seeded (no bulk sends, outgoing-event endpoints or API keys): their lists are
        # empty, but each page's queries run against the year of messages and orders
        ("bulk sends", "/admin/bulk"),
        ("bulk opt-outs", "/admin/bulk/optouts"),
        ("outgoing events", "/admin/hooks"),
        ("API keys", "/admin/api"),
        ("connect WooCommerce", "/admin/woocommerce"),
        ("settings", "/admin/settings"),
        ("messenger", "/admin/messenger"),
        ("health (JSON)", "/admin/health"),
        ("/metrics", "/metrics"),
    ] if "before=&" not in path and not path.endswith("before=")]


def measure(db_path: str, repeat: int) -> list[tuple[str, str, int, float, float, float]]:
    """(name, path, status, p50, p95, CPU p95) per page, in ms. The server time is the wall
    clock; its CPU time (this thread's) is beside it because on a shared machine the wall
    clock also counts the time other processes held the CPU."""
    from app import create_app
    tmp = Path(tempfile.mkdtemp(prefix="woo-bridge-bench-admin-"))
    settings = make_settings(tmp, db_path=db_path, admin_password=PASSWORD)
    app = create_app(settings, start_scheduler=False)
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/admin/login").text).group(1)
    r = client.post("/admin/login", data={"password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302, "sign-in failed"
    out = []
    for name, path in pages(app.extensions["bridge"].db):
        status = client.get(path).status_code   # warm-up (and the status shown)
        times, cpu = [], []
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), time.thread_time()
            client.get(path)
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.thread_time() - c0) * 1000)
            if times[-1] > 5000 and len(times) >= 3:
                break   # a page this slow is slow: three samples say so
        out.append((name, path, status, statistics.median(times), percentile(times, 0.95), percentile(cpu, 0.95)))
        print(f"  {name:34s} {status}  p50 {out[-1][3]:8.1f} ms  p95 {out[-1][4]:8.1f} ms  (CPU p95 {out[-1][5]:.1f} ms)",
              flush=True)
    app.extensions["bridge"].shutdown()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", default=str(Path(tempfile.gettempdir()) / "woo-bridge-bench" / "admin.db"))
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--orders", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--reseed", action="store_true", help="seed again even if --db exists")
    args = ap.parse_args()
    path = Path(args.db)
    if args.reseed and path.exists():
        for p in path.parent.glob(path.name + "*"):
            p.unlink()
    db = Database(str(path), synchronous="OFF")
    db.migrate()
    if not db.scalar("SELECT COUNT(*) FROM orders"):
        print(f"seeding {path}: {args.orders:,} orders, {args.messages:,} outbox rows, a year ending now")
        t0 = time.perf_counter()
        for step, seconds in Seeder(db, args.orders, args.messages, time.time()).run().items():
            print(f"  {step:40s} {seconds:7.1f} s")
        print(f"  {'total':40s} {time.perf_counter() - t0:7.1f} s  ({path.stat().st_size / 2**20:,.0f} MiB)")
    else:
        print(f"reusing {path} ({db.scalar('SELECT COUNT(*) FROM messages'):,} outbox rows,"
              f" {db.scalar('SELECT COUNT(*) FROM orders'):,} orders); --reseed to seed again")
    db.migrate()   # this version's indexes on a database seeded by an older one
    t0 = time.perf_counter()
    search.keep_index(db, budget=float("inf"))   # the scheduler's job, as a running service keeps it
    print(f"search indexes of the seeded messages kept ({time.perf_counter() - t0:.1f} s)")
    db.close()
    print(f"server time per page (Flask test client, signed in), {args.repeat} requests each:")
    rows = measure(str(path), args.repeat)
    slow = [r for r in rows if r[4] >= TARGET_MS]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n{os.cpu_count()} CPUs, load average {load:.1f} while measuring")
    print("| page | p50 ms | p95 ms | CPU p95 ms |\n|---|---:|---:|---:|")
    for name, _path, status, p50, p95, cpu95 in rows:
        print(f"| {name}{'' if status == 200 else f' ({status})'} | {p50:.0f} | {p95:.0f} | {cpu95:.0f} |")
    print(f"\n{len(rows) - len(slow)} of {len(rows)} under {TARGET_MS:.0f} ms at p95"
          + (f"; over: {', '.join(r[0] for r in slow)}" if slow else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The monthly report through the test client, on a small data set whose figures are known: SMS
parts and their cost at the owner's prices (unknown without a price, never 0), delivery rate,
payments confirmed automatically and by hand with the median time from the bank's transfer
time to the order marked paid, and the month's edges in the shop's zone (Asia/Ho_Chi_Minh)."""
from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bridge.store import messages as stored_messages, orders as stored_orders, payments as stored_payments
from bridge.store.prices import PER_MESSAGE, PER_PART, Price, set_prices
from tests.browser import assert_fits, browser, new_page, shot, sign_in  # noqa: F401 - browser is a fixture
from tests.test_admin import PASSWORD, Admin

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def local(y: int, mo: int, d: int, h: int = 12, mi: int = 0) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=HCM).timestamp()


@pytest.fixture
def svc(service_factory):
    return service_factory(admin_password=PASSWORD, timezone="Asia/Ho_Chi_Minh")


@pytest.fixture
def admin(svc):
    a = Admin(svc)
    assert a.sign_in().status_code == 302
    return a


_seq = [0]


def message(svc, at: float, channel: str, rule: str, segments: int, status: str, kind: str = "message",
            dedupe: str | None = None, delivered_at: float | None = None) -> str:
    _seq[0] += 1
    mid = f"m{_seq[0]}"
    with svc.db.tx() as c:
        stored_messages.insert(c, {
            "id": mid, "created_at": at, "updated_at": at, "dedupe_key": dedupe or f"k{_seq[0]}", "rule": rule,
            "event": "order.created", "audience": "customer", "channel": channel, "recipient_raw": "0912345678",
            "recipient": "+84912345678", "text": "Cam on ban", "encoding": "GSM", "length": 10, "segments": segments,
            "status": status, "attempts": 1, "due_at": at, "kind": kind}, ignore_duplicate=False)
        c.execute("UPDATE messages SET delivered_at=? WHERE id=?", (delivered_at, mid))
    return mid


def paid_order(svc, oid: int, amount: int, bank_time: float, paid_at: float, confirmed_after: float,
               by_hand: bool = False) -> None:
    """An order paid by a transaction whose WooCommerce write finished `confirmed_after` seconds
    after the bank's transaction time."""
    with svc.db.tx() as c:
        c.execute("INSERT INTO orders(id, number, status, total_minor, customer_name, deleted, first_seen_at,"
                  " updated_at) VALUES (?,?,?,?,?,0,?,?)", (oid, str(oid), "on-hold", amount, "Nguyễn Thị Lan",
                                                           bank_time, bank_time))
        tx = stored_payments.insert(c, {"created_at": bank_time + 5, "source": "sms", "bank": "Vietcombank",
                                        "direction": "in", "amount": amount, "order_id": oid, "decision":
                                        "no_code" if by_hand else "confirm", "fingerprint": f"fp{oid}",
                                        "bank_time": bank_time, "event_at": bank_time})
        if by_hand:
            stored_payments.mark_reviewed(c, tx, "confirmed", "admin", paid_at, "")
        stored_orders.mark_paid(c, oid, tx, "processing", paid_at)
    message(svc, paid_at, "woocommerce", "payment-mark-paid", 0, "delivered", kind="order_update",
            dedupe=f"tx:{tx}:mark-paid", delivered_at=bank_time + confirmed_after)


@pytest.fixture
def november(svc):
    """November 2026 in Hanoi, with a message just inside each edge and one just outside."""
    message(svc, local(2026, 11, 1, 0, 30), "esms", "order-on-hold", 2, "delivered")   # 31 Oct 17:30 UTC: November
    message(svc, local(2026, 11, 12), "esms", "order-on-hold", 1, "failed")
    message(svc, local(2026, 11, 30, 23, 59), "esms", "payment-confirmed", 1, "sent")
    message(svc, local(2026, 11, 15), "smsgate", "order-on-hold", 3, "delivered")
    message(svc, local(2026, 11, 16), "messenger", "payment-confirmed", 0, "delivered")
    message(svc, local(2026, 10, 31, 23, 30), "esms", "order-on-hold", 5, "delivered")   # October in Hanoi
    message(svc, local(2026, 12, 1, 0, 0), "esms", "order-on-hold", 5, "delivered")      # December
    message(svc, local(2026, 11, 20), "esms", "order-on-hold", 4, "dry-run")             # never left
    message(svc, local(2026, 11, 20), "esms", "order-on-hold", 4, "pending")             # not yet
    bank = local(2026, 11, 10, 9)
    paid_order(svc, 1, 513_000, bank, bank + 60, 40)
    paid_order(svc, 2, 200_000, bank, bank + 60, 10)
    paid_order(svc, 3, 100_000, bank, bank + 60, 100)
    paid_order(svc, 4, 300_000, bank, bank + 7200, 3600, by_hand=True)
    old = local(2026, 10, 31, 23, 0)
    paid_order(svc, 5, 999_000, old, old + 30, 30)   # confirmed in October (Hanoi)
    return svc


def cells(html: str, row_id: str) -> str:
    start = html.index(f'id="{row_id}"')
    return html[start:html.index("</tr>", start)]


def test_the_month_in_messages_parts_costs_and_payments(admin, november):
    set_prices(november.db, {"esms": Price("esms", 850, PER_PART), "messenger": Price("messenger", 0, PER_MESSAGE)})
    r = admin.get("/admin/report?month=2026-11")
    assert r.status_code == 200
    html = r.text
    assert 'id="month">2026-11<' in html and "2026-10" in html and "2026-12" in html
    assert 'id="total-messages">5<' in html          # edges in Hanoi time; dry-run, pending and jobs left out
    assert 'id="total-parts">7<' in html             # 2 + 1 + 1 + 3 + 0
    rep = _report(november)
    esms = next(c for c in rep.channels if c.channel == "esms")
    assert (esms.messages, esms.parts, esms.delivered, esms.failed) == (3, 4, 1, 1)
    assert esms.cost == 850 * 3                      # the failed message is not costed
    assert next(c for c in rep.channels if c.channel == "messenger").cost == 0   # free is 0, not unknown
    assert next(c for c in rep.channels if c.channel == "smsgate").cost is None  # no price: unknown
    assert rep.total.cost is None
    hold = next(t for t in rep.templates if (t.channel, t.rule) == ("esms", "order-on-hold"))
    assert (hold.messages, hold.parts, hold.cost) == (2, 3, 1700)
    assert "2.550đ" in html and "1.700đ" in html
    assert "Không rõ" in html or "unknown" in html.lower()
    assert "smsgate" in cells(html, "unknown-prices")
    auto, hand = cells(html, "pay-auto"), cells(html, "pay-hand")
    assert ">3<" in auto and "813.000đ" in auto and "40 s" in auto      # median of 10, 40, 100 s
    assert ">1<" in hand and "300.000đ" in hand and "1 h" in hand       # 3600 s, the wait for a person


def _report(svc):
    from bridge.web.admin.report import build
    with svc.app.test_request_context():
        return build(svc.db, "2026-11")


def test_every_price_known_gives_a_total_and_october_is_its_own_month(admin, november):
    set_prices(november.db, {"esms": Price("esms", 850, PER_PART), "smsgate": Price("smsgate", 300, PER_PART),
                             "messenger": Price("messenger", 0, PER_MESSAGE)})
    html = admin.get("/admin/report?month=2026-11").text
    assert 'id="total-cost">3.450đ<' in html          # 850 * 3 + 300 * 3 + 0
    assert 'id="unknown-prices"' not in html
    october = admin.get("/admin/report?month=2026-10").text
    assert 'id="total-messages">1<' in october and 'id="total-parts">5<' in october
    assert ">1<" in cells(october, "pay-auto") and "999.000đ" in cells(october, "pay-auto")
    assert "0đ" in cells(october, "pay-hand") and "–" in cells(october, "pay-hand")
    assert 'id="total-messages">1<' in admin.get("/admin/report?month=2026-12").text


def test_this_month_by_default_and_a_wrong_month_said_so(admin, svc):
    this = datetime.fromtimestamp(svc.clock(), HCM).strftime("%Y-%m")
    assert f'id="month">{this}<' in admin.get("/admin/report").text
    r = admin.get("/admin/report?month=2026-13")
    assert r.status_code == 200 and f'id="month">{this}<' in r.text and "2026-13" in r.text
    assert 'class="flash error"' in r.text
    r = admin.get("/admin/report.csv?month=11-2026")
    assert r.status_code == 400 and "11-2026" in r.text and r.mimetype == "text/html"
    assert admin.get("/admin/report.csv").headers["Content-Disposition"].endswith(f'report-{this}.csv"')


def test_the_csv_has_the_same_figures_safe_for_a_spreadsheet(admin, november):
    set_prices(november.db, {"esms": Price("esms", 850, PER_PART)})
    message(november, local(2026, 11, 21), "esms", "=HYPERLINK(\"http://evil\")", 1, "delivered")
    r = admin.get("/admin/report.csv?month=2026-11")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.headers["Content-Disposition"] == 'attachment; filename="woo-bridge-report-2026-11.csv"'
    text = r.data.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    by = {(row[0], row[1], row[2]): row for row in rows if len(row) >= 9}
    esms = by[("Kênh", "esms", "")]
    assert esms[3:] == ["4", "5", "2", "50.0", "1", str(850 * 4)]
    assert by[("Kênh", "smsgate", "")][8] == "không rõ"
    assert ("Mẫu tin", "esms", "'=HYPERLINK(\"http://evil\")") in by   # a formula is text in a spreadsheet
    assert by[("Tổng", "", "")][8] == "không rõ"
    pays = [row for row in rows if len(row) == 4]
    assert pays[1][1:] == ["3", "813000", "40"] and pays[2][1:] == ["1", "300000", "3600"]


def test_the_report_is_behind_sign_in(svc):
    c = svc.app.test_client()
    for path in ("/admin/report", "/admin/report.csv?month=2026-11"):
        r = c.get(path)
        assert r.status_code == 302 and "/admin/login" in r.headers["Location"]


def test_the_report_fits_a_phone_with_a_busy_month(browser, november):
    """Many templates on three channels, long template names, costs in the millions: each table
    row is a card at 390 px and nothing sticks out."""
    rules = ("order-awaiting-transfer", "order-processing", "order-completed", "payment-confirmed",
             "owner-new-order", "customer-welcome", "payment-expired-reminder-with-a-rather-long-template-name")
    for i, rule in enumerate(rules):
        for channel in ("esms", "smsgate", "messenger-for-the-shop-fanpage"):
            for k in range(3):
                message(november, local(2026, 11, 2 + i, 10, k), channel, rule, 1 + k % 3, "delivered")
    set_prices(november.db, {"esms": Price("esms", 1_250_000, PER_PART)})
    for width in ("phone", "desktop"):
        context, page, refused = new_page(browser, width)
        sign_in(page, november.url, PASSWORD)
        page.goto(november.url + "/admin/report?month=2026-11")
        assert page.locator("#month").inner_text() == "2026-11"
        assert page.locator("#templates tbody tr").count() == 3 + len(rules) * 3   # esms payment-confirmed was in the month already
        assert_fits(page, f"the report at {width}")
        shot(page, "report", width)
        page.click("#prev-month")
        page.wait_for_url("**month=2026-10")
        assert_fits(page, f"October's report at {width}")
        assert not refused, refused
        context.close()

"""What the owner reads about cash-on-delivery orders and their parcels (issue 16), through the
test client on seeded rows (tests/cod_rows.py): the dashboard's block (customers to call,
answers of the day, parcels to look at and their "seen" button, carrier calls that matched no
order), an order's confirmation with every answer and its parcel's story, the /admin/cod lists,
and the month's figures on the dashboard, in the report and its CSV and in /metrics, each order
in the shop's month it was asked (Asia/Ho_Chi_Minh), across a month's edge."""
from __future__ import annotations

import csv
import io
import re
from zoneinfo import ZoneInfo


from bridge import months, reasons
from tests import cod_rows as rows
from tests.test_admin_report import admin, svc  # noqa: F401  (the same signed-in shop on Vietnam's clock)
from tests.test_metrics_logs import scrape

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
reasons.register({"test.cod_after": reasons.N_("answered after the order was already %(state)s")})




def texts(html: str, table_id: str) -> list[str]:
    """The rows of a table as text (tags dropped, spaces folded)."""
    body = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    return [" ".join(re.sub(r"<[^>]+>", " ", r.split(">", 1)[1]).split()) for r in body.split("<tr")[2:]]


def month_row(html: str, table_id: str, month: str) -> dict[str, str]:
    body = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    row = body.split(f'data-month="{month}"', 1)[1].split("</tr>", 1)[0]
    cells = re.findall(r'<td class="num ([a-z-]+)"[^>]*>(\d+)', row)
    return dict(cells)


def test_a_shop_without_cod_sees_no_block_and_an_empty_list(admin):
    assert 'id="cod"' not in admin.get("/admin/").text
    html = admin.get("/admin/cod").text
    assert "Không có đơn nào ở tình trạng này." in html and "Đơn COD" in html


def test_the_dashboard_lists_the_customers_to_call_and_the_answers_of_the_day(svc, admin):
    now = svc.clock()
    with svc.db.tx() as c:
        for oid, name, phone in ((501, "Nguyễn Thị Bích Ngọc Phương Thảo", "+84912345601"),
                                 (502, "Trần Hoàng Khánh Linh", "+84912345602"), (503, "Lê Văn Tám", "+84912345603"),
                                 (504, "Phạm Thu Hà", "+84912345604"), (505, "Võ Minh Khang", "+84912345605")):
            rows.order(c, oid, name, phone, 450_000, now - 40 * 3600)
        rows.asked(c, 501, "+84912345601", "call", now - 26 * 3600, reminded_at=now - 22 * 3600, call_at=now - 2 * 3600)
        rows.asked(c, 502, "+84912345602", "call", now - 30 * 3600, call_at=now - 6 * 3600)
        rows.asked(c, 503, "+84912345603", "asked", now - 3 * 3600)
        rows.asked(c, 504, "+84912345604", "confirmed", now - 5 * 3600, answer="confirm", answered_at=now - 60,
                   answered_via="sms")
        rows.asked(c, 505, "+84912345605", "cancelled", now - 5 * 3600, answer="cancel", answered_at=now - 120,
                   answered_via="page")
    html = admin.get("/admin/").text
    assert 'id="cod"' in html and "Cần gọi cho khách" in html
    calls = texts(html, "cod-calls")
    # the longest waiting first: the order, its customer, the phone as the owner dials it, how long ago asked
    assert calls[0].startswith("#502") and "Trần Hoàng Khánh Linh" in calls[0] and "0912345602" in calls[0] \
        and "30 giờ trước" in calls[0]
    assert calls[1].startswith("#501") and "26 giờ trước" in calls[1] and len(calls) == 2
    assert 'href="tel:+84912345601"' in html and 'href="/admin/orders/501"' in html
    assert re.search(r'id="cod-calls-count">2<', html) and re.search(r'id="cod-waiting">1<', html)
    assert re.search(r'id="cod-confirmed-today">1<', html) and re.search(r'id="cod-cancelled-today">1<', html)
    # the list page opens on the customers to call; each state is a tab with its count
    page = admin.get("/admin/cod").text
    assert [r.split()[0] for r in texts(page, "confirmations")] == ["#502", "#501"]
    assert "cần gọi:&nbsp;2" in page and "đang chờ trả lời:&nbsp;1" in page and "tất cả:&nbsp;5" in page
    everything = admin.get("/admin/cod?state=all").text
    assert len(texts(everything, "confirmations")) == 5 and "khách đã hủy" in everything
    assert "trang xác nhận" in everything and "đã xác nhận" in everything


def test_a_parcel_back_at_the_shop_and_a_cod_mismatch_leave_the_dashboard_once_seen(svc, admin):
    now = svc.clock()
    with svc.db.tx() as c:
        rows.order(c, 601, "Đặng Nguyễn Bảo Châu", "+84912345611", 513_000, now - 86400)
        rows.order(c, 602, "Hồ Thị Mai", "+84912345612", 320_000, now - 86400)
        rows.parcel(c, "ghtk", "S22598416.BO.MT5.A12.1", 601, "returned", now - 600, cod_amount=513_000,
                    flag="returned")
        rows.parcel(c, "ghn", rows.LONG_TRACKING, 602, "delivering", now - 300, cod_amount=350_000, mismatch=True)
        rows.parcel(c, "ghn", "GHN-DELIVERED-1", 602, "delivered", now - 200, cod_amount=320_000)
    html = admin.get("/admin/").text
    parcels = texts(html, "cod-parcels")
    assert len(parcels) == 2
    assert parcels[0].startswith("#602") and "GHN" in parcels[0] and rows.LONG_TRACKING in parcels[0] \
        and "Hãng thu hộ 350.000đ, tổng đơn là 320.000đ" in parcels[0]
    assert parcels[1].startswith("#601") and "GHTK" in parcels[1] and "Đã hoàn về shop" in parcels[1]
    # a form without the admin's token changes nothing
    r = admin.client.post("/admin/shipments/seen", data={"carrier": "ghtk", "tracking": "S22598416.BO.MT5.A12.1"})
    assert r.status_code == 400
    assert svc.db.one("SELECT flag FROM shipments WHERE tracking='S22598416.BO.MT5.A12.1'")["flag"] == "returned"
    r = admin.post("/admin/shipments/seen", {"carrier": "ghtk", "tracking": "S22598416.BO.MT5.A12.1"},
                   follow_redirects=True)
    assert "Đã đánh dấu đã xem kiện hàng S22598416.BO.MT5.A12.1." in r.text
    assert [p.split()[0] for p in texts(r.text, "cod-parcels")] == ["#602"]
    row = svc.db.one("SELECT * FROM shipments WHERE tracking='S22598416.BO.MT5.A12.1'")
    assert (row["flag"], row["status"], row["cod_amount"]) == ("", "returned", 513_000)   # the story stays
    # seen from the order page: back to the order, the notice gone there too
    order = admin.get("/admin/orders/602").text
    assert "khác tổng đơn 320.000đ" in order and order.count("Đã xem</button>") == 1
    r = admin.post("/admin/shipments/seen", {"carrier": "ghn", "tracking": rows.LONG_TRACKING, "back": "order"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/orders/602")
    assert "Đã xem</button>" not in admin.get("/admin/orders/602").text
    assert 'id="cod-parcels"' not in admin.get("/admin/").text
    # again, or a parcel nobody knows: said so, nothing changes
    again = admin.post("/admin/shipments/seen", {"carrier": "ghn", "tracking": rows.LONG_TRACKING},
                       follow_redirects=True).text
    assert f"Kiện hàng {rows.LONG_TRACKING} không còn gì cần xem." in again
    assert "không còn gì cần xem" in admin.post("/admin/shipments/seen", {"carrier": "x", "tracking": "y"},
                                                follow_redirects=True).text


def test_the_order_page_shows_every_answer_and_what_the_carrier_reported(svc, admin):
    now = svc.clock()
    late = reasons.encode("test.cod_after", state="confirmed")
    with svc.db.tx() as c:
        rows.order(c, 701, "Nguyễn Thị Bích Ngọc", "+84912345701", 450_000, now - 86400)
        rows.asked(c, 701, "+84912345701", "confirmed", now - 8 * 3600, reminded_at=now - 4 * 3600,
                   answer="confirm", answered_at=now - 3 * 3600, answered_via="sms")
        rows.answer(c, 701, now - 3 * 3600, "sms", "+84912345701", "confirm", True)
        rows.answer(c, 701, now - 2 * 3600, "messenger", "7391846205519382", "cancel", False, reason=late)
        rows.answer(c, 701, now - 3600, "sms", "+84912345701", "unclear", False, reason="ok nhe shop <b>giao</b>")
        rows.parcel(c, "ghn", "LZ8K3PQ7", 701, "delivery_failed", now - 600, cod_amount=450_000,
                    carrier_status="delivery_fail")
        for i, (st, word, state) in enumerate((("created", "ready_to_pick", "applied"),
                                               ("delivering", "delivering", "applied"),
                                               ("delivering", "delivering", "duplicate"),
                                               ("picking", "picking", "stale"),
                                               ("delivery_failed", "delivery_fail", "applied"))):
            rows.call(c, "ghn", "LZ8K3PQ7", st, word, state, now - 3000 + i * 500, oid=701, order_ref="701",
                      reason="Khách không nghe máy" if st == "delivery_failed" else "")
    html = admin.get("/admin/orders/701").text
    assert re.search(r'id="cod-state">đã xác nhận<', html)
    assert "Đã nhắc lúc" in html and "xác nhận · SMS" in html
    answers = texts(html, "cod-answers")
    assert len(answers) == 3
    assert "xác nhận" in answers[0] and "+84912345701" in answers[0] and "có: câu trả lời này quyết định" in answers[0]
    # the second answer came, was recorded and not applied; its reason is rendered, not shown as its code
    assert "hủy đơn" in answers[1] and "Messenger" in answers[1] and "7391846205519382" in answers[1] \
        and "không: chỉ ghi lại" in answers[1] and "answered after the order was already confirmed" in answers[1]
    assert "trả lời không rõ" in answers[2] and "không: chỉ ghi lại" in answers[2]
    assert "&lt;b&gt;giao&lt;/b&gt;" in html and '"code"' not in html
    parcel = texts(html, "shipments")
    assert len(parcel) == 1 and "GHN" in parcel[0] and "giao không thành công" in parcel[0] \
        and "450.000đ" in parcel[0] and "khác tổng đơn" not in parcel[0]
    events = texts(html, "shipment-events")
    assert len(events) == 5
    assert "đã tạo vận đơn" in events[0] and "ready_to_pick" in events[0] and "đã áp dụng" in events[0]
    assert "đang giao" in events[2] and "lặp lại" in events[2]
    assert "đang lấy hàng" in events[3] and "cũ hơn bản đã có" in events[3]
    assert "giao không thành công" in events[4] and "Khách không nghe máy" in events[4]
    # an order without COD has neither section
    with svc.db.tx() as c:
        rows.order(c, 702, "Lê Văn Tám", "+84912345702", 100_000, now)
    plain = admin.get("/admin/orders/702").text
    assert 'id="cod-confirmation"' not in plain and 'id="parcel"' not in plain


def test_carrier_calls_that_matched_no_order_are_counted_and_listed(svc, admin):
    now = svc.clock()
    with svc.db.tx() as c:
        for i in range(3):
            rows.call(c, "ghtk", f"S2259841{i}.SGP", "delivering", "4", "unmatched", now - 3600 * (i + 1),
                      order_ref=f"DON-NGOAI-{i}", raw={"partner_id": f"DON-NGOAI-{i}", "status_id": 4,
                                                       "reason": "<script>alert(1)</script>" + "x" * 400})
        rows.call(c, "ghtk", "S-OLD", "delivered", "5", "unmatched", now - 40 * 86400, order_ref="CU")
        rows.call(c, "ghn", "MATCHED", "delivering", "delivering", "applied", now - 60, oid=None)
    html = admin.get("/admin/").text
    assert 'href="/admin/cod/unmatched"' in html and "trong 30 ngày qua: 3" in html
    listing = admin.get("/admin/cod/unmatched").text
    found = texts(listing, "unmatched")
    assert len(found) == 4 and "S22598410.SGP" in found[0] and "DON-NGOAI-0" in found[0] and "GHTK" in found[0]
    assert "đang giao" in found[0] and "…" in found[0] and "CU" in found[3]
    assert "<script>alert" not in listing and "&lt;script&gt;" in listing
    assert "4 thông báo: mở danh sách" in admin.get("/admin/cod").text


def _seed_months(svc) -> tuple[str, str]:
    """Orders asked on either side of this month's first instant in Hanoi (still last month in
    UTC), answered and delivered or refused; returns (last month, this month)."""
    now = svc.clock()
    this = months.of(now, HCM)
    last = months.shift(this, -1)
    edge = months.bounds(this, HCM)[0]
    with svc.db.tx() as c:
        def one(oid: int, asked_at: float, state: str, parcel: str | None = None, **fields) -> None:
            rows.order(c, oid, f"Khách {oid}", f"+8491234{oid:04d}", 300_000, asked_at)
            rows.asked(c, oid, f"+8491234{oid:04d}", state, asked_at, **fields)
            if parcel:
                rows.parcel(c, "ghn", f"T{oid}", oid, parcel, asked_at + 86400, cod_amount=300_000)
        # last month: 30 min before the edge, answered after it (still last month's)
        one(801, edge - 1800, "confirmed", "returned", answer="confirm", answered_at=edge + 600, answered_via="sms")
        one(802, edge - 5 * 86400, "confirmed", "delivered", answer="confirm", answered_at=edge - 4 * 86400)
        one(803, edge - 6 * 86400, "cancelled", answer="cancel", answered_at=edge - 6 * 86400 + 60)
        one(804, edge - 7 * 86400, "closed", "returning")
        # this month: 10 min after the edge (the previous day in UTC)
        one(811, edge + 600, "confirmed", "delivered", answer="confirm", answered_at=edge + 1200)
        one(812, edge + 700, "call")
        one(813, edge + 800, "asked")
        # two months back: outside the dashboard, inside /metrics
        one(821, months.bounds(months.shift(this, -2), HCM)[0] + 3600, "closed", "returned")
    return last, this


def test_the_month_figures_count_each_order_in_the_month_it_was_asked(svc, admin):
    last, this = _seed_months(svc)
    expect_last = {"asked": "4", "confirmed": "2", "cancelled": "1", "unanswered": "1", "refused": "2",
                   "refused-confirmed": "1"}
    expect_this = {"asked": "3", "confirmed": "1", "cancelled": "0", "unanswered": "2", "refused": "0",
                   "refused-confirmed": "0"}
    html = admin.get("/admin/").text
    assert month_row(html, "cod-months", last) == expect_last
    assert month_row(html, "cod-months", this) == expect_this
    assert html.index(f'data-month="{this}"') < html.index(f'data-month="{last}"')   # newest first
    report = admin.get(f"/admin/report?month={last}").text
    assert month_row(report, "cod", last) == expect_last
    assert "Từ chối nhận hàng" in report
    assert month_row(admin.get("/admin/cod").text, "cod-months", months.shift(this, -2))["refused"] == "1"
    # the CSV carries the same section
    body = admin.get(f"/admin/report.csv?month={last}").data.decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(body)))
    head = lines.index(["Thanh toán khi nhận hàng (COD)", "Đã hỏi xác nhận", "Đã xác nhận", "Khách hủy",
                        "Không trả lời", "Từ chối nhận hàng", "Đã xác nhận vẫn từ chối nhận"])
    assert lines[head + 1] == [last, "4", "2", "1", "1", "2", "1"]
    empty = list(csv.reader(io.StringIO(admin.get("/admin/report.csv?month=2020-01").data.decode("utf-8-sig"))))
    assert empty[-1] == ["2020-01", "0", "0", "0", "0", "0", "0"]
    assert 'id="cod"' not in admin.get("/admin/report?month=2020-01").text


def test_metrics_give_the_cod_figures_of_the_last_twelve_months(svc):
    last, this = _seed_months(svc)
    with svc.db.tx() as c:
        rows.call(c, "ghtk", "X1", "delivering", "4", "unmatched", svc.clock())
        rows.call(c, "ghn", "T801", "returned", "returned", "applied", svc.clock(), oid=801)
    m = scrape(svc.url)

    def cod(month: str, outcome: str) -> float:
        return m[("woobridge_cod_orders", (("month", month), ("outcome", outcome)))]
    assert [cod(last, o) for o in ("asked", "confirmed", "cancelled", "unanswered", "refused", "refused_confirmed")] \
        == [4, 2, 1, 1, 2, 1]
    assert [cod(this, o) for o in ("asked", "confirmed", "unanswered", "refused")] == [3, 1, 2, 0]
    assert cod(months.shift(this, -2), "refused") == 1
    assert cod(months.shift(this, -11), "asked") == 0
    assert ("woobridge_cod_orders", (("month", months.shift(this, -12)), ("outcome", "asked"))) not in m
    assert m[("woobridge_cod_confirmations", (("state", "call"),))] == 1
    assert m[("woobridge_shipment_events", (("carrier", "ghtk"), ("state", "unmatched")))] == 1


def test_the_dashboard_reads_cod_and_parcels_through_indexes(svc, admin):
    """No read of the dashboard's COD block or of the lists walks a table: a year of parcels and
    answers is looked up by index, the orders by their key."""
    _seed_months(svc)
    with svc.db.tx() as c:
        rows.answer(c, 801, svc.clock(), "sms", "+84912340801", "confirm", True)
        rows.parcel(c, "ghtk", "BACK", 802, "returned", svc.clock(), flag="returned")
        rows.call(c, "ghtk", "NOBODY", "delivering", "4", "unmatched", svc.clock())
        rows.call(c, "ghn", "T801", "returned", "returned", "applied", svc.clock(), oid=801)
    rows_seen: list[str] = []
    conn = svc.db.conn()
    conn.set_trace_callback(rows_seen.append)
    try:
        for path in ("/admin/", "/admin/cod", "/admin/cod?state=all", "/admin/cod/unmatched", "/admin/orders/801"):
            assert admin.get(path).status_code == 200
    finally:
        conn.set_trace_callback(None)
    ours = [s for s in rows_seen if re.search(r"\b(cod_confirmations|cod_answers|shipments|shipment_events)\b", s)
            and s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len(ours) >= 10, ours
    for sql in ours:
        plan = [r[3] for r in svc.db.query("EXPLAIN QUERY PLAN " + sql)]
        # a table read whole (a query's own intermediate rows aside), or the orders walked at all
        walks = [p for p in plan if re.match(r"SCAN (cod_confirmations|cod_answers|shipments|shipment_events|[cs])$", p)
                 or re.match(r"SCAN (o|orders)\b", p)]
        assert not walks, (sql, plan)

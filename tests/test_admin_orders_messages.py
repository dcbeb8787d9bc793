"""The messages, inbound and orders pages through Flask's test client: statuses, timeline lines
and WooCommerce write-backs in the reader's language, reasons stored as codes and rendered in
Vietnamese and English, and the orders search (case and diacritics folded, payment codes,
phones only when the whole query is a phone)."""
from __future__ import annotations

import json
import re

import pytest

from bridge import reasons
from bridge.order_search import OrderQuery, parse
from bridge.outbox import Draft, enqueue
from bridge.payments.handler import shop_action
from bridge.phones import normalize_phone
from bridge.smstext import prepare
from tests.orders import order_body
from tests.test_admin import PASSWORD, Admin

ORDERS = (   # id, first name, last name, phone, e-mail
    (30, "Thị Bích", "Nguyễn", "0912 345 678", "bich.nguyen@example.com"),
    (31, "VĂN AN", "NGUYỄN", "0987 654 330", "an@example.com"),
    (3030, "Đức Bình", "Trần", "0909 300 300", "an.tran@example.com"),
    (912345, "Thu", "Lê", "0911 222 333", "thu@example.com"),
)


@pytest.fixture
def svc(service_factory):
    return service_factory(admin_password=PASSWORD)


@pytest.fixture
def admin(svc):
    a = Admin(svc)
    assert a.sign_in().status_code == 302
    return a


def post_order(svc, oid: int, first: str, last: str, phone: str, email: str, status: str = "on-hold",
               topic: str = "order.created", minute: int = 0) -> None:
    body = json.loads(order_body(oid, status=status, phone=phone, modified=f"2026-11-23T02:{minute:02d}:00"))
    body["billing"].update(first_name=first, last_name=last, email=email)
    assert svc.post_json(json.dumps(body).encode(), topic=topic).status_code == 200


def found(admin, q: str) -> list[int]:
    html = admin.get("/admin/orders", query_string={"q": q}).text
    return sorted(int(n) for n in re.findall(r'href="/admin/orders/(\d+)"', html))


def english(admin) -> None:
    assert admin.post("/admin/lang", {"lang": "en", "next": "/admin/"}).status_code == 302


# -- reading what was typed ---------------------------------------------------------------------
@pytest.mark.parametrize("typed, query", [
    ("bich", OrderQuery(text="bich")),
    ("NGUYỄN Thị", OrderQuery(text="nguyen thi")),
    ("Đức", OrderQuery(text="duc")),
    ("DH30", OrderQuery(number="30")), ("dh30", OrderQuery(number="30")), ("DH 30", OrderQuery(number="30")),
    ("dh-030", OrderQuery(number="30")), ("#30", OrderQuery(number="30")), ("30", OrderQuery(number="30")),
    ("0912 345 678", OrderQuery(number="", phone="912345678")),
    ("+84 912 345 678", OrderQuery(phone="912345678")), ("84912345678", OrderQuery(number="84912345678",
                                                                                   phone="912345678")),
    ("345678", OrderQuery(number="345678", phone="345678")),
    ("12345", OrderQuery(number="12345")),          # too short to be a phone
    ("Nguyen 678", OrderQuery(text="nguyen 678")),   # digits inside a text are text, never a phone
    ("DH30 0912", OrderQuery(text="dh30 0912")),
    ("   ", OrderQuery()),
])
def test_a_query_is_read_as_a_number_a_payment_code_a_phone_or_a_text(typed, query):
    assert parse(typed, "DH") == query


def test_the_payment_code_is_the_configured_prefix():
    assert parse("ĐH30", "ĐH") == OrderQuery(number="30") == parse("dh 30", "ĐH")
    assert parse("DH30", "SHOP") == OrderQuery(text="dh30")
    assert parse("shop-30", "SHOP") == OrderQuery(number="30")


# -- the orders page ----------------------------------------------------------------------------
def test_orders_search_folds_case_and_diacritics_reads_codes_and_phones(admin, svc):
    for row in ORDERS:
        post_order(svc, *row)
    assert found(admin, "") == [30, 31, 3030, 912345]
    assert found(admin, "bich") == found(admin, "BÍCH") == [30]
    assert found(admin, "nguyen") == [30, 31]
    assert found(admin, "duc") == [3030]                       # Đ folded to d
    assert found(admin, "an.tran") == [3030]                   # e-mail
    for code in ("DH30", "dh30", "DH 30", "dh-30", "#30", "30"):
        assert found(admin, code) == [30], code                # not 3030, not the phone ending in 330
    for phone in ("0912 345 678", "+84912345678", "84 912 345 678", "912345678", "345 678"):
        assert found(admin, phone) == [30], phone
    assert found(admin, "912345") == [30, 912345]              # the order number, and a phone containing it
    assert found(admin, "Nguyen 678") == []                    # digits inside a query never match a phone
    assert found(admin, "%") == found(admin, "_") == []        # LIKE's wildcards are what they are
    html = admin.get("/admin/orders?q=zzz").text
    assert "(0)" in html and "Không có đơn hàng nào khớp." in html


def test_a_search_reads_only_the_covering_index(svc):
    """100,000 orders stay well under 200 ms because a text or phone search never reads the
    orders' bodies (bench/ measures the time; the plan is what keeps it)."""
    plan = " ".join(r["detail"] for r in svc.db.query(
        "EXPLAIN QUERY PLAN SELECT id FROM orders INDEXED BY orders_search WHERE number = ? OR phone_e164 LIKE ?"
        " OR search_folded LIKE ? ORDER BY updated_at DESC, id DESC LIMIT 50", ("30", "%9%", "%bich%")))
    assert "COVERING INDEX orders_search" in plan


def test_orders_list_statuses_and_methods_are_words_in_the_readers_language(admin, svc):
    post_order(svc, *ORDERS[0])
    html = admin.get("/admin/orders").text
    assert 'status-on-hold">tạm giữ' in html and ">chuyển khoản</td>" in html
    english(admin)
    html = admin.get("/admin/orders").text
    assert 'status-on-hold">on hold' in html and ">bank transfer</td>" in html


# -- timeline -----------------------------------------------------------------------------------
def test_the_timeline_reads_as_sentences_in_vietnamese_and_english(admin, svc):
    post_order(svc, 40, "Thị Bích", "Nguyễn", "0912 345 678", "b@example.com", minute=1)
    post_order(svc, 40, "Thị Bích", "Nguyễn", "0912 345 678", "b@example.com", status="processing",
               topic="order.updated", minute=2)
    html = admin.get("/admin/orders/40").text
    lines = [html.index(s) for s in ("Cửa hàng gửi đơn hàng mới (đã xử lý)", "đơn 40: đơn mới (on-hold)",
                                     "Cửa hàng gửi thay đổi của đơn (đã xử lý)", "trạng thái on-hold -&gt; processing")]
    assert lines == sorted(lines)
    assert "order.created" not in re.sub(r"<[^>]+>", "", html)   # the topic code stays in the markup only
    english(admin)
    html = admin.get("/admin/orders/40").text
    assert "The shop sent a new order (processed)" in html and "order 40: new order (on-hold)" in html
    assert "The shop sent a change to the order (processed)" in html


def test_a_woocommerce_write_back_is_a_sentence(admin, svc):
    with svc.db.tx() as c:
        shop_action(c, "tx:9:mark-paid", 27, {"action": "mark_paid", "status": "processing", "transaction_id": "FT9",
                                              "note": "woo-bridge: đã nhận 278.000đ"}, "payment-mark-paid")
        shop_action(c, "tx:9:note:0", 27, {"action": "note", "note": "woo-bridge: Nhận thêm 5.000đ"}, "payment-note")
    (mark,) = svc.messages(rule="payment-mark-paid")
    listing = admin.get("/admin/messages?kind=order_update").text
    assert "Đánh dấu đã thanh toán đơn #27 (trạng thái: đang xử lý)" in listing
    assert "Thêm ghi chú riêng vào đơn #27" in listing and '"action"' not in listing
    page = admin.get(f"/admin/messages/{mark['id']}").text
    assert "Đánh dấu đã thanh toán đơn #27" in page and "cập nhật WooCommerce" in page
    english(admin)
    assert "Mark order #27 paid (status: processing)" in admin.get(f"/admin/messages/{mark['id']}").text
    assert "Add a private note to order #27" in admin.get("/admin/messages?kind=order_update").text


# -- reasons ------------------------------------------------------------------------------------
def test_a_reason_we_write_is_a_code_shown_in_the_readers_language(admin, svc):
    post_order(svc, 50, "An", "Lê", "12345", "an@example.com")
    failed = next(m for m in svc.messages() if m["audience"] == "customer")
    assert failed["status"] == "failed" and reasons.code_of(failed["reason"]) == "outbox.phone_invalid"
    page = admin.get(f"/admin/messages/{failed['id']}").text
    assert "không có số điện thoại dùng được: 12345 không phải số điện thoại hợp lệ" in page
    assert 'status-failed">thất bại' in page
    delivery = svc.db.one("SELECT reason FROM deliveries ORDER BY id DESC LIMIT 1")["reason"]
    assert reasons.english(delivery).startswith("order 50: new order (on-hold)")
    english(admin)
    page = admin.get(f"/admin/messages/{failed['id']}").text
    assert "no usable phone number: 12345 is not a valid phone number" in page and 'status-failed">failed' in page


def test_a_refused_action_is_flashed_in_the_readers_language_and_old_plain_reasons_still_show(admin, svc):
    with svc.db.tx() as c:
        mid = enqueue(c, Draft.to_phone(normalize_phone("0912345678"), dedupe_key="k", rule="r", event="e",
                                        audience="customer", channels=("dry-run",), sms=prepare("Chào", True)))
    svc.bridge.worker.drain()
    assert svc.db.one("SELECT status FROM messages WHERE id=?", (mid,))["status"] == "dry-run"
    admin.post(f"/admin/messages/{mid}/cancel")
    page = admin.get(f"/admin/messages/{mid}").text
    assert "chỉ hủy được tin nhắn đang chờ hoặc đã hẹn giờ (tin này đang ở trạng thái dry-run)" in page
    assert "chạy thử: kênh &#39;dry-run&#39; chưa được cấu hình; đã lưu, không gửi" in page
    english(admin)
    admin.post(f"/admin/messages/{mid}/delivered")
    assert "only a message in doubt can be marked delivered (this one is dry-run)" in \
        admin.get(f"/admin/messages/{mid}").text
    with svc.db.tx() as c:   # a row written before reasons had codes
        c.execute("UPDATE messages SET reason='gave up after 3 attempts: HTTP 500' WHERE id=?", (mid,))
    assert "gave up after 3 attempts: HTTP 500" in admin.get(f"/admin/messages/{mid}").text


def test_inbound_states_and_duplicates_in_the_readers_language(admin, svc):
    for _ in range(2):
        svc.bridge.received.accept(source="fibo", external_id=None, device="shop-phone", sim=None,
                                   sender="Vietcombank", recipient=None, text="Xin chào shop", received_at=None,
                                   raw="{}")
    svc.settle()
    html = admin.get("/admin/inbound").text
    assert "lặp lại" in html and "trùng người gửi, thiết bị và nội dung với #1 trong vòng 2 phút" in html
    english(admin)
    assert "same sender, device and text as #1 within 2 minutes" in admin.get("/admin/inbound").text


def test_a_total_counted_only_to_its_cap_says_more_than_in_the_owners_language(svc, admin):
    """A list whose count stops at its cap says "hơn 1000" (more than), not a figure read as exact."""
    from bridge.store import reports
    with svc.db.tx() as c:
        c.executemany("INSERT INTO transactions(id, created_at, decision, fingerprint) VALUES (?, 1, 'no_code', ?)",
                      [(i, f"cap{i}") for i in range(1, reports.COUNT_CAP + 3)])
    html = admin.get("/admin/payments").text
    assert f"(hơn {reports.COUNT_CAP})" in html and f"({reports.COUNT_CAP}+)" not in html
    english(admin)
    assert f"(more than {reports.COUNT_CAP})" in admin.get("/admin/payments").text

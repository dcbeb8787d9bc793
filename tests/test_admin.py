"""The admin web through Flask's test client, on a service whose worker really sends to the fake
eSMS and writes to the fake WooCommerce over HTTP: sign-in, CSRF, every page, every action,
escaping of what strangers typed, and the Vietnamese/English switch."""
from __future__ import annotations

import json
import re
import uuid

import pytest
import requests

from bridge import reasons
from bridge.envparse import bank_accounts as _accounts
from bridge.store.db import now
from bridge.outbox import Draft, enqueue
from bridge.phones import normalize_phone
from bridge.smstext import prepare
from tests.conftest import esms_settings, wait_until, woo_settings
from tests.orders import order_body

PASSWORD = "correct horse 42"
SCRIPT = '<script>alert("pwned")</script>'
PAGES = ("/admin/", "/admin/messages", "/admin/orders", "/admin/inbound", "/admin/payments", "/admin/templates",
         "/admin/settings", "/admin/cod")
VCB = ("SD TK 0181003749261 +513,000VND luc 23-11-2026 09:{minute:02d}:40. SD {balance:,}VND. Ref MBVCB.99{minute:02d}."
       "{memo}.CT tu 1047263815 VO MINH KHANG toi 0181003749261 CUA H...")


@pytest.fixture
def svc(service_factory, fake_esms, woo):
    return service_factory(start_scheduler=True, admin_password=PASSWORD, **woo_settings(woo),
                           bank_accounts=_accounts("Vietcombank:0181003749261"), **esms_settings(fake_esms))


def token_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


class Admin:
    """A browser-like client: keeps the session cookie, reads the CSRF token off pages."""

    def __init__(self, svc):
        self.client = svc.app.test_client()
        self.token = ""

    def sign_in(self, password: str = PASSWORD):
        self.token = token_of(self.client.get("/admin/login").text)
        r = self.client.post("/admin/login", data={"password": password, "csrf_token": self.token})
        if r.status_code == 302:   # a new session after sign-in: a new token
            self.token = token_of(self.client.get("/admin/settings").text)
        return r

    def get(self, path: str, **kw):
        return self.client.get(path, **kw)

    def post(self, path: str, data: dict | None = None, **kw):
        return self.client.post(path, data={"csrf_token": self.token, **(data or {})}, **kw)


@pytest.fixture
def admin(svc):
    a = Admin(svc)
    r = a.sign_in()
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/")
    return a


def named_order(svc, oid: int, first_name: str = "Văn An", total: int = 513000, status: str = "on-hold",
                phone: str = "0912 345 678", topic: str = "order.created", minute: int = 0) -> None:
    body = json.loads(order_body(oid, total=total, status=status, phone=phone,
                                 modified=f"2026-11-23T02:{minute:02d}:00"))
    body["billing"]["first_name"] = first_name
    assert svc.post_json(json.dumps(body).encode(), topic=topic).status_code == 200


def bank_sms(svc, memo: str, minute: int = 12) -> None:
    """A Vietcombank credit of 513.000đ, as the shop's phone forwards it (FiboSMS push)."""
    text = VCB.format(memo=memo, minute=minute, balance=6_000_000 + minute * 513_000)
    r = requests.get(svc.url + "/inbound/fibo", params={"token": "test-fibo-token", "phone": "Vietcombank",
                                                        "message": text, "guid": uuid.uuid4().hex}, timeout=5)
    assert r.status_code == 200, r.text


# -- sign-in ---------------------------------------------------------------------------------
def test_every_page_and_action_needs_sign_in(svc):
    a = Admin(svc)
    for path in PAGES:
        r = a.get(path)
        assert r.status_code == 302 and "/admin/login" in r.headers["Location"], path
    a.token = token_of(a.get("/admin/login").text)
    before = svc.db.scalar("SELECT COUNT(*) FROM messages")
    r = a.post("/admin/templates/order-processing/test-send", {"phone": "0912345678"})
    assert r.status_code == 302 and "/admin/login" in r.headers["Location"]
    assert svc.db.scalar("SELECT COUNT(*) FROM messages") == before


def test_wrong_password_is_refused_and_the_right_one_signs_in_and_out(svc):
    a = Admin(svc)
    r = a.sign_in("guess")
    assert r.status_code == 401 and "Sai mật khẩu" in r.text
    r = a.sign_in()
    assert r.status_code == 302
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert a.get("/admin/").status_code == 200
    assert a.post("/admin/logout").status_code == 302
    assert a.get("/admin/").status_code == 302


def test_sign_in_is_rate_limited_with_a_clear_message(svc):
    a = Admin(svc)
    codes = [a.sign_in("guess").status_code for _ in range(5)]
    assert codes == [401] * 5
    r = a.sign_in()  # even the right password waits now
    assert r.status_code == 429 and "Đăng nhập sai quá nhiều lần" in r.text


def test_a_generated_password_is_printed_once_and_only_its_hash_stored(service_factory):
    svc = service_factory()
    password = svc.bridge.new_admin_password
    assert password and password in svc.bridge.banner()
    stored = svc.db.kv_get("admin.password_hash")
    assert stored and password not in stored
    again = service_factory(db_path=svc.settings.db_path)
    assert again.bridge.new_admin_password is None and password not in again.bridge.banner()
    assert Admin(again).sign_in(password).status_code == 302


def test_every_form_needs_its_csrf_token(admin, svc):
    named_order(svc, 301)
    wait_until(lambda: svc.messages(status="queued"), what="the order SMS")
    mid = svc.messages()[0]["id"]
    before = len(svc.messages())
    r = admin.client.post(f"/admin/messages/{mid}/resend", data={})
    assert r.status_code == 400 and "CSRF" in r.text
    r = admin.client.post(f"/admin/messages/{mid}/resend", data={"csrf_token": "forged"})
    assert r.status_code == 400
    assert len(svc.messages()) == before
    fresh = Admin(svc)
    assert fresh.client.post("/admin/login", data={"password": PASSWORD}).status_code == 400


# -- pages -----------------------------------------------------------------------------------
def test_every_page_escapes_what_strangers_typed(admin, svc):
    named_order(svc, 302, first_name=SCRIPT)
    bank_sms(svc, SCRIPT.replace(" ", ""))
    wait_until(lambda: svc.db.scalar("SELECT COUNT(*) FROM transactions") == 1, what="the bank SMS read")
    mid = svc.messages()[0]["id"]
    tx = svc.db.scalar("SELECT id FROM transactions")
    for path in (*PAGES, f"/admin/messages/{mid}", "/admin/orders/302", f"/admin/payments/{tx}",
                 "/admin/messages?q=pwned"):
        r = admin.get(path)
        assert r.status_code == 200, path
        assert 'alert("pwned")' not in r.text and "<script>alert" not in r.text, path
    assert "&lt;script&gt;" in admin.get("/admin/orders/302").text
    assert "&lt;script&gt;" in admin.get("/admin/inbound").text


def test_dashboard_counts_orders_messages_payments_and_the_review_queue(admin, svc, fake_esms):
    for oid in (401, 402):
        named_order(svc, oid)
    bank_sms(svc, "tra tien hang")
    wait_until(lambda: len(fake_esms.accepted) == 4 and svc.db.scalar("SELECT COUNT(*) FROM transactions"),
               what="2 customer SMS + 2 owner alerts and one transaction")
    html = admin.get("/admin/").text
    today = html.split("Hôm nay", 1)[1].split("7 ngày qua", 1)[0]
    assert re.search(r"Đơn hàng</div><div class=\"big\">2<", today)
    assert re.search(r"Tin nhắn</div><div class=\"big\">4<", today)
    assert re.search(r'id="review-count">1<', html)
    assert "<svg" in html and "<rect" in html


def test_messages_search_filters_and_pages(admin, svc):
    with svc.db.tx() as c:
        for i in range(60):
            name = "Nguyễn Thị Lan" if i % 3 == 0 else "Trần Văn Bình"
            enqueue(c, Draft.to_phone(normalize_phone(f"09123450{i:02d}"), dedupe_key=f"t{i}", rule="r", event="e",
                                      audience="customer", channels=("dry-run",),
                                      sms=prepare(f"Chào {name}, đơn #{1000 + i}", True), due_at=now() + 3600))
    r = admin.get("/admin/messages?q=nguyen")  # no diacritics typed, found anyway
    assert r.status_code == 200 and "(20)" in r.text and "Trần" not in r.text
    assert "(1)" in admin.get("/admin/messages?q=1007").text
    assert "(1)" in admin.get("/admin/messages?phone=0912345007").text
    assert "(60)" in admin.get("/admin/messages?status=scheduled").text
    assert "(0)" in admin.get("/admin/messages?status=delivered").text
    page1 = admin.get("/admin/messages").text
    older = re.search(r'class="button" href="([^"]*before=[^"]*)"', page1).group(1).replace("&amp;", "&")
    page2 = admin.get(older).text
    newer = re.search(r'class="button" href="([^"]*after=[^"]*)"', page2).group(1).replace("&amp;", "&")
    # the last page has no next, the first no previous
    assert not re.search(r'class="button" href="[^"]*before=', page2) and 'after=' not in page1
    ids1, ids2 = (set(re.findall(r"/admin/messages/(\w{32})", p)) for p in (page1, page2))
    assert len(ids1) == 50 and len(ids2) == 10 and not ids1 & ids2
    assert set(re.findall(r"/admin/messages/(\w{32})", admin.get(newer).text)) == ids1
    assert admin.get('/admin/messages?q="unbalanced AND (').status_code == 200  # typed text never breaks FTS


@pytest.mark.parametrize("key", ["endpoint", "_method", "_external", "_anchor", "_scheme"])
def test_a_typed_query_key_named_like_url_fors_own_never_breaks_the_pager(admin, svc, key):
    """The pager's links carry the query as typed; a key url_for reads itself (endpoint,
    _external...) answered 500 or made the links absolute or anchored."""
    with svc.db.tx() as c:
        for i in range(55):
            enqueue(c, Draft.to_phone(normalize_phone(f"09123451{i:02d}"), dedupe_key=f"u{i}", rule="r", event="e",
                                      audience="customer", channels=("dry-run",), sms=prepare(f"Chào {i}", True),
                                      due_at=now() + 3600))
    r = admin.get(f"/admin/messages?{key}=POST&status=scheduled")
    assert r.status_code == 200
    older = re.search(r'class="button" href="([^"]*before=[^"]*)"', r.text).group(1).replace("&amp;", "&")
    assert older.startswith("/admin/messages?") and "#" not in older and f"{key}=POST" in older
    page2 = admin.get(older)
    assert page2.status_code == 200 and len(set(re.findall(r"/admin/messages/(\w{32})", page2.text))) == 5


def test_message_detail_and_resend_on_the_same_or_another_channel(admin, svc, fake_esms):
    named_order(svc, 501)
    wait_until(lambda: len(fake_esms.accepted) == 2, what="customer SMS and owner alert")
    # eSMS answered; the worker records its id in the same breath, not before the fake counts it
    wait_until(lambda: any(x["provider_id"] for x in svc.messages(audience="customer")), what="eSMS's id recorded")
    m = next(x for x in svc.messages() if x["audience"] == "customer")
    html = admin.get(f"/admin/messages/{m['id']}").text
    assert "eSMS đã nhận" in html and m["provider_id"] in html  # attempt + provider answer
    fake_esms.fire_callback(m["provider_id"], send_status=5, success=1)
    assert "esms-callback" in admin.get(f"/admin/messages/{m['id']}").text
    r = admin.post(f"/admin/messages/{m['id']}/resend")
    assert r.status_code == 302
    new_id = r.headers["Location"].rsplit("/", 1)[1]
    wait_until(lambda: len(fake_esms.accepted) == 3, what="the resent SMS")
    assert fake_esms.accepted[2]["RequestId"] == new_id and fake_esms.accepted[2]["Content"] == m["text"]
    assert "Đã gửi lại" in admin.get(f"/admin/messages/{new_id}").text
    r = admin.post(f"/admin/messages/{m['id']}/resend", {"channel": "dry-run"})
    third = r.headers["Location"].rsplit("/", 1)[1]
    wait_until(lambda: svc.db.one("SELECT status FROM messages WHERE id=?", (third,))["status"] == "dry-run",
               what="resend through dry-run")
    assert len(fake_esms.accepted) == 3
    assert admin.post(f"/admin/messages/{m['id']}/resend", {"channel": "nope"}).status_code == 302
    assert admin.get("/admin/messages/nope").status_code == 404


def test_cancel_stops_a_waiting_message_and_refuses_a_sent_one(admin, svc, fake_esms):
    with svc.db.tx() as c:
        mid = enqueue(c, Draft.to_phone(normalize_phone("0912345678"), dedupe_key="later", rule="r", event="e",
                                        audience="customer", channels=("esms",), sms=prepare("Sau nhé", True),
                                        due_at=now() + 2))
    assert admin.post(f"/admin/messages/{mid}/cancel").status_code == 302
    assert "Đã hủy" in admin.get(f"/admin/messages/{mid}").text
    named_order(svc, 502)
    wait_until(lambda: len(fake_esms.accepted) == 2, what="order SMS")
    sent = next(x for x in svc.messages() if x["status"] == "queued")
    admin.post(f"/admin/messages/{sent['id']}/cancel")
    assert "chỉ hủy được tin nhắn đang chờ hoặc đã hẹn giờ" in admin.get(f"/admin/messages/{sent['id']}").text
    svc.clock.advance(5)          # the cancelled one is due by now: it must not go out
    svc.bridge.worker.drain()
    assert svc.db.one("SELECT status FROM messages WHERE id=?", (mid,))["status"] == "cancelled"
    assert all(a["RequestId"] != mid for a in fake_esms.accepted)


def test_order_timeline_from_webhook_to_payment_and_woocommerce_note(admin, svc, woo, fake_esms):
    woo.add_order(601, 513000)
    named_order(svc, 601, minute=1)
    named_order(svc, 601, minute=2, topic="order.updated", status="on-hold")
    bank_sms(svc, "DH601")
    wait_until(lambda: woo.status_changes, timeout=15, what="WooCommerce marked paid")
    html = admin.get("/admin/orders/601").text
    order = [html.index(s) for s in ("Cửa hàng gửi đơn hàng mới (đã xử lý)", "Cửa hàng gửi thay đổi của đơn",
                                     "Thanh toán 513.000đ từ Vietcombank", "Đánh dấu đã thanh toán đơn #601")]
    assert order == sorted(order), "timeline out of order"
    assert "xác nhận tự động" in html and "qua esms" in html
    assert "601" in admin.get("/admin/orders?q=601").text


def test_review_queue_confirm_reject_and_not_a_payment(admin, svc, woo):
    woo.add_order(701, 513000)
    named_order(svc, 701, phone="0987 111 222")
    for minute, memo in enumerate(("tien hang chi Lan", "hoan tien", "chuyen nham")):
        bank_sms(svc, memo, minute)
    wait_until(lambda: svc.db.scalar("SELECT COUNT(*) FROM transactions") == 3, what="three bank SMS read")
    inbound = admin.get("/admin/inbound").text
    assert inbound.count("no_code") >= 3
    payments = admin.get("/admin/payments").text
    assert "Chờ duyệt (3)" in payments
    first, second, third = (r["id"] for r in svc.db.query("SELECT id FROM transactions ORDER BY id"))
    found = admin.get(f"/admin/payments/{first}?q=0987111222").text   # search by the customer's phone
    assert "Xác nhận thanh toán cho #701" in found
    assert "#701" in admin.get(f"/admin/payments/{first}?by_amount=1").text   # or by the exact amount
    r = admin.post(f"/admin/payments/{first}/confirm", {"order_id": "701", "note": "khách gọi điện"})
    assert r.status_code == 302
    wait_until(lambda: woo.status_changes == [(701, "on-hold", "processing")], timeout=15, what="marked paid")
    wait_until(lambda: woo.notes[701], what="the note after the status")   # same action: PUT, then the note
    assert "khách gọi điện" in woo.notes[701][0]["note"] and "513.000đ" in woo.notes[701][0]["note"]
    again = admin.post(f"/admin/payments/{second}/confirm", {"order_id": "701"})
    assert again.status_code == 302 and "Đơn 701 đã được thanh toán" in admin.get(f"/admin/payments/{second}").text
    admin.post(f"/admin/payments/{second}/reject", {"note": "không rõ"})
    admin.post(f"/admin/payments/{third}/not-a-payment")
    assert "Chờ duyệt (0)" in admin.get("/admin/payments").text
    actions = {r["id"]: r["review_action"] for r in svc.db.query("SELECT id, review_action FROM transactions")}
    assert actions == {first: "confirmed", second: "rejected", third: "not_a_payment"}
    assert svc.db.one("SELECT reviewed_by FROM transactions WHERE id=?", (first,))["reviewed_by"].startswith("admin")


def test_templates_preview_counts_and_test_send(admin, svc, fake_esms):
    html = admin.get("/admin/templates").text
    assert "order-processing" in html and "Có dấu" in html and "Không dấu" in html
    assert "10231" in html   # rendered on the sample order
    r = admin.post("/admin/templates/order-processing/preview", {"template": "Đơn {{ order_number }} " * 8},
                   headers={"X-Requested-With": "fetch"})
    data = r.get_json()
    assert data["with"]["encoding"] == "UCS-2" and data["with"]["segments"] == 2
    assert data["without"]["encoding"] == "GSM-7" and data["without"]["segments"] == 1
    assert data["without"]["text"].startswith("Don 10231")
    bad = admin.post("/admin/templates/order-processing/preview", {"template": "{{ nope }}"},
                     headers={"X-Requested-With": "fetch"}).get_json()
    assert "nope" in bad["error"]
    no_js = admin.post("/admin/templates/order-processing/preview", {"template": "Hi {{ customer_name }}"})
    assert no_js.status_code == 200 and "Hi Nguyen Van An" in no_js.text   # as sent: this rule strips diacritics
    r = admin.post("/admin/templates/order-processing/test-send", {"phone": "0903 999 888"})
    assert r.status_code == 302
    wait_until(lambda: fake_esms.accepted, what="the test SMS")
    assert fake_esms.accepted[0]["Phone"] == "0903999888" and "10231" in fake_esms.accepted[0]["Content"]
    admin.post("/admin/templates/order-processing/test-send", {"phone": "12"})
    assert "Số điện thoại không dùng được" in admin.get("/admin/templates").text


def test_settings_show_what_to_paste_and_mask_secrets(admin, svc):
    svc.db.kv_set("reconcile.last", json.dumps({"at": "2026-11-23T09:00:00+07:00", "fetched": 3}))
    html = admin.get("/admin/settings").text
    assert svc.url + "/webhooks/woocommerce" in html
    assert svc.settings.woo_webhook_secret in html   # behind a <details>, to paste into WooCommerce
    assert "test-secret-key" not in html and "cs_test" not in html   # provider secrets masked
    assert "/callbacks/esms?token=" in html and "/inbound/fibo" in html
    assert '"fetched": 3' in html
    svc.db.kv_set("reconcile.stale", json.dumps([{"id": 77, "number": "77", "customer": SCRIPT, "total_minor": 513000,
                                                  "status": "on-hold", "created_gmt": "2026-11-20T01:00:00"}]))
    html = admin.get("/admin/settings").text
    assert "Đơn chuyển khoản chờ quá lâu (1)" in html and "/admin/orders/77" in html and "<script>alert" not in html


def test_a_paused_phone_can_be_resumed(service_factory, fake_smsgate):
    from tests.conftest import smsgate_settings
    svc = service_factory(admin_password=PASSWORD, **smsgate_settings(fake_smsgate))
    name = svc.bridge.channels["smsgate"].budget.status()[0]["name"]
    with svc.db.tx() as c:
        c.execute("INSERT OR REPLACE INTO devices(name, next_at, consecutive_failures, paused_until, pause_reason)"
                  " VALUES (?, 0, 0, ?, 'SIM out of credit')", (name, now() + 900))
    a = Admin(svc)
    a.sign_in()
    assert "SIM out of credit" in a.get("/admin/settings").text
    a.post(f"/admin/devices/{name}/resume")
    assert svc.bridge.channels["smsgate"].budget.status()[0]["paused"] is False


def test_settings_creates_the_shops_webhooks_in_one_click(admin, svc, woo):
    woo.add_webhook(3, svc.url + "/webhooks/woocommerce", status="disabled", name="Order updated (by hand)")
    woo.add_webhook(4, svc.url + "/webhooks/woocommerce", topic="product.updated")   # ours, of no use
    woo.add_webhook(5, "https://crm.example/hook", topic="order.created", name="the CRM's")
    assert "woo-bridge chưa tạo webhook nào" in admin.get("/admin/settings").text
    r = admin.post("/admin/woocommerce/connect", follow_redirects=True)
    assert "Đã tạo hoặc sửa 7 webhook" in r.text
    assert woo.webhooks.pop(5)["delivery_url"] == "https://crm.example/hook"   # not ours: untouched
    assert sorted(w["topic"] for w in woo.webhooks.values()) == sorted(
        ["order.created", "order.updated", "order.deleted", "order.restored", "customer.created", "customer.updated",
         "action.woocommerce_reset_password_notification"])
    assert 3 not in woo.webhooks and 4 not in woo.webhooks
    assert all(w["status"] == "active" and w["secret"] == svc.settings.woo_webhook_secret for w in woo.webhooks.values())
    html = admin.post("/admin/woocommerce/connect", follow_redirects=True).text
    assert "Cả 7 webhook đều đã đúng" in html and "order.created" in html
    woo.down = True
    assert "WooCommerce từ chối" in admin.post("/admin/woocommerce/connect", follow_redirects=True).text


def test_interface_is_vietnamese_by_default_with_an_english_switch(admin):
    assert "Tổng quan" in admin.get("/admin/").text
    r = admin.post("/admin/lang", {"lang": "en", "next": "/admin/messages"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/messages")
    html = admin.get("/admin/messages").text
    assert "Messages" in html and "Search text or recipient" in html and "Tin nhắn" not in html
    admin.post("/admin/lang", {"lang": "vi", "next": "https://evil.example/"})
    assert "Tổng quan" in admin.get("/admin/").text


def test_every_interface_string_has_a_vietnamese_translation_and_the_catalog_is_compiled(tmp_path):
    from babel.messages.extract import extract_from_dir
    from babel.messages.mofile import read_mo
    from babel.messages.pofile import read_po
    from tests.conftest import ROOT
    method_map = [("bridge/web/admin/**.py", "python"), ("bridge/web/templates/admin/**.html", "jinja2"),
                  ("bridge/providers/**/admin_page.py", "python"), ("bridge/providers/**/templates/**.html", "jinja2")]
    used = {msg[2] if isinstance(msg[2], str) else msg[2][0]
            for msg in extract_from_dir(str(ROOT), method_map=method_map)}
    po_path = ROOT / "bridge/translations/vi/LC_MESSAGES/messages.po"
    po = read_po(po_path.open("rb"))
    missing = sorted(m for m in used if not (po.get(m) and po.get(m).string))
    assert not missing, f"untranslated (run `make translations` and fill them in): {missing}"
    mo = read_mo((po_path.with_suffix(".mo")).open("rb"))
    assert {m.id: m.string for m in po if m.id} == {m.id: m.string for m in mo if m.id}, \
        "messages.mo is out of date: run `make translations`"


def _in_doubt(svc, key: str) -> str:
    """A Messenger message whose worker died during the Send API call (the lease it left ran out):
    Graph may have it, so it is in doubt, and with no next channel it waits for a person."""
    with svc.db.tx() as c:
        mid = enqueue(c, Draft.to_phone(normalize_phone("0912345678"), dedupe_key=key, rule="r", event="e",
                                        audience="customer", channels=("messenger",), sms=prepare("Đơn đã gửi", True)))
        c.execute("UPDATE messages SET lease_until=?, attempts=1 WHERE id=?", (now() - 1, mid))
    wait_until(lambda: (svc.bridge.worker.drain() or True) and
               svc.db.one("SELECT status FROM messages WHERE id=?", (mid,))["status"] == "in-doubt", what="in doubt")
    return mid


def test_a_message_in_doubt_waits_for_a_person_who_marks_it_delivered_or_resends_it(service_factory):
    svc = service_factory(admin_password=PASSWORD, messenger_page_token="EAAG-test", graph_base_url="http://127.0.0.1:9")
    admin = Admin(svc)
    assert admin.sign_in().status_code == 302
    first, second = _in_doubt(svc, "doubt-1"), _in_doubt(svc, "doubt-2")
    listing = admin.get("/admin/messages?status=in-doubt").text
    assert "cần kiểm tra" in listing and first in listing and second in listing
    page = admin.get(f"/admin/messages/{first}").text
    assert 'id="in-doubt"' in page and "Đánh dấu đã nhận" in page and "Gửi lại" in page
    assert admin.post(f"/admin/messages/{first}/delivered").status_code == 302
    m = svc.db.one("SELECT status, reason FROM messages WHERE id=?", (first,))
    assert m["status"] == "delivered" and reasons.code_of(m["reason"]) == "outbox.marked_delivered"
    assert "Đã đánh dấu đã nhận" in admin.get(f"/admin/messages/{first}").text
    r = admin.post(f"/admin/messages/{second}/resend")
    new_id = r.headers["Location"].rsplit("/", 1)[1]
    m = svc.db.one("SELECT status, reason FROM messages WHERE id=?", (second,))
    assert m["status"] == "cancelled" and new_id in reasons.english(m["reason"])
    assert admin.post(f"/admin/messages/{new_id}/delivered").status_code == 302   # refused: not in doubt
    assert svc.db.one("SELECT status FROM messages WHERE id=?", (new_id,))["status"] != "delivered"

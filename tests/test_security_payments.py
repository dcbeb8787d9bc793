"""Issue 12, items 2-5 and 15: what a payment may do, through the real endpoints and the admin.

- a person's confirmation refuses exactly what the matcher refuses (2);
- a WooCommerce action is never resent from the admin (3);
- a MoMo notification re-posted with later `posted_at` values is one transfer (4);
- impossible timestamps are refused with a reason, and old rows holding one do not break pages (5);
- how a payment code is read: normalised (full-width, zero-width), never glued after a letter (15).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

import pytest
import requests

from bridge.envparse import bank_accounts as _accounts
from bridge.reasons import english
from tests.conftest import smsgate_settings
from tests.orders import order_body
from tests.test_admin import PASSWORD, Admin, bank_sms

ACCOUNT = "0181003749261"
MOMO = "com.mservice.momotransfer"


def momo_text(memo: str, amount: int) -> str:
    dotted = f"{amount:,}".replace(",", ".")
    return f'Số tiền {dotted} ₫, kèm lời nhắn: "{memo}".'


def post_notification(svc, body: dict | bytes, raw: bool = False) -> requests.Response:
    data = body if raw else json.dumps(body, ensure_ascii=False).encode()
    return requests.post(svc.url + "/inbound/notification", data=data, timeout=5,
                         headers={"Authorization": "Bearer test-notify-token", "Content-Type": "application/json"})


def momo(svc, memo: str, amount: int, posted_at: float, nid: str | None = None) -> str:
    """A MoMo credit notification; returns the payment decision (or the inbox's duplicate state)."""
    body = {"device": "shop-phone", "package": MOMO, "text": momo_text(memo, amount), "posted_at": posted_at}
    if nid:
        body["id"] = nid
    r = post_notification(svc, body)
    assert r.status_code == 200, r.text
    answer = r.json() if r.json()["duplicate"] else svc.decided(r.json())   # decided after the answer
    return answer.get("decision", "").split(":")[0] or answer["state"]


def order(svc, oid: int, total: int, status: str = "on-hold", minute: int = 0, topic: str = "order.created") -> None:
    body = order_body(oid, total=total, status=status, modified=f"2026-11-23T02:{minute:02d}:00")
    assert svc.post_json(body, topic=topic).status_code == 200


def count(svc, sql: str, *args) -> int:
    return svc.db.scalar(sql, args)


@pytest.fixture
def shop(service_factory):
    return service_factory(admin_password=PASSWORD, bank_accounts=_accounts(f"Vietcombank:{ACCOUNT}"))


@pytest.fixture
def admin(shop):
    a = Admin(shop)
    assert a.sign_in().status_code == 302
    return a


# -- 2: a person cannot do what the matcher refuses --------------------------------------------
@pytest.mark.parametrize("later", ["processing", "completed", "cancelled", "deleted"])
def test_manual_confirm_refuses_an_order_not_awaiting_payment(shop, admin, later):
    order(shop, 801, 513_000)
    if later == "deleted":
        assert shop.post_json(json.dumps({"id": 801}).encode(), topic="order.deleted").status_code == 200
    else:
        order(shop, 801, 513_000, status=later, minute=5, topic="order.updated")
    before = shop.db.one("SELECT status, deleted FROM orders WHERE id=801")
    bank_sms(shop, "tien hang chi Lan")                     # no code: waits for review
    tx = shop.db.one("SELECT id, decision FROM transactions")
    assert tx["decision"] == "no_code"
    messages = count(shop, "SELECT COUNT(*) FROM messages")
    r = admin.post(f"/admin/payments/{tx['id']}/confirm", {"order_id": "801"})
    assert r.status_code == 302
    page = admin.get(f"/admin/payments/{tx['id']}").text
    assert "Đơn 801" in page and ("không chờ thanh toán" in page or "đã bị xóa" in page), page[-3000:]
    after = shop.db.one("SELECT status, deleted, paid_at FROM orders WHERE id=801")
    assert (after["status"], after["deleted"], after["paid_at"]) == (before["status"], before["deleted"], None)
    assert count(shop, "SELECT COUNT(*) FROM messages") == messages       # no mark-paid, no "paid" SMS
    assert shop.db.one("SELECT review_action FROM transactions WHERE id=?", (tx["id"],))["review_action"] is None


def test_manual_confirm_still_pays_an_order_awaiting_payment(shop, admin):
    order(shop, 802, 513_000, status="pending")
    bank_sms(shop, "tien hang chi Lan")
    tx = shop.db.one("SELECT id FROM transactions")["id"]
    assert admin.post(f"/admin/payments/{tx}/confirm", {"order_id": "802"}).status_code == 302
    assert shop.db.one("SELECT paid_at FROM orders WHERE id=802")["paid_at"]
    assert count(shop, "SELECT COUNT(*) FROM messages WHERE rule='payment-mark-paid'") == 1


# -- 3: WooCommerce actions are never resent ----------------------------------------------------
def test_resending_a_woocommerce_action_is_refused_with_a_reason(shop, admin):
    order(shop, 803, 513_000)
    bank_sms(shop, "chuyen tien DH803")
    mark = shop.messages(rule="payment-mark-paid")
    assert len(mark) == 1 and shop.db.one("SELECT paid_at FROM orders WHERE id=803")["paid_at"]
    total = count(shop, "SELECT COUNT(*) FROM messages")
    r = admin.post(f"/admin/messages/{mark[0]['id']}/resend")
    assert r.status_code == 409 and "không bao giờ được gửi lại" in r.text
    r = admin.post(f"/admin/messages/{mark[0]['id']}/resend", {"channel": "esms"})   # not on another channel either
    assert r.status_code == 409
    sms = next(m for m in shop.messages() if m["channel"] != "woocommerce")
    r = admin.post(f"/admin/messages/{sms['id']}/resend", {"channel": "woocommerce"})   # nor an SMS turned into one
    assert r.status_code == 409
    assert count(shop, "SELECT COUNT(*) FROM messages") == total
    assert admin.post(f"/admin/messages/{sms['id']}/resend").status_code == 302    # an SMS is still resent


# -- 4: MoMo re-deliveries are one transfer -----------------------------------------------------
def test_a_momo_notification_reposted_with_later_times_is_one_payment(shop):
    order(shop, 302, 187_000)
    t0 = time.time() - 20 * 3600
    memo = "VU THI KIM NGAN chuyen tien DH302"
    assert momo(shop, memo, 187_000, t0) == "confirm"
    again = [momo(shop, memo, 187_000, t0 + i * 600) for i in range(1, 16)]   # the forwarder re-posts, 10 min apart
    assert set(again) == {"duplicate"}
    assert count(shop, "SELECT COUNT(*) FROM transactions WHERE decision='confirm'") == 1
    assert count(shop, "SELECT COUNT(*) FROM messages WHERE rule='payment-mark-paid'") == 1
    assert count(shop, "SELECT COUNT(*) FROM messages WHERE rule='payment-note'") == 0   # no "overpaid" notes
    from bridge.payments import review
    assert review.review_queue(shop.db) == []


def test_identical_momo_texts_with_other_ids_or_after_the_window_go_to_a_person(shop):
    order(shop, 303, 99_000)
    t1 = time.time() - 30 * 3600
    memo = "DH303 mua hang"
    assert momo(shop, memo, 99_000, t1, nid="notif-a") == "confirm"
    # another notification id within the window: maybe a second transfer, maybe a re-post
    assert momo(shop, memo, 99_000, t1 + 3600, nid="notif-b") == "ambiguous"
    # the same text 26 h later: outside the window of every earlier one
    assert momo(shop, memo, 99_000, t1 + 26 * 3600) == "ambiguous"
    rows = shop.db.query("SELECT decision, reason FROM transactions ORDER BY id")
    assert [r["decision"] for r in rows] == ["confirm", "ambiguous", "ambiguous"]
    assert "another notification id" in english(rows[1]["reason"]) and "h apart" in english(rows[2]["reason"])
    assert count(shop, "SELECT COUNT(*) FROM messages WHERE rule='payment-mark-paid'") == 1   # never confirmed twice
    assert count(shop, "SELECT COUNT(*) FROM messages WHERE rule='payment-note'") == 0       # and no note
    from bridge.payments import review
    assert len(review.review_queue(shop.db)) == 2


# -- 5: impossible timestamps -------------------------------------------------------------------
@pytest.mark.parametrize("posted", [b"1e20", b"NaN", b"Infinity", b"-Infinity", b"-5", b"0", b"1e15",
                                    b'"not a time"', b'"9999-12-31T00:00:00+00:00"', b"true"])
def test_impossible_posted_at_is_refused_with_a_reason(shop, posted):
    body = (b'{"package": "com.mservice.momotransfer", "text": "' + momo_text("DH1", 1000).encode().replace(
        b'"', b'\\"') + b'", "posted_at": ' + posted + b"}")
    r = post_notification(shop, body, raw=True)
    assert r.status_code == 400 and "posted_at" in r.json()["error"], r.text
    assert count(shop, "SELECT COUNT(*) FROM inbox") == 0


def test_plausible_posted_at_forms_are_accepted(shop):
    now = time.time()
    for i, posted in enumerate((now - 60, int((now - 120) * 1000), "2026-11-23T09:15:00+07:00")):
        body = {"package": MOMO, "text": momo_text(f"loi nhan {i}", 1000), "posted_at": posted, "id": f"p{i}"}
        assert post_notification(shop, body).status_code == 200


def test_smsgate_times_out_of_range_are_refused_not_500(service_factory, fake_smsgate):
    svc = service_factory(**smsgate_settings(fake_smsgate))
    key = fake_smsgate.signing_key
    body = json.dumps({"deviceId": "d", "event": "sms:received", "id": "e1",
                       "payload": {"messageId": "m1", "message": "hi", "sender": "+84912345678",
                                   "receivedAt": "99999-01-01T00:00:00"}}).encode()
    for ts in ("1e20", "9" * 400, "NaN"):
        sig = hmac.new(key.encode(), body + ts.encode(), hashlib.sha256).hexdigest()
        r = requests.post(svc.url + "/inbound/smsgate", data=body, timeout=5,
                          headers={"X-Signature": sig, "X-Timestamp": ts, "Content-Type": "application/json"})
        assert r.status_code == 401 and "Unix seconds" in r.json()["error"]
    ts = str(int(time.time()))
    sig = hmac.new(key.encode(), body + ts.encode(), hashlib.sha256).hexdigest()
    r = requests.post(svc.url + "/inbound/smsgate", data=body, timeout=5,
                      headers={"X-Signature": sig, "X-Timestamp": ts, "Content-Type": "application/json"})
    assert r.status_code == 400 and "receivedAt" in r.json()["error"]
    assert svc.db.scalar("SELECT COUNT(*) FROM inbox") == 0


def test_admin_pages_show_a_row_stored_with_an_impossible_time(shop, admin):
    """Rows stored before the check: every page that shows them still answers."""
    with shop.db.tx() as c:
        c.execute("INSERT INTO inbox(created_at, source, external_id, device, sender, recipient, text, received_at,"
                  " raw, state, handled_by, reason) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                  (time.time(), "notification", "old-1", "p", "MoMo", "", "x", 1e20, "{}", "stored", "", ""))
        c.execute("INSERT INTO transactions(inbox_id, source, sender, channel, kind, text, decision, reason,"
                  " created_at) VALUES (1, 'notification', 'MoMo', 'app_notification', 'transaction', 'x',"
                  " 'no_code', 'old', ?)", (1e20,))
    for path in ("/admin/inbound", "/admin/payments", "/admin/payments/1", "/admin/"):
        r = admin.get(path)
        assert r.status_code == 200, path


# -- 15: how a payment code is read ------------------------------------------------------------
@pytest.mark.parametrize("memo, expected", [
    ("chuyen tien ＤＨ３０５", "confirm"),             # full-width, as some banking apps render it: NFKC
    ("chuyen tien DH\u200b305", "confirm"),          # a zero-width space inside
    ("chuyen tien D\u200dH305\ufeff", "confirm"),    # zero-width joiner, BOM
    ("chuyen tien XDH305", "ambiguous"),             # glued after a letter: not a code, a person looks
    ("chuyen tien 1DH305", "ambiguous"),             # glued after a digit
    ("chuyen tien DH٣٠٥", "no_code"),                # Arabic-Indic digits are not what the shop printed
    ("thanh toan;DH305", "confirm"),                 # after punctuation it is a code
    ("chuyen tien DH" + "3" * 22, "no_code"),        # no order has 22 digits (the lookup overflowed: no review)
])
def test_payment_code_reading(shop, memo, expected):
    order(shop, 305, 55_000)
    assert momo(shop, memo, 55_000, time.time(), nid=uuid.uuid4().hex) == expected
    paid = shop.db.one("SELECT paid_at FROM orders WHERE id=305")["paid_at"]
    assert bool(paid) == (expected == "confirm")

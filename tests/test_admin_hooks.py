"""The owner's "Outgoing events" pages: register a URL with the events it wants (wrong URLs refused
in Vietnamese), the signing secret shown once, a test event delivered and verifiable with it,
every delivery with its answer, a replay with the same event id, disable, delete; at 390 px."""
from __future__ import annotations

import hashlib
import hmac
import re
import time

import pytest

from bridge import outbox, outgoing
from tests.browser import assert_fits, browser, new_page, shot, sign_in  # noqa: F401 - browser is a fixture
from tests.conftest import wait_until
from tests.fakes.event_receiver import EventReceiver
from tests.test_admin import PASSWORD, Admin

LONG_PATH = "/crm/webhooks/woo-bridge/su-kien/cua-hang-thoi-trang-phuong-thao-chi-nhanh-binh-thanh/" + "a" * 60


@pytest.fixture
def receiver():
    r = EventReceiver().start()
    yield r
    r.stop()


@pytest.fixture
def admin_svc(service_factory):
    svc = service_factory(start_scheduler=True, admin_password=PASSWORD)
    admin = Admin(svc)
    assert admin.sign_in().status_code == 302
    return admin, svc


def signed_by(secret: str, request) -> bool:
    parts = dict(p.split("=", 1) for p in request.headers["x-woobridge-signature"].split(","))
    mac = hmac.new(secret.encode(), f"{parts['t']}.".encode() + request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, parts["v1"]) and abs(time.time() - int(parts["t"])) < 300


@pytest.mark.parametrize("url, says", [
    ("http://example.com/hook", "hãy dùng https:// cho example.com"),
    ("ftp://127.0.0.1/hook", "URL phải bắt đầu bằng https://"),
    ("https://169.254.169.254/latest/meta-data", "không bao giờ gửi sự kiện đến đó"),
    ("https://shop:matkhau@crm.example.vn/hook", "không được chứa tên đăng nhập hay mật khẩu"),
    ("https://2852039166/latest/meta-data", "là địa chỉ viết dạng số"),
    ("http://[fd00:ec2::254]/latest/meta-data", "không bao giờ gửi sự kiện đến đó"),   # AWS IPv6, inside the ULA
    ("https://[fd00:ec2::254]/latest/meta-data", "không bao giờ gửi sự kiện đến đó"),
    ("https://100.100.100.200/latest/meta-data", "không bao giờ gửi sự kiện đến đó"),   # Alibaba Cloud
    ("http://100.100.100.200/latest/meta-data", "không bao giờ gửi sự kiện đến đó"),
    ("https://[::ffff:100.100.100.200]/latest/meta-data", "không bao giờ gửi sự kiện đến đó"),
    ("", "hãy nhập URL nhận sự kiện"),
])
def test_a_wrong_url_is_refused_in_vietnamese(admin_svc, url, says):
    admin, svc = admin_svc
    r = admin.post("/admin/hooks", {"url": url, "events": [outgoing.RECEIVED]})
    assert r.status_code == 400 and says in r.text
    assert svc.db.scalar("SELECT COUNT(*) FROM hook_endpoints") == 0


def test_no_event_chosen_is_refused(admin_svc):
    admin, svc = admin_svc
    r = admin.post("/admin/hooks", {"url": "https://crm.example.vn/hook"})
    assert r.status_code == 400 and "hãy chọn ít nhất một sự kiện" in r.text


def test_register_test_replay_rotate_disable_delete(admin_svc, receiver):
    admin, svc = admin_svc
    assert "Sự kiện gửi đi" in admin.get("/admin/").text   # the menu's link
    r = admin.post("/admin/hooks", {"url": receiver.url, "events": [outgoing.RECEIVED, outgoing.PAYMENT_CONFIRMED]})
    assert r.status_code == 303 and "whsec_" not in r.headers["Location"]   # POST, redirect, GET
    shown = admin.get(r.headers["Location"])
    secret = re.search(r"whsec_[A-Za-z0-9_-]+", shown.text).group(0)
    endpoint_id = svc.db.scalar("SELECT id FROM hook_endpoints")
    again = admin.get(r.headers["Location"]).text   # the browser's reload: nothing new, nothing shown
    assert "whsec_" not in again and "chỉ hiện một lần" in again
    assert svc.db.scalar("SELECT COUNT(*) FROM hook_endpoints") == 1
    page = admin.get(f"/admin/hooks/{endpoint_id}").text
    assert secret not in page and "whsec_" not in page and "Chưa gửi gì." in page   # shown once only
    assert secret not in admin.get("/admin/hooks").text

    r = admin.post(f"/admin/hooks/{endpoint_id}/test", follow_redirects=True)
    assert "Đã xếp hàng sự kiện thử" in r.text
    wait_until(lambda: receiver.acted, 10, what="the test event")
    (first,) = receiver.requests
    assert signed_by(secret, first) and receiver.bodies[receiver.acted[0]]["type"] == "endpoint.test"
    event_id = receiver.acted[0]
    wait_until(lambda: ">200<" in admin.get(f"/admin/hooks/{endpoint_id}").text, 10, what="its answer listed")
    page = admin.get(f"/admin/hooks/{endpoint_id}").text
    assert event_id in page and "HTTP 200" in page

    delivery = svc.db.scalar("SELECT id FROM hook_deliveries")
    r = admin.post(f"/admin/hooks/{endpoint_id}/deliveries/{delivery}/replay", follow_redirects=True)
    assert "cùng mã sự kiện" in r.text
    wait_until(lambda: len(receiver.acted) == 2, 10, what="the replay")
    assert receiver.acted == [event_id, event_id]   # the same event, the same id: the receiver drops it

    r = admin.post(f"/admin/hooks/{endpoint_id}/secret")
    assert r.status_code == 303
    new_secret = re.search(r"whsec_[A-Za-z0-9_-]+", admin.get(r.headers["Location"]).text).group(0)
    assert new_secret != secret
    assert "whsec_" not in admin.get(r.headers["Location"]).text   # a reload makes no second secret
    assert svc.db.scalar("SELECT secret FROM hook_endpoints") == new_secret
    admin.post(f"/admin/hooks/{endpoint_id}/test")
    wait_until(lambda: len(receiver.acted) == 3, 10, what="a test with the new secret")
    assert signed_by(new_secret, receiver.requests[-1]) and not signed_by(secret, receiver.requests[-1])

    r = admin.post(f"/admin/hooks/{endpoint_id}/events", {"events": [outgoing.STATUS_CHANGED]}, follow_redirects=True)
    assert "Đã lưu" in r.text
    assert svc.db.scalar("SELECT group_concat(event) FROM hook_subscriptions") == outgoing.STATUS_CHANGED

    r = admin.post(f"/admin/hooks/{endpoint_id}/enabled", {"enabled": "0"}, follow_redirects=True)
    assert "Đã tắt" in r.text
    admin.post(f"/admin/hooks/{endpoint_id}/test")   # kept waiting while disabled: shown, not sent, not failed
    waiting = svc.db.scalar("SELECT MAX(id) FROM hook_deliveries")
    assert "chờ đến khi URL được bật lại" in admin.get(f"/admin/hooks/{endpoint_id}").text
    outgoing.pump(svc.db)
    assert svc.db.scalar("SELECT state FROM hook_deliveries WHERE id=?", (waiting,)) == "waiting"
    assert len(receiver.acted) == 3
    admin.post(f"/admin/hooks/{endpoint_id}/enabled", {"enabled": "1"})
    wait_until(lambda: len(receiver.acted) == 4, 10, what="the waiting test event, once enabled")

    r = admin.post(f"/admin/hooks/{endpoint_id}/delete", follow_redirects=True)
    assert "Hãy đánh dấu ô" in r.text and svc.db.scalar("SELECT COUNT(*) FROM hook_endpoints") == 1
    r = admin.post(f"/admin/hooks/{endpoint_id}/delete", {"confirm": "1"}, follow_redirects=True)
    assert "Đã xóa" in r.text and svc.db.scalar("SELECT COUNT(*) FROM hook_endpoints") == 0
    assert admin.get(f"/admin/hooks/{endpoint_id}").status_code == 404


def test_the_pages_need_sign_in_and_csrf(admin_svc):
    admin, svc = admin_svc
    stranger = Admin(svc)
    assert stranger.get("/admin/hooks").status_code == 302
    r = admin.client.post("/admin/hooks", data={"url": "https://crm.example.vn/hook", "events": [outgoing.RECEIVED]})
    assert r.status_code == 400 and svc.db.scalar("SELECT COUNT(*) FROM hook_endpoints") == 0


@pytest.mark.parametrize("width", ["phone", "desktop"])
def test_the_pages_fit_the_screen(browser, service_factory, receiver, width):
    svc = service_factory(start_scheduler=True, admin_password=PASSWORD)
    long_url = receiver.url.replace("/events", LONG_PATH)
    endpoint_id, _ = outgoing.add_endpoint(svc.db, long_url, list(outgoing.EVENTS))
    for _ in range(3):
        outgoing.send_test(svc.db, endpoint_id)   # answered 404 by the receiver: refused, with its excerpt
    svc.bridge.wake_worker()
    wait_until(lambda: svc.db.scalar("SELECT COUNT(DISTINCT message_id) FROM attempts WHERE channel='http-events'")
               == 3, 10, what="three answers")
    context, page, refused = new_page(browser, width)
    sign_in(page, svc.url, PASSWORD)
    job = svc.db.scalar("SELECT id FROM messages WHERE kind='event' LIMIT 1")
    for name, path in (("hooks", "/admin/hooks"), ("hook", f"/admin/hooks/{endpoint_id}"),
                       ("event-jobs", "/admin/messages?kind=event"), ("event-job", f"/admin/messages/{job}")):
        page.goto(svc.url + path)
        assert page.locator("h1").count() == 1
        assert_fits(page, f"{name} at {width}")
        shot(page, f"hooks-{name}", width)
    page.goto(svc.url + f"/admin/hooks/{endpoint_id}")
    assert page.locator("#deliveries tbody tr").count() == 3
    assert refused == [], refused
    context.close()


def test_an_event_job_is_not_resent_from_its_message_page(admin_svc, receiver):
    """A copy of an event job would go outside its subject's order: the message page offers no
    resend, refuses one with the reason, and the URL's page replays it instead."""
    admin, svc = admin_svc
    endpoint_id, _ = outgoing.add_endpoint(svc.db, receiver.url, [outgoing.RECEIVED])
    outgoing.send_test(svc.db, endpoint_id)
    svc.bridge.wake_worker()
    wait_until(lambda: receiver.acted, 10, what="the test event")
    job = svc.db.scalar("SELECT id FROM messages WHERE kind='event'")
    page = admin.get(f"/admin/messages/{job}").text
    assert f"/admin/messages/{job}/resend" not in page
    r = admin.post(f"/admin/messages/{job}/resend")
    assert r.status_code == 409 and "gửi lại từ trang của URL đó" in r.text
    with pytest.raises(outbox.Refused, match="outbox.event_not_resent"):
        outbox.resend(svc.db, job, None, "owner")
    assert svc.db.scalar("SELECT COUNT(*) FROM messages WHERE kind='event'") == 1 and len(receiver.requests) == 1


def test_replay_every_failed_delivery_from_the_admin(admin_svc, receiver):
    admin, svc = admin_svc
    endpoint_id, _ = outgoing.add_endpoint(svc.db, receiver.url, [outgoing.RECEIVED])
    receiver.fail_next(2, 410)
    outgoing.send_test(svc.db, endpoint_id)
    outgoing.send_test(svc.db, endpoint_id)
    svc.bridge.wake_worker()
    wait_until(lambda: svc.db.scalar("SELECT COUNT(*) FROM messages WHERE kind='event' AND status='failed'") == 2,
               10, what="two given up on 410")
    r = admin.post(f"/admin/hooks/{endpoint_id}/replay-failed", follow_redirects=True)
    assert "Đã xếp hàng gửi lại 2 lần gửi thất bại" in r.text
    wait_until(lambda: len(receiver.acted) == 2, 10, what="both replayed")

"""Seeing an m.me link must not be enough to receive someone else's notices: refs expire, bind
once, and a phone already linked to one Messenger user only moves to another when the admin says
so. Over real HTTP: the fake Graph API plays Meta, the fake eSMS the SMS provider."""
from __future__ import annotations

import re
import time

import requests

from tests.conftest import wait_until
from tests.orders import order_body
from tests.test_messenger import graph, ref_from_sms, shop, status_update  # noqa: F401 - the graph fixture

CUSTOMER, STRANGER = "7712345678901234", "6660000000000001"
PASSWORD = "messenger admin pw"


def first_ref(svc, fake_esms, oid: int) -> str:
    """The m.me ref in the first SMS of a new order."""
    n = len(fake_esms.accepted)
    assert svc.post_json(order_body(oid), topic="order.created").status_code == 200
    wait_until(lambda: len(fake_esms.accepted) > n, what="the order SMS")
    return ref_from_sms(fake_esms.accepted[n]["Content"])


def pay_page_ref(svc, oid: int) -> str:
    """The m.me ref on an order's pay page (anyone with the page's URL sees it)."""
    import html
    from urllib.parse import parse_qs, urlparse
    if svc.db.one("SELECT id FROM orders WHERE id=?", (oid,)) is None:
        assert svc.post_json(order_body(oid), topic="order.created").status_code == 200
    page = requests.get(svc.url + f"/pay/wc_order_{oid:08d}", timeout=5).text
    link = re.search(r'href="(https://m\.me/shopdemo\?ref=[^"]+)"', page).group(1)
    return parse_qs(urlparse(html.unescape(link)).query)["ref"][0]


def contact(svc, psid: str):
    return svc.db.one("SELECT phone_e164, order_id FROM messenger_contacts WHERE psid=?", (psid,))


def test_a_ref_expires(service_factory, tmp_path, fake_esms, graph):  # noqa: F811
    svc = shop(service_factory, tmp_path, fake_esms, graph)   # MESSENGER_REF_TTL: 3 days by default
    ref = first_ref(svc, fake_esms, 601)
    svc.bridge.clock = lambda: time.time() + 3 * 86_400 + 60          # three days and a minute later
    r = graph.referral(CUSTOMER, ref)
    assert r.status_code == 200 and r.json()["bound"] == 0
    assert contact(svc, CUSTOMER) is None or contact(svc, CUSTOMER)["phone_e164"] is None
    assert svc.db.scalar("SELECT COUNT(*) FROM rejections WHERE reason LIKE '%expired%'") == 1
    svc.bridge.clock = time.time                                      # within its time it binds
    assert graph.referral(CUSTOMER, ref).json()["bound"] == 1


def test_a_ref_binds_once(service_factory, tmp_path, fake_esms, graph):  # noqa: F811
    svc = shop(service_factory, tmp_path, fake_esms, graph)
    ref = first_ref(svc, fake_esms, 602)
    assert graph.referral(CUSTOMER, ref).json()["bound"] == 1
    assert graph.referral(CUSTOMER, ref).json()["bound"] == 1          # the owner may open it again
    r = graph.referral(STRANGER, ref)                                   # a forwarded SMS, a screenshot
    assert r.status_code == 200 and r.json()["bound"] == 0
    assert contact(svc, STRANGER) is None or contact(svc, STRANGER)["phone_e164"] is None
    assert svc.db.scalar("SELECT COUNT(*) FROM rejections WHERE reason LIKE '%already used%'") == 1
    status_update(svc, 602, "processing", 50)
    wait_until(lambda: graph.sent_to(CUSTOMER), what="the notice on Messenger")
    assert graph.sent_to(STRANGER) == []


def sign_in(svc) -> tuple[requests.Session, str]:
    s = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', s.get(svc.url + "/admin/login", timeout=5).text).group(1)
    assert s.post(svc.url + "/admin/login", data={"password": PASSWORD, "csrf_token": token}, allow_redirects=False,
                  timeout=10).status_code == 302
    html = s.get(svc.url + "/admin/messenger", timeout=5).text
    return s, re.search(r'name="csrf_token" value="([^"]+)"', html).group(1) if "csrf_token" in html else ""


def test_a_phone_already_linked_moves_to_another_messenger_user_only_when_the_admin_approves(
        service_factory, tmp_path, fake_esms, graph):  # noqa: F811
    svc = shop(service_factory, tmp_path, fake_esms, graph, admin_password=PASSWORD)
    assert graph.referral(CUSTOMER, first_ref(svc, fake_esms, 603)).json()["bound"] == 1
    # a second order for the same phone; its pay page's link is opened by someone else
    r = graph.referral(STRANGER, pay_page_ref(svc, 604))
    assert r.status_code == 200 and r.json()["bound"] == 0 and r.json()["pending"] == 1
    before = len(graph.sent_to(CUSTOMER))
    status_update(svc, 604, "processing", 50)
    wait_until(lambda: len(graph.sent_to(CUSTOMER)) > before, what="the notice, still to the customer")
    assert graph.sent_to(STRANGER) == []

    s, token = sign_in(svc)
    page = s.get(svc.url + "/admin/messenger", timeout=5).text
    assert "Liên kết Messenger chờ duyệt (1)" in page and STRANGER in page and CUSTOMER in page
    pending_id = svc.db.scalar("SELECT id FROM messenger_pending WHERE decision IS NULL")
    r = s.post(svc.url + f"/admin/messenger/{pending_id}/approve", data={"csrf_token": token}, timeout=5)
    assert r.status_code == 200 and "Đã duyệt" in r.text and "Liên kết Messenger chờ duyệt (0)" in r.text
    customer_had = len(graph.sent_to(CUSTOMER))
    status_update(svc, 604, "completed", 51)
    wait_until(lambda: graph.sent_to(STRANGER), what="the notice, now to the approved user")
    assert len(graph.sent_to(CUSTOMER)) == customer_had


def test_a_refused_binding_changes_nothing(service_factory, tmp_path, fake_esms, graph):  # noqa: F811
    svc = shop(service_factory, tmp_path, fake_esms, graph, admin_password=PASSWORD)
    assert graph.referral(CUSTOMER, first_ref(svc, fake_esms, 605)).json()["bound"] == 1
    assert graph.referral(STRANGER, pay_page_ref(svc, 606)).json()["pending"] == 1
    s, token = sign_in(svc)
    pending_id = svc.db.scalar("SELECT id FROM messenger_pending WHERE decision IS NULL")
    r = s.post(svc.url + f"/admin/messenger/{pending_id}/refuse", data={"csrf_token": token}, timeout=5)
    assert r.status_code == 200 and "Đã từ chối" in r.text
    assert s.post(svc.url + f"/admin/messenger/{pending_id}/approve", data={"csrf_token": token},
                  timeout=5).status_code == 404                        # decided once
    before = len(graph.sent_to(CUSTOMER))
    status_update(svc, 606, "processing", 50)
    wait_until(lambda: len(graph.sent_to(CUSTOMER)) > before, what="the notice, to the customer")
    assert graph.sent_to(STRANGER) == [] and contact(svc, CUSTOMER)["phone_e164"] == "+84912345678"

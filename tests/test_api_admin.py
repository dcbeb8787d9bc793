"""The admin's API page: a key is made with a name, scopes and a rate limit, shown once, listed with
its use, revoked (refused at once by /api/v1/); in Vietnamese, and at a phone's width in Chromium."""
from __future__ import annotations

import re

import pytest
import requests

from tests.admin_walk import Catalogue, english_in, english_on
from tests.browser import assert_fits, browser, new_page, shot, sign_in  # noqa: F401 - browser is a fixture
from tests.conftest import esms_settings
from tests.test_admin import PASSWORD, Admin, token_of

TOKEN = re.compile(r"wb_live_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")


@pytest.fixture
def svc(service_factory, fake_esms):
    return service_factory(admin_password=PASSWORD, **esms_settings(fake_esms))


@pytest.fixture
def admin(svc):
    a = Admin(svc)
    assert a.sign_in().status_code == 302
    return a


def test_a_key_is_shown_once_used_counted_and_revoked(svc, admin):
    page = admin.get("/admin/api").text
    assert "Tạo khóa" in page and "Chưa có khóa nào." in page and 'href="/admin/api"' in page
    r = admin.post("/admin/api/keys", {"name": "Chatbot Messenger", "scope": ["send"], "rate": "30"})
    assert r.status_code == 200 and "chỉ hiện một lần" in r.text
    (token,) = set(TOKEN.findall(r.text))
    listed = admin.get("/admin/api").text
    assert token not in listed and "Chatbot Messenger" in listed and "gửi" in listed
    assert token not in str([dict(x) for x in svc.db.query("SELECT * FROM api_keys")])
    headers = {"Authorization": f"Bearer {token}"}
    sent = requests.post(svc.url + "/api/v1/messages", json={"to": "0912345678", "text": "hi"}, headers=headers,
                         timeout=5)
    assert sent.status_code == 201
    assert requests.get(svc.url + "/api/v1/messages", headers=headers, timeout=5).status_code == 403  # send only
    key_id = svc.db.scalar("SELECT id FROM api_keys")
    detail = admin.get(f"/admin/api/keys/{key_id}").text
    assert 'id="calls">2<' in detail and sent.json()["id"] in detail and "<code>scope</code>" in detail
    assert "30" in detail
    r = admin.post(f"/admin/api/keys/{key_id}/revoke")
    assert r.status_code == 302
    assert requests.post(svc.url + "/api/v1/messages", json={"to": "0912345678", "text": "hi"}, headers=headers,
                         timeout=5).json()["error"] == "invalid_key"
    assert "đã thu hồi" in admin.get(f"/admin/api/keys/{key_id}").text


def test_a_key_without_a_name_or_scope_or_with_a_bad_rate_is_refused_in_vietnamese(svc, admin):
    for form in ({"name": "", "scope": ["send"]}, {"name": "CRM"}, {"name": "CRM", "scope": ["read"], "rate": "x"},
                 {"name": "CRM", "scope": ["read"], "rate": "0"}):
        r = admin.post("/admin/api/keys", form)
        assert r.status_code == 400 and not TOKEN.search(r.text)
        assert "Khóa cần có tên" in r.text or "Giới hạn là một số nguyên" in r.text
    assert svc.db.scalar("SELECT COUNT(*) FROM api_keys") == 0
    assert admin.get("/admin/api/keys/999").status_code == 404


def test_the_api_pages_fit_a_phone(browser, svc):
    context, page, refused = new_page(browser, "phone")
    sign_in(page, svc.url, PASSWORD)
    page.goto(svc.url + "/admin/api")
    page.fill("input[name=name]", "Chatbot Zalo OA của Cửa hàng Thời trang Phương Thảo chi nhánh Sài Gòn")
    page.click("#create-key")
    page.wait_for_selector("#created-key")
    token = TOKEN.search(page.inner_text("#created-key")).group(0)
    assert_fits(page, "the new key at 390 px")
    shot(page, "api-created", "phone")
    for _ in range(3):
        requests.get(svc.url + "/api/v1/messages/" + "f" * 32, headers={"Authorization": f"Bearer {token}"}, timeout=5)
    page.goto(svc.url + "/admin/api")
    assert_fits(page, "the key list at 390 px")
    page.click("#keys a.open")
    page.wait_for_selector("#call-log")
    assert_fits(page, "the key's calls at 390 px")
    shot(page, "api-key", "phone")
    page.click("#revoke")
    page.wait_for_selector("#key-status")
    assert page.inner_text("#key-status") == "đã thu hồi"
    assert refused == []
    context.close()


def test_the_api_pages_hold_no_english_with_keys_calls_and_refusals(svc, admin):
    catalogue = Catalogue()
    created = admin.post("/admin/api/keys", {"name": "CRM", "scope": ["send", "read"]}).text
    assert english_in(created, catalogue) == []
    headers = {"Authorization": f"Bearer {TOKEN.search(created).group(0)}"}
    requests.post(svc.url + "/api/v1/messages", json={"to": "0912345678", "text": "hi"}, headers=headers, timeout=5)
    requests.post(svc.url + "/api/v1/messages", json={"to": "12"}, headers=headers, timeout=5)
    key_id = svc.db.scalar("SELECT id FROM api_keys")
    admin.post(f"/admin/api/keys/{key_id}/revoke")
    admin.post("/admin/api/keys", {"name": "Zalo OA", "scope": ["read"], "rate": "10"})
    pages = [("keys", "/admin/api"), ("key", f"/admin/api/keys/{key_id}")]
    assert english_on(pages, lambda path: admin.get(path).text, catalogue) == {}


def test_creating_and_revoking_a_key_need_the_forms_csrf_token(svc):
    """Over real HTTP with a signed-in browser session: a forged form makes and revokes nothing."""
    session = requests.Session()
    login = token_of(session.get(svc.url + "/admin/login", timeout=5).text)
    assert session.post(svc.url + "/admin/login", data={"password": PASSWORD, "csrf_token": login},
                        allow_redirects=False, timeout=5).status_code == 302
    good = token_of(session.get(svc.url + "/admin/api", timeout=5).text)
    for form in ({}, {"csrf_token": "forged"}):
        r = session.post(svc.url + "/admin/api/keys", data={"name": "CRM", "scope": ["send"], **form}, timeout=5)
        assert r.status_code == 400 and not TOKEN.search(r.text)
    assert svc.db.scalar("SELECT COUNT(*) FROM api_keys") == 0
    r = session.post(svc.url + "/admin/api/keys", data={"name": "CRM", "scope": ["send"], "csrf_token": good},
                     timeout=5)
    assert r.status_code == 200 and TOKEN.search(r.text)
    key_id = svc.db.scalar("SELECT id FROM api_keys")
    for form in ({}, {"csrf_token": "forged"}):
        r = session.post(f"{svc.url}/admin/api/keys/{key_id}/revoke", data=form, allow_redirects=False, timeout=5)
        assert r.status_code == 400
    assert svc.db.scalar("SELECT revoked_at FROM api_keys WHERE id=?", (key_id,)) is None
    assert session.post(f"{svc.url}/admin/api/keys/{key_id}/revoke", data={"csrf_token": good},
                        allow_redirects=False, timeout=5).status_code == 302
    assert svc.db.scalar("SELECT revoked_at FROM api_keys WHERE id=?", (key_id,)) is not None

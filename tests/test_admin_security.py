"""The admin's sign-in over real HTTP: sessions that end when they should (sign-out, a new
password), a sign-in limit shared by every web process and kept in the database, and the
headers that keep a page showing secrets out of frames, caches and other sites' scripts."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import requests

from tests.conftest import ROOT

PASSWORD = "correct horse 42"


def csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def sign_in(url: str, password: str = PASSWORD, session: requests.Session | None = None,
            headers: dict | None = None) -> tuple[requests.Session, requests.Response]:
    s = session or requests.Session()
    if headers:
        s.headers.update(headers)
    token = csrf(s.get(url + "/admin/login", timeout=5).text)
    r = s.post(url + "/admin/login", data={"password": password, "csrf_token": token}, allow_redirects=False,
               timeout=10)
    return s, r


def replay(url: str, cookies: dict[str, str], path: str = "/admin/settings") -> requests.Response:
    """A request from someone else holding a copy of the cookie."""
    return requests.get(url + path, cookies=cookies, allow_redirects=False, timeout=5)


# -- sessions ----------------------------------------------------------------------------------
def test_a_copied_cookie_stops_working_after_sign_out(service_factory):
    svc = service_factory(admin_password=PASSWORD)
    s, r = sign_in(svc.url)
    assert r.status_code == 302
    copied = s.cookies.get_dict()
    assert replay(svc.url, copied).status_code == 200          # the copy works while signed in
    token = csrf(s.get(svc.url + "/admin/settings", timeout=5).text)
    assert s.post(svc.url + "/admin/logout", data={"csrf_token": token}, allow_redirects=False,
                  timeout=5).status_code == 302
    r = replay(svc.url, copied)
    assert r.status_code == 302 and "/admin/login" in r.headers["Location"]
    assert sign_in(svc.url)[1].status_code == 302                # signing in again works


def test_the_admin_password_is_stored_at_the_production_work_factor(service_factory, tmp_path):
    """Tests start the service with a cheaper hash (tests/conftest.py); the default setting stores
    werkzeug's scrypt at full strength, for a configured and for a generated password."""
    from bridge.config import Settings
    full = Settings().password_hash_method
    configured = service_factory(admin_password=PASSWORD, password_hash_method=full,
                                 db_path=str(tmp_path / "configured.db"))
    generated = service_factory(password_hash_method=full, db_path=str(tmp_path / "generated.db"))
    for svc in (configured, generated):
        assert svc.db.kv_get("admin.password_hash").startswith("scrypt:32768:8:1$")
    assert sign_in(configured.url)[1].status_code == 302
    assert sign_in(generated.url, generated.bridge.new_admin_password)[1].status_code == 302


def test_a_copied_cookie_stops_working_after_the_admin_password_command(service_factory, tmp_path):
    svc = service_factory()                                      # generated password, stored hashed
    s, r = sign_in(svc.url, svc.bridge.new_admin_password)
    assert r.status_code == 302
    copied = s.cookies.get_dict()
    assert replay(svc.url, copied).status_code == 200
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADMIN_", "BRIDGE_", "SECRET_"))}
    p = subprocess.run([sys.executable, "-m", "bridge", "admin-password"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=60, env={**env, "BRIDGE_DB": svc.settings.db_path,
                                                   "PYTHONPATH": str(ROOT)})
    assert p.returncode == 0, p.stderr
    new_password = re.search(r"new admin password: (\S+)", p.stdout).group(1)
    r = replay(svc.url, copied)
    assert r.status_code == 302 and "/admin/login" in r.headers["Location"]
    # the running service takes the new password at once, and refuses the old one
    assert sign_in(svc.url, svc.bridge.new_admin_password)[1].status_code == 401
    assert sign_in(svc.url, new_password)[1].status_code == 302


def test_rotating_secret_key_ends_sessions(service_factory, tmp_path):
    svc = service_factory(admin_password=PASSWORD)
    s, _ = sign_in(svc.url)
    copied = s.cookies.get_dict()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADMIN_", "BRIDGE_", "SECRET_"))}
    p = subprocess.run([sys.executable, "-m", "bridge", "rotate-secret", "secret_key"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60,
                       env={**env, "BRIDGE_DB": svc.settings.db_path, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 0, p.stderr
    assert "restart" in p.stdout and svc.settings.secret_key not in p.stdout
    assert replay(svc.url, copied).status_code == 302
    assert svc.db.kv_get("secret_key") != svc.settings.secret_key


# -- the sign-in limit ---------------------------------------------------------------------------
def test_two_web_processes_share_one_sign_in_budget_and_the_limit_says_when_to_retry(service_factory):
    first = service_factory(admin_password=PASSWORD)
    second = service_factory(admin_password=PASSWORD, db_path=first.settings.db_path)   # another worker
    for url in (first.url, first.url, first.url, second.url, second.url):
        assert sign_in(url, "guess")[1].status_code == 401
    for url in (first.url, second.url):
        _, r = sign_in(url)                   # the right password, from the limited address
        assert r.status_code == 429, url
        assert "Đăng nhập sai quá nhiều lần" in r.text
        wait = int(re.search(r"Hãy thử lại sau (\d+) giây", r.text).group(1))
        assert 1 <= wait <= 60 and r.headers["Retry-After"] == str(wait)


def test_the_limit_ends_by_the_clock_and_a_global_cap_stops_guesses_from_many_addresses(service_factory):
    from bridge.login_limit import GLOBAL_HOUR, PER_ADDRESS_MINUTE
    svc = service_factory(admin_password=PASSWORD, proxy_count=1)   # X-Forwarded-For names the client
    now = [1_800_000_000.0]
    svc.bridge.clock = lambda: now[0]
    alice = {"X-Forwarded-For": "203.0.113.7"}
    for _ in range(PER_ADDRESS_MINUTE):
        assert sign_in(svc.url, "guess", headers=alice)[1].status_code == 401
    assert sign_in(svc.url, headers=alice)[1].status_code == 429
    assert sign_in(svc.url, headers={"X-Forwarded-For": "198.51.100.9"})[1].status_code == 302   # others: fine
    now[0] += 61
    assert sign_in(svc.url, headers=alice)[1].status_code == 302   # a minute later

    for i in range(GLOBAL_HOUR):   # guesses spread over many addresses, each under its own limit
        svc.bridge.login_limiter.failed(f"10.1.{i // 250}.{i % 250}")
    _, r = sign_in(svc.url, headers={"X-Forwarded-For": "192.0.2.1"})
    assert r.status_code == 429 and "nhiều địa chỉ" in r.text
    now[0] += 3601
    assert sign_in(svc.url, headers={"X-Forwarded-For": "192.0.2.1"})[1].status_code == 302


# -- headers ---------------------------------------------------------------------------------------
def test_admin_pages_forbid_framing_caching_sniffing_and_foreign_scripts(service_factory):
    svc = service_factory(admin_password=PASSWORD)
    s, _ = sign_in(svc.url)
    for path in ("/admin/login", "/admin/", "/admin/settings", "/admin/templates", "/admin/messenger",
                 "/admin/orders/99"):
        r = (requests if path == "/admin/login" else s).get(svc.url + path, timeout=5)
        h = r.headers
        assert h["X-Frame-Options"] == "DENY" and h["X-Content-Type-Options"] == "nosniff", path
        assert "no-store" in h["Cache-Control"] and h["Referrer-Policy"] == "same-origin", path
        csp = dict(part.strip().split(" ", 1) for part in h["Content-Security-Policy"].split(";"))
        assert csp["frame-ancestors"] == "'none'" and csp["default-src"] == "'none'", path
        nonce = re.fullmatch(r"'nonce-([^']+)'", csp["script-src"]).group(1)
        assert csp["style-src"] == f"'nonce-{nonce}'", path
        # every script and style block carries this response's nonce; no inline style or handler
        for tag in re.findall(r"<(?:script|style)\b[^>]*>", r.text):
            assert f'nonce="{nonce}"' in tag, (path, tag)
        assert not re.search(r"\sstyle=|\son[a-z]+=", r.text), path
    assert s.get(svc.url + "/admin/", timeout=5).headers["Content-Security-Policy"] != \
        s.get(svc.url + "/admin/", timeout=5).headers["Content-Security-Policy"]   # a new nonce each time


def test_the_pay_page_has_a_strict_policy_and_sends_no_referrer(service_factory):
    from tests.orders import order_body
    svc = service_factory()
    assert svc.post_json(order_body(904), topic="order.created").status_code == 200
    r = requests.get(svc.url + "/pay/wc_order_00000904", timeout=5)
    assert r.status_code == 200 and r.headers["Referrer-Policy"] == "no-referrer"
    assert r.headers["X-Frame-Options"] == "DENY" and "no-store" in r.headers["Cache-Control"]
    nonce = re.search(r"script-src 'nonce-([^']+)'", r.headers["Content-Security-Policy"]).group(1)
    assert all(f'nonce="{nonce}"' in tag for tag in re.findall(r"<(?:script|style)\b[^>]*>", r.text))
    assert not re.search(r"\sstyle=|\son[a-z]+=", r.text)


@pytest.mark.parametrize("path", ["/admin/", "/admin/settings"])
def test_pages_need_sign_in_before_any_header_matters(service_factory, path):
    svc = service_factory(admin_password=PASSWORD)
    r = requests.get(svc.url + path, allow_redirects=False, timeout=5)
    assert r.status_code == 302 and r.headers["X-Frame-Options"] == "DENY"

"""Connect the real WooCommerce (tests/woolab.py: WordPress 6.8.8 + WooCommerce 9.9.5) in one click,
in Chromium, end to end: the owner types the lab's address in our admin, logs in at WordPress as
admin/admin, approves; WooCommerce posts the keys to our callback over https; the owner is back
on our page, connected; the keys are stored encrypted; our webhooks exist in the shop; an order
placed in the shop then reaches us.

WooCommerce posts the keys with wp_safe_remote_post and delivers webhooks with
wp_safe_remote_request, both over verified TLS: our service sits behind nginx with a self-signed
certificate here, on a loopback port the lab is built to deliver to (EXTRA_PORTS), and a lab-only
mu-plugin (written below) makes WordPress trust that one certificate for that one address. A
real shop needs neither: PUBLIC_URL there is an https address with a public certificate on 443.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bridge.providers.woocommerce import connection, ownership
from tests.browser import WIDTHS, assert_fits, browser, shot, sign_in  # noqa: F401 (fixture)
from tests.conftest import Service, free_port, make_settings, reserved_port, wait_until
from tests.test_wc_connect import KEY_RE, PASSWORD, self_signed
from tests.woolab import Lab, require

TRUST_PLUGIN = """<?php
/*
 * Lab only (woo-bridge tests/test_wc_connect_lab.py). WordPress verifies TLS against its own CA
 * bundle; the woo-bridge under test sits behind nginx with a self-signed certificate at
 * https://127.0.0.1:{port}/, so requests to that one address trust that one certificate
 * (WooCommerce's key callback and its webhook deliveries). A real shop needs nothing like this.
 */
add_filter('http_request_args', function ($args, $url) {{
    if (strpos($url, 'https://127.0.0.1:{port}/') === 0) {{
        $args['sslcertificates'] = '{cert}';
    }}
    return $args;
}}, 10, 2);
"""

NGINX = """daemon off;
{user}
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{}}
http {{
  access_log {dir}/access.log;
  client_body_temp_path {dir}/tmp; proxy_temp_path {dir}/tmp; fastcgi_temp_path {dir}/tmp;
  uwsgi_temp_path {dir}/tmp; scgi_temp_path {dir}/tmp;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    location / {{
      proxy_pass http://127.0.0.1:{upstream};
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header X-Forwarded-Host $http_host;
    }}
  }}
}}
"""


@pytest.fixture(scope="module")
def lab_tls(tmp_path_factory):
    """The lab, our certificate, and the port our TLS proxy will listen on (the lab delivers there)."""
    require()
    if shutil.which("nginx") is None:
        pytest.fail("nginx is needed for the https callback (apt-get install nginx-light)")
    d = tmp_path_factory.mktemp("wc-connect-tls")
    cert, key = self_signed(d)
    proxy_port = free_port()
    lab = Lab(tmp_path_factory.mktemp("wc-connect-lab"), free_port(), proxy_port)
    try:
        lab.build()
        plugin = lab.dir / "wp" / "wp-content" / "mu-plugins" / "lab-trust-woo-bridge-tls.php"
        plugin.write_text(TRUST_PLUGIN.format(port=proxy_port, cert=cert))
        yield lab, cert, key, proxy_port
    finally:
        lab.stop()


@pytest.fixture
def behind_tls(tmp_path, lab_tls):
    """Our service on a plain loopback port with nginx terminating TLS in front of it."""
    lab, cert, key, proxy_port = lab_tls
    public = f"https://127.0.0.1:{proxy_port}"
    sock = reserved_port()
    port = sock.getsockname()[1]
    svc = Service(make_settings(tmp_path, public_url=public, proxy_count=1, admin_password=PASSWORD,
                                woo_timeout=60.0), start_scheduler=True, sock=sock)
    ngx = tmp_path / "nginx"
    (ngx / "tmp").mkdir(parents=True)
    user = "user root;" if subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() == "0" else ""
    (ngx / "nginx.conf").write_text(NGINX.format(user=user, dir=ngx, port=proxy_port, cert=cert, key=key,
                                                 upstream=port))
    proc = subprocess.Popen(["nginx", "-e", str(ngx / "error.log"), "-c", str(ngx / "nginx.conf"), "-p", str(ngx)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: _up(public, cert) or proc.poll() is not None, timeout=15, what="nginx in front")
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else "nginx exited"
        yield svc, public
    finally:
        proc.terminate()
        proc.wait(30)
        svc.close()


def _up(url: str, cert: Path) -> bool:
    import requests
    try:
        return requests.get(url + "/healthz", verify=str(cert), timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _database_bytes(svc: Service) -> bytes:
    path = Path(svc.settings.db_path)
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def to_the_shops_login(context, public: str, lab) -> object:
    """Signed in at our admin, the owner types the shop's address and is sent to WooCommerce's
    own login page (wc-auth/v1/login), which leads to its grant page."""
    page = context.new_page()
    page.set_default_timeout(60_000)
    sign_in(page, public, PASSWORD)
    page.goto(public + "/admin/woocommerce")
    page.fill("#shop-url", lab.url)
    page.click("#connect")
    page.wait_for_selector("form.wc-auth-login")
    assert page.url.startswith(lab.url + "/wc-auth/v1/login")
    return page


def test_the_owner_connects_the_real_shop_in_chromium_and_its_orders_reach_us(browser, lab_tls, behind_tls):  # noqa: F811
    lab, _cert, _key, _port = lab_tls
    svc, public = behind_tls
    w, h = WIDTHS["desktop"]
    context = browser.new_context(locale="vi-VN", viewport={"width": w, "height": h}, ignore_https_errors=True)
    try:
        page = to_the_shops_login(context, public, lab)
        page.fill("#username", "admin")
        page.fill("#password", "admin")
        page.click(".wc-auth-login-button")
        page.wait_for_selector("a.wc-auth-approve")
        shot(page, "woocommerce-lab-grant", "desktop")
        page.click("a.wc-auth-approve")
        page.wait_for_url(public + "/admin/woocommerce")
        assert "Đã kết nối: cửa hàng đã gửi khoá REST và khoá dùng được." in page.inner_text("body")
        assert lab.url in page.inner_text("#connection")

        # the key WooCommerce made, as it describes it, and kept (our answer was exactly 200)
        [[description, permissions, truncated]] = lab.sql(
            "SELECT description, permissions, truncated_key FROM wp_woocommerce_api_keys WHERE description LIKE"
            " 'woo-bridge - API%'")
        assert permissions == "read_write" and re.fullmatch(r"woo-bridge - API \(.+\)", description)
        assert f"…{truncated}" in page.inner_text("#key-mask")

        wait_until(lambda: svc.db.one("SELECT webhooks_state FROM woo_connection")[0] == "ok", timeout=90,
                   what="our webhooks created in the shop")
        hooks = [w for w in lab.rest("get", "webhooks", params={"per_page": "100"})
                 if w["name"].startswith(ownership.NAME_PREFIX)]
        assert sorted(w["topic"] for w in hooks) == sorted(ownership.TOPICS)
        assert {w["delivery_url"] for w in hooks} == {public + "/webhooks/woocommerce"}
        assert {w["status"] for w in hooks} == {"active"}
        page.reload()
        assert "ổn định" in page.inner_text("#webhooks-state")

        stored = _database_bytes(svc)
        assert not KEY_RE.search(stored), "a REST key in clear in the database"
        assert connection.effective(svc.settings).woo_consumer_key.startswith("ck_")

        order = lab.create_order(phone="0912 345 678")
        wait_until(lambda: svc.db.one("SELECT id FROM orders WHERE id=?", (order["id"],)) is not None, timeout=90,
                   what="the shop's order delivered to us by our new webhooks")
        assert int(lab.webhooks()[hooks[0]["id"]]["failure_count"]) == 0

        phone = context.new_page()
        phone.set_viewport_size({"width": WIDTHS["phone"][0], "height": WIDTHS["phone"][1]})
        phone.goto(public + "/admin/woocommerce")
        assert_fits(phone, "the connect page, connected to the lab")
        shot(phone, "woocommerce-lab-connected", "phone")
    finally:
        context.close()


def test_refusing_at_the_real_shop_brings_the_owner_back_told(browser, lab_tls, behind_tls):  # noqa: F811
    lab = lab_tls[0]
    svc, public = behind_tls
    context = browser.new_context(locale="vi-VN", ignore_https_errors=True)
    try:
        page = to_the_shops_login(context, public, lab)
        page.fill("#username", "admin")
        page.fill("#password", "admin")
        page.click(".wc-auth-login-button")
        page.click("a.wc-auth-deny")
        page.wait_for_url(public + "/admin/woocommerce")
        assert "Bạn đã từ chối quyền truy cập" in page.inner_text("body")
        assert svc.db.one("SELECT * FROM woo_connection") is None
    finally:
        context.close()

"""Connect WooCommerce in one click, against the fake shop (tests/fakes/woocommerce.py) speaking
WooCommerce's app authorization: the owner types the shop's address in our admin, logs in at the
shop, approves; the shop posts the keys to our https callback, which proves them and stores them
encrypted; our webhooks are created at once; every refusal says why.

Our service runs behind real TLS here (a self-signed certificate the fake shop is told to trust),
because WooCommerce posts the keys only to an https callback and verifies the certificate.
"""
from __future__ import annotations

import datetime
import html
import ipaddress
import json
import os
import re
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.serving import make_server

from bridge import providers
from bridge.envparse import bank_accounts
from bridge.providers.woocommerce import cli, connection, ownership, shop
from bridge.setup_checklist import DONE, TODO, steps
from tests.browser import WIDTHS, assert_fits, browser, shot, sign_in  # noqa: F401 (fixture)
from tests.conftest import ROOT, SECRET, Clock, free_port, make_settings, signed_headers, wait_until, woo_settings
from tests.orders import order_body
from tests.test_admin import VCB

PASSWORD = "correct horse 42"
KEY_RE = re.compile(rb"c[ks]_[0-9a-f]{40}")


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (subjectAltName IP, as TLS verification demands) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


class TlsService:
    """The real app served over https on 127.0.0.1 (threaded), PUBLIC_URL its https address."""

    def __init__(self, tmp_path: Path, cert: Path, key: Path, **changes):
        from app import create_app
        port = free_port()
        self.url = f"https://127.0.0.1:{port}"
        settings = make_settings(tmp_path, **{"public_url": self.url, "admin_password": PASSWORD,
                                              "db_path": str(tmp_path / f"bridge-{port}.db"), **changes})
        self.app = create_app(settings, start_scheduler=False)
        self.bridge = self.app.extensions["bridge"]
        self.clock = self.bridge.clock = Clock()
        self.server = make_server("127.0.0.1", port, self.app, threaded=True, ssl_context=(str(cert), str(key)))
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()
        self.cert = cert

    @property
    def db(self):
        return self.bridge.db

    def close(self) -> None:
        self.server.shutdown()
        self.bridge.shutdown()


class Owner:
    """The shop owner's browser, without JavaScript: one cookie jar for our admin and the shop."""

    def __init__(self, svc: TlsService):
        self.svc, self.http = svc, requests.Session()
        self.http.verify = str(svc.cert)
        self.http.trust_env = False   # else REQUESTS_CA_BUNDLE overrides `verify`
        self.token = ""

    def _token(self, page: str) -> None:
        m = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert m, "no CSRF token on the page"
        self.token = m.group(1)

    def sign_in(self) -> None:
        self._token(self.http.get(self.svc.url + "/admin/login").text)
        r = self.http.post(self.svc.url + "/admin/login", data={"password": PASSWORD, "csrf_token": self.token},
                           allow_redirects=False)
        assert r.status_code == 302
        self._token(self.get("/admin/woocommerce").text)

    def get(self, path: str) -> requests.Response:
        return self.http.get(self.svc.url + path)

    def post(self, path: str, **data: str) -> requests.Response:
        return self.http.post(self.svc.url + path, data={"csrf_token": self.token, **data})

    def start(self, shop_url: str) -> str:
        """Press "Kết nối WooCommerce": the shop's authorize URL the page sends the browser to."""
        r = self.post("/admin/woocommerce/authorize", shop_url=shop_url)
        m = re.search(r'id="go" href="([^"]+)"', r.text)
        assert m, r.text[:2000]
        return html.unescape(m.group(1))

    def at_shop(self, authorize_url: str, approve: bool = True) -> requests.Response:
        """Log in at the shop (admin/admin) and press Approve or Deny; where the browser ends."""
        r = self.http.get(authorize_url)
        assert "wc-auth-login" in r.text, r.text[:500]
        redirect_to = html.unescape(re.search(r'name="redirect" value="([^"]+)"', r.text).group(1))
        r = self.http.post(r.url, data={"username": "admin", "password": "admin", "redirect": redirect_to,
                                        "login": "Login"})
        link = re.search(r'href="([^"]+)" class="button wc-auth-' + ("approve" if approve else "deny"), r.text)
        assert link, r.text[:500]
        return self.http.get(html.unescape(link.group(1)))


@pytest.fixture
def tls(tmp_path):
    d = tmp_path / "tls"
    d.mkdir()
    return self_signed(d)


@pytest.fixture
def services(tmp_path, tls):
    made: list[TlsService] = []

    def make(**changes) -> TlsService:
        svc = TlsService(tmp_path, *tls, **changes)
        made.append(svc)
        return svc
    yield make
    for svc in made:
        svc.close()


@pytest.fixture
def shop_fake(woo, tls):
    woo.callback_ca = str(tls[0])
    return woo


@pytest.fixture
def owner(services):
    o = Owner(services())
    o.sign_in()
    return o


def database_bytes(svc: TlsService) -> bytes:
    path = Path(svc.bridge.settings.db_path)
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def our_topics(woo) -> list[str]:
    return sorted(w["topic"] for w in woo.webhooks.values() if w["name"].startswith(ownership.NAME_PREFIX))


def test_one_click_connects_the_shop_stores_the_keys_encrypted_and_creates_the_webhooks(owner, shop_fake):
    woo, svc = shop_fake, owner.svc
    assert "Chưa kết nối cửa hàng nào" in owner.get("/admin/woocommerce").text
    step = next(s for s in steps(svc.bridge) if s.key == "woocommerce")
    assert (step.state, step.endpoint) == (TODO, "admin.woo_connection")

    page = owner.at_shop(owner.start(woo.url + "/"))
    assert page.url == svc.url + "/admin/woocommerce"
    assert "Đã kết nối: cửa hàng đã gửi khoá REST và khoá dùng được." in page.text
    [callback] = woo.callbacks
    assert (callback["url"], callback["code"]) == (svc.url + "/woocommerce/keys", 200)
    ck, cs = callback["body"]["consumer_key"], callback["body"]["consumer_secret"]
    assert ck in woo.keys   # kept by the shop: we answered exactly 200
    assert f"…{ck[-7:]}" in page.text and ck not in page.text and cs not in page.text

    wait_until(lambda: our_topics(woo) == sorted(ownership.TOPICS), what="our webhooks in the shop")
    assert all(w["delivery_url"] == svc.url + "/webhooks/woocommerce" and w["secret"] == svc.bridge.settings.woo_webhook_secret
               for w in woo.webhooks.values())
    wait_until(lambda: "ổn định" in owner.get("/admin/woocommerce").text, what="the page to say the webhooks are healthy")
    assert next(s for s in steps(svc.bridge) if s.key == "woocommerce").state == DONE

    stored = database_bytes(svc)
    assert ck.encode() not in stored and cs.encode() not in stored and not KEY_RE.search(stored)
    row = svc.db.one("SELECT shop_url, key_id, permissions FROM woo_connection")
    assert tuple(row) == (woo.url, callback["body"]["key_id"], "read_write")

    # the provider now reaches the shop with the stored keys, without a restart
    woo.add_order(931, 213000)
    found = shop.order_now(svc.bridge.settings, 931)
    assert found is not None and found.snapshot.number == "931"
    assert svc.bridge.channels["woocommerce"].configured
    assert woo.requests_log[-1]["args"]["oauth_consumer_key"] == ck


def test_the_owner_refusing_at_the_shop_is_said_and_connects_nothing(owner, shop_fake):
    page = owner.at_shop(owner.start(shop_fake.url), approve=False)
    assert page.url == owner.svc.url + "/admin/woocommerce"
    assert "Bạn đã từ chối quyền truy cập trên trang của cửa hàng" in page.text
    assert shop_fake.callbacks == [] and owner.svc.db.one("SELECT * FROM woo_connection") is None


def test_keys_that_do_not_work_are_refused_and_the_shop_deletes_them(owner, shop_fake):
    authorize = owner.start(shop_fake.url)
    shop_fake.down = True   # its REST API fails (500) while the owner approves
    page = owner.at_shop(authorize)
    assert page.status_code == 401 and "Error:" in page.text     # WooCommerce's own error page, no return
    [callback] = shop_fake.callbacks
    assert callback["code"] == 502 and callback["body"]["consumer_key"] not in shop_fake.keys
    shop_fake.down = False
    text = owner.get("/admin/woocommerce").text
    assert "Cửa hàng không chấp nhận khoá vừa gửi" in text and "Chưa kết nối cửa hàng nào" in text
    refusal = owner.svc.db.one("SELECT endpoint, http_status, reason, body_excerpt FROM rejections")
    assert (refusal["endpoint"], refusal["http_status"]) == ("/woocommerce/keys", 502)
    assert callback["body"]["consumer_secret"].encode() not in refusal["body_excerpt"]


def _post_keys(svc: TlsService, body: dict) -> requests.Response:
    return requests.post(svc.url + "/woocommerce/keys", data=json.dumps(body), verify=str(svc.cert), timeout=10,
                         headers={"Content-Type": "application/json;charset=UTF-8"})


def test_the_callback_trusts_only_a_pending_unexpired_unused_request_with_read_write_keys(owner, shop_fake):
    svc, woo = owner.svc, shop_fake
    woo.keys["ck_" + "a" * 40] = ("cs_" + "b" * 40, "read_write")
    good = {"key_id": 7, "consumer_key": "ck_" + "a" * 40, "consumer_secret": "cs_" + "b" * 40,
            "key_permissions": "read_write"}

    def token() -> str:
        return re.search(r"user_id=([^&]+)", owner.start(woo.url)).group(1)

    cases = [
        (b"not json", 400, "malformed"),
        (json.dumps({**good, "user_id": "made-up"}).encode(), 403, "unknown_user_id"),
        (json.dumps({**good, "user_id": token(), "key_permissions": "read"}).encode(), 422, "permissions"),
    ]
    for body, status, code in cases:
        r = requests.post(svc.url + "/woocommerce/keys", data=body, verify=str(svc.cert), timeout=10)
        assert (r.status_code, r.json()["error"]) == (status, code), r.text
    late = token()
    svc.clock.advance(connection.AUTH_TTL + 1)
    r = _post_keys(svc, {**good, "user_id": late})
    assert (r.status_code, r.json()["error"]) == (403, "expired_user_id")
    used = token()
    assert _post_keys(svc, {**good, "user_id": used}).status_code == 200
    r = _post_keys(svc, {**good, "user_id": used})
    assert (r.status_code, r.json()["error"]) == (409, "used_user_id")
    kept = [tuple(r) for r in svc.db.query("SELECT http_status, reason FROM rejections ORDER BY id")]
    assert [k[0] for k in kept] == [400, 403, 422, 403, 409]
    assert not KEY_RE.search(database_bytes(svc))   # refused keys are not kept either


def test_bad_addresses_and_an_http_public_url_are_refused_with_a_clear_message(owner, services):
    for junk in ("", "not a url", "ftp://shop.vn", "https://user:pw@shop.vn", "https://shop.vn/?x=1", "shop"):
        r = owner.post("/admin/woocommerce/authorize", shop_url=junk)
        assert r.url.startswith(owner.svc.url + "/admin/woocommerce") and 'class="flash error"' in r.text, junk
        assert "Hãy nhập địa chỉ cửa hàng" in r.text or "Đó không phải là địa chỉ web" in r.text, junk
    assert owner.svc.db.one("SELECT COUNT(*) FROM woo_authorizations")[0] == 0
    assert connection.normalize_shop_url(" Shop.Example.VN/wp-admin/ ") == "https://shop.example.vn"
    assert connection.normalize_shop_url("http://127.0.0.1:18580") == "http://127.0.0.1:18580"

    plain = Owner(services(public_url="http://127.0.0.1:9"))   # WooCommerce would refuse that callback
    plain.sign_in()
    r = plain.post("/admin/woocommerce/authorize", shop_url="https://shop.example.vn")
    assert "PUBLIC_URL phải bắt đầu bằng https://" in r.text


def test_a_crash_after_the_answer_loses_no_webhook_the_job_creates_them(owner, shop_fake):
    """The keys are stored with the webhooks "pending" before WooCommerce gets its 200: when the
    process dies before creating them (here: the answer given, nothing run after it), or the shop
    cannot be reached then, the periodic job finishes the work."""
    svc, woo = owner.svc, shop_fake
    woo.keys["ck_" + "c" * 40] = ("cs_" + "d" * 40, "read_write")
    token = re.search(r"user_id=([^&]+)", owner.start(woo.url)).group(1)
    body = json.dumps({"key_id": 3, "user_id": token, "consumer_key": "ck_" + "c" * 40,
                       "consumer_secret": "cs_" + "d" * 40, "key_permissions": "read_write"}).encode()
    assert connection.receive_keys(svc.bridge, body).ok
    assert our_topics(woo) == [] and "đang tạo" in owner.get("/admin/woocommerce").text
    woo.down = True
    assert connection.create_webhooks(svc.bridge) == connection.PENDING   # tried again later
    assert "Không liên lạc được với cửa hàng để tạo webhook" in owner.get("/admin/woocommerce").text
    woo.down = False
    job = next(j for j in providers.jobs() if j.id == "woo_webhooks")
    providers.resolve(job.target)(svc.bridge)   # what the scheduler runs every minute
    assert our_topics(woo) == sorted(ownership.TOPICS)
    assert connection.create_webhooks(svc.bridge) is None   # done: nothing left to do
    assert f"reconcile with {woo.url} (connected from the admin)" in cli.summary(svc.bridge.settings)   # check-config


def test_environment_variables_win_and_the_page_says_so(services, shop_fake):
    svc = services(**woo_settings(shop_fake))
    o = Owner(svc)
    o.sign_in()
    shop_fake.keys["ck_" + "e" * 40] = ("cs_" + "f" * 40, "read_write")
    token = re.search(r"user_id=([^&]+)", o.start("https://other-shop.example.vn")).group(1)
    assert connection.receive_keys(svc.bridge, json.dumps(
        {"key_id": 4, "user_id": token, "consumer_key": "ck_" + "e" * 40, "consumer_secret": "cs_" + "f" * 40,
         "key_permissions": "read_write"}).encode()).status == 502   # other-shop.example.vn does not exist
    assert 'id="env-wins"' in o.get("/admin/woocommerce").text
    assert connection.effective(svc.bridge.settings) is svc.bridge.settings


def test_a_new_secret_key_makes_the_stored_keys_unreadable_and_asks_to_connect_again(owner, shop_fake, services):
    owner.at_shop(owner.start(shop_fake.url))
    wait_until(lambda: our_topics(shop_fake) == sorted(ownership.TOPICS), what="our webhooks")
    svc = owner.svc
    rotated = services(db_path=svc.bridge.settings.db_path, secret_key="a-new-secret-key-after-rotate-secret")
    assert not connection.effective(rotated.bridge.settings).woo_configured
    step = next(s for s in steps(rotated.bridge) if s.key == "woocommerce")
    assert step.state == TODO and "SECRET_KEY" in step.hint
    o = Owner(rotated)
    o.sign_in()
    assert "không đọc được" in o.get("/admin/woocommerce").text


def test_the_connect_page_fits_a_phone(browser, owner, shop_fake):  # noqa: F811
    """Connected, with the last attempt's reason and the callback address, at 390 px: no
    horizontal scrolling; the form is usable there too (a long address typed)."""
    owner.at_shop(owner.start(shop_fake.url))
    wait_until(lambda: our_topics(shop_fake) == sorted(ownership.TOPICS), what="our webhooks")
    w, h = WIDTHS["phone"]
    context = browser.new_context(locale="vi-VN", viewport={"width": w, "height": h}, ignore_https_errors=True)
    try:
        page = context.new_page()
        sign_in(page, owner.svc.url, PASSWORD)
        page.goto(owner.svc.url + "/admin/woocommerce")
        page.fill("#shop-url", "https://cua-hang-thoi-trang-nguyen-thi-bich-ngoc-chi-nhanh-thu-duc.example.vn/shop")
        assert "ổn định" in page.inner_text("#webhooks-state")
        assert page.locator("#callback-port").is_visible()   # a test port: WordPress would refuse it, said plainly
        assert_fits(page, "the connect page")
        assert page.locator("#connect").bounding_box()["height"] >= 44
        shot(page, "woocommerce-connect", "phone")
        page.goto(owner.svc.url + "/admin/settings")
        page.click("#connect-link")
        page.wait_for_url(owner.svc.url + "/admin/woocommerce")
    finally:
        context.close()


def test_a_separate_worker_process_uses_the_new_connection_without_a_restart(services, shop_fake, tmp_path):
    """`python -m bridge worker`, started before the shop was connected, marks a paid order in the
    shop with the keys the web process stored: it reads the connection from the database."""
    svc = services(bank_accounts=bank_accounts("Vietcombank:0181003749261"))
    o = Owner(svc)
    o.sign_in()
    shop_fake.add_order(4321, 513000)
    body = order_body(4321)
    assert requests.post(svc.url + "/webhooks/woocommerce", data=body, headers=signed_headers(body, "order.created"),
                         verify=str(svc.cert), timeout=10).status_code == 200
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("ESMS_", "WOO_", "BRIDGE_"))},
           "BRIDGE_DB": svc.bridge.settings.db_path, "MAPPINGS_DIR": str(ROOT / "mappings"),
           "WOO_WEBHOOK_SECRET": SECRET, "RUN_SCHEDULER": "1", "WORKER_INTERVAL": "0.2"}
    worker = subprocess.Popen([sys.executable, "-m", "bridge", "worker"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        o.at_shop(o.start(shop_fake.url))
        ck = shop_fake.callbacks[-1]["body"]["consumer_key"]
        text = VCB.format(memo="DH4321", minute=12, balance=6_000_000)
        r = requests.get(svc.url + "/inbound/fibo", params={"token": "test-fibo-token", "phone": "Vietcombank",
                                                            "message": text, "guid": uuid.uuid4().hex},
                         verify=str(svc.cert), timeout=10)
        assert r.status_code == 200, r.text
        wait_until(lambda: (4321, "on-hold", "processing") in shop_fake.status_changes, timeout=30,
                   what="the worker process to mark the order paid in the shop")
        puts = [x for x in shop_fake.requests_log if x["method"] == "PUT" and x["path"].endswith("/orders/4321")]
        assert puts and puts[-1]["args"]["oauth_consumer_key"] == ck
    finally:
        worker.terminate()
        worker.wait(10)

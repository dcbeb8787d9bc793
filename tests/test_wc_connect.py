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
import sqlite3
import stat
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

from bridge import providers, reasons
from bridge.payments.handler import shop_action
from bridge.envparse import bank_accounts
from bridge.providers.woocommerce import cli, connection, ownership, shop
from bridge.setup_checklist import DONE, TODO, steps
from bridge.store import woo_connection as woo_store
from tests.browser import WIDTHS, assert_fits, browser, shot, sign_in  # noqa: F401 (fixture)
from tests.conftest import (ROOT, SECRET, Clock, make_settings, reserved_port, serve_on, signed_headers, wait_until,
                            woo_settings)
from tests.fakes.woocommerce import FakeWooCommerce
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
        sock = reserved_port()
        port = sock.getsockname()[1]
        self.url = f"https://127.0.0.1:{port}"
        settings = make_settings(tmp_path, **{"public_url": self.url, "admin_password": PASSWORD,
                                              "db_path": str(tmp_path / f"bridge-{port}.db"), **changes})
        self.app = create_app(settings, start_scheduler=False)
        self.bridge = self.app.extensions["bridge"]
        self.clock = self.bridge.clock = Clock()
        self.server = serve_on(sock, self.app, threaded=True, ssl_context=(str(cert), str(key)))
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


def test_environment_variables_win_and_no_authorization_starts_while_they_are_set(services, shop_fake):
    svc = services(**woo_settings(shop_fake))
    o = Owner(svc)
    o.sign_in()
    r = o.post("/admin/woocommerce/authorize", shop_url=shop_fake.url)
    assert 'class="flash error"' in r.text and "hãy xoá chúng" in r.text   # refused, said why
    assert svc.db.one("SELECT COUNT(*) FROM woo_authorizations")[0] == 0
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
        page.goto(owner.svc.url + "/admin/woocommerce?switch=ask&shop=https://cua-hang-moi-cua-chi-bich-ngoc.example.vn")
        assert page.locator("label.switch").bounding_box()["height"] >= 44   # the switch box, tappable
        assert_fits(page, "the connect page asking to confirm a switch of shops")
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


def _mark_paid(svc: TlsService, order_id: int) -> None:
    """What a matched transfer queues for the shop: the order marked paid, with a note."""
    with svc.db.tx() as c:
        shop_action(c, f"tx:{order_id}:mark-paid", order_id, {"action": "mark_paid", "status": "processing",
                                                              "transaction_id": f"FT{order_id}",
                                                              "note": "woo-bridge: đã nhận 213.000 ₫"},
                    "payment-mark-paid")


def _job(svc: TlsService, order_id: int):
    return svc.db.one("SELECT id, status, reason FROM messages WHERE channel='woocommerce' AND order_id=?", (order_id,))


def test_write_backs_wait_while_the_keys_cannot_be_read_and_go_out_once_after_connecting_again(
        owner, shop_fake, services):
    """SECRET_KEY changed (a restore, a new .env): the stored keys cannot be read. A transfer
    matched meanwhile must not become a final dry-run: the order's update waits, saying why, and
    reaches the shop once the owner has connected it again."""
    woo = shop_fake
    owner.at_shop(owner.start(woo.url))
    wait_until(lambda: our_topics(woo) == sorted(ownership.TOPICS), what="our webhooks")
    woo.add_order(27, 213000)
    svc = services(db_path=owner.svc.bridge.settings.db_path, secret_key="another-secret-key-after-a-restore-42")
    _mark_paid(svc, 27)
    svc.bridge.worker.drain()
    job = _job(svc, 27)
    assert job["status"] == "scheduled" and reasons.code_of(job["reason"]) == "woo.job.not_connected"
    assert not [p for p in woo.puts if p[0] == 27]
    o = Owner(svc)
    o.sign_in()
    assert "đang chờ cửa hàng" in o.get(f"/admin/messages/{job['id']}").text   # the owner sees why

    page = o.at_shop(o.start(woo.url))   # one click again
    assert "Đã kết nối" in page.text
    svc.clock.advance(61)
    svc.bridge.worker.drain()
    assert _job(svc, 27)["status"] == "delivered"
    assert [p[0] for p in woo.puts].count(27) == 1 and (27, "on-hold", "processing") in woo.status_changes


def test_a_copy_of_the_database_alone_does_not_open_the_shop_keys(owner, shop_fake, services, tmp_path):
    """`make run` without SECRET_KEY: the generated SECRET_KEY is kept in the database, so the
    key that encrypts the shop's keys needs the file beside it too (0600), never in the database."""
    svc = services(secret_key="")
    assert svc.bridge.secret_origin["secret_key"] == "generated"
    o = Owner(svc)
    o.sign_in()
    o.at_shop(o.start(shop_fake.url))
    db_path = Path(svc.bridge.settings.db_path)
    key_file = connection.key_file(str(db_path))
    assert key_file.parent == db_path.parent and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_bytes() not in database_bytes(svc)
    assert connection.effective(svc.bridge.settings).woo_consumer_key.startswith("ck_")

    stolen = tmp_path / "stolen"
    stolen.mkdir()
    with sqlite3.connect(db_path) as src, sqlite3.connect(stolen / "bridge.db") as dst:
        src.backup(dst)
    thief = services(secret_key="", db_path=str(stolen / "bridge.db"))
    assert thief.bridge.settings.secret_key == svc.bridge.settings.secret_key   # the generated one, from the copy
    found = connection.stored(thief.bridge.settings)
    assert found is not None and found.shop_url == shop_fake.url and not found.readable
    assert not connection.effective(thief.bridge.settings).woo_configured


def test_the_webhook_job_uses_the_connection_it_claimed_not_a_stale_cached_one(owner, shop_fake):
    """Another process (the web) has just connected a different shop; this one's view of the
    connection is up to a few seconds old: the webhooks go to the shop just connected."""
    svc, old = owner.svc, shop_fake
    owner.at_shop(owner.start(old.url))
    wait_until(lambda: our_topics(old) == sorted(ownership.TOPICS), what="our webhooks in the first shop")
    assert connection.stored(svc.bridge.settings).shop_url == old.url   # this process's view, cached
    with FakeWooCommerce() as new:
        new.keys["ck_" + "9" * 40] = ("cs_" + "8" * 40, "read_write")
        old_hooks = dict(old.webhooks)
        with svc.db.tx() as c:   # what the web process writes when the callback proved the new keys
            woo_store.save_connection(c, new.url, 9, connection.encrypt(svc.bridge.settings, "ck_" + "9" * 40),
                                      connection.encrypt(svc.bridge.settings, "cs_" + "8" * 40), "read_write",
                                      svc.clock())
        assert connection.create_webhooks(svc.bridge) == connection.OK
        assert our_topics(new) == sorted(ownership.TOPICS) and old.webhooks == old_hooks


def test_connecting_another_shop_while_the_first_has_work_here_needs_the_owners_confirmation(owner, shop_fake):
    """Write-backs address orders by id: a "mark paid" queued for the first shop's #27 must never
    reach the second shop's #27. Switching is refused until the owner confirms; then the waiting
    updates are cancelled, saying why."""
    svc, first = owner.svc, shop_fake
    owner.at_shop(owner.start(first.url))
    wait_until(lambda: our_topics(first) == sorted(ownership.TOPICS), what="our webhooks")
    first.down = True
    _mark_paid(svc, 27)          # waits: the first shop is down for now
    with FakeWooCommerce() as second:
        second.callback_ca = first.callback_ca
        second.add_order(27, 999000)
        r = owner.post("/admin/woocommerce/authorize", shop_url=second.url)
        assert 'class="flash error"' in r.text and 'id="switch"' in r.text and "huỷ" in r.text
        assert svc.db.one("SELECT COUNT(*) FROM woo_authorizations WHERE shop_url=?", (second.url,))[0] == 0

        r = owner.post("/admin/woocommerce/authorize", shop_url=second.url, switch="1")
        m = re.search(r'id="go" href="([^"]+)"', r.text)
        page = owner.at_shop(html.unescape(m.group(1)))
        assert "Đã kết nối" in page.text
        assert svc.db.one("SELECT shop_url FROM woo_connection")[0] == second.url
        job = _job(svc, 27)
        assert job["status"] == "cancelled" and reasons.code_of(job["reason"]) == "woo.connect.switched"
        svc.clock.advance(3600)
        svc.bridge.worker.drain()
        assert second.puts == [] and second.status_changes == []


def test_a_switch_the_owner_did_not_confirm_is_refused_at_the_callback_too(owner, shop_fake):
    """Nothing was waiting when the owner started, something is when the second shop posts its
    keys: the callback refuses (the shop deletes the key) and the first shop stays connected."""
    svc, first = owner.svc, shop_fake
    owner.at_shop(owner.start(first.url))
    with FakeWooCommerce() as second:
        second.callback_ca = first.callback_ca
        authorize = owner.start(second.url)
        first.down = True
        _mark_paid(svc, 27)
        page = owner.at_shop(authorize)
        assert page.status_code == 401 and second.callbacks[-1]["code"] == 409
        assert svc.db.one("SELECT shop_url FROM woo_connection")[0] == first.url
        assert _job(svc, 27)["status"] == "pending"


def test_the_shops_own_address_is_stored_when_the_typed_one_redirects(owner, shop_fake, services):
    """shop.vn -> www.shop.vn: a redirect drops Basic auth and breaks an OAuth signature, so the
    address WordPress names itself is what is stored and used; a site that is not WordPress with
    WooCommerce is refused with the reason."""
    woo = shop_fake
    woo.canonical = True
    typed = woo.url.replace("127.0.0.1", "localhost")
    authorize = owner.start(typed)
    assert authorize.startswith(woo.url + "/wc-auth/v1/authorize?")
    page = owner.at_shop(authorize)
    assert "Đã kết nối" in page.text
    assert svc_shop(owner.svc) == woo.url

    r = owner.post("/admin/woocommerce/authorize", shop_url=woo.url + "/khong-phai-shop")   # no WordPress there
    assert 'class="flash error"' in r.text and "không phải trang WordPress" in r.text


def svc_shop(svc: TlsService) -> str:
    return svc.db.one("SELECT shop_url FROM woo_connection")[0]


def test_junk_keys_with_a_leaked_user_id_do_not_spend_the_real_callback(owner, shop_fake):
    """The user_id travels through the browser and the shop's logs: keys that do not work at the
    shop are refused without using it up, so the owner's own approval still connects; the refusal
    kept never holds a key."""
    woo = shop_fake
    authorize = owner.start(woo.url)
    token = re.search(r"user_id=([^&]+)", authorize).group(1)
    junk = {"key_id": 1, "user_id": token, "consumer_key": "ck_" + "0" * 40, "consumer_secret": "cs_" + "1" * 40,
            "key_permissions": "read_write"}
    r = _post_keys(owner.svc, junk)
    assert (r.status_code, r.json()["error"]) == (502, "keys_refused")
    page = owner.at_shop(authorize)
    assert "Đã kết nối" in page.text and woo.callbacks[-1]["code"] == 200


def test_two_genuine_callbacks_at_once_store_the_keys_once(owner, shop_fake):
    woo = shop_fake
    woo.keys["ck_" + "7" * 40] = ("cs_" + "6" * 40, "read_write")
    token = re.search(r"user_id=([^&]+)", owner.start(woo.url)).group(1)
    body = {"key_id": 5, "user_id": token, "consumer_key": "ck_" + "7" * 40, "consumer_secret": "cs_" + "6" * 40,
            "key_permissions": "read_write"}
    answers: list[int] = []
    threads = [threading.Thread(target=lambda: answers.append(_post_keys(owner.svc, body).status_code))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [200, 409]


def test_a_refused_proof_never_keeps_the_keys_in_the_reason(owner):
    """The shop vanished between the start and the callback: the transport error names the URL
    with its OAuth query (oauth_consumer_key=ck_...). What is kept and answered is redacted."""
    with FakeWooCommerce() as gone:
        token = re.search(r"user_id=([^&]+)", owner.start(gone.url)).group(1)
        gone.keys["ck_" + "5" * 40] = ("cs_" + "4" * 40, "read_write")
    r = _post_keys(owner.svc, {"key_id": 2, "user_id": token, "consumer_key": "ck_" + "5" * 40,
                               "consumer_secret": "cs_" + "4" * 40, "key_permissions": "read_write"})
    assert (r.status_code, r.json()["error"]) == (502, "keys_refused")
    assert "ck_" + "5" * 40 not in r.text
    kept = owner.svc.db.one("SELECT reason FROM rejections ORDER BY id DESC LIMIT 1")[0]
    outcome = owner.svc.db.one("SELECT outcome FROM woo_authorizations WHERE shop_url=?", (gone.url,))[0]
    assert "ck_" + "5" * 40 not in kept and "ck_" + "5" * 40 not in outcome and "oauth_consumer_key" in kept

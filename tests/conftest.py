"""Shared test harness: settings on a temp database, the service on a real loopback port,
captured WooCommerce deliveries, and a subprocess runner for crash tests."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from contextlib import closing
from pathlib import Path
from typing import Callable

import pytest
import requests
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bridge.config import Settings, load_settings, settings_with  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
WOO = ROOT / "bridge" / "providers" / "woocommerce" / "fixtures"
SECRET = "test-webhook-secret"  # the secret that signed the captured deliveries
HEALTH_TOKEN = "test-health-token"   # /healthz?details=1 with it shows what the public answer leaves out
# The bank-transfer details a shop prints in its transfer message: without them that message is
# held, not sent (tests/test_bank_details.py), so subprocess tests that send it give them.
BANK_ENV = {"TRANSFER_BANK": "Vietcombank", "TRANSFER_ACCOUNT": "0071009998887", "TRANSFER_HOLDER": "SHOP DEMO"}


def health_details(url: str, token: str = HEALTH_TOKEN, timeout: float = 5) -> dict:
    """The operator's view of /healthz (database, scheduler, channels, outbox, phones)."""
    r = requests.get(url + "/healthz", params={"details": "1"}, headers={"Authorization": f"Bearer {token}"},
                     timeout=timeout)
    assert r.status_code in (200, 503), r.text
    return r.json()


def woo_samples() -> list[str]:
    return sorted(p.name[: -len(".body")] for p in WOO.glob("*.body"))


def load_delivery(name: str) -> tuple[dict[str, str], bytes]:
    headers = json.loads((WOO / f"{name}.headers.json").read_text())
    body = (WOO / f"{name}.body").read_bytes()
    for h in ("Host", "Content-Length", "Connection", "Accept-Encoding"):
        headers.pop(h, None)
    return headers, body


def signed_headers(body: bytes, topic: str = "order.updated", delivery_id: str | None = None,
                   secret: str = SECRET) -> dict[str, str]:
    sig = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    resource, _, event = topic.partition(".")
    return {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/9.2.5 Hookshot (WordPress/7.0)",
        "X-WC-Webhook-Source": "http://127.0.0.1:8080/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": sig,
        "X-WC-Webhook-ID": "9",
        "X-WC-Webhook-Delivery-ID": delivery_id or os.urandom(16).hex(),
    }


TEST_PASSWORD_HASH = "scrypt:1024:8:1"   # same algorithm, 32x less work than werkzeug's default
# How often a loopback server's loop looks for shutdown(): socketserver's default (0.5 s) was the
# wait of every server stop, i.e. of every test that starts the service or a fake.
POLL_INTERVAL = 0.01


_PORTS = random.SystemRandom()   # not the random module's state, which a test may seed alike in both workers


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port free now, for a child process to bind later. It is drawn below the kernel's
    ephemeral range: a port the kernel hands out for bind(0) is also what it gives the next
    outgoing connection, and a CI run lost a test to that ("Address already in use"). Someone may
    still take it in between, so users that can retry do. A server in this process takes a
    `reserved_port()` instead, which nobody else can take."""
    top = _ephemeral_floor()
    for _ in range(100):
        port = _PORTS.randrange(10000, top) if top > 10001 else 0
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise AssertionError("no free loopback port below the ephemeral range")


def reserved_port() -> socket.socket:
    """A loopback socket bound to a port of its own and not yet listening: connections to it are
    refused (nobody there) until a `Service` serves on it, and no one else can bind the port in
    between. A CI run lost a test to free_port()'s gap ("Address already in use")."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def serve_on(sock: socket.socket, app, **kw):
    """werkzeug's server for `app` on a `reserved_port()` socket (kw: threaded, ssl_context)."""
    sock.listen()
    server = make_server("127.0.0.1", 0, app, fd=sock.fileno(), **kw)
    sock.close()   # the server holds its own duplicate
    return server


def make_settings(tmp_path: Path, **changes) -> Settings:
    base = load_settings(environ={}, env_file=None)
    defaults = dict(
        db_path=str(tmp_path / "bridge.db"),
        mappings_dir=str(ROOT / "mappings"),
        woo_webhook_secret=SECRET,
        esms_callback_token="test-esms-callback-token",
        fibo_token="test-fibo-token",
        notify_token="test-notify-token",
        # the payment tests push bank SMS through FiboSMS for brevity; the default (review) is
        # tested in test_security_ingest.py
        fibo_payments="confirm",
        owner_phones=("0901 234 567",),
        shop_name="Shop Demo",
        transfer_bank="Vietcombank",
        transfer_account="0071009998887",
        transfer_holder="CONG TY TNHH SHOP DEMO",
        run_scheduler=False,
        send_backoff_base=0.05,
        send_backoff_max=0.2,
        worker_interval=0.1,
        sqlite_synchronous="NORMAL",
        health_token=HEALTH_TOKEN,
        # every service a test starts hashes an admin password: the production work factor
        # (scrypt N=32768, ~0.15 s per hash, two per first start) is tested in test_admin_security.py
        password_hash_method=TEST_PASSWORD_HASH,
    )
    defaults.update(changes)
    return settings_with(base, **defaults)


class Clock:
    """What tests give the service as Bridge.clock: the wall clock plus however far the test moved
    it forward, so a deadline (a channel's fallback_after, a message due later) is passed with
    `advance(seconds)` instead of a sleep. Rows written with the real time stay in its past."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead

    def advance(self, seconds: float) -> None:
        self.ahead += seconds


class Service:
    """The real app behind a real HTTP server on 127.0.0.1 (threaded), in this process."""

    def __init__(self, settings: Settings, start_scheduler: bool = False, port: int = 0,
                 sock: socket.socket | None = None):
        from app import create_app
        self.app = create_app(settings, start_scheduler=start_scheduler)
        self.bridge = self.app.extensions["bridge"]
        self.clock = self.bridge.clock = Clock()
        self.app.wsgi_app = self._answered_when_decided(self.app.wsgi_app)
        if sock is None:
            self.server = make_server("127.0.0.1", port, self.app, threaded=True)
        else:   # the port PUBLIC_URL already names (reserved_port()): serve on that very socket
            self.server = serve_on(sock, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(POLL_INTERVAL,), daemon=True)
        self.thread.start()
        self.settings = self.bridge.settings

    @property
    def db(self):
        return self.bridge.db

    def job_runs(self, job_id: str) -> Callable[[], int]:
        """A counter of the scheduler's runs of a job from now on (APScheduler's own events), to
        wait for "several more passes" instead of sleeping for them."""
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
        runs = [0]

        def seen(event) -> None:
            if event.job_id == job_id:
                runs[0] += 1
        self.bridge.scheduler.add_listener(seen, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        return lambda: runs[0]

    def _answered_when_decided(self, wsgi_app: Callable) -> Callable:
        """The answer to a provider's call reaches the test once what it acknowledged is decided
        (a condition wait on `settle`): tests written as "post, then read what it did" read the
        decision. tests/test_intake.py proves the answer itself comes before the decision."""
        def app(environ, start_response):
            status: list[str] = []

            def starting(code: str, headers: list, *exc_info) -> Callable:
                status.append(code)
                return start_response(code, headers, *exc_info)
            body = wsgi_app(environ, starting)
            if status and status[0].startswith("2") and \
                    not environ.get("PATH_INFO", "").startswith(("/admin", "/healthz", "/metrics", "/static")):
                self.settle()
            return body
        return app

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until everything acknowledged is decided: the answer comes before the decision
        (bridge/intake.py), so a test reads the decision once nothing is left undecided."""
        from bridge.store.intake import oldest_undecided
        wait_until(lambda: oldest_undecided(self.db) is None and self.bridge.decider.idle, timeout,
                   what="every received row decided")

    def decided(self, answer: dict) -> dict:
        """An inbound answer (what was stored) with what became of it once decided: `decision`,
        the handlers' notes as the answer carried them before deciding followed the answer."""
        from bridge import reasons
        self.settle()
        row = self.db.one("SELECT reason FROM inbox WHERE id=?", (answer["inbox"],))
        return {**answer, "decision": reasons.english(row["reason"] or "") if row else ""}

    def report_known(self, answer: dict) -> bool:
        """A delivery report's answer (what was stored): was it applied to one of our messages?"""
        self.settle()
        return self.db.scalar("SELECT state FROM received_reports WHERE id=?", (answer["report"],)) == "applied"

    def post_delivery(self, name: str) -> requests.Response:
        headers, body = load_delivery(name)
        return requests.post(self.url + "/webhooks/woocommerce", data=body, headers=headers, timeout=10)

    def post_json(self, body: bytes, topic: str = "order.updated", **kw) -> requests.Response:
        return requests.post(self.url + "/webhooks/woocommerce", data=body, headers=signed_headers(body, topic, **kw),
                             timeout=10)

    def messages(self, **where) -> list[dict]:
        sql = "SELECT * FROM messages"
        if where:
            sql += " WHERE " + " AND ".join(f"{k}=?" for k in where)
        return [dict(r) for r in self.db.query(sql + " ORDER BY created_at, rowid", tuple(where.values()))]

    def close(self) -> None:
        self.server.shutdown()
        self.bridge.shutdown()


@pytest.fixture
def service_factory(tmp_path):
    made: list[Service] = []

    def make(start_scheduler: bool = False, **changes) -> Service:
        sock = reserved_port()
        changes.setdefault("public_url", f"http://127.0.0.1:{sock.getsockname()[1]}")
        svc = Service(make_settings(tmp_path, **changes), start_scheduler=start_scheduler, sock=sock)
        made.append(svc)
        return svc

    yield make
    for s in made:
        s.close()


@pytest.fixture
def fake_esms():
    from tests.fakes.esms import FakeEsms
    with FakeEsms() as fake:
        yield fake


@pytest.fixture
def woo():
    """The fake WooCommerce REST API (tests/fakes/woocommerce.py) on a loopback port."""
    from tests.fakes.woocommerce import FakeWooCommerce
    with FakeWooCommerce() as fake:
        yield fake


def woo_settings(fake) -> dict:
    return dict(woo_url=fake.url, woo_consumer_key=fake.consumer_key, woo_consumer_secret=fake.consumer_secret)


def esms_settings(fake) -> dict:
    return dict(esms_api_key=fake.api_key, esms_secret_key=fake.secret_key, esms_brandname="SHOPDEMO",
                esms_base_url=fake.base_url, esms_timeout=2.0)


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class ServiceProcess:
    """`python app.py` as a child process, for crash (kill -9) and start-up tests."""

    def __init__(self, env: dict[str, str], port: int | None = None, cwd: Path = ROOT):
        self.chosen = port is None   # a port of ours: another may be taken if someone beats us to it
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith(("ESMS_", "WOO_", "BRIDGE_"))},
                    "HOST": "127.0.0.1", "PORT": str(self.port), **env}
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None
        self.log_path = Path(env.get("BRIDGE_DB", "/tmp/bridge.db")).with_suffix(f".{self.port}.log")

    def start(self, timeout: float = 20.0) -> "ServiceProcess":
        self.log = open(self.log_path, "ab")
        for _ in range(3):
            self.proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=self.cwd, env=self.env,
                                         stdout=self.log, stderr=subprocess.STDOUT)
            if self._healthy(timeout):
                return self
            # free_port() gave the port back before our child took it: another test's service may
            # hold it now (the child says so and exits); ours starts on another one
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            self.env["PORT"] = str(self.port)
        raise AssertionError(f"no free port for the service:\n{self.output()}")

    def _healthy(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if self.chosen and self.proc.returncode == 1 and "already in use" in self.output():
                    return False
                raise AssertionError(f"service exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if self._answers_for_itself():
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"service did not become healthy:\n{self.output()}")

    def _answers_for_itself(self) -> bool:
        """A 200 on our port is not enough: /healthz?probe=<nonce> stores the nonce in the
        answering service's database, so finding it in ours proves the answer came from our child."""
        nonce = uuid.uuid4().hex
        if requests.get(self.url + "/healthz", params={"probe": nonce}, timeout=1).status_code != 200:
            return False
        db = self.cwd / self.env.get("BRIDGE_DB", "data/bridge.db")
        try:
            with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)) as c:
                row = c.execute("SELECT value FROM kv WHERE key='setup.probe'").fetchone()
        except sqlite3.Error:
            return False
        return row is not None and row[0] == nonce

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if hasattr(self, "log"):
            self.log.close()


ORDER_RULES = """
rules:
  - name: order-awaiting-transfer
    event: order.status
    status: [on-hold, pending]
    to: customer
    channel: {channel}
    unicode: false
    urgent: {urgent}
    template: "Don #{{{{ order_number }}}} {{{{ total }}}}: chuyen khoan, noi dung {{{{ payment_code }}}}"
"""


def write_mappings(tmp_path: Path, channel: str = "smsgate", urgent: str = "true", forwards: str | None = None,
                   devices: str | None = None) -> Path:
    """A mappings directory for a test: one order rule on `channel`, optional forwards/devices."""
    d = tmp_path / "mappings"
    d.mkdir(exist_ok=True)
    (d / "rules.yaml").write_text(ORDER_RULES.format(channel=channel, urgent=urgent), encoding="utf-8")
    if forwards is not None:
        (d / "forwards.yaml").write_text(forwards, encoding="utf-8")
    if devices is not None:
        (d / "devices.yaml").write_text(devices, encoding="utf-8")
    return d


@pytest.fixture
def fake_smsgate():
    from tests.fakes.smsgate import FakeSmsGate
    with FakeSmsGate() as fake:
        yield fake


def smsgate_settings(fake, **over) -> dict:
    base = dict(smsgate_url=fake.url, smsgate_user=fake.user,
                smsgate_password=fake.password, smsgate_signing_key=fake.signing_key, smsgate_gap_min=0.0,
                smsgate_gap_max=0.0, smsgate_per_minute=1000, smsgate_per_hour=10000, smsgate_timeout=2.0,
                owner_phones=())
    base.update(over)
    return base

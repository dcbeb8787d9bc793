"""A real WordPress + WooCommerce shop for the tests: built from the archives in WOOLAB_DIR
(default ../shared/woolab) with its build.sh, driven through its real HTTP APIs (REST v3 with
OAuth 1.0a, the Store API checkout, the My Account form) and inspected in its MariaDB.

Outside CI a lab that cannot be built (no archives; no PHP and not root to install it) skips
the tests that need it, with the reason; on CI (CI set) it fails them instead.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from woocommerce import API

ROOT = Path(__file__).resolve().parent.parent
WOOLAB_DIR = Path(os.environ.get("WOOLAB_DIR") or ROOT.parent / "shared" / "woolab")
ARCHIVES = ("wordpress-6.8.8.tar.xz", "woocommerce-9.9.5.tar.xz")
PRODUCTS = {11: 150_000, 12: 213_000, 13: 99_000}
CHECKOUT_PAGE_ID = 8


def unavailable() -> str | None:
    """Why no lab can be built here, or None."""
    if not (WOOLAB_DIR / "build.sh").is_file():
        return f"no woolab build.sh in {WOOLAB_DIR} (set WOOLAB_DIR)"
    for name in ARCHIVES:
        if not (WOOLAB_DIR / name).is_file():
            return f"missing {WOOLAB_DIR / name}"
    if os.geteuid() != 0 and not (shutil.which("php") and shutil.which("mariadb-install-db")):
        return "PHP and MariaDB are not installed and this is not root (build.sh installs them as root)"
    return None


def require() -> None:
    reason = unavailable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"the WooCommerce lab is required on CI: {reason}")
        pytest.skip(f"WooCommerce lab not available: {reason}")


class Lab:
    """One shop: `build()` makes it from scratch (about 15 s), `stop()` ends every process."""

    def __init__(self, labdir: Path, site_port: int, bridge_port: int, hpos: bool = True, number_offset: int = 0):
        self.dir, self.site_port, self.bridge_port = labdir, site_port, bridge_port
        self.hpos, self.number_offset = hpos, number_offset
        self.keys: dict[str, str] = {}
        self.build_seconds = 0.0
        self.secret = "woolab-webhook-secret"

    # -- life -----------------------------------------------------------------------------
    def build(self) -> "Lab":
        env = {**os.environ, "SITE_PORT": str(self.site_port), "EXTRA_PORTS": str(self.bridge_port),
               "HPOS": "1" if self.hpos else "0", "ORDER_NUMBER_OFFSET": str(self.number_offset)}
        started = time.monotonic()
        out = subprocess.run(["bash", str(WOOLAB_DIR / "build.sh"), str(self.dir)], env=env, capture_output=True,
                             text=True, timeout=900)
        self.build_seconds = time.monotonic() - started
        if out.returncode != 0:
            raise RuntimeError(f"woolab build failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
        for line in (self.dir / "keys.env").read_text().splitlines():
            k, sep, v = line.partition("=")
            if sep:
                self.keys[k.strip()] = v.strip()
        return self

    def stop(self) -> None:
        subprocess.run(["bash", str(WOOLAB_DIR / "stop.sh"), str(self.dir)], capture_output=True, timeout=120)

    @property
    def url(self) -> str:
        return self.keys["WOO_URL"]

    def bridge_settings(self) -> dict[str, Any]:
        return dict(woo_url=self.url, woo_consumer_key=self.keys["WOO_CONSUMER_KEY"],
                    woo_consumer_secret=self.keys["WOO_CONSUMER_SECRET"], woo_webhook_secret=self.secret,
                    public_url=f"http://127.0.0.1:{self.bridge_port}", woo_timeout=60.0)

    # -- REST -------------------------------------------------------------------------------
    @property
    def api(self) -> API:
        return API(url=self.url, consumer_key=self.keys["WOO_CONSUMER_KEY"],
                   consumer_secret=self.keys["WOO_CONSUMER_SECRET"], version="wc/v3", timeout=60)

    def rest(self, method: str, endpoint: str, data: Any = None, **kw: Any) -> Any:
        api = self.api
        r = getattr(api, method)(endpoint, data, **kw) if method in ("post", "put") else getattr(api, method)(endpoint, **kw)
        if r.status_code >= 300:
            raise AssertionError(f"{method.upper()} {endpoint}: HTTP {r.status_code} {r.text[:500]}")
        return r.json()

    def create_order(self, phone: str = "0912 345 678", method: str = "bacs", product: int = 12, qty: int = 1,
                     status: str | None = None, first: str = "Văn An", last: str = "Nguyễn",
                     **extra: Any) -> dict[str, Any]:
        """An order as the shop's admin or an app creates it through REST."""
        body = {"payment_method": method, "payment_method_title": "Chuyển khoản ngân hàng" if method == "bacs"
                else "Thanh toán khi nhận hàng", "status": status or ("on-hold" if method == "bacs" else "processing"),
                "billing": {"first_name": first, "last_name": last, "address_1": "12 Lê Lợi", "city": "Hồ Chí Minh",
                            "country": "VN", "email": "khach@example.test", "phone": phone},
                "line_items": [{"product_id": product, "quantity": qty}], **extra}
        return self.rest("post", "orders", body)

    # -- the shop's other doors ---------------------------------------------------------------
    def store_checkout(self, phone: str, method: str = "bacs", product: int = 12, qty: int = 1,
                       first: str = "Thị Lan", last: str = "Trần", email: str = "lan@example.test",
                       create_account: bool = False) -> dict[str, Any]:
        """A customer's checkout through the Store API (the block checkout's own calls)."""
        base = f"{self.url}/wp-json/wc/store/v1"
        s = requests.Session()
        r = s.get(base + "/cart", timeout=60)
        h = {"Nonce": r.headers["Nonce"], "Cart-Token": r.headers["Cart-Token"]}
        r = s.post(base + "/cart/add-item", json={"id": product, "quantity": qty}, headers=h, timeout=60)
        assert r.status_code == 201, r.text[:300]
        addr = {"first_name": first, "last_name": last, "address_1": "5 Trần Hưng Đạo", "city": "Hà Nội",
                "country": "VN", "postcode": "", "phone": phone}
        r = s.post(base + "/checkout", json={"billing_address": {**addr, "email": email}, "shipping_address": addr,
                                            "payment_method": method, "create_account": create_account},
                   headers=h, timeout=60)
        assert r.status_code == 200, r.text[:500]
        return r.json()

    def register_my_account(self, email: str) -> None:
        """The My Account registration form: an e-mail address, nothing else (no phone)."""
        s = requests.Session()
        r = s.get(f"{self.url}/my-account/", timeout=60)
        nonce = re.search(r'name="woocommerce-register-nonce" value="([^"]+)"', r.text)
        assert nonce, "no registration form on /my-account/"
        r = s.post(f"{self.url}/my-account/", data={"email": email, "woocommerce-register-nonce": nonce.group(1),
                                                    "_wp_http_referer": "/my-account/", "register": "Register"},
                   allow_redirects=False, timeout=60)
        assert r.status_code == 302, r.text[:300]

    def php(self, code: str) -> str:
        """PHP inside WordPress (what wp-admin buttons do that REST cannot, such as untrash)."""
        boot = (f"$_SERVER['HTTP_HOST']='127.0.0.1:{self.site_port}'; $_SERVER['REQUEST_URI']='/';"
                f"require '{self.dir}/wp/wp-load.php'; wp_set_current_user(1);")
        out = subprocess.run(["php", "-d", "memory_limit=512M", "-r", boot + code], capture_output=True, text=True,
                             timeout=120)
        if out.returncode != 0:
            raise AssertionError(f"php failed: {out.stderr[-2000:]}")
        return out.stdout

    # -- the database -------------------------------------------------------------------------
    def sql(self, query: str) -> list[list[str]]:
        out = subprocess.run(["mariadb", "--no-defaults", f"--socket={self.keys['WOOLAB_DB_SOCKET']}", "-uroot", "wp",
                              "--batch", "--skip-column-names", "-e", query], capture_output=True, text=True,
                             timeout=60)
        if out.returncode != 0:
            raise AssertionError(f"SQL failed: {out.stderr}")
        return [line.split("\t") for line in out.stdout.splitlines()]

    def pending_deliveries(self) -> int:
        return int(self.sql("SELECT COUNT(*) FROM wp_actionscheduler_actions WHERE hook='woocommerce_deliver_webhook_async'"
                            " AND status IN ('pending','in-progress')")[0][0])

    def wait_deliveries_sent(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.pending_deliveries():
            if time.monotonic() > deadline:
                raise AssertionError(f"WooCommerce still has {self.pending_deliveries()} deliveries queued")
            time.sleep(0.5)

    def webhooks(self) -> dict[int, dict[str, str]]:
        """Every webhook as WooCommerce stores it, failure count and API version included."""
        rows = self.sql("SELECT webhook_id, status, topic, delivery_url, api_version, failure_count, secret, name"
                        " FROM wp_wc_webhooks")
        keys = ("status", "topic", "delivery_url", "api_version", "failure_count", "secret", "name")
        return {int(r[0]): dict(zip(keys, r[1:])) for r in rows}

    @contextlib.contextmanager
    def queue_held(self) -> Iterator[None]:
        """Hold deliveries back and release them in one queue run, as WP-Cron or a server cron
        does on a real shop: everything changed inside goes out back to back, sharing the second."""
        pause = self.dir / "run" / "as-pause"
        pause.touch()
        with open(self.dir / "run" / "as.lock", "a+") as lock:   # wait out a run in progress
            fcntl.flock(lock, fcntl.LOCK_EX)
            fcntl.flock(lock, fcntl.LOCK_UN)
        try:
            yield
        finally:
            pause.unlink(missing_ok=True)

    def set_option(self, name: str, value: str) -> None:
        self.sql(f"UPDATE wp_options SET option_value='{value}' WHERE option_name='{name}'")

    def order_row(self, order_id: int) -> dict[str, Any]:
        return self.rest("get", f"orders/{order_id}")

    def notes(self, order_id: int) -> list[dict[str, Any]]:
        return self.rest("get", f"orders/{order_id}/notes")


def dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=1)[:2000]

"""What the deployment benches share: woo-bridge started as deploy/ ships it (`python -m bridge
init`, gunicorn with deploy/gunicorn.conf.py, `python -m bridge worker`), the baselines under the
same gunicorn config, the fake eSMS and fake WooCommerce REST in processes of their own (so their
threads share no interpreter lock with the load generator), CPU pinning, and resident memory.

Pinning (default on a machine with 2+ CPUs): everything that serves -- gunicorn's master and
workers, the worker process -- on CPU 0 (`taskset -c 0`); the bench, its load-generating
processes and the fakes on CPU 1, as if clients and providers were other machines. The server
side thus has one core; `--no-pin` lets everything share all cores.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import SECRET, free_port, signed_headers  # noqa: E402
from tests.orders import order_body  # noqa: E402

from bench.loadgen import http_request  # noqa: E402

PY = sys.executable
GUNICORN = str(Path(PY).parent / "gunicorn")
CONF = str(ROOT / "deploy" / "gunicorn.conf.py")
SERVER_CPU, CLIENT_CPU = 0, 1


def exit_on_term() -> None:
    """`kill <pid>` of a bench (SIGTERM) leaves through its finally blocks, which stop the servers
    and fakes it started (a background job ignores SIGINT)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def pinning(disabled: bool) -> bool:
    """Pin this process (and so the load generator and fakes it forks) to CLIENT_CPU; servers
    are started on SERVER_CPU. Returns whether pinning is on."""
    on = not disabled and (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    if on:
        os.sched_setaffinity(0, {CLIENT_CPU})
    return on


def pin_text(on: bool) -> str:
    return (f"pinned: servers (gunicorn master + workers, worker process) on CPU {SERVER_CPU}; bench, load "
            f"generator processes and fakes on CPU {CLIENT_CPU}" if on else "not pinned: everything shares all CPUs")


def base_env(tmp: Path, name: str, port: int, **extra: str) -> dict[str, str]:
    """The environment of one served thing: nothing inherited that configures woo-bridge, logs as
    deployed (JSON lines; gunicorn's access and error logs in files)."""
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("ESMS_", "WOO_", "BRIDGE_", "GUNICORN_", "SMSGATE_", "FIBO_", "BANK_", "TRANSFER_"))}
    return {**keep, "BRIDGE_DB": str(tmp / f"{name}.db"), "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_ACCESS_LOG": str(tmp / f"{name}-access.log"), "GUNICORN_ERROR_LOG": str(tmp / f"{name}-web.log"),
            "LOG_FORMAT": "json", "QUIET_HOURS": "off", "WOO_WEBHOOK_SECRET": SECRET, **extra}


@dataclass
class Served:
    """A server under test: its gunicorn (and, for woo-bridge, its worker process)."""
    name: str
    port: int
    web: subprocess.Popen
    worker: subprocess.Popen | None = None
    db: Path | None = None
    logs: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> dict[str, int]:
        """gunicorn master, each live gunicorn worker, the worker process."""
        out = {"gunicorn master": self.web.pid}
        for k, pid in enumerate(sorted(children(self.web.pid))):
            out[f"gunicorn worker {k + 1}"] = pid
        if self.worker is not None:
            out["worker process"] = self.worker.pid
        return out

    def stop(self) -> None:
        for p in (self.worker, self.web):
            if p is None:
                continue
            p.terminate()
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
        for f in self.logs:
            f.close()


def _cpu(pin: bool) -> list[str]:
    return ["taskset", "-c", str(SERVER_CPU)] if pin else []


def wait_ready(served: Served, timeout: float = 180) -> None:
    end = time.time() + timeout
    while time.time() < end:
        for p in (served.web, served.worker):
            if p is not None and p.poll() is not None:
                raise SystemExit(f"{served.name}: a process exited with {p.returncode}; logs in "
                                 f"{served.db.parent if served.db else 'the temporary directory'}")
        try:
            if requests.get(served.url + "/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{served.name} did not answer /healthz within {timeout:.0f} s")


def start_deployment(tmp: Path, name: str, pin: bool, env_extra: dict[str, str],
                     gunicorn_args: tuple[str, ...] = ()) -> Served:
    """woo-bridge as deploy/ runs it: init, then gunicorn, then the worker process (the systemd
    units' order)."""
    port = free_port()
    env = base_env(tmp, name, port, **env_extra)
    subprocess.run([PY, "-m", "bridge", "init"], cwd=ROOT, env=env, check=True, capture_output=True)
    worker_log = open(tmp / f"{name}-worker.log", "ab")
    web = subprocess.Popen([*_cpu(pin), GUNICORN, "-c", CONF, *gunicorn_args], cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([*_cpu(pin), PY, "-m", "bridge", "worker"], cwd=ROOT, env=env, stdout=worker_log,
                              stderr=subprocess.STDOUT)
    return _ready(Served(name, port, web, worker, Path(env["BRIDGE_DB"]), [worker_log]))


def esms_env(esms: "FakeProcess") -> dict[str, str]:
    """woo-bridge's settings for the benches' shop: eSMS pointed at the fake eSMS process, and
    the bank accounts the tests use (order notices go out as SMS)."""
    from tests.conftest import BANK_ENV
    return {"ESMS_API_KEY": "test-api-key", "ESMS_SECRET_KEY": "test-secret-key", "ESMS_BRANDNAME": "SHOPDEMO",
            "ESMS_BASE_URL": esms.info["base_url"], **BANK_ENV}


def settings_from(pairs: list[str]) -> dict[str, str]:
    """A bench's repeated `--env NAME=VALUE` as woo-bridge settings for the run."""
    return dict(e.split("=", 1) for e in pairs)


def copy_database(src: str | Path, dst: str | Path) -> None:
    """A consistent copy of a (seeded) database: the source opened read only, never written; a
    copy left at `dst` before (with its -wal and -shm) replaced."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{dst}{suffix}"):
            os.remove(f"{dst}{suffix}")
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dst)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def start_baseline(tmp: Path, kind: str, pin: bool) -> Served:
    """A bare Flask app (b1 "bare", b2 "insert") under the same gunicorn config."""
    port = free_port()
    env = base_env(tmp, f"baseline-{kind}", port, BASELINE_DB=str(tmp / f"baseline-{kind}.db"))
    web = subprocess.Popen([*_cpu(pin), GUNICORN, "-c", CONF, f"bench.baseline:create_app('{kind}')"], cwd=ROOT,
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return _ready(Served(f"baseline-{kind}", port, web, None, Path(env["BASELINE_DB"])))


def _ready(served: Served) -> Served:
    """The served thing once it answers; stopped (no stray gunicorn) when it never does."""
    try:
        wait_ready(served)
    except BaseException:
        served.stop()
        raise
    return served


# -- signed WooCommerce order webhooks ---------------------------------------------------------
SENTINEL_ID = 987654321
SENTINEL_PHONE = "0998877665"


def phone_of(order_id: int) -> str:
    return f"091{order_id % 10_000_000:07d}"


def total_of(order_id: int) -> int:
    return 150_000 + (order_id % 97) * 1_000


class OrderWebhooks:
    """`make(order_id)`: a signed `order.created` delivery of a new on-hold bank-transfer order,
    the captured WooCommerce body (fixture 002) with its id, number, order key, total and phone
    changed, each with its own delivery id; picklable-free (used in forked client processes)."""

    def __init__(self, host: str, path: str = "/webhooks/woocommerce"):
        self.host, self.path = host, path
        self.template = order_body(SENTINEL_ID, total=777_777, phone=SENTINEL_PHONE)
        assert self.template.count(str(SENTINEL_ID).encode()) >= 2 and b"777777" in self.template

    def body(self, order_id: int) -> bytes:
        return (self.template.replace(str(SENTINEL_ID).encode(), str(order_id).encode())
                .replace(b"777777", str(total_of(order_id)).encode())
                .replace(SENTINEL_PHONE.encode(), phone_of(order_id).encode()))

    def __call__(self, order_id: int) -> bytes:
        body = self.body(order_id)
        return http_request("POST", self.path, self.host, signed_headers(body, "order.created"), body)


# -- fakes in their own processes ----------------------------------------------------------------
class FakeProcess:
    """A fake (tests/fakes) served from a forked process; `call(name, *args)` runs one of the
    `commands` there and returns its answer."""

    def __init__(self, build: Callable[[], Any], commands: dict[str, Callable[..., Any]]):
        ctx = multiprocessing.get_context("fork")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=self._serve, args=(child, build, commands), daemon=True)
        self._proc.start()
        self.info = self._conn.recv()

    @staticmethod
    def _serve(conn, build, commands) -> None:
        import logging
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        fake = build().start()
        conn.send({"url": fake.url, "base_url": getattr(fake, "base_url", fake.url)})
        while True:
            name, args = conn.recv()
            if name == "stop":
                fake.stop()
                conn.send(None)
                return
            conn.send(commands[name](fake, *args))

    def call(self, name: str, *args: Any) -> Any:
        self._conn.send((name, args))
        return self._conn.recv()

    def stop(self) -> None:
        if self._proc.is_alive():
            self.call("stop")
        self._proc.join(10)


def fake_esms(send_delay: float) -> FakeProcess:
    """The fake eSMS answering each send after `send_delay` s; `call("accepted_since", n)` gives
    (RequestId, time accepted) of every SMS accepted after the first n."""
    from tests.fakes.esms import FakeEsms

    def since(fake, n: int) -> list[tuple[str, float]]:
        with fake._lock:
            return [(a["RequestId"], a["at"]) for a in fake.accepted[n:]]
    return FakeProcess(lambda: FakeEsms(balance=10 ** 12, send_delay=send_delay), {"accepted_since": since})


def fake_woocommerce() -> FakeProcess:
    """The fake WooCommerce REST (OAuth 1.0a over http); `call("add_orders", [(id, total), ...])`,
    `call("puts")` -> ([order id of every PUT], {order id: time of its first PUT})."""
    from tests.fakes.woocommerce import FakeWooCommerce

    def add(fake, orders: list[tuple[int, int]]) -> int:
        for oid, total in orders:
            fake.add_order(oid, total, phone=phone_of(oid))
        return len(orders)

    def puts(fake) -> tuple[list[int], dict[int, float]]:
        with fake._lock:
            return [oid for oid, _ in fake.puts], dict(fake.put_times)
    return FakeProcess(FakeWooCommerce,
                       {"add_orders": add, "puts": puts})


# -- the database, read-only, from the bench ---------------------------------------------------------
def read_db(path: Path, sql: str, params: Any = ()) -> list[tuple]:
    c = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return c.execute(sql, params).fetchall()
    finally:
        c.close()


# -- memory ---------------------------------------------------------------------------------------
def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def dump(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=str))

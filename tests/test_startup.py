"""`python app.py` with no configuration at all: starts, shows what to paste into
WooCommerce, records messages as dry-run, and keeps its generated secret across restarts."""
from __future__ import annotations

import re
import sqlite3

import requests

from bridge import reasons
from bridge.providers.dryrun import channel as _dryrun  # noqa: F401  (registers the dry-run reasons read below)
from tests.conftest import HEALTH_TOKEN, ServiceProcess, health_details, signed_headers, wait_until
from tests.orders import order_body


def test_unconfigured_service_starts_and_records_dry_run(tmp_path):
    # only the bank-transfer details, which the transfer message prints (without them it is held:
    # tests/test_bank_details.py)
    env = {"BRIDGE_DB": str(tmp_path / "bridge.db"), "WORKER_INTERVAL": "0.2", "HEALTH_TOKEN": HEALTH_TOKEN,
           "TRANSFER_BANK": "Vietcombank", "TRANSFER_ACCOUNT": "0071009998887", "TRANSFER_HOLDER": "SHOP DEMO"}
    svc = ServiceProcess(env).start()
    try:
        assert requests.get(svc.url + "/healthz", timeout=5).json() == {"ok": True}   # all the public learns
        health = health_details(svc.url)
        assert health["ok"] and health["database"]["ok"] and health["scheduler"]["running"]
        assert health["channels"]["esms"]["mode"] == "dry-run"
        out = svc.output()
        assert f"WooCommerce webhook URL : http://127.0.0.1:{svc.port}/webhooks/woocommerce" in out
        secret = re.search(r"WooCommerce secret\s+: (\S+)", out).group(1)
        assert "DRY-RUN" in out

        body = order_body(77)
        assert requests.post(svc.url + "/webhooks/woocommerce", data=body,
                             headers=signed_headers(body, "order.created", secret="wrong"), timeout=5).status_code == 401
        r = requests.post(svc.url + "/webhooks/woocommerce", data=body,
                          headers=signed_headers(body, "order.created", secret=secret), timeout=5)
        assert r.status_code == 200 and r.json()["state"] == "received"   # decided right after the answer

        def dry_run():
            with sqlite3.connect(tmp_path / "bridge.db") as c:
                return c.execute("SELECT status, reason FROM messages").fetchall()
        rows = wait_until(lambda: [r for r in dry_run() if r[0] == "dry-run"], what="dry-run message")
        assert "not configured" in reasons.english(rows[0][1])
        wait_until(lambda: "dry-run" in svc.output(), what="dry-run in the log")
    finally:
        svc.stop()

    again = ServiceProcess(env, port=svc.port)
    again.log_path = tmp_path / "second.log"
    again.start()
    try:
        out = again.output()   # later starts: the secret stays out of the logs (the admin page shows it)
        assert "WooCommerce secret      : stored in the database" in out and secret not in out
    finally:
        again.stop()


def test_bad_configuration_stops_with_the_variable_named(tmp_path):
    import subprocess
    import sys
    from tests.conftest import ROOT
    p = subprocess.run([sys.executable, "app.py"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                       env={"BRIDGE_DB": str(tmp_path / "b.db"), "PORT": "http", "PATH": "/usr/bin:/bin"})
    assert p.returncode == 2 and "PORT='http'" in p.stderr


# -- the three start-up bugs of issue 15 -----------------------------------------------------
def _fresh_env(tmp_path) -> dict[str, str]:
    import os
    return {"BRIDGE_DB": str(tmp_path / "bridge.db"), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def _sign_in(url: str, password: str) -> int:
    s = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', s.get(url + "/admin/login", timeout=5).text).group(1)
    return s.post(url + "/admin/login", data={"password": password, "csrf_token": token}, allow_redirects=False,
                  timeout=10).status_code


def test_check_config_before_the_first_start_leaves_the_password_and_secrets_to_it(tmp_path):
    import subprocess
    import sys
    from tests.conftest import ROOT
    env = _fresh_env(tmp_path)
    p = subprocess.run([sys.executable, "-m", "bridge", "check-config"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    assert "admin password: none yet; the first start" in p.stdout

    svc = ServiceProcess(env).start()
    try:
        out = svc.output()
        password = re.search(r"password (\S+)   \(generated and shown only now", out).group(1)
        assert re.search(r"WooCommerce secret\s+: \S+   \(generated in the database", out)   # not "stored"
        assert _sign_in(svc.url, password) == 302
    finally:
        svc.stop()
    p = subprocess.run([sys.executable, "-m", "bridge", "check-config"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120, env=env)
    assert p.returncode == 0 and "admin password" not in p.stdout   # one exists now: nothing to say


def test_a_port_in_use_stops_the_start_with_one_clear_line(tmp_path):
    import socket
    import subprocess
    import sys
    from tests.conftest import ROOT
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        p = subprocess.run([sys.executable, "app.py"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                           env={**_fresh_env(tmp_path), "HOST": "127.0.0.1", "PORT": str(port)})
    assert p.returncode == 1
    assert p.stderr.strip() == (
        f"woo-bridge cannot start: port {port} on 127.0.0.1 is already in use (another woo-bridge, or another "
        f"program, listens there). Stop it, or start on another port: PORT={port + 1} python app.py "
        f"(make run PORT={port + 1})")
    assert "woo-bridge ready" not in p.stdout and "listening" not in p.stdout + p.stderr
    with sqlite3.connect(tmp_path / "bridge.db") as c:   # nothing was made that a later start should show
        assert c.execute("SELECT name FROM sqlite_master WHERE name='kv'").fetchone() is None


def test_make_run_prints_the_banner_once_with_the_generated_password(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    from tests.conftest import ROOT, free_port
    port = free_port()
    log = tmp_path / "make-run.log"
    with open(log, "wb") as out:
        # -o: the virtualenv is ready; make does not reinstall it for a test
        proc = subprocess.Popen(["make", "-s", "-o", ".venv/.run-deps", "run", f"PY={sys.executable}", f"PORT={port}"],
                                cwd=ROOT, env={**_fresh_env(tmp_path), "HOME": str(tmp_path)}, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            def up() -> bool:
                try:
                    return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
                except requests.RequestException:
                    return proc.poll() is not None
            wait_until(up, timeout=60, what="make run serving")
            text = log.read_text()
            assert proc.poll() is None, text
            assert text.count("woo-bridge ready") == 1, text
            assert text.count("Admin page") == 1 and "generated and shown only now" in text
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(20)

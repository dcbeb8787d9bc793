"""`python app.py` with no configuration at all: starts, shows what to paste into
WooCommerce, records messages as dry-run, and keeps its generated secret across restarts."""
from __future__ import annotations

import re
import sqlite3

import requests

from bridge import reasons
from tests.conftest import HEALTH_TOKEN, ServiceProcess, health_details, signed_headers, wait_until
from tests.orders import order_body


def test_unconfigured_service_starts_and_records_dry_run(tmp_path):
    env = {"BRIDGE_DB": str(tmp_path / "bridge.db"), "WORKER_INTERVAL": "0.2", "HEALTH_TOKEN": HEALTH_TOKEN}
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
        assert r.status_code == 200 and r.json()["messages"] == 1

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

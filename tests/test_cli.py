"""`python -m bridge …` as a shop owner runs it: real processes, the fakes over real HTTP."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading

from tests.conftest import ROOT
from tests.fakes.woocommerce import FakeWooCommerce


def run(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    full = {**{k: v for k, v in os.environ.items() if not k.startswith(("ESMS_", "WOO_", "BRIDGE_", "SMSGATE_"))},
            "LOG_LEVEL": "WARNING", **env}
    return subprocess.run([sys.executable, "-m", "bridge", *args], cwd=ROOT, env=full, capture_output=True,
                          text=True, timeout=timeout)


def base_env(tmp_path, fake_esms=None) -> dict[str, str]:
    env = {"BRIDGE_DB": str(tmp_path / "bridge.db"), "WOO_WEBHOOK_SECRET": "s", "OWNER_PHONES": ""}
    if fake_esms is not None:
        env.update(ESMS_API_KEY=fake_esms.api_key, ESMS_SECRET_KEY=fake_esms.secret_key,
                   ESMS_BASE_URL=fake_esms.base_url, ESMS_BRANDNAME="SHOPDEMO")
    return env


def test_send_test_sends_exactly_one_sms_and_says_what_esms_answered(tmp_path, fake_esms):
    r = run(base_env(tmp_path, fake_esms), "send-test", "0912 345 678", "--text", "Thử kết nối")
    assert r.returncode == 0, r.stderr
    assert len(fake_esms.accepted) == 1 and fake_esms.accepted[0]["Content"] == "Thử kết nối"
    assert "+84912345678 via esms: queued" in r.stdout and fake_esms.accepted[0]["SMSID"] in r.stdout


def test_send_test_without_credentials_says_dry_run_and_bad_input_is_refused(tmp_path):
    r = run(base_env(tmp_path), "send-test", "0912345678")
    assert r.returncode == 0 and "dry-run" in r.stdout
    bad = run(base_env(tmp_path), "send-test", "12")
    assert bad.returncode == 2 and "not a usable phone number" in bad.stderr
    bad = run(base_env(tmp_path), "send-test", "0912345678", "--channel", "pigeon")
    assert bad.returncode == 2 and "unknown channel 'pigeon'" in bad.stderr


def test_import_orders_takes_old_orders_in_without_messaging_anyone(tmp_path, fake_esms):
    with FakeWooCommerce() as woo:
        for i in range(150):
            woo.add_order(500 + i, 200000)
            woo.change(500 + i, "processing", f"2026-11-{10 + i % 10:02d}T08:00:00")
        env = {**base_env(tmp_path, fake_esms), "WOO_URL": woo.url, "WOO_CONSUMER_KEY": "ck_test",
               "WOO_CONSUMER_SECRET": "cs_test"}
        r = run(env, "import-orders", "--since", "2026-11-01")
        assert r.returncode == 0, r.stderr
        assert "150 orders fetched, 150 taken in, 0 messages queued" in r.stdout
        assert "importing orders" in r.stderr and "2/2" in r.stderr   # the progress bar
        assert fake_esms.accepted == []
        db = sqlite3.connect(tmp_path / "bridge.db")
        assert db.execute("SELECT COUNT(*) FROM orders WHERE notified_status='processing'").fetchone()[0] == 150
        # the next change of one of them is news: reconcile notifies it
        woo.change(512, "completed", "2026-11-23T09:00:00")
        r = run(env, "reconcile")
        assert r.returncode == 0 and "1 messages queued" in r.stdout, r.stdout + r.stderr
        assert len(fake_esms.accepted) == 1 and "#512" in fake_esms.accepted[0]["Content"]
        bad = run(env, "import-orders", "--since", "yesterday")
        assert bad.returncode == 2 and "--since must be a date" in bad.stderr


def test_reconcile_without_woocommerce_says_what_is_missing(tmp_path):
    r = run(base_env(tmp_path), "reconcile")
    assert r.returncode == 1 and "WOO_URL" in r.stderr


def test_backup_is_a_consistent_copy_while_the_database_is_written(tmp_path):
    env = base_env(tmp_path)
    assert run(env, "init").returncode == 0
    stop = threading.Event()

    def writer():
        db = sqlite3.connect(tmp_path / "bridge.db", timeout=30)
        i = 0
        while not stop.is_set():
            db.execute("INSERT INTO kv(key, value, updated_at) VALUES (?, ?, 0)", (f"k{i}", "x" * 500))
            db.commit()
            i += 1
        db.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        r = run(env, "backup", str(tmp_path / "copy" / "bridge-backup.db"))
    finally:
        stop.set()
        t.join()
    assert r.returncode == 0 and "integrity ok" in r.stdout, r.stderr
    copy = sqlite3.connect(tmp_path / "copy" / "bridge-backup.db")
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("SELECT COUNT(*) FROM kv WHERE key LIKE 'k%'").fetchone()[0] > 0
    again = run(env, "backup", str(tmp_path / "copy" / "bridge-backup.db"))
    assert again.returncode == 2 and "--force" in again.stderr


def test_check_config_names_what_is_wrong(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "r.yaml").write_text("rules:\n  - name: x\n    event: order.status\n    template: hi\n")
    r = run({**base_env(tmp_path), "MAPPINGS_DIR": str(tmp_path / "m")}, "check-config")
    assert r.returncode == 2 and "rule 'x'" in r.stderr and "status" in r.stderr
    r = run({**base_env(tmp_path), "SMSGATE_MODE": "carrier-pigeon"}, "check-config")
    assert r.returncode == 2 and "SMSGATE_MODE" in r.stderr
    assert run(base_env(tmp_path), "check-config").returncode == 0

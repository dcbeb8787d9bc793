"""`python -m bridge …` as a shop owner runs it: real processes, the fakes over real HTTP."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from tests.conftest import ROOT, wait_until
from tests.fakes.woocommerce import FakeWooCommerce
from tests.orders import order_body


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
    assert r.returncode == 0, r.stderr
    assert "channel esms is not configured (ESMS_API_KEY" in r.stdout and "DRY-RUN" in r.stdout
    assert "+84912345678 via esms: dry-run" in r.stdout
    db = sqlite3.connect(tmp_path / "bridge.db")
    assert db.execute("SELECT rule, status FROM messages").fetchall() == [("send-test", "dry-run")]
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
        assert "importing orders" in r.stderr and "150/150" in r.stderr   # the progress bar
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


def test_send_test_sends_only_its_own_message(tmp_path, fake_esms):
    """A backlog (the service stopped) is left to the service; the test message goes alone."""
    env = base_env(tmp_path, fake_esms)
    assert run(env, "init").returncode == 0
    db = sqlite3.connect(tmp_path / "bridge.db")
    db.execute("INSERT INTO messages(id, created_at, updated_at, dedupe_key, rule, event, audience, channel,"
               " recipient_raw, recipient, text, encoding, length, segments, status, attempts, due_at)"
               " VALUES ('backlog', 0, 0, 'k', 'order-processing', 'order.status', 'customer', 'esms', '0912345678',"
               " '+84912345678', 'x', 'GSM-7', 1, 1, 'pending', 0, 0)")
    db.commit()
    r = run(env, "send-test", "0987654321", "--plain")
    assert r.returncode == 0, r.stderr
    assert [a["Phone"] for a in fake_esms.accepted] == ["0987654321"]
    assert db.execute("SELECT status FROM messages WHERE id='backlog'").fetchone()[0] == "pending"


def test_send_test_reports_a_refusal_and_exits_1(tmp_path, fake_esms):
    fake_esms.set_outage("101")
    r = run(base_env(tmp_path, fake_esms), "send-test", "0912345678")
    assert r.returncode == 1 and ": failed" in r.stdout, r.stdout + r.stderr


def test_reconcile_without_woocommerce_says_what_is_missing(tmp_path):
    r = run(base_env(tmp_path), "reconcile")
    assert r.returncode == 2 and "WOO_URL" in r.stderr
    r = run(base_env(tmp_path), "import-orders", "--since", "2026-11-01")
    assert r.returncode == 2 and "WOO_CONSUMER_KEY" in r.stderr


def test_reconcile_with_woocommerce_down_exits_1_with_the_reason(tmp_path):
    with FakeWooCommerce() as woo:
        woo.down = True
        env = {**base_env(tmp_path), "WOO_URL": woo.url, "WOO_CONSUMER_KEY": "ck_test", "WOO_CONSUMER_SECRET": "cs_test"}
        r = run(env, "reconcile")
    assert r.returncode == 1 and "error: orders page 1: WooCommerce HTTP 500" in r.stderr
    db = sqlite3.connect(tmp_path / "bridge.db")
    assert "HTTP 500" in db.execute("SELECT value FROM kv WHERE key='reconcile.last'").fetchone()[0]


def test_backup_is_a_consistent_copy_while_the_service_writes(tmp_path, service_factory):
    svc = service_factory(start_scheduler=True, owner_phones=())
    stop = threading.Event()
    posted = []

    def shop():   # webhooks keep arriving: orders, deliveries and messages are written all along
        oid = 10_000
        while not stop.is_set():
            oid += 1
            assert svc.post_json(order_body(oid), topic="order.created").status_code == 200
            posted.append(oid)

    t = threading.Thread(target=shop)
    t.start()
    try:
        wait_until(lambda: len(posted) > 20, what="some writes before the backup")
        r = run({"BRIDGE_DB": svc.settings.db_path}, "backup", str(tmp_path / "copy" / "bridge-backup.db"))
    finally:
        stop.set()
        t.join()
    assert r.returncode == 0 and "integrity_check ok" in r.stdout, r.stdout + r.stderr
    assert "not in the copy" not in r.stdout   # nothing kept beside this database
    copy = sqlite3.connect(tmp_path / "copy" / "bridge-backup.db")
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    orders = copy.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
    assert 20 < orders <= len(posted)
    # a snapshot: every order in the copy came with its delivery and its messages
    assert copy.execute("SELECT COUNT(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM messages m"
                        " WHERE m.order_id=o.id)").fetchone()[0] == 0
    assert f"{orders} orders" in r.stdout
    assert not (tmp_path / "copy" / "bridge-backup.db.part").exists()
    again = run({"BRIDGE_DB": svc.settings.db_path}, "backup", str(tmp_path / "copy" / "bridge-backup.db"))
    assert again.returncode == 2 and "--force" in again.stderr
    missing = run({"BRIDGE_DB": str(tmp_path / "nope.db")}, "backup", str(tmp_path / "x.db"))
    assert missing.returncode == 2 and "no database" in missing.stderr


def test_check_config_names_what_is_wrong(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "r.yaml").write_text("rules:\n  - name: x\n    event: order.status\n    template: hi\n")
    r = run({**base_env(tmp_path), "MAPPINGS_DIR": str(tmp_path / "m")}, "check-config")
    assert r.returncode == 2 and "rule 'x'" in r.stderr and "status" in r.stderr
    r = run({**base_env(tmp_path), "SMSGATE_MODE": "carrier-pigeon", "RECONCILE_EVERY": "soon"}, "check-config")
    assert r.returncode == 2 and "SMSGATE_MODE" in r.stderr and "RECONCILE_EVERY='soon'" in r.stderr
    r = run({**base_env(tmp_path), "WOO_CONSUMER_KEY": "ck_x", "ESMS_API_KEY": "k", "OWNER_PHONES": "0901234567,12",
             "ALERT_CHANNELS": "esms,pigeon"}, "check-config")
    assert r.returncode == 2
    for reason in ("missing: WOO_URL, WOO_CONSUMER_SECRET", "missing: ESMS_SECRET_KEY", "OWNER_PHONES: '12'",
                   "ALERT_CHANNELS: unknown channel(s) pigeon"):
        assert reason in r.stderr, r.stderr
    ok = run(base_env(tmp_path), "check-config")
    assert ok.returncode == 0 and "configuration OK" in ok.stdout and "reconcile off" in ok.stdout
    assert "warning: OWNER_PHONES is empty" in ok.stderr


def test_backup_names_the_secret_kept_beside_the_database(tmp_path, service_factory):
    """The connected shop's key file (`<database>.shop-keys`) is not in the copy on purpose: the
    backup says so, so the owner backs it up on its own."""
    svc = service_factory()
    keys = Path(svc.settings.db_path + ".shop-keys")
    keys.write_bytes(b"k" * 32)
    keys.chmod(0o600)
    r = run({"BRIDGE_DB": svc.settings.db_path}, "backup", str(tmp_path / "copy.db"))
    assert r.returncode == 0 and f"not in the copy: {keys}" in r.stdout, r.stdout + r.stderr


def test_reconcile_with_the_service_running_wakes_its_sender_instead_of_sending_itself(tmp_path, fake_esms):
    """A second process draining would pace the providers with a second budget (twice the
    limit): with the service's sender listening, the command wakes it and sends nothing itself."""
    from bridge.wakeup import Listener
    woken = threading.Event()
    with FakeWooCommerce() as woo:
        woo.add_order(512, 200000)
        woo.change(512, "processing", "2026-11-10T08:00:00")
        env = {**base_env(tmp_path, fake_esms), "WOO_URL": woo.url, "WOO_CONSUMER_KEY": "ck_test",
               "WOO_CONSUMER_SECRET": "cs_test"}
        assert run(env, "import-orders", "--since", "2026-11-01").returncode == 0
        woo.change(512, "completed", "2026-11-23T09:00:00")
        listener = Listener(str(tmp_path / "bridge.db"), woken.set)
        assert listener.start()
        try:
            r = run(env, "reconcile")
            assert r.returncode == 0 and "1 messages queued" in r.stdout, r.stdout + r.stderr
            wait_until(woken.is_set, what="the service's sender woken")
        finally:
            listener.stop()
    assert "the running service sends them" in r.stderr and fake_esms.accepted == []
    db = sqlite3.connect(tmp_path / "bridge.db")
    assert db.execute("SELECT status FROM messages WHERE rule != 'send-test'").fetchall() == [("pending",)]

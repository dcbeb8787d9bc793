"""/healthz as the public and an operator see it, over real HTTP: only ok or not to the public,
from a real write to the database; the details to HEALTH_TOKEN holders and signed-in admins."""
from __future__ import annotations

import re
import sqlite3

import requests

from tests.conftest import HEALTH_TOKEN, health_details, wait_until


def test_the_public_answer_is_only_ok_and_shows_nothing_else(service_factory):
    svc = service_factory(owner_phones=("0901 234 567",))
    r = requests.get(svc.url + "/healthz", timeout=5)
    assert r.status_code == 200 and r.json() == {"ok": True}
    for leak in (svc.settings.db_path, "outbox", "esms_balance", "devices", "remote_addr"):
        assert leak not in r.text
    refused = requests.get(svc.url + "/healthz?details=1", timeout=5)
    assert refused.status_code == 401 and "HEALTH_TOKEN" in refused.json()["error"]
    wrong = requests.get(svc.url + "/healthz?details=1", headers={"Authorization": "Bearer guess"}, timeout=5)
    assert wrong.status_code == 401
    details = health_details(svc.url)
    assert details["ok"] and details["database"]["path"] == svc.settings.db_path and "outbox" in details


def test_a_signed_in_admin_sees_the_details(service_factory):
    svc = service_factory(admin_password="pw for health", health_token="")
    s = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', s.get(svc.url + "/admin/login", timeout=5).text).group(1)
    assert s.post(svc.url + "/admin/login", data={"password": "pw for health", "csrf_token": token},
                  allow_redirects=False, timeout=10).status_code == 302
    assert s.get(svc.url + "/admin/health", timeout=5).json()["database"]["path"] == svc.settings.db_path
    assert s.get(svc.url + "/healthz?details=1", timeout=5).json()["database"]["ok"] is True
    # without HEALTH_TOKEN configured, no bearer opens the details
    assert requests.get(svc.url + "/healthz?details=1", headers={"Authorization": "Bearer "}, timeout=5
                        ).status_code == 401
    assert requests.get(svc.url + "/admin/health", allow_redirects=False, timeout=5).status_code == 302


def test_a_locked_database_is_not_ok(service_factory):
    """Another connection holds the write lock (a stuck process, a long backup restore): webhooks
    would fail, so health must too; it recovers when the lock goes."""
    svc = service_factory()
    assert requests.get(svc.url + "/healthz", timeout=5).status_code == 200
    holder = sqlite3.connect(svc.settings.db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        r = requests.get(svc.url + "/healthz", timeout=10)
        assert r.status_code == 503 and r.json() == {"ok": False}
        details = requests.get(svc.url + "/healthz?details=1", headers={"Authorization": f"Bearer {HEALTH_TOKEN}"},
                               timeout=10)
        assert details.status_code == 503 and "locked" in details.json()["problem"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    wait_until(lambda: requests.get(svc.url + "/healthz", timeout=5).status_code == 200, what="health back")

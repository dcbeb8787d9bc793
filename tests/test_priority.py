"""The worker process yields the CPU to the answering processes for a bounded time
(bridge/priority.py): its threads run at SCHED_IDLE, a thread holding the write lock runs at the
normal policy, and work that waited longer than WORKER_YIELD_MAX_WAIT takes the normal share back
until it has caught up. Policies are read from the kernel (sched_getscheduler, /proc)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, signed_headers, wait_until
from tests.orders import order_body
from tests.test_reliability_deployed import Deployment, fakes_env

# Run in a process of its own: yielding changes the policy of every thread of the process.
SCRIPT = r"""
import json, sys, threading, time
from bridge import priority
from bridge.store.db import Database

out = {}
wait = [None]

def oldest_wait():
    if wait[0] == "broken":
        raise RuntimeError("database gone")
    return wait[0]

y = priority.Yielder(oldest_wait, 10.0)
priority.CHECK_EVERY = 3600   # the test calls check() itself; the guard's own pass would only repeat it
out["started"] = y.start()
release = threading.Event()
lane_tid = []
def lane():
    lane_tid.append(threading.get_native_id())
    release.wait()
t = threading.Thread(target=lane)
t.start()
while not lane_tid:
    time.sleep(0.001)

def snap():
    return {"main": priority.policy_of(0), "lane": priority.policy_of(lane_tid[0]),
            "guard": priority.policy_of(y.guard_tid) if y.guard_tid else None}

out["yielding"] = snap()
db = Database(sys.argv[1])
db.migrate()
with db.tx() as c:
    c.execute("SELECT 1")
    out["holding_the_write_lock"] = priority.policy_of(0)
    y.check()   # a pass of the guard meanwhile leaves the lock holder alone
    out["holding_after_a_pass"] = priority.policy_of(0)
out["after_commit"] = priority.policy_of(0)
wait[0] = 11.0
y.check()
out["waited_too_long"] = snap()
with db.tx() as c:
    c.execute("SELECT 1")
out["after_a_transaction_while_late"] = priority.policy_of(0)
wait[0] = 6.0
y.check()
out["still_over_half"] = snap()
wait[0] = 4.0
y.check()
out["caught_up"] = snap()
wait[0] = "broken"
y.check()
out["cannot_read"] = snap()
wait[0] = None
y.check()
out["nothing_waits"] = snap()
release.set()
print(json.dumps(out))
"""


def run_script(tmp_path: Path, prefix: list[str] = ()) -> tuple[dict, str]:
    p = subprocess.run([*prefix, sys.executable, "-c", SCRIPT, str(tmp_path / "p.db")], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1]), p.stderr


def test_threads_yield_the_cpu_until_work_waits_too_long_and_a_write_transaction_never_runs_idle(tmp_path):
    out, _ = run_script(tmp_path)
    assert out["started"] is True
    idle = {"main": "idle", "lane": "idle", "guard": "normal"}
    normal = {"main": "normal", "lane": "normal", "guard": "normal"}
    assert out["yielding"] == idle           # a thread started after the start inherits it
    assert out["holding_the_write_lock"] == "normal"
    assert out["holding_after_a_pass"] == "normal"
    assert out["after_commit"] == "idle"
    assert out["waited_too_long"] == normal
    assert out["after_a_transaction_while_late"] == "normal"
    assert out["still_over_half"] == normal   # back only once nothing waited half the bound
    assert out["caught_up"] == idle
    assert out["cannot_read"] == normal       # not knowing is treated as waiting too long
    assert out["nothing_waits"] == idle


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) drops CAP_SYS_NICE")
def test_where_the_threads_could_not_come_back_from_idle_it_keeps_the_plain_nice_and_says_why(tmp_path):
    """An account without CAP_SYS_NICE and RLIMIT_NICE 0 (the default; deploy/'s LimitNICE=+0 and
    compose's `ulimits: nice: 20` raise it to what nice 0 needs): the process never yields."""
    drop = ["setpriv", "--bounding-set=-sys_nice", "--inh-caps=-sys_nice"] if os.geteuid() == 0 else []
    out, stderr = run_script(tmp_path, ["prlimit", "--nice=0", *drop])
    assert out["started"] is False
    assert out["yielding"] == {"main": "normal", "lane": "normal", "guard": None}
    assert out["waited_too_long"]["lane"] == out["caught_up"]["lane"] == "normal"
    assert "LimitNICE=+0" in stderr


def _policies(pid: int) -> dict[int, str]:
    """Each thread's scheduling policy from /proc (field 41: 0 normal, 5 idle)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(tid)] = {"0": "normal", "5": "idle"}.get(fields[38], fields[38])
    return out


def test_the_deployed_worker_decides_and_sends_at_idle_priority_with_one_guard_at_normal(tmp_path, fake_esms, woo):
    d = Deployment(tmp_path, fakes_env(fake_esms, woo), workers=1)
    try:
        d.start_web()
        d.start_worker()
        wait_until(lambda: "deciding and sending use the CPU the answers leave" in d.logs(), timeout=30,
                   what="the worker's start")
        wait_until(lambda: sorted(_policies(d.worker.pid).values()).count("normal") == 1, timeout=10,
                   what="every thread but the guard idle")
        body = order_body(7001, total=150_000)
        r = requests.post(d.url + "/webhooks/woocommerce", data=body, headers=signed_headers(body, "order.created"),
                          timeout=10)
        assert r.status_code == 200
        wait_until(lambda: len(fake_esms.accepted) == 1, timeout=20, what="the order's SMS at eSMS")
        policies = _policies(d.worker.pid)
        assert list(policies.values()).count("normal") == 1 and len(policies) > 3, policies
    finally:
        d.stop()


def test_how_long_work_has_waited_counts_a_message_due_and_not_sent(service_factory, fake_esms):
    from tests.conftest import esms_settings
    svc = service_factory(**esms_settings(fake_esms))
    assert svc.bridge.oldest_wait() is None
    body = order_body(7002, total=150_000)
    assert requests.post(svc.url + "/webhooks/woocommerce", data=body,
                         headers=signed_headers(body, "order.created"), timeout=10).status_code == 200
    svc.clock.advance(40)
    assert 40 <= svc.bridge.oldest_wait() < 45
    svc.bridge.worker.drain()
    assert svc.bridge.oldest_wait() is None

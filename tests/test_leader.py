"""Several processes with schedulers on one database: the periodic jobs run in one of them, and
another takes over when that one is killed."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from bridge.store.db import Database
from bridge.leader import KEY
from tests.conftest import ROOT, wait_until


def start_workers(n: int, env: dict[str, str]) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-m", "bridge", "worker"], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(n)]


def holder_pid(db: Database) -> int | None:
    row = db.one("SELECT value FROM kv WHERE key=?", (KEY,))
    return int(row["value"].split(":")[1]) if row else None


def test_one_process_runs_the_periodic_jobs_and_another_takes_over_after_kill_9(tmp_path, fake_esms):
    db_path = str(tmp_path / "bridge.db")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("ESMS_", "WOO_", "BRIDGE_"))},
           "BRIDGE_DB": db_path, "ESMS_API_KEY": fake_esms.api_key, "ESMS_SECRET_KEY": fake_esms.secret_key,
           "ESMS_BASE_URL": fake_esms.base_url, "ESMS_BALANCE_EVERY": "1", "SCHEDULER_LEASE": "3",
           "WOO_WEBHOOK_SECRET": "s", "LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "-m", "bridge", "init"], cwd=ROOT, env=env, check=True, capture_output=True)
    procs = start_workers(3, env)
    db = Database(db_path)
    try:
        wait_until(lambda: len(fake_esms.balance_calls) >= 2, timeout=20, what="the balance job to run")
        start = time.time()
        time.sleep(4)
        calls = [t for t in fake_esms.balance_calls if t >= start]
        # every second by one process; three schedulers would make about 12 calls in 4 s
        assert 2 <= len(calls) <= 6, calls
        leader = holder_pid(db)
        assert leader in {p.pid for p in procs}
        victim = next(p for p in procs if p.pid == leader)
        victim.kill()
        victim.wait(10)
        killed_at = time.time()
        wait_until(lambda: holder_pid(db) not in (None, leader), timeout=10, what="another process to take over")
        wait_until(lambda: any(t > killed_at + 0.5 for t in fake_esms.balance_calls), timeout=10,
                   what="the balance job to run again")
        took = min(t for t in fake_esms.balance_calls if t > killed_at) - killed_at
        assert took < 3 + 2, f"took {took:.1f} s to take over (lease 3 s)"
        later = time.time()
        time.sleep(3)
        assert len([t for t in fake_esms.balance_calls if t >= later]) <= 5
    finally:
        for p in procs:
            p.kill()
            p.wait(10)


def test_the_worker_process_yields_the_cpu_to_the_web_processes(tmp_path):
    """Deciding and sending come after the answer: the worker runs WORKER_NICE steps below the
    processes that acknowledge (10 by default, what deploy/ runs)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("ESMS_", "WOO_", "BRIDGE_", "WORKER_"))},
           "BRIDGE_DB": str(tmp_path / "bridge.db"), "WOO_WEBHOOK_SECRET": "s", "LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "-m", "bridge", "init"], cwd=ROOT, env=env, check=True, capture_output=True)
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    for given, expected in ((None, 10), ("3", 3)):
        proc = start_workers(1, env if given is None else {**env, "WORKER_NICE": given})[0]
        try:
            wait_until(lambda: os.getpriority(os.PRIO_PROCESS, proc.pid) != ours or proc.poll() is not None,
                       timeout=20, what="the worker to lower its priority")
            assert os.getpriority(os.PRIO_PROCESS, proc.pid) == min(19, ours + expected)
        finally:
            proc.kill()
            proc.wait(10)

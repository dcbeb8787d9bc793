"""Background jobs (APScheduler): drain the outbox, poll eSMS and SMSGate status for messages
without a report, and watch the eSMS balance.

The same jobs run inside the web process (default) or in `python -m bridge worker` when a
deployment separates the two (then set RUN_SCHEDULER=false on the web process).
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor as APThreadPool
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler

from . import alerts
from .providers.woocommerce import reconcile
from .db import now
from .outbox import advance_stalled, apply_report

log = logging.getLogger(__name__)


def poll_channel(bridge, name: str, after: float, give_up: float) -> int:
    """Ask a provider for the state of messages that got no delivery report after a while."""
    ch = bridge.channels.get(name)
    if ch is None or not ch.configured:
        return 0
    t = bridge.clock()
    rows = bridge.db.query(
        "SELECT id, provider_id, device FROM messages WHERE channel=? AND status IN ('queued','sent')"
        " AND provider_id IS NOT NULL AND sent_at <= ? AND sent_at >= ?"
        " AND (last_polled_at IS NULL OR last_polled_at <= ?) ORDER BY sent_at LIMIT 200",
        (name, t - after, t - give_up, t - after))
    n = 0
    for r in rows:
        report = ch.poll(r["provider_id"], r["device"])
        with bridge.db.tx() as c:
            c.execute("UPDATE messages SET last_polled_at=? WHERE id=?", (now(), r["id"]))
        if report is not None:
            apply_report(bridge.db, f"{name}-poll", report, r["provider_id"])
            n += 1
    return n


def poll_esms(bridge) -> int:
    s = bridge.settings
    return poll_channel(bridge, "esms", s.esms_poll_after, s.esms_poll_give_up)


def poll_smsgate(bridge) -> int:
    s = bridge.settings
    return poll_channel(bridge, "smsgate", s.smsgate_poll_after, s.esms_poll_give_up)


def check_balance(bridge) -> int | None:
    ch = bridge.channels.get("esms")
    if ch is None or not ch.configured or not hasattr(ch, "balance"):
        return None
    balance = ch.balance()
    if balance is None:
        return None
    bridge.db.kv_set("esms.balance", str(balance))
    bridge.db.kv_set("esms.balance_at", str(now()))
    if balance < bridge.settings.esms_low_balance:
        log.warning("eSMS balance is low: %s VND (below ESMS_LOW_BALANCE=%s); top up to keep sending",
                    balance, bridge.settings.esms_low_balance)
    else:
        log.info("eSMS balance: %s VND", balance)
    return balance


def install_jobs(scheduler: BaseScheduler, bridge) -> None:
    s = bridge.settings
    start = datetime.now(timezone.utc)
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 30}
    scheduler.add_job(bridge.worker.drain, "interval", seconds=s.worker_interval, id="drain_outbox",
                      name="drain outbox", next_run_time=start, **common)
    scheduler.add_job(lambda: poll_esms(bridge), "interval", seconds=max(30.0, min(300.0, s.esms_poll_after / 2)),
                      id="poll_esms_status", name="poll eSMS status", **common)
    scheduler.add_job(lambda: poll_smsgate(bridge), "interval",
                      seconds=max(30.0, min(300.0, s.smsgate_poll_after / 2)), id="poll_smsgate_status", name="poll SMSGate status", **common)
    scheduler.add_job(lambda: _advance(bridge), "interval", seconds=max(1.0, min(15.0, s.worker_interval * 10)),
                      id="advance_chains", name="next channel for messages without a delivery report", **common)
    scheduler.add_job(lambda: bridge.inbox.finish_stranded(), "interval", seconds=30, id="finish_inbox",
                      name="finish stranded inbound SMS", **common)
    scheduler.add_job(lambda: check_balance(bridge), "interval", seconds=s.esms_balance_every,
                      id="esms_balance", name="eSMS balance", next_run_time=start, **common)
    scheduler.add_job(lambda: alerts.watch(bridge), "interval", seconds=s.alert_every, id="owner_alerts",
                      name="owner alerts", **common)
    if s.woo_configured:
        scheduler.add_job(lambda: reconcile.run(bridge), "interval", seconds=s.reconcile_every, id="reconcile",
                          name="reconcile with WooCommerce", **common)


def leader_only(bridge: Any, fn: Any) -> Any:
    """The job runs only in the process holding the scheduler lease (bridge/leader.py)."""
    def run() -> Any:
        if bridge.leader.leading:
            return fn()
        return None
    run.__name__ = getattr(fn, "__name__", "job")
    return run


def make_scheduler(bridge) -> BackgroundScheduler:
    # A few threads are enough for a handful of short jobs (the drain fans out on its own lanes);
    # every thread that touches the database keeps its own SQLite connection and page cache.
    sched = BackgroundScheduler(timezone="UTC", job_defaults={"max_instances": 1},
                                executors={"default": APThreadPool(max_workers=4)})
    install_jobs(sched, bridge)
    for job in sched.get_jobs():
        job.modify(func=leader_only(bridge, job.func))
    lease = bridge.settings.scheduler_lease
    sched.add_job(bridge.leader.renew, "interval", seconds=max(1.0, lease / 3), id="scheduler_lease",
                  name="hold or take the scheduler lease", max_instances=1, coalesce=True, misfire_grace_time=30)
    return sched


def _advance(bridge: Any) -> None:
    if advance_stalled(bridge.db, bridge.clock()):
        bridge.wake_worker()

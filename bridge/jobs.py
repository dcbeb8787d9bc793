"""Background jobs (APScheduler): drain the outbox, move stalled chains on, decide what a stopped
process acknowledged and left undecided, watch for owner alerts, expire unpaid bank transfers, and whatever periodic jobs the providers declare (status
polls, balance, reconcile with the shop).

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

from . import alerts, bank_details, bulk, cod, intake, outgoing, retention, setup_checklist, shipments
from . import providers
from .payments import expiry
from .store import messages, search
from .store.db import now
from .outbox import advance_stalled, apply_report, resolve_in_doubt

log = logging.getLogger(__name__)


def poll_channel(bridge, name: str, after: float, give_up: float) -> int:
    """Ask a provider for the state of messages that got no delivery report after a while."""
    ch = bridge.channels.get(name)
    if ch is None or not ch.configured:
        return 0
    t = bridge.clock()
    rows = messages.to_poll(bridge.db, name, t - after, t - give_up, t - after)
    n = 0
    for r in rows:
        report = ch.poll(r["provider_id"], r["device"])
        with bridge.db.tx() as c:
            messages.mark_polled(c, r["id"], now())
        if report is not None:
            apply_report(bridge.db, f"{name}-poll", report, r["provider_id"])
            n += 1
    return n


def install_jobs(scheduler: BaseScheduler, bridge) -> None:
    s = bridge.settings
    start = datetime.now(timezone.utc)
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 30}
    scheduler.add_job(bridge.worker.drain, "interval", seconds=s.worker_interval, id="drain_outbox",
                      name="drain outbox", next_run_time=start, **common)
    scheduler.add_job(lambda: _advance(bridge), "interval", seconds=max(1.0, min(15.0, s.worker_interval * 10)),
                      id="advance_chains", name="next channel for messages without a delivery report", **common)
    scheduler.add_job(lambda: intake.sweep(bridge.db, bridge.decider), "interval", seconds=intake.SWEEP_EVERY,
                      id="decide_left", name="decide what a stopped process acknowledged and left undecided", **common)
    scheduler.add_job(lambda: alerts.watch(bridge), "interval", seconds=s.alert_every, id="owner_alerts",
                      name="owner alerts", **common)
    scheduler.add_job(lambda: bank_details.release(bridge), "interval", seconds=bank_details.EVERY,
                      id="release_held", name="send the messages held for the bank-transfer details once they are set",
                      next_run_time=start, **common)
    scheduler.add_job(lambda: setup_checklist.check_public_url(bridge), "interval", seconds=setup_checklist.EVERY,
                      id="check_public_url", name="does PUBLIC_URL reach this service (set-up checklist)",
                      next_run_time=start, **common)
    scheduler.add_job(lambda: shipments.run(bridge), "interval", seconds=shipments.EVERY, id="shipment_match",
                      name="carriers' calls whose order has arrived since, or left undecided", **common)
    if s.payment_expire_hours > 0:
        scheduler.add_job(lambda: expiry.run(bridge), "interval", seconds=expiry.EVERY, id="payment_expiry",
                          name="cancel bank-transfer orders unpaid past PAYMENT_EXPIRE_HOURS", **common)
    scheduler.add_job(lambda: bulk.step(bridge), "interval", seconds=bulk.EVERY, id="bulk_sends",
                      name="queue running bulk sends batch by batch; keep paused ones still", **common)
    scheduler.add_job(lambda: cod.run(bridge), "interval", seconds=cod.EVERY, id="cod_confirmations",
                      name="remind COD customers who have not confirmed, then ask the owner to call", **common)
    scheduler.add_job(lambda: outgoing.run(bridge), "interval", seconds=outgoing.EVERY, id="outgoing_events",
                      name="status changes to outgoing events; each subject's next event once the last is done",
                      **common)
    scheduler.add_job(lambda: search.keep_index(bridge.db, between=bridge.give_way), "interval",
                      seconds=search.KEEP_EVERY, id="search_index",
                      name="the new messages into the admin's search indexes, in small batches", **common)
    if retention.any_kept_limit(s):
        scheduler.add_job(lambda: retention.run(bridge), "interval", seconds=s.retain_every, id="retention",
                          name="prune what is older than RETAIN_* days, in small batches", **common)
    for job in providers.jobs():
        if not job.when(s):
            continue
        fn = providers.resolve(job.target)
        scheduler.add_job(lambda fn=fn: fn(bridge), "interval", seconds=job.every(s), id=job.id, name=job.name,
                          **({"next_run_time": start} if job.at_start else {}), **common)


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
    if advance_stalled(bridge.db, bridge.clock()) + resolve_in_doubt(bridge.db):
        bridge.wake_worker()

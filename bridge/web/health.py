"""GET /healthz: is the database answering and is the scheduler running."""
from __future__ import annotations

import sqlite3

from flask import Blueprint, jsonify, request

from ..outbox import counts
from . import bridge

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    b = bridge()
    db_ok, db_error, outbox = True, "", {}
    try:
        b.db.scalar("SELECT 1")
        outbox = counts(b.db)
        schema = b.db.scalar("PRAGMA user_version")
    except sqlite3.Error as exc:
        db_ok, db_error, schema = False, str(exc), None
    sched = b.scheduler
    jobs = []
    if sched is not None:
        for j in sched.get_jobs():
            jobs.append({"id": j.id, "next_run": j.next_run_time.isoformat() if j.next_run_time else None})
    scheduler = {"running": bool(sched and sched.running), "in_process": b.settings.run_scheduler, "jobs": jobs}
    ok = db_ok and (scheduler["running"] or not b.settings.run_scheduler)
    body = {
        "ok": ok,
        "database": {"ok": db_ok, "path": b.settings.db_path, "schema_version": schema, "error": db_error},
        "scheduler": scheduler,
        "channels": b.channel_status(),
        "outbox": outbox,
        "esms_balance": b.db.kv_get("esms.balance") if db_ok else None,
        "devices": b.device_status() if db_ok else [],
        # as this service sees the caller: behind a proxy, shows whether PROXY_COUNT is right
        "request": {"scheme": request.scheme, "remote_addr": request.remote_addr, "host": request.host},
    }
    return jsonify(body), 200 if ok else 503


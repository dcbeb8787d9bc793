"""GET /healthz: can the service accept work right now (a real write to the database) and is the
scheduler running.

The public answer is only `{"ok": true}` (200) or `{"ok": false}` (503): the details (database
path, phones, balance, outbox counts, what the proxy forwards) help an attacker more than a load
balancer. They are shown with `?details=1` to a caller holding HEALTH_TOKEN (`Authorization:
Bearer …`) or signed in to the admin, and at /admin/health.

"Answering" is not enough: a locked database or a full disk still answers SELECT 1 while every
webhook fails. The probe writes a kv row inside BEGIN IMMEDIATE with a short busy timeout, on
its own connection, so it fails exactly when a webhook would.
"""
from __future__ import annotations

import hmac
import logging
import sqlite3
from typing import Any

from flask import Blueprint, jsonify, request

from .. import providers, setup_checklist
from ..outbox import counts
from ..payments.generic import DRIFT_WINDOW, unknown_layouts
from ..store import intake as stored_intake, kv
from ..store.schema import schema_version
from ..service import Bridge
from . import bridge, error

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)
PROBE_BUSY_TIMEOUT = 2.0   # seconds a probe waits for another writer (Docker's check gives up after 5)
PROBE_KEY = "health.probe"


def write_probe(b: Bridge, timeout: float = PROBE_BUSY_TIMEOUT, probe: str = "") -> str:
    """'' when a write transaction commits within `timeout`, else why not. A `probe` (the set-up
    checklist asking through PUBLIC_URL, bridge/setup_checklist.py) is what that write stores, so
    the asker sees its request reached a process of this very service (its database)."""
    if probe and setup_checklist.PROBE_SHAPE.fullmatch(probe):
        return kv.probe_write(b.settings.db_path, setup_checklist.PROBE_KEY, timeout, probe)
    return kv.probe_write(b.settings.db_path, PROBE_KEY, timeout)


def _scheduler(b: Bridge) -> dict[str, Any]:
    sched = b.scheduler
    jobs = []
    if sched is not None:
        for j in sched.get_jobs():
            jobs.append({"id": j.id, "next_run": j.next_run_time.isoformat() if j.next_run_time else None})
    return {"running": bool(sched and sched.running), "in_process": b.settings.run_scheduler, "jobs": jobs}


def check(b: Bridge, probe: str = "") -> tuple[bool, str, dict[str, Any]]:
    """(ok, why not, scheduler state)."""
    problem = write_probe(b, probe=probe)
    scheduler = _scheduler(b)
    if not problem and b.settings.run_scheduler and not scheduler["running"]:
        problem = "the in-process scheduler is not running"
    return not problem, problem, scheduler


def undecided_backlog(b: Bridge) -> dict[str, Any]:
    """What waits for its decision; an oldest_seconds that grows means nothing decides."""
    waiting = stored_intake.backlog(b.db)
    oldest = [t for _, t in waiting.values() if t is not None]
    return {"count": {kind: n for kind, (n, _) in waiting.items()},
            "oldest_seconds": round(max(0.0, b.clock() - min(oldest)), 1) if oldest else 0.0}


def details(b: Bridge) -> tuple[dict[str, Any], bool]:
    """Everything an operator wants to see (admins and HEALTH_TOKEN holders only)."""
    ok, problem, scheduler = check(b)
    outbox: dict[str, int] = {}
    drift: dict[str, int] = {}
    undecided: dict[str, Any] = {}
    schema = None
    read_error = ""
    try:
        outbox = counts(b.db)
        schema = schema_version(b.db)
        drift = unknown_layouts(b.db, b.clock() - DRIFT_WINDOW)
        undecided = undecided_backlog(b)
    except sqlite3.Error as exc:
        read_error = str(exc)
    status: dict[str, Any] = {}
    if not read_error:
        try:
            status = {i.key: i.value for i in providers.status_items(b)}
        except sqlite3.Error:
            pass
    db_ok = not read_error and not problem.startswith(("OperationalError", "DatabaseError"))
    body = {
        "ok": ok,
        "problem": problem,
        "database": {"ok": db_ok, "path": b.settings.db_path, "schema_version": schema,
                     "error": read_error or (problem if not db_ok else "")},
        "scheduler": scheduler,
        "channels": b.channel_status(),
        "outbox": outbox,
        "undecided": undecided,   # acknowledged, not decided yet: how many by kind, the oldest's age
        "unknown_bank_layouts_30d": drift,   # per bank: a bank changed its message layout (template drift)
        **status,   # what the providers watch (a prepaid balance)
        "devices": b.device_status() if not read_error else [],
        # as this service sees the caller: behind a proxy, shows whether PROXY_COUNT is right
        "request": {"scheme": request.scheme, "remote_addr": request.remote_addr, "host": request.host},
    }
    return body, ok


def _may_see_details(b: Bridge) -> bool:
    token = b.settings.health_token
    given = request.headers.get("Authorization", "")
    if token and given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip().encode(), token.encode()):
        return True
    from .admin import signed_in
    return signed_in()


@bp.get("/healthz")
def healthz():
    b = bridge()
    if "details" in request.args:
        if not _may_see_details(b):
            return error(401, "details need `Authorization: Bearer <HEALTH_TOKEN>` or an admin session; "
                              "/healthz without ?details says only ok or not")
        body, ok = details(b)
        return jsonify(body), 200 if ok else 503
    ok, problem, _ = check(b, request.args.get("probe", ""))
    if not ok:
        log.warning("health check failed: %s", problem)
    resp = jsonify({"ok": ok})
    resp.headers["Cache-Control"] = "no-store"
    return resp, 200 if ok else 503

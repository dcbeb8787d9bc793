"""/metrics in Prometheus format counts what really happened; logs can be JSON lines carrying
the request id that the response also returns."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, ServiceProcess, esms_settings, wait_until
from tests.orders import order_body


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    r = requests.get(url + "/metrics", timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    out = {}
    for fam in text_string_to_metric_families(r.text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_follow_webhooks_sends_reports_and_payments(service_factory, fake_esms):
    svc = service_factory(start_scheduler=True, **esms_settings(fake_esms))
    for oid in (11, 12):
        assert svc.post_json(order_body(oid), topic="order.created").status_code == 200
    requests.post(svc.url + "/webhooks/woocommerce", data=b"{}", headers={"X-WC-Webhook-Topic": "order.created"},
                  timeout=5)   # unsigned: refused
    wait_until(lambda: len(fake_esms.accepted) == 4, what="4 SMS")
    fake_esms.fire_callback(fake_esms.accepted[0]["SMSID"], send_status=5, success=1)
    m = scrape(svc.url)
    # a delivery moves from received to processed: a gauge of what each is now, not a counter
    assert m[("woobridge_webhook_deliveries", (("state", "processed"), ("topic", "order.created")))] == 2
    kinds = {fam.name: fam.type for fam in text_string_to_metric_families(requests.get(svc.url + "/metrics").text)}
    assert kinds["woobridge_webhook_deliveries"] == kinds["woobridge_inbound"] == "gauge"
    assert m[("woobridge_rejected_requests_total", (("endpoint", "/webhooks/woocommerce"), ("status", "401")))] == 1
    assert m[("woobridge_messages", (("channel", "esms"), ("status", "delivered")))] == 1
    assert m[("woobridge_messages", (("channel", "esms"), ("status", "queued")))] == 3
    assert m[("woobridge_send_attempts_total", (("channel", "esms"), ("outcome", "accepted")))] == 4
    assert m[("woobridge_send_duration_seconds_count", (("channel", "esms"),))] == 4
    assert m[("woobridge_send_duration_seconds_bucket", (("channel", "esms"), ("le", "+Inf")))] == 4
    assert m[("woobridge_message_delivery_seconds_count", (("channel", "esms"),))] == 1
    assert m[("woobridge_outbox_depth", (("status", "pending"),))] == 0
    assert m[("woobridge_review_queue", ())] == 0
    assert m[("woobridge_scheduler_leader", ())] == 1
    assert m[("woobridge_esms_balance_vnd", ())] in {1_000_000 - k * 800 for k in range(5)}  # read at start


def test_every_response_carries_a_request_id_and_json_logs_carry_it_too(tmp_path):
    env = {"BRIDGE_DB": str(tmp_path / "b.db"), "LOG_FORMAT": "json", "WOO_WEBHOOK_SECRET": "s"}
    svc = ServiceProcess(env).start()
    try:
        r = requests.post(svc.url + "/webhooks/woocommerce", data=b"{}", timeout=5,
                          headers={"X-WC-Webhook-Topic": "order.created", "X-Request-ID": "proxy-abc.123"})
        assert r.status_code == 401 and r.headers["X-Request-ID"] == "proxy-abc.123"
        own = requests.get(svc.url + "/healthz", headers={"X-Request-ID": "bad id <x>"}, timeout=5)
        assert len(own.headers["X-Request-ID"]) == 16 and own.headers["X-Request-ID"] != "bad id"
        wait_until(lambda: "proxy-abc.123" in svc.output(), what="the refusal in the log")
    finally:
        svc.stop()
    lines = [json.loads(line) for line in svc.output().splitlines() if line.startswith("{")]
    refusal = [x for x in lines if x.get("request_id") == "proxy-abc.123"]
    assert refusal and refusal[0]["level"] == "WARNING" and "X-WC-Webhook-Signature" in refusal[0]["message"]
    assert all({"time", "level", "logger", "message"} <= set(x) for x in lines)


def test_unknown_log_format_is_refused_at_start(tmp_path):
    env = {**os.environ, "BRIDGE_DB": str(tmp_path / "b.db"), "LOG_FORMAT": "xml"}
    r = subprocess.run([sys.executable, "-m", "bridge", "check-config"], cwd=ROOT, env=env, capture_output=True,
                       text=True)
    assert r.returncode != 0 and "LOG_FORMAT" in r.stderr


def test_a_job_still_running_when_its_trigger_fires_again_is_logged_once_per_quiet_period(caplog):
    """A drain that sends through a burst outlasts its one-second trigger: APScheduler's warning
    that it skipped a run reaches the log once, then once per QUIET with the count left out."""
    import logging
    import threading
    from apscheduler.events import EVENT_JOB_MAX_INSTANCES
    from apscheduler.schedulers.background import BackgroundScheduler
    from bridge import logs

    logs.setup()
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    assert logs.OVERLAPS in scheduler_log.filters   # what the service and the worker install
    now = [0.0]
    overlaps = logs.OverlapFilter(clock=lambda: now[0])
    scheduler_log.removeFilter(logs.OVERLAPS)
    scheduler_log.addFilter(overlaps)
    release, skipped = threading.Event(), []
    sched = BackgroundScheduler(timezone="UTC")
    sched.add_listener(skipped.append, EVENT_JOB_MAX_INSTANCES)
    for job in ("drain_outbox", "bulk_sends"):
        sched.add_job(release.wait, "interval", seconds=0.02, id=job, name=job, max_instances=1, coalesce=True)
    caplog.set_level(logging.WARNING, logger="apscheduler.scheduler")

    def warned() -> list[str]:
        return [r.getMessage() for r in caplog.records if "maximum number of running instances" in r.getMessage()]

    def skips(job: str) -> int:
        return sum(e.job_id == job for e in skipped)
    sched.start()
    try:
        wait_until(lambda: min(skips("drain_outbox"), skips("bulk_sends")) >= 10, what="ten runs of each skipped")
        assert len(warned()) == 2                        # once per job, each job its own count
        assert any("drain_outbox" in w for w in warned()) and any("bulk_sends" in w for w in warned())
        scheduler_log.warning("another warning of the scheduler's")
        assert "another warning of the scheduler's" in caplog.text   # nothing else is held back
        now[0] += overlaps.QUIET
        seen = skips("drain_outbox")
        wait_until(lambda: skips("drain_outbox") >= seen + 10, what="ten more skipped")
        later = [w for w in warned()[2:] if "drain_outbox" in w]
        assert len(later) == 1
        assert "more time(s) in the last 600 s, not logged" in later[0]
        assert int(later[0].split("the same ")[1].split(" ")[0]) >= 9
    finally:
        release.set()
        sched.shutdown()
        scheduler_log.removeFilter(overlaps)
        scheduler_log.addFilter(logs.OVERLAPS)

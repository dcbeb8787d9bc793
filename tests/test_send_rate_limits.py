"""The sender at speed: many lanes, one budget per provider account.

Over real HTTP to the fake eSMS, which counts the send requests it takes in every sliding second
and answers HTTP 429 beyond its limit (eSMS documents no limit nor an answer of its own for it).
How fast the sender goes is a bench figure (bench/send.py), not asserted here.
"""
from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager

import requests

from bridge.outbox import Draft, enqueue
from bridge.smstext import measure
from tests.conftest import ROOT, esms_settings, wait_until
from tests.fakes.esms import FakeEsms


def queue_sms(svc, n: int, channel: str = "esms") -> list[str]:
    """n due SMS to n customers, queued as the rules queue them."""
    with svc.db.tx() as c:
        return [enqueue(c, Draft(dedupe_key=f"bulk:{i}", rule="bulk", event="test", audience="customer",
                                 channels=(channel,), recipient_raw=f"0912{i:06d}", recipient=f"+84912{i:06d}",
                                 problem=None, sms=measure(f"Don hang {i} da duoc xac nhan")))
                for i in range(n)]


def attempts_of(svc) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for a in svc.db.query("SELECT message_id, outcome FROM attempts ORDER BY id"):
        out.setdefault(a["message_id"], []).append(a["outcome"])
    return out


@contextmanager
def esms_process(send_delay: float, max_per_second: int):
    """The fake eSMS in its own process, as the provider is another machine: its count of
    requests per second is not skewed by sharing an interpreter with 64 send lanes."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.esms", str(send_delay), str(max_per_second)],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        base_url = proc.stdout.readline().strip()
        yield base_url, lambda: requests.get(base_url.rsplit("/MainService.svc", 1)[0] + "/_fake/accepted",
                                             timeout=5).json()
    finally:
        proc.terminate()
        proc.wait()


def process_settings(base_url: str) -> dict:
    return dict(esms_api_key="test-api-key", esms_secret_key="test-secret-key", esms_brandname="SHOPDEMO",
                esms_base_url=base_url, esms_timeout=5.0)


def test_at_default_settings_the_lanes_never_exceed_the_limit_nor_send_a_message_twice(service_factory):
    """64 lanes and 160 due messages against an account that refuses an 81st request in a second:
    the default budget (80/s, paced a sixth under) never trips it, and each message goes out once."""
    with esms_process(send_delay=0.05, max_per_second=80) as (base_url, seen):
        svc = service_factory(**process_settings(base_url))
        ids = queue_sms(svc, 160)
        assert svc.bridge.worker.drain() == 160
        fake = seen()
    assert fake["rate_limited"] == 0 and 0 < fake["busiest_second"] <= 80
    assert fake["accepted"] == fake["unique_request_ids"] == 160
    assert {m["status"] for m in svc.messages()} == {"queued"}
    assert attempts_of(svc) == {mid: ["accepted"] for mid in ids}


def test_a_lower_limit_set_for_the_account_is_kept_across_lanes(service_factory):
    with esms_process(send_delay=0.2, max_per_second=10) as (base_url, seen):
        svc = service_factory(**process_settings(base_url), esms_max_per_second=10)
        ids = queue_sms(svc, 30)
        assert svc.bridge.worker.drain() == 30
        fake = seen()
    assert fake["rate_limited"] == 0 and fake["busiest_second"] <= 10
    assert fake["accepted"] == fake["unique_request_ids"] == 30
    assert attempts_of(svc) == {mid: ["accepted"] for mid in ids}


def test_a_too_many_requests_answer_waits_and_goes_out_later_never_failed(service_factory):
    """No limit of ours, an account that takes 3 a second, one attempt allowed: the refused
    requests are no attempts (nothing was sent); they wait for the provider's Retry-After and
    go out then, each once."""
    with FakeEsms(max_per_second=3) as fake:
        svc = service_factory(**esms_settings(fake), esms_max_per_second=0, send_max_attempts=1)
        ids = queue_sms(svc, 8)
        svc.bridge.worker.drain()
        assert fake.rate_limited > 0
        waiting = svc.messages(status="scheduled")
        assert waiting and all("429" in m["reason"] and m["attempts"] == 0 for m in waiting)

        def all_out() -> bool:
            svc.clock.advance(2)
            svc.bridge.worker.drain()
            return len(svc.messages(status="queued")) == len(ids)

        wait_until(all_out, timeout=30, what="every refused message sent later")
    assert not svc.messages(status="failed")
    assert sorted(a["RequestId"] for a in fake.accepted) == sorted(ids)
    assert attempts_of(svc) == {mid: ["accepted"] for mid in ids}


def test_a_long_wait_asked_by_the_provider_gives_the_claims_back_instead_of_holding_them(service_factory):
    """Retry-After 240 s, longer than a claim should be held: the refused message waits that
    long, and so does every message claimed after it, given back at once without asking the
    provider again (each such wait counts toward its bound); no attempt is counted, nothing fails,
    and the drain does not sit on its claims."""
    import time
    with FakeEsms(max_per_second=1) as fake:
        fake.retry_after = 240
        svc = service_factory(**esms_settings(fake), esms_max_per_second=0, send_max_attempts=1)
        queue_sms(svc, 2)
        svc.bridge.worker.drain()
        assert len(fake.accepted) == 1 and fake.rate_limited == 1
        with svc.db.tx() as c:
            later = [enqueue(c, Draft(dedupe_key=f"later:{i}", rule="bulk", event="test", audience="customer",
                                      channels=("esms",), recipient_raw=f"0913{i:06d}", recipient=f"+84913{i:06d}",
                                      problem=None, sms=measure("Don hang da giao"))) for i in range(4)]
        started = time.monotonic()
        svc.bridge.worker.drain()
        assert time.monotonic() - started < 10
        assert len(fake.requests_log) == 1 and fake.rate_limited == 1   # not asked again
    waiting = svc.messages(status="scheduled")
    assert len(waiting) == 5 and all(m["attempts"] == 0 and m["due_at"] > time.time() + 200 for m in waiting)
    assert all("provider_busy" in m["reason"] for m in waiting if m["id"] in later)
    assert not svc.messages(status="failed")


def test_a_wait_asked_while_lanes_wait_for_their_slot_holds_them_too(service_factory):
    """Our budget 20/s, the account's 3/s with Retry-After 5: lanes that took their slot before the
    first 429 came back do not go out in spite of it; they give their message back (no attempt)."""
    with FakeEsms(max_per_second=3) as fake:
        fake.retry_after = 5
        svc = service_factory(**esms_settings(fake), esms_max_per_second=20)
        queue_sms(svc, 30)
        svc.bridge.worker.drain()
        assert 0 < fake.rate_limited < 10   # the requests already on their way; all 24 others before the fix
    waiting = svc.messages(status="scheduled")
    assert len(waiting) + len(svc.messages(status="queued")) == 30
    assert all(m["attempts"] == 0 for m in waiting) and not svc.messages(status="failed")


def test_a_provider_that_keeps_asking_to_wait_costs_an_attempt_past_the_doubt_window(service_factory):
    """An account that takes nothing (every request 429): the first answers are no attempts, due
    again on the service's clock; once it has asked us to wait for longer than IN_DOUBT_AFTER the
    wait counts as a failed attempt, so the message fails (or its next channel takes it) instead
    of waiting for ever."""
    import time
    with FakeEsms(max_per_second=0) as fake:
        svc = service_factory(**esms_settings(fake), esms_max_per_second=0, send_max_attempts=1, in_doubt_after=60)
        svc.clock.advance(10_000)
        [mid] = queue_sms(svc, 1)
        svc.bridge.worker.drain()
        [m] = svc.messages()
        assert m["status"] == "scheduled" and m["attempts"] == 0 and m["due_at"] > time.time() + 9_000
        svc.clock.advance(61)

        def failed() -> bool:
            svc.bridge.worker.drain()
            return svc.messages()[0]["status"] == "failed"

        wait_until(failed, timeout=20, what="the message failed after waiting too long")
    assert "waited_too_long" in svc.messages()[0]["reason"] and attempts_of(svc) == {mid: ["transient"]}


def test_a_failed_record_keeps_the_finished_sends_and_records_them_once_the_database_frees(service_factory, caplog):
    """Another process holds the write lock past the busy timeout just as the sends finish
    ("database is locked"): the drain keeps what the provider took and records it when it can,
    instead of ending with the rows leased, to be sent again when the lease runs out."""
    import sqlite3
    import threading
    with FakeEsms(send_delay=0.5) as fake:
        svc = service_factory(**esms_settings(fake))
        ids = queue_sms(svc, 5)
        svc.db.busy_timeout_ms = 100   # the drain thread opens its connection with it
        drain = threading.Thread(target=svc.bridge.worker.drain)
        drain.start()
        wait_until(lambda: fake.busiest_second >= 5, what="the five sends under way")
        other = sqlite3.connect(svc.db.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            wait_until(lambda: "recording" in caplog.text and "failed" in caplog.text, timeout=20,
                       what="a record refused by the lock")
        finally:
            other.execute("ROLLBACK")
            other.close()
        drain.join(30)
        assert not drain.is_alive()
    assert len(fake.accepted) == 5
    assert {m["status"] for m in svc.messages()} == {"queued"} and not any(m["lease_until"] for m in svc.messages())
    assert attempts_of(svc) == {mid: ["accepted"] for mid in ids}
    assert svc.bridge.worker.drain() == 0


def test_a_backlog_over_our_own_budget_is_claimed_only_as_fast_as_it_can_go(service_factory):
    """1 SMS a second set here and claims held at most 2 s (SEND_LEASE 8): only what can start
    within that is claimed; the rest of the backlog is left unclaimed (no write) instead of being
    claimed and given back whole on every drain, and anything given back says it waits for the
    limit set here (not that eSMS asked us to wait)."""
    import threading
    with FakeEsms() as fake:
        svc = service_factory(**esms_settings(fake), esms_max_per_second=1, send_lease=8)
        queue_sms(svc, 200)
        drain = threading.Thread(target=svc.bridge.worker.drain)
        drain.start()
        try:
            wait_until(lambda: len(fake.accepted) >= 3, what="the first sends")
            given_back = svc.messages(status="scheduled")
            untouched = [m for m in svc.messages(status="pending")
                         if "own_budget" not in (m["reason"] or "") and m["attempts"] == 0 and not m["lease_until"]]
        finally:
            svc.bridge.worker.shutdown()
            drain.join(30)
    assert fake.rate_limited == 0
    assert all("own_budget" in m["reason"] and m["attempts"] == 0 for m in given_back)
    assert len(given_back) <= 3 and len(untouched) >= 200 - 3 - 3 - len(fake.accepted)


def test_a_slow_channels_backlog_leaves_lanes_for_the_messages_of_other_channels(service_factory):
    """A backlog paced at 3 a second (a Zalo OA's budget, say) is claimed only as far ahead as its
    turns come soon; the messages of an unpaced channel queued after it go out at once instead of
    waiting for lanes the backlog held waiting for its turns (64 lanes hold 25 s of it)."""
    import threading
    with FakeEsms() as fake:
        svc = service_factory(**esms_settings(fake), esms_max_per_second=3)
        queue_sms(svc, 150)
        with svc.db.tx() as c:
            later = [enqueue(c, Draft(dedupe_key=f"other:{i}", rule="bulk", event="test", audience="customer",
                                      channels=("dry-run",), recipient_raw=f"0913{i:06d}", recipient=f"+84913{i:06d}",
                                      problem=None, sms=measure(f"Tin {i}"))) for i in range(10)]
        drain = threading.Thread(target=svc.bridge.worker.drain)
        drain.start()
        try:
            wait_until(lambda: {m["id"]: m["status"] for m in svc.messages(channel="dry-run")}
                       == dict.fromkeys(later, "dry-run"), timeout=15, what="the other channel's messages")
            sent_by_then = len(fake.accepted)
        finally:
            svc.bridge.worker.shutdown()
            drain.join(30)
    assert fake.rate_limited == 0 and sent_by_then < 150 // 2   # they did not wait for the backlog

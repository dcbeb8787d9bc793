"""Acknowledgements first (bridge/pressure.py): while webhooks queue in a web process, the
worker's deciding and sending wait between their transactions, never longer than WORKER_YIELD
each, and everything acknowledged is still decided and sent."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from bridge import pressure
from bridge import worker as worker_module
from bridge.pressure import HOLD, STEP, Board
from bridge.worker import PRESSED_CLAIM
from tests.conftest import ROOT, SECRET, make_settings, signed_headers
from tests.orders import order_body
from tests.test_intake import acknowledge_bank_text, acknowledge_order, in_process


class Web:
    """A fake clock the worker's waits advance, and web processes that begin a webhook with
    BUSY_MIN in hand at every step until `until` (None: never stop)."""

    def __init__(self, board: Board, until: float | None):
        self.now, self.until, self.board, self.waits = 1000.0, until, board, []
        board.clock, board.sleep = (lambda: self.now), self.step

    def busy(self) -> None:
        self.board.began(pressure.BUSY_MIN)

    def step(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        if self.until is None or self.now < self.until:
            self.busy()


def waited(web: Web) -> float:
    return round(sum(web.waits), 6)


def test_deciding_waits_while_webhooks_queue_and_decides_everything_once_they_stop(tmp_path):
    b = in_process(tmp_path)
    for i, order in enumerate(range(7000, 7006)):
        acknowledge_order(b, order, str(i))
    web = Web(b.board, until=1000.0 + 0.12)
    web.busy()
    b.decide_pending()
    assert b.db.scalar("SELECT COUNT(*) FROM deliveries WHERE state='received'") == 0
    assert b.db.scalar("SELECT COUNT(DISTINCT order_id) FROM messages") == 6
    # it waited out the burst (0.12 s) and the mark's HOLD after it, and not the bound
    assert 0.12 + HOLD - STEP <= waited(web) <= 0.12 + HOLD + STEP
    assert waited(web) < b.settings.worker_yield


def test_a_burst_that_never_ends_delays_each_deciding_transaction_by_the_bound_only(tmp_path):
    b = in_process(tmp_path, worker_yield=0.2, decide_batch=1)
    for i, order in enumerate(range(7100, 7106)):
        acknowledge_order(b, order, str(i))
    web = Web(b.board, until=None)
    web.busy()
    b.decide_pending()
    assert b.db.scalar("SELECT COUNT(*) FROM deliveries WHERE state='received'") == 0
    # six transactions of one row, a wait of 0.2 s after each; the looks that find nothing to
    # decide do not wait
    assert max(web.waits) == STEP and 6 * 0.2 <= waited(web) <= 6 * (0.2 + STEP)


@pytest.mark.parametrize("mark", ["none", "old", "future"])
def test_no_wait_without_a_fresh_mark(tmp_path, mark):
    b = in_process(tmp_path)
    acknowledge_order(b, 7200)
    web = Web(b.board, until=0)   # the web side marks nothing while the worker waits
    if mark != "none":
        web.now += {"old": -2 * HOLD, "future": 60.0}[mark]
        web.busy()
        web.now -= {"old": -2 * HOLD, "future": 60.0}[mark]
    b.decide_pending()
    assert web.waits == []
    assert b.db.scalar("SELECT COUNT(*) FROM deliveries WHERE state='received'") == 0


def test_worker_yield_zero_turns_the_waiting_off(tmp_path):
    b = in_process(tmp_path, worker_yield=0.0)
    acknowledge_order(b, 7300)
    web = Web(b.board, until=None)
    web.busy()
    b.decide_pending()
    assert web.waits == [] and b.db.scalar("SELECT COUNT(*) FROM deliveries WHERE state='received'") == 0


def test_sending_claims_a_few_rows_at_a_time_while_webhooks_queue_and_sends_them_all(tmp_path, monkeypatch):
    b = in_process(tmp_path, worker_yield=0.2)
    for i, order in enumerate(range(7400, 7406)):
        acknowledge_order(b, order, str(i))
    b.decide_pending()
    queued = b.db.scalar("SELECT COUNT(*) FROM messages WHERE status='pending'")
    assert queued >= 6
    web = Web(b.board, until=None)
    web.busy()
    claims: list[tuple[int, float]] = []   # (rows asked for, seconds waited before), each claim
    real_claim = worker_module.claim

    def claim(db, limit, *args, **kwargs):
        claims.append((limit, waited(web)))
        return real_claim(db, limit, *args, **kwargs)
    monkeypatch.setattr(worker_module, "claim", claim)
    sent = b.worker.drain()
    assert sent == queued
    assert b.db.scalar("SELECT COUNT(*) FROM messages WHERE status='pending'") == 0
    # PRESSED_CLAIM rows per claim; the drain's first claim at once, each later one after the bound
    assert {n for n, _ in claims} == {PRESSED_CLAIM}
    assert claims[0][1] == 0 and all(after - before >= 0.2 for (_, before), (_, after) in zip(claims, claims[1:]))

    b.settings = b.worker.settings = replace(b.settings, worker_yield=0.0)   # WORKER_YIELD=0: all at once
    for i, order in enumerate(range(7410, 7416)):
        acknowledge_order(b, order, str(10 + i))
    b.decide_pending()
    web.waits.clear()
    claims.clear()
    assert b.worker.drain() >= 6 and web.waits == []
    assert claims[0][0] == b.settings.send_concurrency


def test_a_webhook_begun_with_enough_in_hand_marks_the_board_that_another_process_reads(tmp_path, monkeypatch):
    s = make_settings(tmp_path)
    from app import create_app
    app = create_app(s, start_scheduler=False)
    b = app.extensions["bridge"]
    client = app.test_client()
    body = order_body(7500, status="on-hold", total=300_000)
    client.post("/webhooks/woocommerce", data=body, headers=signed_headers(body, "order.created"))
    assert b.board.marked_at() is None   # one webhook in hand is no queue

    monkeypatch.setattr(pressure, "BUSY_MIN", 1)
    refused = client.post("/webhooks/woocommerce", data=body, headers={"X-WC-Webhook-Signature": "forged",
                                                                       "X-WC-Webhook-Topic": "order.created"})
    assert refused.status_code == 401 and b.board.marked_at() is None   # anyone can send that: it never marks
    before = time.monotonic()
    r = client.post("/webhooks/woocommerce", data=body, headers=signed_headers(body, "order.created", delivery_id="2"))
    assert r.status_code == 200 and json.loads(r.data)["state"] == "received"
    assert before <= b.board.marked_at() <= time.monotonic()
    assert b.board.in_hand == 0

    path = Path(s.db_path).with_name(".bridge.db.busy")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # another process (the worker) reads the same mark, on the same machine-wide clock
    seen = subprocess.run([sys.executable, "-c", "import sys, time; from bridge.pressure import Board; "
                           "print(time.monotonic() - Board(sys.argv[1]).marked_at())", s.db_path],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    assert 0 <= float(seen.stdout) < 30


def test_without_a_usable_board_nothing_waits_and_webhooks_are_answered(tmp_path):
    s = make_settings(tmp_path)
    Path(s.db_path).with_name(".bridge.db.busy").mkdir()   # something that cannot be mapped
    from app import create_app
    app = create_app(s, start_scheduler=False)
    b = app.extensions["bridge"]
    b.board.began(pressure.BUSY_MIN)
    assert b.board.marked_at() is None and b.board.give_way(1.0) is False
    body = order_body(7600, status="on-hold", total=300_000)
    r = app.test_client().post("/webhooks/woocommerce", data=body, headers=signed_headers(body, "order.created"))
    assert r.status_code == 200
    assert SECRET


def test_texts_reports_and_carrier_calls_give_way_too(tmp_path):
    b = in_process(tmp_path, worker_yield=0.2)
    acknowledge_bank_text(b, 7700, 1)
    acknowledge_bank_text(b, 7701, 2)
    web = Web(b.board, until=None)
    web.busy()
    b.decide_pending()
    assert b.db.scalar("SELECT COUNT(*) FROM inbox WHERE state='received'") == 0
    assert 0.2 <= waited(web) <= 2 * (0.2 + STEP)   # after the texts' transaction(s), not before


def _old_final_messages(b, first_order: int, n: int) -> int:
    """`n` orders whose messages were sent (dry-run: final) 401 days ago; how many messages."""
    from tests.test_retention import age
    for i in range(n):
        acknowledge_order(b, first_order + i, f"r{first_order + i}")
    b.decide_pending()
    b.worker.drain()
    age(b, 401)
    return b.db.scalar("SELECT COUNT(*) FROM messages")


@pytest.mark.parametrize("worker_yield", [0.2, 0.0])
def test_retention_waits_out_a_burst_between_its_batches_and_prunes_everything_after(tmp_path, worker_yield):
    """Retention is housekeeping: a pass that meets a burst waits between its transactions until
    the burst is over (not only the WORKER_YIELD bound deciding waits), then prunes everything it
    should; WORKER_YIELD=0 turns the waiting off."""
    from bridge import retention
    b = in_process(tmp_path, retain_batch=2, worker_yield=worker_yield)
    messages = _old_final_messages(b, 7800, 6)
    assert messages >= 6
    burst = 3.0                                 # seconds of webhooks queueing, on the board's clock
    web = Web(b.board, until=1000.0 + burst)
    web.busy()
    p = retention.run_pass(b)
    assert b.db.scalar("SELECT COUNT(*) FROM messages") == 0
    assert len(p.locks) >= messages // 2
    if worker_yield:
        # the first batch, then one wait through the whole burst (and the mark's HOLD), then no more
        assert burst + HOLD - STEP <= waited(web) <= burst + HOLD + STEP
        assert max(web.waits) == STEP
    else:
        assert web.waits == []


def test_a_retention_pass_under_a_burst_that_does_not_end_waits_up_to_its_time_only(tmp_path):
    from bridge import retention
    b = in_process(tmp_path, retain_batch=2, worker_yield=0.2)
    _old_final_messages(b, 7850, 4)
    web = Web(b.board, until=None)
    web.busy()
    p = retention.run_pass(b)
    # each wait is bounded by the pass's time left (RUN_SECONDS), not by WORKER_YIELD: on the
    # board's clock the burst never ends, on the real clock the pass is not out of time yet
    writes = len(p.locks)
    assert writes >= 2
    assert (writes - 1) * (retention.RUN_SECONDS - 1) <= waited(web) <= writes * (retention.RUN_SECONDS + STEP)
    b.shutdown()
    web.waits.clear()
    assert b.give_way(up_to=60.0) is False and web.waits == []   # stopping: no wait at all


def test_the_search_index_job_waits_between_its_batches_and_a_search_does_not(tmp_path, monkeypatch):
    from bridge.jobs import make_scheduler
    from bridge.store import search
    monkeypatch.setattr(search, "BATCH", 2)
    b = in_process(tmp_path, worker_yield=0.2)
    for i in range(6):
        acknowledge_order(b, 7900 + i, f"s{i}")
    b.decide_pending()
    waiting = b.db.scalar(f"SELECT COUNT(*) FROM {search.PENDING}")
    assert waiting >= 6
    web = Web(b.board, until=None)
    web.busy()
    assert search.catch_up(b.db) == 0          # a person waits for a search: it never gives way
    assert web.waits == []

    for i in range(6):
        acknowledge_order(b, 7910 + i, f"t{i}")
    b.decide_pending()
    web.waits.clear()                          # deciding them gave way too: not the job's waits
    assert b.db.scalar(f"SELECT COUNT(*) FROM {search.PENDING}") >= 6
    assert b.leader.renew()
    make_scheduler(b).get_job("search_index").func()
    assert b.db.scalar(f"SELECT COUNT(*) FROM {search.PENDING}") == 0
    assert waited(web) >= 2 * 0.2              # between its transactions of two messages each


def test_nothing_gives_way_once_the_service_is_stopping(tmp_path):
    b = in_process(tmp_path, worker_yield=0.2)
    web = Web(b.board, until=None)
    web.busy()
    assert b.give_way() is True and waited(web) >= 0.2   # running: it waits out the bound
    web.waits.clear()
    b.shutdown()
    assert b.give_way() is False and web.waits == []

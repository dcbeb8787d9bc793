"""Bulk sends through the admin, on a service whose worker really sends to the fake SMSGate:
what the preview reports before anything is queued (duplicates, invalid and opted-out numbers,
cost, time), that only the valid numbers get one message each, pause / resume / cancel, the
opt-out by text mid-bulk (the order notice still goes), the CSV limits and the time estimate."""
from __future__ import annotations

import re

import pytest

from bridge import bulk
from bridge.providers.base import Pace
from bridge.store import prices
from tests.conftest import smsgate_settings, wait_until, write_mappings
from tests.orders import order_body
from tests import test_admin

PASSWORD = "mat-khau-bulk"


class Admin(test_admin.Admin):
    """tests.test_admin's browser-like client, signed in with this file's password."""

    def __init__(self, svc):
        super().__init__(svc)
        assert self.sign_in(PASSWORD).status_code == 302

    def upload(self, csv: bytes, template: str, channel: str = "smsgate", unicode: bool = True):
        import io
        data = {"source": "csv", "name": "Khuyến mãi", "template": template, "channel": channel,
                "csv": (io.BytesIO(csv), "khach.csv")}
        if unicode:
            data["unicode"] = "1"
        return self.post("/admin/bulk", data, content_type="multipart/form-data")


@pytest.fixture
def svc(service_factory, tmp_path, fake_smsgate):
    s = service_factory(admin_password=PASSWORD, quiet_hours=None,
                        mappings_dir=str(write_mappings(tmp_path, channel="smsgate")), **smsgate_settings(fake_smsgate))
    fake_smsgate.webhook_url = s.url + "/inbound/smsgate"
    return s


def bulk_id_of(r) -> int:
    assert r.status_code == 302, r.text
    return int(r.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def sent_to(fake) -> list[str]:
    return sorted(m["phoneNumbers"][0] for m in fake.accepted)


def run_all(svc) -> None:
    """The leader's job and the worker, until nothing of the bulk is left to queue or send."""
    def idle() -> bool:
        svc.clock.advance(5.0)   # each bulk message is due at its own slot
        bulk.step(svc.bridge)
        svc.bridge.worker.drain()
        return not svc.db.scalar("SELECT COUNT(*) FROM messages WHERE status IN ('pending', 'scheduled')"
                                 " AND due_at < ? AND rule='bulk'", (bulk.PAUSED_DUE,)) \
            and not svc.db.scalar("SELECT COUNT(*) FROM bulk_recipients WHERE state='ok'")
    wait_until(idle, what="the bulk queued and sent")


CSV = ("\ufeffTên khách;SĐT;Mã giảm\n"
       "Lan;0912 000 001;LAN10\n"
       "Huệ;0912000002;HUE20\n"
       "Lan lần 2;+84912000001;LAN11\n"      # the same number as row 1
       "Sai;12345;X\n"                         # not a phone number
       "Đã từ chối;0912000003;Y\n"             # on the opt-out list
       "\n"
       "Cúc;0912000004;CUC30\n").encode()


def test_preview_reports_duplicates_invalid_and_opted_out_then_only_the_valid_get_one_message(svc, fake_smsgate):
    prices.set_prices(svc.db, {"smsgate": prices.Price("smsgate", 350, prices.PER_PART)})
    admin = Admin(svc)
    admin.post("/admin/bulk/optouts", {"phone": "0912 000 003"})
    bid = bulk_id_of(admin.upload(CSV, "Chào {{ ten_khach }}, mã {{ ma_giam }} giảm giá tại {{ shop_name }}."))
    page = admin.get(f"/admin/bulk/{bid}").text
    assert 'id="n-total">6<' in page and 'id="n-valid">3<' in page
    assert 'id="n-duplicates">1<' in page and 'id="n-invalid">1<' in page and 'id="n-optout">1<' in page
    assert "+84912000001" in page and "12345" in page and "0912000003" in page   # each listed with its row
    assert "Chào Lan, mã LAN10 giảm giá tại Shop Demo." in page                    # the preview, as sent
    assert 'id="cost">1.050đ<' in page                                              # 3 messages x 1 part x 350đ
    assert float(re.search(r'id="estimate" data-seconds="([\d.]+)"', page).group(1)) >= 0
    assert "Bắt đầu" in page or "Start" in page
    assert fake_smsgate.accepted == [] and svc.messages() == []                      # nothing before start

    admin.post(f"/admin/bulk/{bid}/start")
    admin.post(f"/admin/bulk/{bid}/start")                                          # a double click
    run_all(svc)
    assert sent_to(fake_smsgate) == ["+84912000001", "+84912000002", "+84912000004"]
    texts = {m["phoneNumbers"][0]: m["text"] for m in fake_smsgate.accepted}
    assert texts["+84912000004"] == "Chào Cúc, mã CUC30 giảm giá tại Shop Demo."
    rows = svc.messages(rule="bulk")
    assert len(rows) == 3 and all(r["urgent"] == 0 for r in rows)
    wait_until(lambda: bulk.step(svc.bridge) is not None and
               svc.db.scalar("SELECT state FROM bulks WHERE id=?", (bid,)) == "done", what="the bulk done")
    page = admin.get(f"/admin/bulk/{bid}").text
    assert 'id="p-queued">3<' in page


def test_a_customer_texting_tu_choi_mid_bulk_gets_no_more_marketing_but_order_notices(svc, fake_smsgate):
    admin = Admin(svc)
    csv = "phone,name\n0912345678,Khách A\n0912000010,Khách B\n".encode()
    bid = bulk_id_of(admin.upload(csv, "Sale 50% cho {{ name }}", unicode=False))
    admin.post(f"/admin/bulk/{bid}/start")
    admin.post(f"/admin/bulk/{bid}/pause")      # queued, not sent yet
    assert {m["status"] for m in svc.messages(rule="bulk")} == {"scheduled"}
    r = fake_smsgate.receive("+84912345678", "Từ chối")
    assert r.status_code == 200, r.text
    assert svc.db.scalar("SELECT COUNT(*) FROM optouts WHERE phone='+84912345678'") == 1
    (mine,) = [m for m in svc.messages(rule="bulk") if m["recipient"] == "+84912345678"]
    assert mine["status"] == "cancelled"
    admin.post(f"/admin/bulk/{bid}/resume")
    run_all(svc)
    assert sent_to(fake_smsgate) == ["+84912000010"]
    # an order notice to the same customer still goes
    svc.post_json(order_body(7001, phone="0912345678"), topic="order.created")
    wait_until(lambda: svc.bridge.worker.drain() is not None and "+84912345678" in sent_to(fake_smsgate),
               what="the order notice sent")
    page = admin.get("/admin/bulk/optouts").text
    assert "0912345678" in page
    # a later bulk never reaches the number: reported before start
    bid2 = bulk_id_of(admin.upload(csv, "Lần nữa {{ name }}"))
    assert 'id="n-optout">1<' in admin.get(f"/admin/bulk/{bid2}").text


@pytest.mark.parametrize("text,out", [("TU CHOI", True), ("từ chối", True), ("Stop", True), ("STOP.", True),
                                      ("tu choi nhan tin", True), ("TỪ CHỐI QC", True), ("Từ chối gì vậy shop?", False),
                                      ("không stop", False), ("stop giao hang giup em", False), ("ok", False),
                                      ("TỪ CHỐI NHẬN QC", True), ("tu choi nhan sms", True), ("Tu choi. Cam on", True),
                                      ("không từ chối", False), ("Từ chối nhận QC được không?", False)])
def test_which_texts_opt_out(text, out):
    assert bulk.is_opt_out(text) is out


def test_pause_resume_cancel_touch_only_the_bulk(svc, fake_smsgate):
    admin = Admin(svc)
    csv = ("phone\n" + "\n".join(f"09120001{i:02d}" for i in range(10))).encode()
    bid = bulk_id_of(admin.upload(csv, "Tin khuyến mãi"))
    admin.post(f"/admin/bulk/{bid}/start")
    admin.post(f"/admin/bulk/{bid}/pause")
    svc.post_json(order_body(7002, phone="0987654321"), topic="order.created")   # another message, not paused
    bulk.step(svc.bridge)
    svc.bridge.worker.drain()
    assert sent_to(fake_smsgate) == ["+84987654321"]
    assert 'data-state="paused"' in admin.get(f"/admin/bulk/{bid}").text
    admin.post(f"/admin/bulk/{bid}/resume")
    # let a few go, then cancel the rest while a lane holds one (the phone answers "busy"): what was
    # sent stays sent, the rest never goes, the held one included though the leader has not passed
    from bridge.outbox import Attempt, claim, record_results
    from bridge.sending import Outcome, SendResult
    svc.bridge.worker.drain()
    sent_before = len(fake_smsgate.accepted)
    svc.clock.advance(bulk.interval(svc.bridge.channels["smsgate"].paces(), svc.settings.worker_interval))
    (row,) = claim(svc.db, 1, 60.0, at=svc.clock())
    admin.post(f"/admin/bulk/{bid}/cancel")
    record_results(svc.db, [Attempt(row, "smsgate", SendResult(Outcome.DEFERRED, retry_at=svc.clock(),
                                                                detail="phone busy"), 0.0)], 3, 0.1, 1.0)
    svc.clock.advance(3600)
    svc.bridge.worker.drain()
    assert len(fake_smsgate.accepted) == sent_before
    run_all(svc)
    statuses = [m["status"] for m in svc.messages(rule="bulk")]
    assert len(fake_smsgate.accepted) == sent_before
    assert statuses.count("queued") == sent_before - 1 and statuses.count("cancelled") == 10 - (sent_before - 1)
    assert 'data-state="cancelled"' in admin.get(f"/admin/bulk/{bid}").text


def test_a_message_a_lane_holds_at_the_pause_is_not_sent_before_the_leader_passes(svc, fake_smsgate):
    from bridge.outbox import Attempt, claim, record_results
    from bridge.sending import Outcome, SendResult
    admin = Admin(svc)
    bid = bulk_id_of(admin.upload(b"phone\n0912345678\n", "Sale"))
    admin.post(f"/admin/bulk/{bid}/start")
    (row,) = claim(svc.db, 10, 60.0)
    admin.post(f"/admin/bulk/{bid}/pause")
    record_results(svc.db, [Attempt(row, "smsgate", SendResult(Outcome.DEFERRED, retry_at=svc.clock(),
                                                                detail="phone busy"), 0.0)], 3, 0.1, 1.0)
    svc.bridge.worker.drain()
    assert fake_smsgate.accepted == [], "sent after the pause"
    assert svc.messages(rule="bulk")[0]["status"] == "scheduled"
    admin.post(f"/admin/bulk/{bid}/resume")
    run_all(svc)
    assert sent_to(fake_smsgate) == ["+84912345678"]


def test_csv_problems_are_said_in_vietnamese(svc):
    admin = Admin(svc)
    r = admin.upload("phone\n0912000001\n".encode("utf-16"), "x")
    assert r.status_code == 400 and "UTF-8" in r.text and "CSV" in r.text
    r = admin.upload(b"ten,dia chi\nLan,HN\n", "x")
    assert r.status_code == 400 and "cột" in r.text
    many = ("phone\n" + "\n".join(f"0912{i:06d}" for i in range(svc.settings.bulk_max_rows + 1))).encode()
    r = admin.upload(many, "x")
    assert r.status_code == 400 and str(svc.settings.bulk_max_rows) in r.text.replace(".", "").replace(",", "")
    r = admin.upload(b"phone\n0912000001\n", "{{ khong_co }}")
    assert r.status_code == 302   # a variable no column has: shown per row on the preview, not sent
    page = admin.get(r.headers["Location"]).text
    assert "khong_co" in page and 'id="n-valid">0<' in page


def test_estimate_follows_the_phone_budgets_and_quiet_hours():
    phones = [Pace("a", 10.0, on_tick=True), Pace("b", 10.0, on_tick=True)]
    # 2 phones, 10 s apart each (+ half a 1 s pass), of which a bulk takes 90%: a slot every 5.83 s
    assert bulk.estimate(phones, 20, 0.0, None, "UTC", 1.0) == pytest.approx(19 * 10.5 / 2 / 0.9)
    # 60 an hour binds over a 1 s gap: a slot every 66.7 s, so a notice always finds the phone free
    assert bulk.estimate([Pace("a", 1.0, 100, 60)], 4, 0.0, None, "UTC", 1.0) == pytest.approx(3 * 60 / 0.9)
    # a start inside quiet hours waits for their end
    start = 1_700_000_000.0 - 1_700_000_000.0 % 86_400 + 22 * 3600   # 22:00 UTC
    assert bulk.estimate([Pace("a", 1.0)], 1, start, (21 * 60, 7 * 60), "UTC", 0.0) == pytest.approx(9 * 3600)


def test_a_message_a_sender_held_when_its_number_opted_out_is_cancelled_once_given_back(svc, fake_smsgate):
    from bridge.outbox import Attempt, claim, record_results
    from bridge.sending import Outcome, SendResult
    admin = Admin(svc)
    bid = bulk_id_of(admin.upload(b"phone\n0912345678\n", "Sale"))
    admin.post(f"/admin/bulk/{bid}/start")
    (row,) = claim(svc.db, 10, 60.0)                       # a lane holds it: the phone is asked now
    fake_smsgate.receive("+84912345678", "STOP")
    assert svc.messages(rule="bulk")[0]["status"] == "pending"   # not cancelled under the lane's feet
    record_results(svc.db, [Attempt(row, "smsgate", SendResult(Outcome.DEFERRED, retry_at=svc.clock() + 5,
                                                                detail="phone busy"), 0.0)], 3, 0.1, 1.0)
    assert svc.messages(rule="bulk")[0]["status"] == "scheduled"  # the phone was busy: given back
    bulk.step(svc.bridge)
    assert svc.messages(rule="bulk")[0]["status"] == "cancelled"
    svc.clock.advance(10)
    svc.bridge.worker.drain()
    assert fake_smsgate.accepted == []


def test_an_opted_out_number_is_not_sent_to_when_its_slot_comes_before_the_leader_passes(svc, fake_smsgate):
    from bridge.outbox import Attempt, claim, record_results
    from bridge.sending import Outcome, SendResult
    admin = Admin(svc)
    bid = bulk_id_of(admin.upload(b"phone\n0912345678\n", "Sale"))
    admin.post(f"/admin/bulk/{bid}/start")
    (row,) = claim(svc.db, 10, 60.0)
    fake_smsgate.receive("+84912345678", "STOP")
    record_results(svc.db, [Attempt(row, "smsgate", SendResult(Outcome.DEFERRED, retry_at=svc.clock() + 1,
                                                                detail="phone busy"), 0.0)], 3, 0.1, 1.0)
    svc.clock.advance(1.5)            # the phone's next slot comes before the leader's 2 s pass
    svc.bridge.worker.drain()
    assert fake_smsgate.accepted == [], "sent to a number on the opt-out list"
    (m,) = svc.messages(rule="bulk")
    assert m["status"] == "cancelled" and m["attempts"] == 0


def test_the_progress_lists_what_did_not_reach_the_customer(service_factory, tmp_path, fake_smsgate):
    svc = service_factory(admin_password=PASSWORD, quiet_hours=None, send_max_attempts=1,
                          mappings_dir=str(write_mappings(tmp_path, channel="smsgate")), **smsgate_settings(fake_smsgate))
    admin = Admin(svc)
    bid = bulk_id_of(admin.upload(b"phone\n0912000077\n0912000078\n", "Sale"))
    fake_smsgate.fail_next(2, "unauthorized")
    admin.post(f"/admin/bulk/{bid}/start")
    run_all(svc)
    page = admin.get(f"/admin/bulk/{bid}").text
    assert 'id="p-failed">2<' in page and 'id="failed"' in page and "0912000077" in page


def test_a_file_too_large_is_refused_with_the_reason_in_vietnamese(svc):
    admin = Admin(svc)
    over_setting = b"phone\n" + b"0912000001\n" * (svc.settings.bulk_max_bytes // 11 + 10)   # over BULK_MAX_BYTES
    over_request = b"phone\n" + b"0912000001\n" * 110_000                                     # over the 1 MiB cap
    for data in (over_setting, over_request):
        r = admin.upload(data, "x")
        assert r.status_code in (400, 413) and "tệp nặng" in r.text and 'id="bulk-error"' in r.text
    assert svc.db.scalar("SELECT COUNT(*) FROM bulks") == 0


def test_customers_picked_by_their_orders_one_message_per_phone(svc, fake_smsgate):
    import json
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    def order(oid: int, status: str, phone: str, method: str) -> None:
        body = json.loads(order_body(oid, status=status, phone=phone))
        body["payment_method"] = method
        assert svc.post_json(json.dumps(body).encode(), topic="order.created").status_code == 200
    order(9001, "processing", "0912000301", "cod")
    order(9002, "completed", "0912000301", "cod")        # the same customer again: one message
    order(9003, "processing", "0912000302", "bacs")      # paid before delivery
    order(9004, "cancelled", "0912000303", "cod")        # another status
    admin = Admin(svc)
    today = datetime.now(ZoneInfo(svc.settings.timezone)).date()

    def pick(**form) -> str:
        r = admin.post("/admin/bulk", {"source": "orders", "template": "{{ customer_name }} #{{ order_number }}",
                                       "channel": "smsgate", **form})
        return admin.get(f"/admin/bulk/{bulk_id_of(r)}").text
    page = pick(status=["processing", "completed"], payment="cod")
    assert 'id="n-valid">1<' in page and "#9002" in page                  # its latest order
    assert 'id="n-valid">2<' in pick(status=["processing", "completed"])
    assert 'id="n-valid">1<' in pick(payment="prepaid")
    assert 'id="n-valid">3<' in pick(since=today.isoformat(), until=today.isoformat())
    r = admin.post("/admin/bulk", {"source": "orders", "template": "x", "channel": "smsgate",
                                   "since": (today + timedelta(days=1)).isoformat()})
    assert r.status_code == 400 and "không có người nhận" in r.text


def test_a_bulks_waiting_rows_are_read_through_its_own_key_range(svc):
    """Pause and cancel look up only the bulk's rows, the catch-up only overdue ones, never every
    waiting message."""
    from bridge.store import bulk as store
    for sql in (store.HOLD_SQL, store.CANCEL_SQL):
        sql = sql.format(keys="?,?")
        plan = " ".join(r[-1] for r in svc.db.query("EXPLAIN QUERY PLAN " + sql, (0,) * sql.count("?")))
        assert "idx_messages_dedupe_key (dedupe_key=?)" in plan, plan
    plan = " ".join(r[-1] for r in svc.db.query("EXPLAIN QUERY PLAN " + store.LAG_SQL, (0,) * 4))
    assert "idx_messages_status_due_at" in plan, plan


def test_csv_tabs_quoted_headers_excel_numbers_and_unclosed_quotes():
    big = 1 << 20
    names, rows = bulk.read_csv("sdt\tten\n0912000001\tLan\n".encode(), big, 10)
    assert names == ["sdt", "ten"] and rows[0].raw == "0912000001" and rows[0].variables["ten"] == "Lan"
    # a semicolon inside a quoted header does not make the file semicolon-separated
    names, rows = bulk.read_csv('"Họ; tên; đệm",sdt\n"Lan; Thị",0912000001\n'.encode(), big, 10)
    assert names == ["ho_ten_dem", "sdt"] and rows[0].raw == "0912000001"
    with pytest.raises(bulk.BulkError) as e:
        bulk.read_csv(b"sdt;ten\n0912000001;Lan\n9.12345678E+08;Hue\n", big, 10)
    assert "bulk.csv_scientific" in str(e.value) and "9.12345678E+08" in str(e.value)
    with pytest.raises(bulk.BulkError) as e:
        bulk.read_csv(b'sdt,ten\n0912000001,"Lan\n0912000002,Hue\n', big, 10)
    assert "bulk.csv_unclosed_quote" in str(e.value) or "bulk.csv_unreadable" in str(e.value)


def test_a_list_larger_than_a_transaction_is_stored_paused_and_cancelled_whole(svc, fake_smsgate):
    """Preparing, pausing and cancelling work a batch of rows per transaction (intake writes in
    between; bench/bulk.py measures the wait): none is left out at the batch edges."""
    n = bulk.BATCH_ROWS * 2 + 50
    admin = Admin(svc)
    bid = bulk_id_of(admin.upload(("phone\n" + "\n".join(f"0913{i:06d}" for i in range(n))).encode(), "Sale"))
    assert svc.db.scalar("SELECT COUNT(*) FROM bulk_recipients WHERE bulk_id=? AND state='ok'", (bid,)) == n
    assert 'data-state="draft"' in admin.get(f"/admin/bulk/{bid}").text
    admin.post(f"/admin/bulk/{bid}/start")
    queued = len(svc.messages(rule="bulk"))
    assert 0 < queued < n   # a window of slots ahead, not the whole list
    admin.post(f"/admin/bulk/{bid}/pause")
    assert {(m["status"], m["due_at"]) for m in svc.messages(rule="bulk")} == {("scheduled", bulk.PAUSED_DUE)}
    admin.post(f"/admin/bulk/{bid}/cancel")
    assert {m["status"] for m in svc.messages(rule="bulk")} == {"cancelled"}
    assert svc.db.scalar("SELECT COUNT(*) FROM bulk_recipients WHERE bulk_id=? AND state='dropped'", (bid,)) == n - queued
    run_all(svc)
    assert fake_smsgate.accepted == []


def test_the_leaders_bulk_step_waits_between_its_batches_while_webhooks_queue(svc, fake_smsgate):
    """Queueing a running bulk is background work: between two of its transactions it lets queued
    webhooks have the lock first (bridge/pressure.py), and still queues the window's slots."""
    from dataclasses import replace
    from tests.test_pressure import Web, waited
    svc.bridge.settings = replace(svc.bridge.settings, bulk_batch=20)   # BULK_BATCH: rows per transaction
    admin = Admin(svc)
    bid = bulk_id_of(admin.upload(("phone\n" + "\n".join(f"0914{i:06d}" for i in range(400))).encode(), "Sale"))
    admin.post(f"/admin/bulk/{bid}/start")
    svc.clock.advance(bulk.WINDOW)     # the first window's slots have come: sent
    svc.bridge.worker.drain()
    before = len(svc.messages(rule="bulk"))
    web = Web(svc.bridge.board, until=None)
    web.busy()
    bulk.step(svc.bridge)
    after = len(svc.messages(rule="bulk"))
    batches = -(-(after - before) // 20)
    assert batches >= 3, (before, after)
    assert waited(web) >= (batches - 1) * svc.bridge.settings.worker_yield


def test_one_pass_of_the_bulk_step_stops_after_its_time_and_the_next_goes_on(svc, fake_smsgate, monkeypatch):
    from dataclasses import replace
    svc.bridge.settings = replace(svc.bridge.settings, bulk_batch=20)
    admin = Admin(svc)
    bid = bulk_id_of(admin.upload(("phone\n" + "\n".join(f"0915{i:06d}" for i in range(400))).encode(), "Sale"))
    admin.post(f"/admin/bulk/{bid}/start")
    svc.clock.advance(bulk.WINDOW)
    svc.bridge.worker.drain()
    before = len(svc.messages(rule="bulk"))
    monkeypatch.setattr(bulk, "EVERY", 0.0)   # out of time at once: one batch, then the pass ends
    bulk.step(svc.bridge)
    assert len(svc.messages(rule="bulk")) == before + 20
    monkeypatch.setattr(bulk, "EVERY", 2.0)
    bulk.step(svc.bridge)
    assert len(svc.messages(rule="bulk")) > before + 40

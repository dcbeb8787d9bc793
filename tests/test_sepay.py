"""SePay end to end: a fake SePay (tests/fakes/sepay.py) pushes transactions to the real app over
HTTP with its API key or signature and retries as SePay does, and serves its list-transactions API
to the reconcile job. What a shop owner would notice: the order paid once, nothing done for a
debit or a repeat, a caller without the key refused and shown, a missed webhook caught up."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest
import requests

from bridge.envparse import bank_accounts
from bridge.providers.sepay.client import SepayClient
from bridge.providers.sepay.jobs import CURSOR_KEY, LAST_KEY, reconcile
from tests.conftest import Service, make_settings, reserved_port, wait_until
from tests.fakes.sepay import RETRY_MINUTES, FakeSepay
from tests.orders import order_body

ACCOUNT = "0181003749261"
KEY, SECRET = "test-sepay-api-key", "test-sepay-webhook-secret"


@pytest.fixture
def sepay():
    with FakeSepay(account=ACCOUNT) as fake:
        yield fake


def sepay_settings(fake: FakeSepay, **over) -> dict:
    return {**dict(bank_accounts=bank_accounts(f"Vietcombank:{ACCOUNT}"), sepay_api_key=KEY,
                   sepay_webhook_secret=SECRET, sepay_api_token=fake.api_token, sepay_api_url=fake.url,
                   sepay_timeout=2.0), **over}


@pytest.fixture
def shop(sepay, service_factory):      # the fake outlives the service (stopped after it)
    return service_factory(**sepay_settings(sepay))


def order(svc, oid: int, total: int) -> None:
    assert svc.post_json(order_body(oid, total=total), topic="order.created").status_code == 200


def hook(svc) -> str:
    return svc.url + "/inbound/sepay"


def paid(svc, oid: int) -> bool:
    svc.settle()   # what was taken is decided right after: read it decided
    return bool(svc.db.scalar("SELECT paid_at FROM orders WHERE id=?", (oid,)))


def marks(svc, oid: int | None = None) -> int:
    """WooCommerce "mark paid" actions queued (for one order)."""
    return sum(1 for m in svc.messages(rule="payment-mark-paid") if oid is None or m["order_id"] == oid)


def decisions(svc) -> list[str]:
    return [r["decision"] for r in svc.db.query("SELECT decision FROM transactions ORDER BY id")]


def client(fake: FakeSepay, waits: list[float], timeout: float = 2.0) -> SepayClient:
    """The job's client, with its waits (pace, Retry-After) recorded instead of slept."""
    return SepayClient(fake.url, fake.api_token, timeout, sleep=waits.append)


# -- the webhook ---------------------------------------------------------------------------------
def test_a_sepay_credit_with_our_code_confirms_the_order_once(shop, sepay):
    order(shop, 701, 513_000)
    tx = sepay.transaction(513_000, "NGUYEN VAN AN chuyen tien DH701")
    d = sepay.push(hook(shop), tx, api_key=KEY)
    assert d.statuses == [200] and d.answers[0]["success"] is True
    assert shop.decided(d.answers[0])["decision"].startswith("confirm") and paid(shop, 701) and marks(shop, 701) == 1
    row = shop.db.one("SELECT bank, amount, balance, reference FROM transactions")
    assert (row["bank"], row["amount"], row["balance"], row["reference"]) == (
        "Vietcombank", 513_000, tx["accumulated"], tx["referenceCode"])
    again = sepay.push(hook(shop), tx, api_key=KEY)       # SePay re-delivers the same id (manual replay)
    assert again.statuses == [200] and again.answers[0] == {"success": True, **again.answers[0]}
    assert again.answers[0]["duplicate"] is True
    assert marks(shop, 701) == 1 and decisions(shop) == ["confirm"]


def test_a_signed_delivery_confirms_when_sepay_auth_is_hmac(sepay, service_factory):
    shop = service_factory(**sepay_settings(sepay, sepay_auth="hmac"))
    order(shop, 702, 250_000)
    d = sepay.push(hook(shop), sepay.transaction(250_000, "DH702"), secret=SECRET)
    assert d.statuses == [200] and paid(shop, 702)
    stale = sepay.push(hook(shop), sepay.transaction(250_000, "DH702 lan 2"), secret=SECRET, at=time.time() - 3600)
    assert stale.statuses == [401] and "away from our clock" in stale.answers[0]["error"]
    keyed = sepay.push(hook(shop), sepay.transaction(250_000, "DH702 lan 3"), api_key=KEY)
    assert keyed.statuses == [401] and "SEPAY_AUTH=apikey" in keyed.answers[0]["error"]
    assert marks(shop) == 1


def test_a_debit_is_answered_success_and_does_nothing(shop, sepay):
    order(shop, 703, 300_000)
    d = sepay.push(hook(shop), sepay.transaction(300_000, "DH703 hoan tien", direction="out"), api_key=KEY)
    assert d.statuses == [200] and d.answers[0]["success"] is True
    assert decisions(shop) == ["ignore_debit"] and not paid(shop, 703) and marks(shop) == 0


def test_a_wrong_key_is_refused_shown_to_the_owner_and_retried_by_sepay(shop, sepay):
    order(shop, 704, 120_000)
    d = sepay.push(hook(shop), sepay.transaction(120_000, "DH704"), api_key="an old key")
    assert d.statuses == [401]
    assert d.answers[0] == {"success": False, "error": "Authorization: Apikey does not match SEPAY_API_KEY"}
    for _ in RETRY_MINUTES:
        sepay.retry()
    assert d.failed and d.minutes == 33 and d.statuses == [401] * 8     # SePay's whole schedule, then Failed
    row = shop.db.one("SELECT endpoint, http_status, reason, count, headers FROM rejections")
    assert (row["endpoint"], row["http_status"], row["count"]) == ("/inbound/sepay", 401, 8)
    assert "does not match SEPAY_API_KEY" in row["reason"] and "old key" not in row["headers"]
    assert decisions(shop) == [] and not paid(shop, 704)


def test_a_body_that_is_not_a_sepay_transaction_is_refused_with_its_reason(shop):
    r = requests.post(hook(shop), data=json.dumps({"id": 5, "transferType": "in", "transferAmount": "513000"}),
                      headers={"Authorization": f"Apikey {KEY}", "Content-Type": "application/json"}, timeout=5)
    assert r.status_code == 400 and r.json() == {
        "success": False, "error": "field 'transferAmount' must be a number (an amount in VND), not '513000'"}
    assert shop.db.scalar("SELECT http_status FROM rejections") == 400


def test_sepays_code_naming_another_order_than_the_memo_does_not_decide(shop, sepay):
    for oid in (711, 712, 713):
        order(shop, oid, 99_000)
    d = sepay.push(hook(shop), sepay.transaction(99_000, "chuyen tien DH711", code="DH712"), api_key=KEY)
    assert shop.decided(d.answers[0])["decision"].startswith("confirm")
    assert paid(shop, 711) and not paid(shop, 712)           # the memo decided, not SePay's reading
    d = sepay.push(hook(shop), sepay.transaction(99_000, "chuyen tien mua hang", code="DH713"), api_key=KEY)
    assert shop.decided(d.answers[0])["decision"].startswith("no_code") and not paid(shop, 713)   # a hint alone pays nothing
    assert marks(shop) == 1


def test_the_same_transfer_from_the_shops_phone_and_from_sepay_pays_once(sepay, service_factory):
    from tests.test_admin import bank_sms
    shop = service_factory(fibo_payments="confirm", **sepay_settings(sepay))
    order(shop, 706, 513_000)
    bank_sms(shop, "DH706", minute=12)                 # Vietcombank's SMS: +513,000 at 09:12:40, balance after
    tx = sepay.transaction(513_000, "MBVCB.9912.DH706.CT tu 1047263815 VO MINH KHANG toi 0181003749261",
                           at=datetime(2026, 11, 23, 2, 12, 40, tzinfo=timezone.utc).timestamp())
    tx["accumulated"] = 6_000_000 + 12 * 513_000       # SePay reads the same balance after it
    d = sepay.push(hook(shop), tx, api_key=KEY)
    assert d.statuses == [200] and shop.decided(d.answers[0])["decision"].startswith("duplicate"), d.answers
    assert marks(shop, 706) == 1 and decisions(shop) == ["confirm", "duplicate"]


def test_a_delivery_while_we_are_down_is_taken_on_sepays_retry(sepay, tmp_path):
    sock = reserved_port()
    port = sock.getsockname()[1]
    tx = sepay.transaction(513_000, "DH705")
    d = sepay.push(f"http://127.0.0.1:{port}/inbound/sepay", tx, api_key=KEY)
    assert d.statuses == [None]                                # nobody listening
    svc = Service(make_settings(tmp_path, public_url=f"http://127.0.0.1:{port}", **sepay_settings(sepay)), sock=sock)
    try:
        order(svc, 705, 513_000)
        sepay.retry()                                          # a minute later, by SePay's schedule
        assert d.delivered and d.minutes == 1 and paid(svc, 705)
        assert sepay.retry() == [] and marks(svc, 705) == 1
    finally:
        svc.close()


# -- reconcile: the list-transactions API ---------------------------------------------------------
def test_reconcile_catches_up_a_missed_webhook_and_confirms_once(shop, sepay):
    order(shop, 721, 450_000)
    order(shop, 722, 180_000)
    seen = sepay.push(hook(shop), sepay.transaction(180_000, "DH722"), api_key=KEY)
    assert seen.delivered and paid(shop, 722)
    missed = sepay.push("http://127.0.0.1:9/inbound/sepay", sepay.transaction(450_000, "DH721"), api_key=KEY)
    for _ in RETRY_MINUTES:
        sepay.retry()
    assert missed.failed and not paid(shop, 721)
    waits: list[float] = []
    out = reconcile(shop.bridge, client(sepay, waits))
    assert (out["taken"], out["duplicates"], out["error"]) == (1, 1, "")
    assert paid(shop, 721) and marks(shop, 721) == 1 and marks(shop, 722) == 1
    assert "transaction_date_min" in sepay.api_calls[0] and "since_id" not in sepay.api_calls[0]   # no mark yet: the last day
    assert shop.db.kv_get(CURSOR_KEY) == str(missed.transaction["id"])
    again = reconcile(shop.bridge, client(sepay, waits))
    assert (again["fetched"], again["taken"]) == (0, 0)
    assert sepay.api_calls[-1]["since_id"] == str(missed.transaction["id"] + 1)
    late = sepay.push(hook(shop), missed.transaction, api_key=KEY)   # replayed from SePay's dashboard later
    assert late.answers[0]["duplicate"] is True and marks(shop, 721) == 1
    assert json.loads(shop.db.kv_get(LAST_KEY))["until_id"] == missed.transaction["id"]


def test_reconcile_pages_through_everything_missed_at_sepays_pace(shop, sepay):
    sepay.page_cap = 2
    shop.db.kv_set(CURSOR_KEY, "1")
    for oid in range(731, 736):
        order(shop, oid, 10_000 * (oid - 700))
        sepay.transaction(10_000 * (oid - 700), f"DH{oid}")
    waits: list[float] = []
    out = reconcile(shop.bridge, client(sepay, waits))
    assert (out["fetched"], out["taken"]) == (5, 5) and all(paid(shop, oid) for oid in range(731, 736))
    assert [c["since_id"] for c in sepay.api_calls] == ["2"] + [
        str(sepay.transactions[i]["id"] + 1) for i in (1, 3, 4)]        # pages of 2, 2, 1, then an empty one
    assert len(waits) == len(sepay.api_calls) - 1 and all(0 < w <= 0.5 for w in waits)   # at most 2 a second


def test_reconcile_leaves_the_owners_other_accounts_alone(shop, sepay):
    order(shop, 736, 90_000)
    shop.db.kv_set(CURSOR_KEY, "1")
    sepay.transaction(90_000, "luong thang 11", account="1903555666777")      # the owner's own account at SePay
    sepay.transaction(90_000, "DH736")
    out = reconcile(shop.bridge, client(sepay, []))
    assert (out["taken"], out["other_accounts"]) == (1, 1) and paid(shop, 736)
    assert shop.db.scalar("SELECT COUNT(*) FROM inbox WHERE source='sepay'") == 1
    assert shop.db.kv_get(CURSOR_KEY) == str(sepay.transactions[-1]["id"])


def test_a_rate_limit_is_waited_out_or_left_to_the_next_pass(shop, sepay):
    order(shop, 741, 77_000)
    shop.db.kv_set(CURSOR_KEY, "1")
    sepay.transaction(77_000, "DH741")
    sepay.rate_limited, sepay.retry_after = 1, "3"
    waits: list[float] = []
    out = reconcile(shop.bridge, client(sepay, waits))
    assert out["taken"] == 1 and 3.0 in waits and paid(shop, 741)
    order(shop, 742, 88_000)
    sepay.transaction(88_000, "DH742")
    sepay.rate_limited = 2
    out = reconcile(shop.bridge, client(sepay, waits))
    assert "rate limiting us (HTTP 429)" in out["error"] and out["taken"] == 0 and not paid(shop, 742)
    assert shop.db.kv_get(CURSOR_KEY) == str(sepay.transactions[0]["id"])       # the mark did not move
    assert reconcile(shop.bridge, client(sepay, waits))["taken"] == 1 and paid(shop, 742)


def test_a_slow_or_refusing_api_leaves_the_mark_where_it_was(shop, sepay):
    order(shop, 751, 66_000)
    shop.db.kv_set(CURSOR_KEY, "1")
    sepay.transaction(66_000, "DH751")
    sepay.delay = 1.5
    out = reconcile(shop.bridge, client(sepay, [], timeout=0.3))
    assert "did not answer within 0.3 s" in out["error"] and shop.db.kv_get(CURSOR_KEY) == "1"
    sepay.delay = 0.0
    wrong = SepayClient(sepay.url, "a revoked token", 2.0, sleep=[].append)
    out = reconcile(shop.bridge, wrong)
    assert "refused SEPAY_API_TOKEN (HTTP 401)" in out["error"] and "revoked" not in out["error"]
    assert not paid(shop, 751)
    assert reconcile(shop.bridge, client(sepay, []))["taken"] == 1 and paid(shop, 751)


def test_a_listed_transaction_we_cannot_read_is_shown_and_does_not_block_the_others(shop, sepay):
    order(shop, 761, 55_000)
    shop.db.kv_set(CURSOR_KEY, "1")
    broken = sepay.transaction(55_000, "DH761 loi")
    broken["transferAmount"] = 0                     # listed as amount_in "0.00" and amount_out "0.00"
    sepay.transaction(55_000, "DH761")
    out = reconcile(shop.bridge, client(sepay, []))
    assert (out["refused"], out["taken"]) == (1, 1) and paid(shop, 761)
    row = shop.db.one("SELECT endpoint, reason FROM rejections")
    assert "SePay reconcile" in row["endpoint"] and "exactly one of 'amount_in'" in row["reason"]
    assert shop.db.kv_get(CURSOR_KEY) == str(sepay.transactions[-1]["id"])


def test_the_scheduler_runs_reconcile_at_start_when_an_api_token_is_set(sepay, tmp_path, service_factory):
    missed = sepay.transaction(513_000, "DH771")
    svc = service_factory(start_scheduler=True, run_scheduler=True, **sepay_settings(sepay))
    assert "sepay_reconcile" in [j.id for j in svc.bridge.scheduler.get_jobs()]
    wait_until(lambda: svc.db.kv_get(LAST_KEY), what="the first SePay reconcile")
    assert json.loads(svc.db.kv_get(LAST_KEY))["until_id"] == missed["id"]
    plain = service_factory(**sepay_settings(sepay, sepay_api_token=""), start_scheduler=True, run_scheduler=True,
                            db_path=str(tmp_path / "other.db"))
    assert "sepay_reconcile" not in [j.id for j in plain.bridge.scheduler.get_jobs()]


def test_the_settings_page_says_in_vietnamese_what_to_paste_into_sepay(sepay, service_factory):
    from tests.test_admin import PASSWORD, Admin
    svc = service_factory(admin_password=PASSWORD, **sepay_settings(sepay, sepay_auth="hmac"))
    admin = Admin(svc)
    assert admin.sign_in().status_code == 302
    html = admin.get("/admin/settings").text
    assert "Webhook của SePay" in html and hook(svc) in html
    assert f"bước bảo mật: chọn HMAC-SHA256 với khóa bí mật {SECRET}" in html


def test_the_endpoint_is_never_open_and_the_banner_says_what_to_paste(service_factory):
    svc = service_factory()                                     # no SePay settings at all
    key = svc.settings.sepay_api_key
    assert key and svc.settings.sepay_webhook_secret and key != svc.settings.sepay_webhook_secret
    r = requests.post(hook(svc), json={"id": 1}, timeout=5)
    assert r.status_code == 401 and r.json()["success"] is False
    [(what, url, note)] = [e for e in svc.bridge.public_endpoints() if e[0] == "SePay webhook"]
    assert url == hook(svc) and key in note and "API Key" in note


HOSTILE = [
    ("deeply nested JSON", b"[" * 100_000 + b"]" * 100_000),
    ("id of 5,000 digits", b'{"id": ' + b"9" * 5000 + b"}"),
    ("id 10**30", json.dumps({"id": 10**30, "transferType": "in", "transferAmount": 1000}).encode()),
    ("amount 10**30", json.dumps({"id": 1, "transferType": "in", "transferAmount": 10**30}).encode()),
    ("amount Infinity", b'{"id": 1, "transferType": "in", "transferAmount": Infinity}'),
    ("lone surrogates in the text fields", b'{"id": 90001, "gateway": "Vietcombank", "accountNumber": "0181003749261",'
     b' "content": "DH\\ud800 701", "code": "\\udfff", "transferType": "in", "transferAmount": 1000,'
     b' "transactionDate": "2026-11-30 10:00:00", "referenceCode": "\\ud800", "description": "\\udfff"}'),
    ("a year 9999 date", json.dumps({"id": 2, "gateway": "VCB", "accountNumber": "1", "content": "x",
                                     "transferType": "in", "transferAmount": 1,
                                     "transactionDate": "9999-12-31 23:59:59"}).encode()),
]


@pytest.mark.parametrize("label, body", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_bodies_get_an_answer_sepay_can_read_never_a_500(shop, label, body):
    r = requests.post(hook(shop), data=body, timeout=10,
                      headers={"Authorization": f"Apikey {KEY}", "Content-Type": "application/json"})
    assert r.status_code in (200, 400), (label, r.status_code, r.text[:300])
    assert r.json()["success"] is (r.status_code == 200) and (r.status_code == 200 or r.json()["error"])

"""Casso through the real app and a fake Casso over real HTTP: its pushes (v1 and V2, signed as
Casso's samples sign) pay the order they name, once; what is not Casso is refused and recorded;
the reconcile job catches up on a transaction whose webhook never came, and honours a 429."""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from app import create_app
from bridge import providers
from bridge.envparse import bank_accounts
from bridge.providers.casso import reconcile
from tests.conftest import make_settings, wait_until
from tests.fakes.casso import VN, FakeCasso, sign_v2
from tests.orders import order_body

ACCOUNT = "0071009998887"
FIXTURES = Path(reconcile.__file__).parent / "fixtures"


@pytest.fixture
def casso():
    with FakeCasso(account=ACCOUNT) as fake:
        yield fake


@pytest.fixture
def shop(service_factory, casso):
    svc = service_factory(bank_accounts=bank_accounts(f"Vietcombank:{ACCOUNT}"), casso_secure_token=casso.secure_token,
                          casso_webhook_key=casso.webhook_key, casso_api_key=casso.api_key,
                          casso_api_url=casso.api_url, casso_timeout=0.5)
    casso.webhook_url = svc.url + "/inbound/casso"
    return svc


def order(svc, oid: int, total: int) -> None:
    assert svc.post_json(order_body(oid, total=total), topic="order.created").status_code == 200


def paid(svc, oid: int) -> bool:
    svc.settle()   # what was taken is decided right after: read it decided
    return bool(svc.db.one("SELECT paid_at FROM orders WHERE id=?", (oid,))["paid_at"])


def mark_paid_jobs(svc) -> int:
    return svc.db.scalar("SELECT COUNT(*) FROM messages WHERE rule='payment-mark-paid'")


def casso_rows(svc) -> int:
    return svc.db.scalar("SELECT COUNT(*) FROM inbox WHERE source='casso'")


def decisions(svc) -> list[str]:
    return [r["decision"] for r in svc.db.query("SELECT decision FROM transactions WHERE source='casso' ORDER BY id")]


def test_a_v2_credit_with_our_code_pays_the_order(shop, casso):
    order(shop, 1001, 250_000)
    r = casso.push_v2(casso.transaction(250_000, "DH1001 thanh toan don hang", payer="NGUYEN VAN A"))
    assert r.status_code == 200, r.text
    [result] = r.json()["results"]
    assert result["duplicate"] is False and shop.decided(result)["decision"].startswith("confirm"), result
    assert paid(shop, 1001) and mark_paid_jobs(shop) == 1
    assert len(casso.pushes) == 1                       # answered 2xx the first time: Casso does not retry


def test_a_v2_credit_with_vietnamese_content_is_verified_and_pays(shop, casso):
    """The non-ASCII gotcha end to end: signed with the letters as they are (Casso's JavaScript
    sample) or escaped (its Python sample), either is Casso's and pays."""
    for oid, style in ((1002, "js"), (1013, "python")):
        order(shop, oid, 99_000)
        r = casso.push_v2(casso.transaction(99_000, f"Thanh toán DH{oid} – cảm ơn shop"), style=style)
        assert r.status_code == 200, r.text
        assert paid(shop, oid)
    assert decisions(shop) == ["confirm", "confirm"]


def test_a_v1_credit_pays_the_order_its_account_names_the_bank(shop, casso):
    """v1 names no bank: the receiving account, configured in BANK_ACCOUNTS, says which it is."""
    order(shop, 1003, 120_000)
    r = casso.push_v1([casso.transaction(120_000, "CK DH1003")])
    assert r.status_code == 200, r.text
    assert paid(shop, 1003) and decisions(shop) == ["confirm"]


def test_a_v1_credit_to_an_account_that_is_not_ours_waits_for_a_person(shop, casso):
    order(shop, 1004, 120_000)
    r = casso.push_v1([casso.transaction(120_000, "CK DH1004", account="1903000111222")])
    assert r.status_code == 200, r.text
    assert not paid(shop, 1004) and decisions(shop) == ["wrong_account"]


def test_the_test_transaction_is_answered_and_never_booked(shop, casso):
    vector = json.loads((FIXTURES / "v2_test_transaction.json").read_text(encoding="utf-8"))
    r = casso.push_v2(body=vector["body"])               # "Gọi thử": id 0, signed now with our key
    assert r.status_code == 200, r.text
    assert r.json()["results"] == [{"event": "test transaction (id 0): not booked", "ignored": True}]
    r = casso.push_v1([], error=0)
    assert r.status_code == 200
    assert casso_rows(shop) == 0 and decisions(shop) == []


def test_a_casso_error_is_acknowledged_and_books_nothing(shop, casso):
    r = casso.push_v1([casso.transaction(50_000, "DH1")], error=1)
    assert r.status_code == 200 and r.json()["results"][0]["ignored"] is True
    assert casso_rows(shop) == 0


def test_the_same_transaction_again_is_a_duplicate_and_pays_once(shop, casso):
    order(shop, 1005, 75_000)
    tx = casso.transaction(75_000, "DH1005")
    first, again = casso.push_v2(tx), casso.push_v2(tx)          # a retry after a lost answer
    v1_too = casso.push_v1([tx])                                  # and both integrations configured
    assert [r.status_code for r in (first, again, v1_too)] == [200, 200, 200]
    assert again.json()["results"][0]["duplicate"] is True and v1_too.json()["results"][0]["duplicate"] is True
    assert casso_rows(shop) == 1 and decisions(shop) == ["confirm"] and mark_paid_jobs(shop) == 1


def test_a_debit_is_stored_and_pays_nothing(shop, casso):
    order(shop, 1006, 200_000)
    r = casso.push_v2(casso.transaction(-200_000, "DH1006 hoan tien"))
    assert r.status_code == 200, r.text
    assert casso_rows(shop) == 1 and not paid(shop, 1006) and decisions(shop) == ["ignore_debit"]


@pytest.mark.parametrize("how, reason", [
    (lambda c, tx: c.push_v2(tx, key="not-the-key"), "does not match"),
    (lambda c, tx: c.push_v2(tx, tamper=True), "does not match"),
    (lambda c, tx: c.push_v1([tx], token="wrong-token"), "wrong Secure-Token"),
    (lambda c, tx: c.push_v1([tx], headers={}), "missing Secure-Token"),
    (lambda c, tx: c.push_v1([tx], token=c.webhook_key), "wrong Secure-Token"),   # one secret per door
])
def test_what_is_not_casso_is_refused_with_a_reason_and_recorded(shop, casso, how, reason):
    order(shop, 1007, 64_000)
    r = how(casso, casso.transaction(64_000, "DH1007"))
    assert r.status_code == 401 and reason in r.json()["error"]
    assert len(casso.pushes) == casso.attempts                # Casso retries a refusal; each is refused
    row = shop.db.one("SELECT endpoint, http_status, reason, count FROM rejections")
    assert (row["endpoint"], row["http_status"]) == ("/inbound/casso", 401) and reason in row["reason"]
    assert casso_rows(shop) == 0 and not paid(shop, 1007)


def test_a_signature_older_than_the_tolerance_is_refused(shop, casso):
    order(shop, 1008, 30_000)
    tx = casso.transaction(30_000, "DH1008")
    t = int(time.time() * 1000)
    shop.clock.advance(301)                                    # captured, replayed five minutes later
    r = casso.push_v2(tx, t=t)
    assert r.status_code == 401 and "CASSO_SIGNATURE_MAX_AGE" in r.json()["error"]
    assert casso_rows(shop) == 0
    shop.clock.advance(-301)
    assert casso.push_v2(tx, t=t).status_code == 200 and paid(shop, 1008)


VCB_SMS = ("SD TK {account} +{amount:,}VND luc {when}. SD {balance:,}VND. Ref MBVCB.{ref}.{memo}.CT tu "
           "1047263815 VO MINH KHANG toi {account} CUA H...")


def bank_sms(svc, tx: dict) -> None:
    """The shop's phone forwards Vietcombank's SMS of the same transfer (FiboSMS push)."""
    text = VCB_SMS.format(account=ACCOUNT, amount=tx["amount"], when=tx["when"].strftime("%d-%m-%Y %H:%M:%S"),
                          balance=tx["balance"], ref=tx["reference"][-10:], memo=tx["description"])
    r = requests.get(svc.url + "/inbound/fibo", params={"token": "test-fibo-token", "phone": "Vietcombank",
                                                        "message": text, "guid": uuid.uuid4().hex}, timeout=5)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("sms_first", [True, False], ids=["bank SMS, then Casso", "Casso, then bank SMS"])
def test_the_same_transfer_from_the_bank_sms_and_casso_pays_once(shop, casso, sms_first):
    order(shop, 1016, 513_000)
    tx = casso.transaction(513_000, "DH1016", at=datetime.now(VN) - timedelta(seconds=40))
    if sms_first:
        bank_sms(shop, tx)
    r = casso.push_v2(tx)
    assert r.status_code == 200, r.text
    if not sms_first:
        bank_sms(shop, tx)
    rows = [dict(x) for x in shop.db.query("SELECT source, decision FROM transactions ORDER BY id")]
    assert [x["decision"] for x in rows][0] == "confirm" and rows[1]["decision"].startswith("duplicate"), rows
    assert paid(shop, 1016) and mark_paid_jobs(shop) == 1


def test_reconcile_catches_up_a_missed_webhook_and_pays_exactly_once(shop, casso):
    order(shop, 1009, 310_000)
    order(shop, 1010, 45_000)
    missed = casso.casso_reads(casso.transaction(310_000, "DH1009", at=datetime.now(VN) - timedelta(hours=2)))
    casso.bank_books(casso.transaction(45_000, "DH1010"))      # not read by Casso yet: the sync brings it
    summary = reconcile.run(shop.bridge)
    assert summary.error == "" and summary.synced == [ACCOUNT]
    assert paid(shop, 1009) and paid(shop, 1010)              # 1010 by the push the sync made, and listed too
    assert summary.fetched == 2 and decisions(shop).count("confirm") == 2
    again = reconcile.run(shop.bridge)
    assert again.error == "" and again.new == 0 and again.fetched == 2
    assert casso.push_v2(missed).json()["results"][0]["duplicate"] is True   # the webhook, late
    assert casso_rows(shop) == 2 and mark_paid_jobs(shop) == 2
    assert all(c["authorization"] == f"Apikey {casso.api_key}" and casso.api_key not in json.dumps(c["args"])
               for c in casso.api_log)
    stored = json.loads(shop.db.kv_get(reconcile.LAST_KEY))
    assert stored["fetched"] == 2 and stored["error"] == ""


def test_reconcile_pages_through_many_transactions(shop, casso):
    for i in range(reconcile.PAGE_SIZE + 5):
        casso.casso_reads(casso.transaction(10_000 + i, f"khach {i}"))
    summary = reconcile.run(shop.bridge)
    assert summary.error == "" and summary.fetched == summary.new == reconcile.PAGE_SIZE + 5
    pages = [c["args"].get("page") for c in casso.api_log if c["path"] == "/v2/transactions"]
    assert pages == ["1", "2"]


def test_an_unreadable_record_is_named_and_the_rest_are_taken(shop, casso):
    order(shop, 1017, 70_000)
    casso.casso_reads(casso.transaction(5_000, ["DH9"]))         # a content that is not text
    casso.casso_reads(casso.transaction(70_000, "DH1017"))
    summary = reconcile.run(shop.bridge)
    assert summary.error == "" and summary.new == 1 and paid(shop, 1017)
    assert len(summary.skipped) == 1 and "description must be text" in summary.skipped[0]


def test_a_transaction_dated_in_the_future_does_not_move_the_mark_past_today(shop, casso):
    casso.casso_reads(casso.transaction(10_000, "ngay sai", at=datetime.now(VN) + timedelta(days=30)))
    assert reconcile.run(shop.bridge).error == ""
    assert shop.db.kv_get(reconcile.FROM_KEY) == datetime.now(VN).date().isoformat()


def test_reconcile_honours_429_and_waits_its_retry_after(shop, casso):
    order(shop, 1011, 80_000)
    casso.casso_reads(casso.transaction(80_000, "DH1011"))
    casso.fail_next(1, "429")
    first = reconcile.run(shop.bridge)
    assert "429" in first.error and not paid(shop, 1011)
    calls = len(casso.api_log)
    assert "waiting" in reconcile.run(shop.bridge).error and len(casso.api_log) == calls   # nothing asked
    shop.clock.advance(int(casso.retry_after) + 1)
    assert reconcile.run(shop.bridge).error == "" and paid(shop, 1011)


def test_a_slow_casso_leaves_the_mark_where_it_was(shop, casso):
    order(shop, 1012, 81_000)
    casso.casso_reads(casso.transaction(81_000, "DH1012"))
    shop.db.kv_set(reconcile.FROM_KEY, (datetime.now(VN) - timedelta(days=3)).date().isoformat())
    mark = shop.db.kv_get(reconcile.FROM_KEY)
    casso.fail_next(2, "slow")                                 # the sync and the first page
    slow = reconcile.run(shop.bridge)
    assert "did not answer" in slow.error and shop.db.kv_get(reconcile.FROM_KEY) == mark
    assert not paid(shop, 1012)
    assert reconcile.run(shop.bridge).error == "" and paid(shop, 1012)
    assert shop.db.kv_get(reconcile.FROM_KEY) == datetime.now(VN).date().isoformat()


def test_the_scheduler_runs_the_catch_up_at_start_only_when_an_api_key_is_set(service_factory, casso):
    casso.casso_reads(casso.transaction(52_000, "DH1014"))
    svc = service_factory(start_scheduler=True, casso_api_key=casso.api_key, casso_api_url=casso.api_url)
    assert "casso_reconcile" in [j.id for j in svc.bridge.scheduler.get_jobs()]
    last = wait_until(lambda: svc.db.kv_get(reconcile.LAST_KEY), what="the first Casso pass")
    assert json.loads(last)["fetched"] == 1 and casso_rows(svc) == 1
    [job] = [j for j in providers.jobs() if j.id == "casso_reconcile"]
    assert job.when(svc.settings) and not job.when(replace(svc.settings, casso_api_key=""))


def test_a_wrong_api_key_is_said_plainly(service_factory, casso):
    svc = service_factory(casso_api_key="not-it", casso_api_url=casso.api_url)
    summary = reconcile.run(svc.bridge)
    assert "HTTP 401" in summary.error and "CASSO_API_KEY" in summary.error


# -- random input: never a 5xx ----------------------------------------------------------------
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                       max_size=5),
                           max_leaves=25)
transactions = st.fixed_dictionaries({}, optional={
    k: json_values | st.integers(-10**16, 10**16) | st.text(max_size=30)
    for k in ("id", "amount", "description", "tid", "reference", "when", "transactionDateTime", "runningBalance",
              "cusum_balance", "accountNumber", "bank_sub_acc_id", "bankName", "counterAccountName")})
bodies = st.fixed_dictionaries({"error": st.sampled_from([0, 0, 0, 1]) | json_values,
                                "data": transactions | st.lists(transactions, max_size=3) | json_values})


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    app = create_app(make_settings(tmp_path_factory.mktemp("casso-fuzz"), casso_secure_token="fuzz-token",
                                   casso_webhook_key="fuzz-key"), start_scheduler=False)
    yield app.test_client()
    app.extensions["bridge"].shutdown()


@given(body=bodies | json_values)
@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_signed_garbage_is_answered_200_or_400_never_5xx(client, body):
    t = int(time.time() * 1000)
    header = f"t={t},v1={sign_v2(body, t, 'fuzz-key')}" if isinstance(body, dict) else f"t={t},v1={'0' * 128}"
    r = client.post("/inbound/casso", data=json.dumps(body).encode(), headers={"X-Casso-Signature": header})
    assert r.status_code in ((200, 400) if isinstance(body, dict) else (400, 401)) and r.is_json, r.get_json()


@given(body=bodies | json_values)
@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_v1_garbage_with_the_token_is_answered_200_or_400_never_5xx(client, body):
    r = client.post("/inbound/casso", data=json.dumps(body).encode(), headers={"Secure-Token": "fuzz-token"})
    assert r.status_code in (200, 400) and r.is_json, r.get_json()


@given(raw=st.binary(max_size=300), hdrs=st.dictionaries(
    st.sampled_from(["X-Casso-Signature", "Secure-Token", "Content-Type"]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=160), max_size=3))
@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_anything_without_casso_s_proof_is_refused_never_5xx(client, raw, hdrs):
    r = client.post("/inbound/casso", data=raw, headers=hdrs)
    assert r.status_code in (400, 401) and r.is_json

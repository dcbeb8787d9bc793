"""One transfer seen by several sources is one event; the bank's time read from every printed
layout; the bank-to-WooCommerce time owners compare (issue 14)."""
from __future__ import annotations

import json
import time
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import requests

from bridge.envparse import bank_accounts as _accounts
from bridge.events import BankTransaction
from bridge.payments.parsers import parse
from bridge.payments.transfer import Seen, account_tail, bank_time, ref_key, same_transfer
from tests.conftest import ROOT, wait_until, woo_settings
from tests.test_admin import PASSWORD, Admin
from tests.test_security_payments import order

TZ = "Asia/Ho_Chi_Minh"
VN = ZoneInfo(TZ)
ARRIVED = datetime(2026, 11, 30, 12, 0, tzinfo=VN).timestamp()
ACCOUNT = "0181003749261"


def at(y: int, mo: int, d: int, h: int, mi: int, s: int = 0) -> float:
    return datetime(y, mo, d, h, mi, s, tzinfo=VN).timestamp()


@pytest.mark.parametrize("printed, expected", [
    ("11-09-2025 08:47:13", at(2025, 9, 11, 8, 47, 13)),      # Vietcombank
    ("10:05 03/10/2025", at(2025, 10, 3, 10, 5)),              # ACB, BIDV: time before date
    ("30/09/25 23:59", at(2025, 9, 30, 23, 59)),               # MBBank: two-digit year
    ("04/10/25;12:15", at(2025, 10, 4, 12, 15)),               # TPBank
    ("17:02;13/10/2025", at(2025, 10, 13, 17, 2)),             # VIB
    ("16:10,23 10 2025", at(2025, 10, 23, 16, 10)),            # GPBank
    ("10h15p 08/10", at(2026, 10, 8, 10, 15)),                 # Agribank: no year -> the arrival's
    ("18/10 15:47", at(2026, 10, 18, 15, 47)),                 # MSB
    ("5/1/2026 9:03", at(2026, 1, 5, 9, 3)),                   # drift: no leading zeros
    ("2024-10-03 15:06:37", at(2024, 10, 3, 15, 6, 37)),       # a provider's field
])
def test_the_banks_time_is_read_from_every_printed_layout(printed, expected):
    assert bank_time(printed, ARRIVED, TZ) == expected


def test_a_date_without_a_time_or_an_impossible_date_is_no_time():
    assert bank_time("29/10/2025", ARRIVED, TZ) is None          # Public Bank prints only the date
    assert bank_time("31/02/2026 10:00", ARRIVED, TZ) is None
    assert bank_time("", ARRIVED, TZ) is None
    # a day-month after the arrival (31/12 read on 1 January) belongs to the year before
    jan = datetime(2027, 1, 1, 0, 5, tzinfo=VN).timestamp()
    assert bank_time("23:58 31/12", jan, TZ) == at(2026, 12, 31, 23, 58)


def test_every_dev_set_time_is_read_as_a_time_or_as_none_never_a_wrong_one():
    read = 0
    for line in (ROOT / "tests/fixtures/bank/bank_sms_dev.jsonl").read_text().splitlines():
        r = json.loads(line)
        p = parse(r["sender"], r["channel"], r["body"], r.get("package"), r.get("title"))
        if not p.time:
            continue
        t = bank_time(p.time, ARRIVED, TZ)
        digits = [int(x) for x in __import__("re").findall(r"\d+", p.time)]
        if t is None:
            assert len(digits) <= 3, p.time   # only a bare date is no time
            continue
        when = datetime.fromtimestamp(t, VN)
        assert when.hour in digits and when.minute in digits and when.day in digits, (p.time, when)
        read += 1
    assert read > 40


def seen(source: str, account: str | None = ACCOUNT, balance: int | None = None, ref: str | None = None,
         bank_at: float | None = None, arrived: float = ARRIVED, memo: str = "DH20 thanh toan") -> Seen:
    return Seen(0, source, account_tail(account), balance, ref_key(ref), bank_at,
                bank_at if bank_at is not None else arrived, memo)


SMS_TIME = at(2026, 11, 30, 11, 58)
# (first record, second record, verdict): the pairs a shop meets when it connects several sources
PAIRS = [
    # bank SMS (masked account, balance, reference) and SePay (full account, accumulated, referenceCode)
    (seen("smsgate", "0181xxx9261", 6_288_000, "MBVCB.9734120586.DH20", SMS_TIME),
     seen("sepay", ACCOUNT, 6_288_000, "MBVCB.9734120586", SMS_TIME + 37), "same"),
    (seen("smsgate", "0181xxx9261", 6_288_000, None, SMS_TIME),
     seen("sepay", ACCOUNT, 6_801_000, None, SMS_TIME + 60), None),                    # two transfers
    # app notification (balance) and Casso v2 (runningBalance)
    (seen("notification", "9261", 6_288_000, None, SMS_TIME),
     seen("casso", ACCOUNT, 6_288_000, "FT24364030863634", SMS_TIME + 5), "same"),
    # references in two formats (Casso's FT..., the SMS's MBVCB...) are not compared: the balance decides
    (seen("smsgate", "0181xxx9261", 6_288_000, "MBVCB.0000000001.DH20", SMS_TIME),
     seen("casso", ACCOUNT, 6_288_000, "FT24113000000001", SMS_TIME + 20), "same"),
    # payOS (reference, no balance) and the bank's SMS printing the same FT reference
    (seen("payos", ACCOUNT, None, "FT24364030863634", SMS_TIME),
     seen("smsgate", "0181xxx9261", 6_288_000, "FT24364030863634", SMS_TIME + 60), "same"),
    (seen("payos", ACCOUNT, None, "FT24364030863634", SMS_TIME),
     seen("smsgate", "0181xxx9261", 6_288_000, "FT24364030869999", SMS_TIME + 60), None),
    # SePay and Casso both report the same transfer (both print the balance)
    (seen("sepay", ACCOUNT, 9_000_000, "MBVCB.1", SMS_TIME),
     seen("casso", ACCOUNT, 9_000_000, None, SMS_TIME + 1), "same"),
    # the same balance after, but another reference and another bank minute: a person decides
    (seen("smsgate", ACCOUNT, 6_513_000, "MBVCB.9734120586", SMS_TIME - 900),
     seen("sepay", ACCOUNT, 6_513_000, "MBVCB.9739999999", SMS_TIME - 300), "probably"),
    # MoMo-like notice (nothing but memo and arrival) and Casso v1 (date only): probably, a person decides
    (seen("notification", None, None, None, None, ARRIVED), seen("casso", ACCOUNT, None, None, None, ARRIVED + 90),
     "probably"),
    (seen("notification", None, None, None, None, ARRIVED),
     seen("casso", ACCOUNT, None, None, None, ARRIVED + 90, memo="DH21"), None),        # other memo
    (seen("notification", None, None, None, None, ARRIVED),
     seen("casso", ACCOUNT, None, None, None, ARRIVED + 1800), None),                   # half an hour apart
    # another account of the shop at the same bank
    (seen("smsgate", "0181xxx9261", 6_288_000, None, SMS_TIME),
     seen("sepay", "0181003740000", 6_288_000, None, SMS_TIME), None),
    # the bank's times an hour apart: two transfers, even with the same balance
    (seen("smsgate", ACCOUNT, 6_288_000, None, SMS_TIME),
     seen("sepay", ACCOUNT, 6_288_000, None, SMS_TIME + 3600), None),
]


@pytest.mark.parametrize("first, second, verdict", PAIRS)
def test_the_same_transfer_from_two_sources_is_one_event(first, second, verdict):
    got = same_transfer(second, first)
    assert (got[0] if got else None) == verdict
    back = same_transfer(first, second)
    assert (back[0] if back else None) == verdict   # the order they arrive in does not matter


VCB_NOW = ("SD TK 0181003749261 +513,000VND luc {when}. SD {balance:,}VND. Ref MBVCB.{ref}.{memo}.CT tu "
           "1047263815 VO MINH KHANG toi 0181003749261 CUA H...")


def fibo_sms(svc, text: str) -> dict:
    r = requests.get(svc.url + "/inbound/fibo", params={"token": "test-fibo-token", "phone": "Vietcombank",
                                                        "message": text, "guid": uuid.uuid4().hex}, timeout=5)
    assert r.status_code == 200, r.text
    return svc.db.one("SELECT * FROM transactions ORDER BY id DESC LIMIT 1")


def printed(t: float) -> str:
    return datetime.fromtimestamp(t, VN).strftime("%d-%m-%Y %H:%M:%S")


@pytest.fixture
def shop(service_factory, woo):
    return service_factory(start_scheduler=True, admin_password=PASSWORD, **woo_settings(woo),
                           bank_accounts=_accounts(f"Vietcombank:{ACCOUNT}"))


def test_a_transfer_reported_again_by_another_source_acts_once(shop, woo):
    woo.add_order(20, 513_000)
    order(shop, 20, 513_000)
    now = time.time()
    first = fibo_sms(shop, VCB_NOW.format(when=printed(now - 20), balance=6_513_000, ref="9734120586", memo="DH20"))
    assert first["decision"] == "confirm"
    again = shop.decided(shop.bridge.accept(BankTransaction(
        source="bank-feed", external_id="92704", bank="VCB", account=ACCOUNT, direction="in", amount=513_000,
        memo="DH20 chuyen tien", raw={"id": 92704}, reference="MBVCB.9734120586", balance=6_513_000,
        bank_time=now - 20)))
    assert again["decision"].startswith("duplicate"), again
    row = shop.db.one("SELECT * FROM transactions ORDER BY id DESC LIMIT 1")
    assert row["duplicate_of"] == first["id"] and row["bank"] == "Vietcombank"
    # the same transfer delivered again by that source: stored once, decided once
    assert shop.bridge.accept(BankTransaction(
        source="bank-feed", external_id="92704", bank="VCB", account=ACCOUNT, direction="in", amount=513_000,
        memo="DH20 chuyen tien", raw={}, balance=6_513_000, bank_time=now - 20))["duplicate"] is True
    wait_until(lambda: shop.db.scalar("SELECT COUNT(*) FROM messages WHERE kind='order_update'"
                                      " AND status='delivered'") == 1, what="one WooCommerce write")
    assert shop.db.scalar("SELECT COUNT(*) FROM transactions") == 2
    assert shop.db.scalar("SELECT COUNT(*) FROM messages WHERE kind='order_update'") == 1


def test_a_second_transfer_of_the_same_amount_is_not_taken_for_the_first(shop):
    order(shop, 20, 513_000)
    now = time.time()
    fibo_sms(shop, VCB_NOW.format(when=printed(now - 60), balance=6_513_000, ref="9734120586", memo="DH20"))
    other = shop.decided(shop.bridge.accept(BankTransaction(
        source="bank-feed", external_id="92705", bank="Vietcombank", account=ACCOUNT, direction="in", amount=513_000,
        memo="DH20", raw={}, balance=7_026_000, bank_time=now - 30)))
    assert not other["decision"].startswith("duplicate")   # a different balance after it: another transfer


def test_the_bank_to_woocommerce_time_is_on_the_dashboard_and_in_metrics(shop, woo):
    for n, lag in ((20, 12), (21, 40)):
        woo.add_order(n, 513_000)
        order(shop, n, 513_000)
        t = time.time() - lag
        fibo_sms(shop, VCB_NOW.format(when=printed(t), balance=6_000_000 + n, ref=f"97341205{n}", memo=f"DH{n}"))
    wait_until(lambda: shop.db.scalar("SELECT COUNT(*) FROM messages WHERE kind='order_update'"
                                      " AND status='delivered'") == 2, what="both orders marked paid")
    metrics = requests.get(shop.url + "/metrics", timeout=5).text
    p50 = [line for line in metrics.splitlines()
           if line.startswith('woobridge_payment_confirm_quantile_seconds{quantile="0.5",source="fibo"}')]
    assert p50, metrics
    assert 12 <= float(p50[0].split()[-1]) < 60
    assert 'woobridge_payment_confirm_seconds_count{source="fibo"} 2.0' in metrics
    admin = Admin(shop)
    admin.sign_in()
    page = admin.get("/admin/").text
    assert 'id="payment-latency"' in page and "Thời gian từ ngân hàng" in page and "fibo" in page


@pytest.mark.parametrize("given, account, expected", [
    ("MBB", "", "MBBank"),                    # Casso's bankAbbreviation
    ("VCB", "", "Vietcombank"),
    ("Vietcombank", "", "Vietcombank"),      # SePay's gateway
    ("", ACCOUNT, "Vietcombank"),            # Casso v1: no bank, the configured account tells
    ("", "999999", ""),                      # no bank and an account not ours: nothing invented
])
def test_a_providers_bank_name_is_read_as_ours(given, account, expected):
    from bridge.payments.transfer import bank_of
    assert bank_of(given, account, (("Vietcombank", ACCOUNT), ("MBBank", "0801234567890"))) == expected


def sepay_like(shop, ext: str, memo: str, amount: int, balance: int, ref: str, when: float) -> dict:
    return shop.decided(shop.bridge.accept(BankTransaction(
        source="sepay", external_id=ext, bank="Vietcombank", account=ACCOUNT, direction="in", amount=amount,
        memo=memo, raw={}, reference=ref, balance=balance, bank_time=when)))


def test_a_source_giving_no_real_balance_is_matched_on_the_reference_and_pays_nothing_twice(service_factory):
    """SePay's `accumulated` 0 is no balance: the same half payment from the SMS and from the
    feed must not add up to the order's total."""
    shop = service_factory(bank_accounts=_accounts(f"Vietcombank:{ACCOUNT}"))
    order(shop, 20, 1_026_000)
    now = time.time()
    first = fibo_sms(shop, VCB_NOW.format(when=printed(now - 20), balance=6_513_000, ref="9734120586", memo="DH20"))
    assert first["decision"] == "underpaid"
    again = sepay_like(shop, "92704", "DH20", 513_000, 0, "MBVCB.9734120586", now - 20)
    assert again["decision"].startswith("duplicate"), again
    assert shop.db.scalar("SELECT paid_at FROM orders WHERE id=20") is None


def test_the_same_half_payment_read_hours_apart_by_two_sources_is_not_added_up(service_factory):
    """A source's time read in another zone puts its record of the SMS's transfer hours away:
    not recognised as the same, yet its balance and reference agree, so the two halves are not
    summed into a confirmation; a person decides."""
    shop = service_factory(bank_accounts=_accounts(f"Vietcombank:{ACCOUNT}"))
    order(shop, 20, 1_026_000)
    now = time.time()
    fibo_sms(shop, VCB_NOW.format(when=printed(now - 20), balance=6_513_000, ref="9734120586", memo="DH20"))
    late = sepay_like(shop, "92705", "DH20", 513_000, 6_513_000, "MBVCB.9734120586", now - 20 - 7 * 3600)
    assert late["decision"].startswith("underpaid") and "may be this same transfer" in late["decision"], late
    assert shop.db.scalar("SELECT paid_at FROM orders WHERE id=20") is None
    # while that doubt is open, a further transfer is not summed with it either: held for the owner
    more = sepay_like(shop, "92706", "DH20", 513_000, 7_026_000, "MBVCB.9734129999", now - 10)
    assert more["decision"].startswith("overpaid"), more
    assert shop.db.scalar("SELECT paid_at FROM orders WHERE id=20") is None


def test_an_equal_balance_with_another_reference_and_code_waits_for_a_person(service_factory):
    """A refund between two transfers can bring the balance back to the same figure: the other
    reference, code and minute say it is another transfer, so it is never dropped as a repeat."""
    shop = service_factory(bank_accounts=_accounts(f"Vietcombank:{ACCOUNT}"))
    order(shop, 20, 513_000)
    order(shop, 21, 513_000)
    now = time.time()
    fibo_sms(shop, VCB_NOW.format(when=printed(now - 900), balance=6_513_000, ref="9734120586", memo="DH20"))
    other = sepay_like(shop, "92707", "DH21", 513_000, 6_513_000, "MBVCB.9739999999", now - 300)
    assert other["decision"].startswith("ambiguous") and "maybe the same transfer" in other["decision"], other
    assert shop.db.scalar("SELECT COUNT(*) FROM transactions WHERE decision='duplicate'") == 0

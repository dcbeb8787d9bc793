"""Every record of the bank/MoMo development set parses to what BANK_SMS.md says it is."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.envparse import bank_accounts
from bridge.payments.banks import BANKS
from bridge.payments.parsers import parse
from bridge.reasons import english
from tests.test_payments_devset import ACCOUNTS

SHOP = bank_accounts(ACCOUNTS)

RECORDS = [json.loads(line) for line in
           (Path(__file__).parent / "fixtures" / "bank" / "bank_sms_dev.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("rec", RECORDS, ids=[r["id"] for r in RECORDS])
def test_record_parses_as_labelled(rec):
    p = parse(rec["sender"], rec["channel"], rec["body"], rec["package"], rec["title"], SHOP, "DH")
    assert p.kind == rec["kind"], p.reason
    if rec["kind"] == "transaction":
        got = (p.bank, p.direction, p.amount, p.balance, p.memo, p.account, p.time, p.reference)
        want = (rec["bank"], rec["direction"], rec["amount"], rec["balance"], rec["memo"], rec["account"], rec["time"],
                rec["reference"])
        assert got == want


def test_every_family_in_the_samples_is_known():
    families = {f.name for b in BANKS for f in b.families}
    seen = {parse(r["sender"], r["channel"], r["body"], r["package"], None, SHOP, "DH").family
            for r in RECORDS if r["kind"] == "transaction"}
    assert seen <= families | {"generic"} and len(BANKS) == 29
    generic = {r["id"] for r in RECORDS if r["kind"] == "transaction"
               and parse(r["sender"], r["channel"], r["body"], r["package"], None, SHOP, "DH").family == "generic"}
    assert generic == {r["id"] for r in RECORDS if r["format_family"] == "generic"}


def test_same_text_from_a_phone_number_is_a_spoof():
    genuine = next(r for r in RECORDS if r["id"] == "vtb-d01")
    p = parse("+84912345678", "sms", genuine["body"])
    assert p.kind == "spoof" and "phone number" in english(p.reason)


def test_app_text_arriving_as_sms_is_a_spoof():
    app = next(r for r in RECORDS if r["id"] == "vcb-d07")
    assert parse("Vietcombank", "sms", app["body"]).kind == "spoof"


def test_wrong_app_package_is_a_spoof():
    momo = next(r for r in RECORDS if r["id"] == "momo-d01")
    assert parse("MoMo", "app_notification", momo["body"], "com.fake.momo").kind == "spoof"


def test_forwarded_text_is_a_spoof():
    rec = next(r for r in RECORDS if r["id"] == "acb-d01")
    assert parse("ACB", "sms", "Fwd: " + rec["body"]).kind == "spoof"


@given(sender=st.sampled_from(sorted({s for b in BANKS for ss in b.senders.values() for s in ss}) + ["+8491", "Shop"]),
       channel=st.sampled_from(["sms", "app_notification"]), body=st.text(max_size=300))
@settings(max_examples=500, deadline=None)
def test_parsers_never_raise(sender, channel, body):
    p = parse(sender, channel, body)
    assert p.kind in ("transaction", "otp", "promo", "notice", "spoof", "unknown")


@pytest.mark.parametrize("printed, value", [("1,273,000", 1273000), ("1.273.000", 1273000), ("6 810 000", 6810000),
                                            ("112", 112), ("+14,321,000", 14321000)])
def test_amount_separators_parse_exactly(printed, value):
    from bridge.payments.banks.base import parse_amount
    assert parse_amount(printed) == value

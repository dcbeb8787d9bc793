"""Receiving accounts in every form banks print them, templates that survive a bank's small
format changes, and the generic rule that reads a changed layout without ever confirming on it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.envparse import bank_accounts
from bridge.payments.accounts import name_account
from bridge.payments.matcher import account_problem
from bridge.payments.parsers import Parsed, parse
from bridge.reasons import english
from tests.conftest import make_settings
from tests.test_payments_devset import ACCOUNTS

SHOP = bank_accounts(ACCOUNTS)
RECORDS = {r["id"]: r for r in (json.loads(line) for line in (Path(__file__).parent / "fixtures" / "bank" /
                                                              "bank_sms_dev.jsonl").read_text("utf-8").splitlines())}


# -- receiving accounts as printed --------------------------------------------------------------

@pytest.mark.parametrize("printed, bank, configured", [
    ("0181003749261", "Vietcombank", "0181003749261"),        # full
    ("4417203-001", "Indovina Bank", "4417203-001"),          # full, with the bank's hyphen
    ("4417203001", "Indovina Bank", "4417203-001"),           # full, hyphen dropped
    ("312xxx6051", "BIDV", "31210002486051"),                 # masked with x
    ("0561xxxx7720", "MBBank", "0561938247720"),              # fewer x than hidden digits
    ("05xxx720", "MBBank", "0561938247720"),                  # the same account, another mask
    ("07xxx358", "MBBank", "0776123358"),                     # the bank's other account
    ("xxxx7731408", "TPBank", "04387731408"),                 # masked head
    ("**3317", "Shinhan Bank", "700015823317"),               # stars
    ("112...7305", "GPBank", "1120004417305"),                # three dots
    ("108…5049", "VietinBank", "108873215049"),               # an ellipsis character
    ("031XX8826", "MSB", "03152078826"),                      # capital X
    ("83637", "VietBank", "0100000083637"),                   # bare tail, no mask
    ("72814", "VietBank", "72814"),                           # the bank's short number configured as is
    ("4571", "ACB", "18204571"),                              # a bare tail of exactly 4 digits
])
def test_every_printed_form_names_its_configured_account(printed, bank, configured):
    assert name_account(printed, bank, SHOP).configured == configured


@pytest.mark.parametrize("printed, bank, why", [
    ("0331000672184", "Vietcombank", "neither a configured Vietcombank account nor the last digits of one"),
    ("312xxx6052", "BIDV", "agree with no configured BIDV account"),           # last visible digit differs
    ("313xxx6051", "BIDV", "agree with no configured BIDV account"),           # first visible digit differs
    ("0561xxxx7721", "MBBank", "agree with no configured MBBank account"),
    ("**3318", "Shinhan Bank", "agree with no configured Shinhan Bank account"),
    ("**317", "Shinhan Bank", "shows 3 digits, fewer than 4"),                 # too little shown to name one
    ("xxxx", "Shinhan Bank", "shows 0 digits"),
    ("571", "ACB", "too short to name an account"),                          # a bare tail under 4 digits
    ("54521", "VietBank", "fits 2 configured VietBank accounts"),              # two accounts end so: neither
    ("0100000083637", "BIDV", "neither a configured BIDV account"),                   # right digits, wrong bank
    ("6051", "Vietcombank", "neither a configured Vietcombank account"),       # another bank's tail
    ("1003749261", "MoMo", "no MoMo account is configured"),
    ("0181003749261", "Vietcombank ", "no Vietcombank  account is configured"),
])
def test_false_friends_name_no_account_and_say_why(printed, bank, why):
    named = name_account(printed, bank, SHOP)
    assert named.configured is None and why in english(named.why)


def test_a_printed_number_longer_than_the_configured_one_is_not_its_tail():
    assert name_account("90181003749261", "Vietcombank", SHOP).configured is None


def test_a_mask_showing_every_digit_is_not_a_mask_of_a_shorter_account():
    assert name_account("0776xx123358", "MBBank", SHOP).configured is None   # 10 visible digits, account has 10


def test_two_configured_accounts_that_a_mask_fits_both_are_not_guessed():
    two = (("BIDV", "31210002486051"), ("BIDV", "31299992486051"))
    assert "fits 2 configured BIDV accounts" in english(name_account("312xxx6051", "BIDV", two).why)
    assert name_account("31210002486051", "BIDV", two).configured == "31210002486051"   # the full number is exact


def test_the_same_account_configured_twice_is_one_account():
    assert name_account("6051", "BIDV", (("BIDV", "31210002486051"),) * 2).configured == "31210002486051"


def test_transfer_account_is_matched_like_bank_accounts(tmp_path):
    s = make_settings(tmp_path, bank_accounts=(), transfer_bank="VietBank", transfer_account="0100000083637")
    p = Parsed("transaction", "", bank="VietBank", direction="in", amount=1, account="83637")
    assert account_problem(p, s.receiving_accounts) == ""
    assert "neither" in english(account_problem(Parsed("transaction", "", bank="VietBank", account="83638"),
                                                s.receiving_accounts))


def test_wrong_account_reason_says_why():
    p = Parsed("transaction", "", bank="VietBank", direction="in", amount=1, account="54521")
    assert "0100000054521, 0300000054521" in english(account_problem(p, SHOP))


# -- templates tolerate the small changes ------------------------------------------------------

DRIFTS = [   # (record it varies, a body with a small format change, the time as printed)
    ("vcb-d01", "SD TK 0181003749261 +415,000VND luc 1-9-2025 8:47:13. SD 6,288,000VND. Ref MBVCB.9734120586.DH20101",
     "1-9-2025 8:47:13"),
    ("vcb-d01", "SD TK 0181003749261 +415,000VND luc 08:47:13 11-09-2025. SD 6,288,000VND. Ref MBVCB.9734120586.DH20101",
     "08:47:13 11-09-2025"),
    ("vtb-d01", "VietinBank:10:18 22/09/2025|TK:108873215049|GD:+278,000VND|SDC:3,421,500VND|ND:DH20107",
     "10:18 22/09/2025"),
    ("bidv-d01", "TK 312xxx6051 tai BIDV +1,355,000VND vao 25/9/2025 10:26. So du:4,869,000VND. ND: DH20109",
     "25/9/2025 10:26"),
    ("mb-d01", "TK 0561xxxx7720|GD: +463,000VND 11:05 29/9/25|SD:5,325,900VND|ND: DH20113 - Ma giao dich/ Trace 604418",
     "11:05 29/9/25"),
    ("tpb-d01", "(TPBank): 14:22;3/10/25\nTK: xxxx7731408\nPS:+1.273.000VND\nSD KHA DUNG: 3.411.000VND\nND: DH20117\n"
                "SO GD: 570CTMB252760418", "14:22;3/10/25"),
    ("agr-d01", "Agribank: 7/10 15h07p TK 1507205338461: +1,083,000VND (DH20123). SD: 6,248,300VND.", "7/10 15h07p"),
    ("vib-d01", "13/10/2025;12:40\nTK:602704061183375VND\nPS:+2,153,000\nND:DH20129\nSODU:+14,321,000", "13/10/2025;12:40"),
    ("ocb-d01", "OCB 8:47 5/10 TK 0037100006241853 (+) 673,000 VND N/dung: DH20131 So du: 4,221,900 VND", "8:47 5/10"),
    ("gpb-d01", "TK so 112...7305 co GD luc 23 10 2025,9:45.So tien: +3.183.000VND.Ly do: DH20139.So du: +5.428.700VND",
     "23 10 2025,9:45"),
    ("vietbank-d02", "TK VND 72814 +647,000 LUC 25/10/2025 15:33. SO DU: 4,065,500. ND: DH20141", "25/10/2025 15:33"),
]


@pytest.mark.parametrize("rid, body, time", DRIFTS, ids=[f"{d[0]}:{d[2]}" for d in DRIFTS])
def test_a_known_template_reads_its_small_drifts(rid, body, time):
    rec = RECORDS[rid]
    p = parse(rec["sender"], rec["channel"], body, rec["package"], rec["title"])   # no generic rule available
    assert p.kind == "transaction" and p.family != "generic", p.reason
    assert (p.bank, p.direction, p.amount, p.time) == (rec["bank"], "in", rec["amount"], time)


@pytest.mark.parametrize("body", [
    "SD TK 0181003749261 +415,000VND luc 111-09-2025 08:47:13. SD 6,288,000VND. Ref DH20101",   # a 3-digit day
    "SD TK 0181003749261 +415,000VND luc 11-09-2025. SD 6,288,000VND. Ref DH20101",            # the time lost
    "SD TK 0181003749261 +415,000VND luc 11/09/2025 08:47:13. SD 6,288,000VND. Ref DH20101",   # another date separator
])
def test_what_is_not_a_small_drift_is_not_read_by_the_template(body):
    p = parse("Vietcombank", "sms", body)
    assert p.kind == "spoof" and p.family == "unknown"


# -- the generic rule ---------------------------------------------------------------------------

RENAMED = ("So du TK VCB 0181003749261 thay doi +2,340,000 VND luc 14-09-2025 10:22:08. SD 9,451,000 VND. "
           "Ref IBVCB.1409250193384001.DH20105 chuyen khoan")


def generic(body: str, sender: str = "Vietcombank", channel: str = "sms", package: str | None = None) -> Parsed:
    return parse(sender, channel, body, package, None, SHOP, "DH")


def test_a_renamed_label_is_read_by_the_generic_rule():
    p = generic(RENAMED)
    assert (p.kind, p.family, p.bank, p.direction, p.amount, p.balance, p.account, p.time, p.doubts) == (
        "transaction", "generic", "Vietcombank", "in", 2340000, 9451000, "0181003749261", "14-09-2025 10:22:08", ())
    assert p.memo == RENAMED   # codes are read from the whole text: it does not know where the memo is


@pytest.mark.parametrize("body, sender, family", [
    ("NCB 06/11/2025 15:20 Tai khoan 100004518827 bien dong +2,150,000VND. So du: +24,581,118VND. ND: DH20155",
     "NH QUOC DAN", "generic"),                                                   # a signed balance is a balance
    ("18/10 15:47 TK 031xx8826 VND (+) 1.343.000 ND: CK DH20133 So du: 9.956.400", "MSB", "generic"),
    ("TK **3317 bien dong + VND 2,876,000. SD: VND 48,214,500. DH20136", "ShinhanBank", "generic"),
    ("OCB 15/10 08:47 TK 0037100006241853 (+) 673,000 VND Noi dung: DH20131 SD: 4,221,900 VND", "OCB", "generic"),
    ("TK VND 83637 bien dong +512,000VND LUC 09:12 26/10/2025. ND: DH20148", "VIETBANK", "generic"),   # bare tail
])
def test_generic_reading_in_other_banks_wording(body, sender, family):
    p = generic(body, sender)
    assert p.family == family and p.kind == "transaction" and p.direction == "in", p.reason


@pytest.mark.parametrize("body, why", [
    (RENAMED.replace("+2,340,000 VND", "2,340,000 VND"), "no signed amount"),             # unsigned: never a credit
    (RENAMED.replace("+2,340,000 VND", "+2,340,000"), "no signed amount"),                # no money unit
    (RENAMED.replace(". SD", ". Phi -11,000 VND. SD"), "2 signed amounts"),              # which one?
    (RENAMED.replace("TK VCB 0181003749261 ", ""), "no account printed"),
    (RENAMED.replace("0181003749261", "0331000672184"), "neither a configured Vietcombank account"),
    (RENAMED.replace("0181003749261", "0181xxx9262"), "agree with no configured Vietcombank account"),
    (RENAMED.replace(".DH20105", ".20105"), "no payment code"),
])
def test_the_generic_rule_reads_only_what_is_unambiguous(body, why):
    p = generic(body)
    assert p.kind == "spoof" and p.family == "unknown" and why in english(p.reason), english(p.reason)


@pytest.mark.parametrize("body, reason", [
    (RENAMED + " https://vcb.com.vn.tb-xacthuc.top/k", "link"),
    ("Fwd: " + RENAMED, "forwarded"),
    ("Quy khach da chuyen tien thanh cong " + RENAMED, "payer-side"),
])
def test_what_is_refused_before_the_templates_never_reaches_the_generic_rule(body, reason):
    p = generic(body)
    assert p.kind == "spoof" and p.family is None and reason in english(p.reason)


def test_a_generic_layout_from_a_phone_number_or_by_the_wrong_channel_is_refused():
    assert generic(RENAMED, sender="+84912345678").kind == "spoof"
    assert generic(RENAMED, sender="MBBank", channel="app_notification", package="com.fake").kind == "spoof"
    assert generic(RENAMED, sender="Shop").kind == "unknown"


def test_doubts_a_person_should_see():
    p = generic(RENAMED.replace("chuyen khoan", "coc 500,000 con lai 1,840,000"))
    assert p.family == "generic" and tuple(map(english, p.doubts)) == ("another money figure (500,000, 1,840,000) could be the amount",)
    p = generic(RENAMED.replace("SD 9,451,000 VND.", "SD 9,451,000 VND. So du kha dung 9,000,000 VND."))
    assert p.family == "generic" and p.balance is None and tuple(map(english, p.doubts)) == ("2 balances printed",)


def test_a_drifted_debit_needs_no_code():
    p = generic(RENAMED.replace("+2,340,000", "-2,340,000").replace(".DH20105", ""))
    assert (p.family, p.direction) == ("generic", "out")


@given(body=st.text(max_size=300), sender=st.sampled_from(["Vietcombank", "MBBANK", "VIETBANK", "NH QUOC DAN"]))
@settings(max_examples=300, deadline=None)
def test_the_generic_rule_never_raises_and_always_prints_the_account(body, sender):
    p = generic(RENAMED[:40] + body, sender)
    if p.family == "generic":
        assert p.kind == "transaction" and p.amount is not None and name_account(p.account, p.bank, SHOP).configured

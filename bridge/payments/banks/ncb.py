from .base import ACCOUNT, BankFormat, Family, clock, date, moment, rx

FORMAT = BankFormat(
    bank="NCB",
    senders={"sms": frozenset({"NH QUOC DAN"})},
    families=(
        Family("NCB_SMS", rx(r"^NCB : " + moment(clock(), date()) + " TK " + ACCOUNT + r"\. Phat sinh: (?P<sign>[+-])"
                             r"(?P<amount>[\d,]+)VND\. So du: \+?(?P<balance>[\d,]+)VND\. ND: (?P<memo>.*)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

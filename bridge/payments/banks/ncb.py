from .base import BankFormat, Family, rx

FORMAT = BankFormat(
    bank="NCB",
    senders={"sms": frozenset({"NH QUOC DAN"})},
    families=(
        Family("NCB_SMS", rx(r"^NCB : (?P<time>\d\d/\d\d/\d{4} \d\d:\d\d) TK (?P<account>\d+)\. Phat sinh: (?P<sign>[+-])"
                             r"(?P<amount>[\d,]+)VND\. So du: \+?(?P<balance>[\d,]+)VND\. ND: (?P<memo>.*)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

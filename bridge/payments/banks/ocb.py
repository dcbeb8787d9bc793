from .base import BankFormat, Family, rx

FORMAT = BankFormat(
    bank="OCB",
    senders={"sms": frozenset({"OCB"})},
    families=(
        Family("OCB_SMS", rx(r"^OCB (?P<time>\d\d/\d\d \d\d:\d\d) TK (?P<account>\d+) \((?P<sign>[+-])\) (?P<amount>[\d,]+) VND "
                             r"N/dung: (?P<memo>.*) So du: (?P<balance>[\d,]+) VND$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

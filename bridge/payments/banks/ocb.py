from .base import ACCOUNT, BankFormat, Family, clock, date, moment, rx

FORMAT = BankFormat(
    bank="OCB",
    senders={"sms": frozenset({"OCB"})},
    families=(
        Family("OCB_SMS", rx(r"^OCB " + moment(clock(), date(year=None)) + " TK " + ACCOUNT
                             + r" \((?P<sign>[+-])\) (?P<amount>[\d,]+) VND "
                             r"N/dung: (?P<memo>.*) So du: (?P<balance>[\d,]+) VND$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

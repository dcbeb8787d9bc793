from .base import ACCOUNT, BankFormat, Family, clock, date, moment, rx

FORMAT = BankFormat(
    bank="MSB",
    senders={"sms": frozenset({"MSB"})},
    families=(
        Family("MSB_SMS", rx(r"^" + moment(clock(), date(year=None)) + " TK " + ACCOUNT
                             + r" VND \((?P<sign>[+-])\) (?P<amount>[\d.]+)"
                             r"(?: \(GD:[^)]*\))? ND: (?P<memo>.*) SD: (?P<balance>[\d.]+)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

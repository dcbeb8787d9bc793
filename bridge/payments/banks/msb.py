from .base import BankFormat, Family, rx

FORMAT = BankFormat(
    bank="MSB",
    senders={"sms": frozenset({"MSB"})},
    families=(
        Family("MSB_SMS", rx(r"^(?P<time>\d\d/\d\d \d\d:\d\d) TK (?P<account>[\dx]+) VND \((?P<sign>[+-])\) (?P<amount>[\d.]+)"
                             r"(?: \(GD:[^)]*\))? ND: (?P<memo>.*) SD: (?P<balance>[\d.]+)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

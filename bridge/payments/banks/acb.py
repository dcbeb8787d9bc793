from .base import BankFormat, Family, rx

FORMAT = BankFormat(
    bank="ACB",
    senders={"sms": frozenset({"ACB"})},
    families=(
        Family("ACB_SMS", rx(r"^ACB: TK (?P<account>\d+)\(VND\) (?P<sign>[+-]) (?P<amount>[\d,]+) luc "
                             r"(?P<time>\d\d:\d\d \d\d/\d\d/\d{4})\. So du (?P<balance>[\d,]+)\. GD: (?P<memo>.*)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

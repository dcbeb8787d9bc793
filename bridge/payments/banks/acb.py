from .base import ACCOUNT, BankFormat, Family, clock, date, moment, rx

FORMAT = BankFormat(
    bank="ACB",
    senders={"sms": frozenset({"ACB"})},
    families=(
        Family("ACB_SMS", rx(r"^ACB: TK " + ACCOUNT + r"\(VND\) (?P<sign>[+-]) (?P<amount>[\d,]+) luc "
                             + moment(clock(), date()) + r"\. So du (?P<balance>[\d,]+)\. GD: (?P<memo>.*)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

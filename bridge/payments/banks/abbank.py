from .base import ACCOUNT, BankFormat, Family, clock, rx

# The balance is cut off by the SMS length; only its time remains.
FORMAT = BankFormat(
    bank="ABBANK",
    senders={"sms": frozenset({"ABBANK"})},
    families=(
        Family("ABB_SMS", rx(r"^TK " + ACCOUNT + r" thay doi: (?P<sign>[+-])(?P<amount>[\d,]+) VND "
                             r"so GD: (?P<ref>FT\d+)-(?P<memo>.*)\. So du tinh den " + clock() + "$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

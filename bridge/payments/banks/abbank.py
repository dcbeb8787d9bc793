from .base import BankFormat, Family, rx

# The balance is cut off by the SMS length; only its time remains.
FORMAT = BankFormat(
    bank="ABBANK",
    senders={"sms": frozenset({"ABBANK"})},
    families=(
        Family("ABB_SMS", rx(r"^TK (?P<account>\d+) thay doi: (?P<sign>[+-])(?P<amount>[\d,]+) VND so GD: (?P<ref>FT\d+)-"
                             r"(?P<memo>.*)\. So du tinh den \d\d:\d\d$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

from .base import BankFormat, Family, rx

FORMAT = BankFormat(
    bank="VietABank",
    senders={"sms": frozenset({"VietABank"})},
    families=(
        Family("VAB_SMS", rx(r"^TK (?P<account>\d+); (?P<time>\d\d:\d\d \d\d/\d\d/\d{4}); (?P<sign>[+-])(?P<amount>[\d,]+) VND; "
                             r"So du: (?P<balance>[\d,]+) VND; ND: (?P<memo>.*)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

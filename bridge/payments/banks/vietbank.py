from .base import BankFormat, Family, rx

FORMAT = BankFormat(
    bank="VietBank",
    senders={"sms": frozenset({"VIETBANK"})},
    families=(
        Family("VIETBANK_SMS", rx(r"^TK VND (?P<account>\d+) (?P<sign>[+-])(?P<amount>[\d,]+) LUC "
                                  r"(?P<time>\d\d:\d\d \d\d/\d\d/\d{4})\. SO DU: (?P<balance>[\d,]+)\. ND: (?P<memo>.*)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

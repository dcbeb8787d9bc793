import re

from .base import BankFormat, Family, rx

FORMAT = BankFormat(
    bank="Agribank",
    senders={"sms": frozenset({"AGRIBANK"}), "app_notification": frozenset({"Agribank"})},
    families=(
        # forwarders sometimes lower-case the whole SMS
        Family("AGR_SMS", rx(r"^agribank: (?P<time>\d\dh\d\dp \d\d/\d\d) tk (?P<account>\d+): (?P<sign>[+-])(?P<amount>[\d,]+)vnd "
                             r"\((?P<memo>.*)\)\. sd: (?P<balance>[\d,]+)vnd\.$", re.IGNORECASE)),
        Family("AGR_APP", rx(r"^Agribank: (?P<time>\d\d:\d\d \d\d/\d\d/\d{4}) Tài khoản (?P<account>\d+): "
                             r"(?P<sign>[+-])(?P<amount>[\d,]+)VND\.\nNội dung giao dịch: (?P<memo>.*)\.\n"
                             r"Số dư cuối: (?P<balance>[\d,]+)VND$"), channels=("app_notification",)),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

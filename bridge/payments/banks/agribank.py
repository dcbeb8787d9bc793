import re

from .base import ACCOUNT, BankFormat, Family, clock, date, moment, rx

FORMAT = BankFormat(
    bank="Agribank",
    senders={"sms": frozenset({"AGRIBANK"}), "app_notification": frozenset({"Agribank"})},
    families=(
        # forwarders sometimes lower-case the whole SMS
        Family("AGR_SMS", rx(r"^agribank: " + moment(r"\d{1,2}h\d\dp", date(year=None)) + " tk " + ACCOUNT
                             + r": (?P<sign>[+-])(?P<amount>[\d,]+)vnd \((?P<memo>.*)\)\. sd: (?P<balance>[\d,]+)vnd\.$",
                             re.IGNORECASE)),
        Family("AGR_APP", rx(r"^Agribank: " + moment(clock(), date()) + " Tài khoản " + ACCOUNT + ": "
                             r"(?P<sign>[+-])(?P<amount>[\d,]+)VND\.\nNội dung giao dịch: (?P<memo>.*)\.\n"
                             r"Số dư cuối: (?P<balance>[\d,]+)VND$"), channels=("app_notification",)),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

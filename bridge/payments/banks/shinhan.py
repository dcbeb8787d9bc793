from .base import ACCOUNT, BankFormat, Family, rx

FT = rx(r"\bFT\d{14}\b")
FORMAT = BankFormat(
    bank="Shinhan Bank",
    senders={"sms": frozenset({"ShinhanBank", "SHINHANBANK"})},
    families=(
        Family("SHINHAN_SMS", rx(r"^TK " + ACCOUNT + r" thay doi\s+(?P<sign>[+-]) VND (?P<amount>[\d,]+)\. "
                                 r"So du kha dung: VND (?P<balance>[\d,]+)\.\s(?:\.\s)?(?P<memo>.*)$"), ref=FT),
        Family("SHINHAN_SMS_EN", rx(r"^Acc no\. " + ACCOUNT + r" (?P<dir>credit|debit) VND (?P<amount>[\d,]+)\. "
                                    r"Available balance: VND (?P<balance>[\d,]+)\.\s(?:\.\s)?(?P<memo>.*)$"), ref=FT),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

from .base import ACCOUNT, BankFormat, Family, clock, date, moment, rx

FORMAT = BankFormat(
    bank="SCB",
    senders={"sms": frozenset({"SCB"})},
    families=(
        Family("SCB_SMS", rx(r"^TK " + ACCOUNT + " NGAY " + moment(clock(), date(year=r"\d\d"))
                             + r" SD DAU [\d,]+ (?P<dir>TANG|GIAM) "
                             r"(?P<amount>[\d,]+) SD CUOI (?P<balance>[\d,]+) VND \((?P<memo>.*)\)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

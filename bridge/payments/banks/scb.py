from .base import BankFormat, Family, rx

FORMAT = BankFormat(
    bank="SCB",
    senders={"sms": frozenset({"SCB"})},
    families=(
        Family("SCB_SMS", rx(r"^TK (?P<account>\d+) NGAY (?P<time>\d\d/\d\d/\d\d \d\d:\d\d) SD DAU [\d,]+ (?P<dir>TANG|GIAM) "
                             r"(?P<amount>[\d,]+) SD CUOI (?P<balance>[\d,]+) VND \((?P<memo>.*)\)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

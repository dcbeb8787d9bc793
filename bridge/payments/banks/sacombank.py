from .base import BankFormat, Family, rx

FORMAT = BankFormat(
    bank="Sacombank",
    senders={"sms": frozenset({"Sacombank", "SACOMBANK"})},
    families=(
        Family("STB_SMS", rx(r"^Sacombank (?P<time>\d\d/\d\d/\d{4} \d\d:\d\d)\nTK: (?P<account>\d+)\n"
                             r"PS: (?P<sign>[+-])(?P<amount>[\d,]+) VND\nSo du kha dung: (?P<balance>[\d,]+) VND\n(?P<memo>.*)$")),
    ),
    non_transactions=(("otp", rx(r"\(OTP\)|\bOTP\b")), ("notice", rx(r"den ky t\.toan|Vui long k\.tra"))),
)

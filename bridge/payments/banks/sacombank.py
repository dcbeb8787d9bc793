from .base import ACCOUNT, BankFormat, Family, clock, date, moment, rx

FORMAT = BankFormat(
    bank="Sacombank",
    senders={"sms": frozenset({"Sacombank", "SACOMBANK"})},
    families=(
        Family("STB_SMS", rx(r"^Sacombank " + moment(clock(), date()) + r"\nTK: " + ACCOUNT + r"\n"
                             r"PS: (?P<sign>[+-])(?P<amount>[\d,]+) VND\n"
                             r"So du kha dung: (?P<balance>[\d,]+) VND\n(?P<memo>.*)$")),
    ),
    non_transactions=(("otp", rx(r"\(OTP\)|\bOTP\b")), ("notice", rx(r"den ky t\.toan|Vui long k\.tra"))),
)

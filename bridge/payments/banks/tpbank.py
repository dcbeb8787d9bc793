from .base import ACCOUNT, BankFormat, Family, clock, date, moment, rx

FORMAT = BankFormat(
    bank="TPBank",
    senders={"sms": frozenset({"TPBank"})},
    families=(
        Family("TPB_SMS", rx(r"^\(TPBank\): " + moment(clock(), date(year=r"\d\d")) + r"\nTK: " + ACCOUNT + r"\n"
                             r"PS:(?P<sign>[+-])(?P<amount>[\d.]+)VND\n(?:SD: [\d.]+VND\n)?"
                             r"SD KHA DUNG: (?P<balance>[\d.]+)VND\nND: (?P<memo>.*?)\nSO GD: (?P<ref>\w+)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

from .base import BankFormat, Family, rx

FORMAT = BankFormat(
    bank="TPBank",
    senders={"sms": frozenset({"TPBank"})},
    families=(
        Family("TPB_SMS", rx(r"^\(TPBank\): (?P<time>\d\d/\d\d/\d\d;\d\d:\d\d)\nTK: (?P<account>[\dx]+)\n"
                             r"PS:(?P<sign>[+-])(?P<amount>[\d.]+)VND\n(?:SD: [\d.]+VND\n)?SD KHA DUNG: (?P<balance>[\d.]+)VND\n"
                             r"ND: (?P<memo>.*?)\nSO GD: (?P<ref>\w+)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

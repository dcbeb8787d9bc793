from .base import BankFormat, Family, rx

FORMAT = BankFormat(
    bank="VIB",
    senders={"sms": frozenset({"VIB"})},
    families=(
        Family("VIB_SMS", rx(r"^(?P<time>\d\d:\d\d;\d\d/\d\d/\d{4})[\n ]TK:(?P<account>\d+)VND[\n ]"
                             r"PS:(?P<sign>[+-])(?P<amount>[\d,]+)[\n ]ND:(?P<memo>.*?)[\n ]SODU:\+?(?P<balance>[\d,]+)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

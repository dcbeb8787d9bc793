from .base import ACCOUNT, BankFormat, Family, clock, date, moment, rx

FORMAT = BankFormat(
    bank="VIB",
    senders={"sms": frozenset({"VIB"})},
    families=(
        Family("VIB_SMS", rx(r"^" + moment(clock(), date()) + r"[\n ]TK:" + ACCOUNT + r"VND[\n ]"
                             r"PS:(?P<sign>[+-])(?P<amount>[\d,]+)[\n ]"
                             r"ND:(?P<memo>.*?)[\n ]SODU:\+?(?P<balance>[\d,]+)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

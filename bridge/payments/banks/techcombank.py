from .base import ACCOUNT, BankFormat, Family, rx

FORMAT = BankFormat(
    bank="Techcombank",
    senders={"sms": frozenset({"Techcombank", "techcombank"})},
    families=(
        Family("TCB_SMS", rx(r"^TK " + ACCOUNT + r"[\n. ]So tien GD:(?P<sign>[+-])(?P<amount>[\d,]+)[\n. ]"
                             r"So du:(?P<balance>[\d,]+)[\n. ](?P<memo>.*)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

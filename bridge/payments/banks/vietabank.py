from .base import ACCOUNT, BankFormat, Family, clock, date, moment, rx

FORMAT = BankFormat(
    bank="VietABank",
    senders={"sms": frozenset({"VietABank"})},
    families=(
        Family("VAB_SMS", rx(r"^TK " + ACCOUNT + "; " + moment(clock(), date())
                             + r"; (?P<sign>[+-])(?P<amount>[\d,]+) VND; "
                             r"So du: (?P<balance>[\d,]+) VND; ND: (?P<memo>.*)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

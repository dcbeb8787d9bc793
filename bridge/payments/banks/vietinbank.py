from .base import ACCOUNT, BankFormat, Family, clock, date, moment, rx

FORMAT = BankFormat(
    bank="VietinBank",
    senders={"sms": frozenset({"VietinBank"})},
    families=(
        Family("VTB_SMS", rx(r"^(?:VietinBank:)?" + moment(clock(), date()) + r"\|TK:" + ACCOUNT + r"\|"
                             r"GD:(?P<sign>[+-])(?P<amount>[\d,]+)VND\|SDC:(?P<balance>[\d,]+)VND\|ND:(?P<memo>.*)$")),
    ),
    non_transactions=(("otp", rx(r"^\d{4,8} la OTP|\bOTP\b")),),
)

from .base import BankFormat, Family, rx

FORMAT = BankFormat(
    bank="VietinBank",
    senders={"sms": frozenset({"VietinBank"})},
    families=(
        Family("VTB_SMS", rx(r"^(?:VietinBank:)?(?P<time>\d\d/\d\d/\d{4} \d\d:\d\d)\|TK:(?P<account>\d+)\|"
                             r"GD:(?P<sign>[+-])(?P<amount>[\d,]+)VND\|SDC:(?P<balance>[\d,]+)VND\|ND:(?P<memo>.*)$")),
    ),
    non_transactions=(("otp", rx(r"^\d{4,8} la OTP|\bOTP\b")),),
)

from .base import ACCOUNT, BankFormat, Family, clock, date, moment, rx

PATTERN = (r"^TK " + ACCOUNT + r"\|GD: ?(?P<sign>[+-])(?P<amount>[\d,]+)VND " + moment(clock(), date(year=r"\d\d"))
           + r" ?\|SD: ?(?P<balance>[\d,]+)VND\|(?:(?:TU|DEN): [^|]*\|)?ND: (?P<memo>.*)$")
TRACE = rx(r"Trace ?(\d+)")
FORMAT = BankFormat(
    bank="MBBank",
    senders={"sms": frozenset({"MBBANK"}), "app_notification": frozenset({"MBBank"})},
    packages=frozenset({"com.mbmobile"}),
    families=(
        Family("MB_SMS", rx(PATTERN), ref=TRACE, ref_format="Trace {1}"),
        Family("MB_APP", rx(PATTERN), channels=("app_notification",), ref=TRACE, ref_format="Trace {1}"),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

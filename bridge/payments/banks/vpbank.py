from .base import ACCOUNT, BankFormat, Family, clock, date, moment, rx

FORMAT = BankFormat(
    bank="VPBank",
    senders={"sms": frozenset({"VPBANK", "VPBank"})},
    families=(
        Family("VPB_SMS_OLD", rx(r"^TK " + ACCOUNT + r" tai VPB (?P<dir>tang|giam) (?P<amount>[\d,]+)VND "
                                 r"do (?P<memo>.*)\. "
                                 r"So du TK sau GD la (?P<balance>[\d,]+)VND$"), senders=("VPBANK",)),
        Family("VPB_SMS_2021", rx(r"^TK " + ACCOUNT + r" tai VPB (?P<sign>[+-])(?P<amount>[\d,]+)VND luc "
                                  + moment(clock(), date(year=r"\d\d")) + r"\. So du (?P<balance>[\d,]+)VND\. "
                                  r"ND: (?P<memo>.*)$"),
               senders=("VPBank",), ref=rx(r"TRACE \d+")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

from .base import BankFormat, Family, rx

FORMAT = BankFormat(
    bank="VPBank",
    senders={"sms": frozenset({"VPBANK", "VPBank"})},
    families=(
        Family("VPB_SMS_OLD", rx(r"^TK (?P<account>\d+) tai VPB (?P<dir>tang|giam) (?P<amount>[\d,]+)VND do (?P<memo>.*)\. "
                                 r"So du TK sau GD la (?P<balance>[\d,]+)VND$"), senders=("VPBANK",)),
        Family("VPB_SMS_2021", rx(r"^TK (?P<account>\d+) tai VPB (?P<sign>[+-])(?P<amount>[\d,]+)VND luc "
                                  r"(?P<time>\d\d:\d\d \d\d/\d\d/\d\d)\. So du (?P<balance>[\d,]+)VND\. ND: (?P<memo>.*)$"),
               senders=("VPBank",), ref=rx(r"TRACE \d+")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

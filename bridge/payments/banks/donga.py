from .base import BankFormat, Family, rx

FORMAT = BankFormat(
    bank="DongA Bank",
    senders={"sms": frozenset({"DONGA BANK"})},
    families=(
        Family("DAB_SMS", rx(r"^(?P<time>\d\d/\d\d/\d\d \d\d:\d\d) DongA Bank thong bao: TK (?P<account>\d+) da thay doi: "
                             r"(?P<sign>[+-])(?P<amount>[\d,]+) VND\. (?P<memo>.*)\. So du hien tai la: (?P<balance>[\d,]+) VND\.$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

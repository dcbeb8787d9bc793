from .base import ACCOUNT, BankFormat, Family, clock, date, moment, rx

FORMAT = BankFormat(
    bank="DongA Bank",
    senders={"sms": frozenset({"DONGA BANK"})},
    families=(
        Family("DAB_SMS", rx(r"^" + moment(clock(), date(year=r"\d\d")) + " DongA Bank thong bao: TK " + ACCOUNT
                             + r" da thay doi: (?P<sign>[+-])(?P<amount>[\d,]+) VND\. (?P<memo>.*)\. "
                             r"So du hien tai la: (?P<balance>[\d,]+) VND\.$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

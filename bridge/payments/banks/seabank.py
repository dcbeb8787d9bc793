from .base import BankFormat, Family, rx

FORMAT = BankFormat(
    bank="SeABank",
    senders={"sms": frozenset({"SeABank"})},
    families=(
        Family("SEAB_SMS", rx(r"^SeABank: Ngay (?P<time>\d\d/\d\d/\d{4}) TK: (?P<account>\d+) Phat sinh: (?P<sign>[+-])"
                              r"(?P<amount>[\d,]+) VND\. So du: (?P<balance>[\d,]+) VND\. Nguoi chuyen: [^\n]*?\. "
                              r"Noi dung: (?P<memo>.*)$")),
        Family("SEAB_SMS_EN", rx(r"^SeABank: Date (?P<time>\d\d/\d\d/\d{4}) Account: (?P<account>\d+) Change: (?P<sign>[+-])"
                                 r"(?P<amount>[\d,]+) VND\. Balance: (?P<balance>[\d,]+) VND\. Payee: [^\n]*? "
                                 r"Detail: (?P<memo>.*)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

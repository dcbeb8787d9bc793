from .base import ACCOUNT, BankFormat, Family, date, rx

FORMAT = BankFormat(
    bank="SeABank",
    senders={"sms": frozenset({"SeABank"})},
    families=(
        Family("SEAB_SMS", rx(r"^SeABank: Ngay (?P<time>" + date() + ") TK: " + ACCOUNT + r" Phat sinh: (?P<sign>[+-])"
                              r"(?P<amount>[\d,]+) VND\. So du: (?P<balance>[\d,]+) VND\. Nguoi chuyen: [^\n]*?\. "
                              r"Noi dung: (?P<memo>.*)$")),
        Family("SEAB_SMS_EN", rx(r"^SeABank: Date (?P<time>" + date() + ") Account: " + ACCOUNT
                                 + r" Change: (?P<sign>[+-])(?P<amount>[\d,]+) VND\. Balance: (?P<balance>[\d,]+) VND\. "
                                 r"Payee: [^\n]*? Detail: (?P<memo>.*)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

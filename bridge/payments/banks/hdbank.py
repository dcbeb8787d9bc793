from .base import ACCOUNT, BankFormat, Family, clock, date, moment, rx

# Only the withdrawal/debit template is known; no credit template has been seen.
FORMAT = BankFormat(
    bank="HDBank",
    senders={"sms": frozenset({"HDBank"})},
    families=(
        Family("HDB_SMS", rx(r"^TK " + ACCOUNT + " ngay " + moment(clock(seconds=True), date()) + " (?P<dir>RUT RA): "
                             r"(?P<amount>[\d,]+)VND SO DU: (?P<balance>[\d,]+)VND ND: (?P<memo>.*)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")), ("notice", rx(r"khong du so du|vui long kiem tra"))),
)

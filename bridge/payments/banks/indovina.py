from .base import ACCOUNT, BankFormat, Family, clock, date, moment, rx

# Only the debit template is known.
FORMAT = BankFormat(
    bank="Indovina Bank",
    senders={"sms": frozenset({"IVB"})},
    families=(
        Family("IVB_SMS", rx(r"^TK " + ACCOUNT + r" tai IVB (?P<dir>giam)\(-\) (?P<amount>[\d,]+) VND luc "
                             + moment(clock(), date(year=r"\d\d")) + r"\. SDC: (?P<balance>[\d,]+) VND\. "
                             r"ND: (?P<memo>.*)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

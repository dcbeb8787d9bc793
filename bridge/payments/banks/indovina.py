from .base import BankFormat, Family, rx

# Only the debit template is known.
FORMAT = BankFormat(
    bank="Indovina Bank",
    senders={"sms": frozenset({"IVB"})},
    families=(
        Family("IVB_SMS", rx(r"^TK (?P<account>[\d-]+) tai IVB (?P<dir>giam)\(-\) (?P<amount>[\d,]+) VND luc "
                             r"(?P<time>\d\d/\d\d/\d\d \d\d:\d\d)\. SDC: (?P<balance>[\d,]+) VND\. ND: (?P<memo>.*)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

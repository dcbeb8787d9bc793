from .base import BankFormat, Family, rx

# The known Eximbank SMS prints no sign and is a debit: it can never pay an order.
FORMAT = BankFormat(
    bank="Eximbank",
    senders={"sms": frozenset({"EXIMBANK", "Eximbank"})},
    families=(
        Family("EIB_SMS", rx(r"^EIB [A-Z ]+? TK (?P<account>\d+) (?P<time>\d\d/\d\d/\d\d \d\d:\d\d) (?P<memo>.*) "
                             r"(?P<amount>[\d,]+)VND SD (?P<balance>[\d,]+)VND$"), senders=("EXIMBANK",), direction="out"),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

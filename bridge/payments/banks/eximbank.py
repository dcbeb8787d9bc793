from .base import ACCOUNT, BankFormat, Family, clock, date, moment, rx

# The known Eximbank SMS prints no sign and is a debit: it can never pay an order.
FORMAT = BankFormat(
    bank="Eximbank",
    senders={"sms": frozenset({"EXIMBANK", "Eximbank"})},
    families=(
        Family("EIB_SMS", rx(r"^EIB [A-Z ]+? TK " + ACCOUNT + " " + moment(clock(), date(year=r"\d\d"))
                             + r" (?P<memo>.*) (?P<amount>[\d,]+)VND SD (?P<balance>[\d,]+)VND$"),
               senders=("EXIMBANK",), direction="out"),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

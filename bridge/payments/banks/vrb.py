from .base import ACCOUNT, BankFormat, Family, rx

# The account holder's name is glued to the account number; the balance may be cut off.
FORMAT = BankFormat(
    bank="VRB",
    senders={"sms": frozenset({"VRB"})},
    families=(
        Family("VRB_SMS", rx(r"^TK " + ACCOUNT + r"-(?:[A-Z]+ )+(?P<sign>[+-])(?P<amount>[\d,]+) VND -ND: (?P<memo>.*?)"
                             r"(?:-So du:(?P<balance>[\d,]+) VND)?$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

from .base import BankFormat, Family, rx

FORMAT = BankFormat(
    bank="GPBank",
    senders={"sms": frozenset({"GPBANK"})},
    families=(
        Family("GPB_SMS", rx(r"^TK so (?P<account>[\d.]+) co GD luc (?P<time>\d\d:\d\d,\d\d \d\d \d{4})\.So tien: "
                             r"(?P<sign>[+-])(?P<amount>[\d.]+)VND\.Ly do: (?P<memo>.*)\.So du: \+?(?P<balance>[\d.]+)VND$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

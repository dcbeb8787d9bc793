from .base import ACCOUNT, BankFormat, Family, clock, date, moment, rx

FORMAT = BankFormat(
    bank="GPBank",
    senders={"sms": frozenset({"GPBANK"})},
    families=(
        Family("GPB_SMS", rx(r"^TK so " + ACCOUNT + " co GD luc " + moment(clock(), date(" ")) + r"\.So tien: "
                             r"(?P<sign>[+-])(?P<amount>[\d.]+)VND\.Ly do: (?P<memo>.*)\."
                             r"So du: \+?(?P<balance>[\d.]+)VND$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

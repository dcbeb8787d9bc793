from .base import ACCOUNT, BankFormat, Family, clock, date, moment, rx

FORMAT = BankFormat(
    bank="PVcomBank",
    senders={"sms": frozenset({"PVCOMBANK"})},
    families=(
        Family("PVCB_SMS", rx(r"^TK: " + ACCOUNT + r"\(VND\)\.(?P<sign>[+-]) (?P<amount>[\d,]+)\. "
                              r"SD: (?P<balance>[\d,]+)\. "
                              "Luc: " + moment(clock(), date()) + r"\. ND: (?P<memo>.*)\. LH: \d+$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

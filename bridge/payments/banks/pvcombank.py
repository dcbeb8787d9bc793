from .base import BankFormat, Family, rx

FORMAT = BankFormat(
    bank="PVcomBank",
    senders={"sms": frozenset({"PVCOMBANK"})},
    families=(
        Family("PVCB_SMS", rx(r"^TK: (?P<account>\d+)\(VND\)\.(?P<sign>[+-]) (?P<amount>[\d,]+)\. SD: (?P<balance>[\d,]+)\. "
                              r"Luc: (?P<time>\d\d:\d\d \d\d/\d\d/\d{4})\. ND: (?P<memo>.*)\. LH: \d+$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

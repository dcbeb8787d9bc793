from .base import ACCOUNT, BankFormat, Family, clock, date, moment, rx

# VietBank prints only the account's short number (a bare tail when the shop configured the full one).
FORMAT = BankFormat(
    bank="VietBank",
    senders={"sms": frozenset({"VIETBANK"})},
    families=(
        Family("VIETBANK_SMS", rx(r"^TK VND " + ACCOUNT + r" (?P<sign>[+-])(?P<amount>[\d,]+) LUC "
                                  + moment(clock(), date()) + r"\. SO DU: (?P<balance>[\d,]+)\. ND: (?P<memo>.*)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

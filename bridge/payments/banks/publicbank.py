from .base import ACCOUNT, BankFormat, Family, date, rx

# Only the debit template ("duoc ghi no") is known.
FORMAT = BankFormat(
    bank="Public Bank Vietnam",
    senders={"sms": frozenset({"PublicBank"})},
    families=(
        Family("PBB_SMS", rx(r"^TK" + ACCOUNT + r" duoc ghi no (?P<sign>-)(?P<amount>[\d ]+) So du hien thoi: "
                             r"(?P<balance>[\d ]+) \(GD:(?P<ref>\d+) (?P<time>" + date() + ") (?P<memo>.*)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

from .base import BankFormat, Family, rx

# Only the debit template ("duoc ghi no") is known.
FORMAT = BankFormat(
    bank="Public Bank Vietnam",
    senders={"sms": frozenset({"PublicBank"})},
    families=(
        Family("PBB_SMS", rx(r"^TK(?P<account>\d+) duoc ghi no (?P<sign>-)(?P<amount>[\d ]+) So du hien thoi: "
                             r"(?P<balance>[\d ]+) \(GD:(?P<ref>\d+) (?P<time>\d\d/\d\d/\d{4}) (?P<memo>.*)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

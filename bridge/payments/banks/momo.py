from .base import BankFormat, Family, rx

# MoMo's "money received" notification: the template itself is the credit signal; it prints no
# account, balance, time or reference.
FORMAT = BankFormat(
    bank="MoMo",
    senders={"app_notification": frozenset({"MoMo"})},
    packages=frozenset({"com.mservice.momotransfer"}),
    families=(
        Family("MOMO_NOTIF", rx(r'^Số tiền (?P<amount>[\d.]+) ₫, kèm lời nhắn: "(?P<memo>.*)"\.$'),
               channels=("app_notification",), direction="in"),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")),),
)

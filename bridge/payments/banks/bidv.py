from .base import ACCOUNT, BankFormat, Family, clock, date, moment, rx

FORMAT = BankFormat(
    bank="BIDV",
    senders={"sms": frozenset({"BIDV"})},
    families=(
        Family("BIDV_SMS", rx(r"^TK ?" + ACCOUNT + r" tai BIDV (?P<sign>[+-])(?P<amount>[\d,]+)VND vao "
                              + moment(clock(), date()) + r"\. So du:(?P<balance>[\d,]+)VND\. ND: (?P<memo>.*)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")), ("promo", rx(r"tran trong cam on|kinh chuc|uu dai|khuyen mai"))),
)

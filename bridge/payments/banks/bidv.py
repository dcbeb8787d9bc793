from .base import BankFormat, Family, rx

FORMAT = BankFormat(
    bank="BIDV",
    senders={"sms": frozenset({"BIDV"})},
    families=(
        Family("BIDV_SMS", rx(r"^TK ?(?P<account>[\dx]+) tai BIDV (?P<sign>[+-])(?P<amount>[\d,]+)VND vao "
                              r"(?P<time>\d\d:\d\d \d\d/\d\d/\d{4})\. So du:(?P<balance>[\d,]+)VND\. ND: (?P<memo>.*)$")),
    ),
    non_transactions=(("otp", rx(r"\bOTP\b")), ("promo", rx(r"tran trong cam on|kinh chuc|uu dai|khuyen mai"))),
)

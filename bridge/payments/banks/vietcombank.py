from .base import BankFormat, Family, rx

REF = rx(r"^(?:(?:MBVCB|IBVCB)\.\d+|TKP#[\w#]+|\d+\.\d+\.\d+)")
FORMAT = BankFormat(
    bank="Vietcombank",
    senders={"sms": frozenset({"Vietcombank"}), "app_notification": frozenset({"Vietcombank"})},
    families=(
        Family("VCB_SMS_SDTK", rx(r"^SD TK (?P<account>\d+) (?P<sign>[+-])(?P<amount>[\d,]+)VND luc "
                                  r"(?P<time>\d\d-\d\d-\d{4} \d\d:\d\d:\d\d)\. SD (?P<balance>[\d,]+)VND\. Ref (?P<memo>.*)$"),
               ref=REF),
        Family("VCB_SMS_2017", rx(r"^So du TK VCB (?P<account>\d+) thay doi (?P<sign>[+-])(?P<amount>[\d,]+) VND luc "
                                  r"(?P<time>\d\d-\d\d-\d{4} \d\d:\d\d:\d\d)\. So du (?P<balance>[\d,]+) VND\. Ref (?P<memo>.*)$"),
               ref=REF),
        Family("VCB_APP_2025", rx(r"^Số dư TK VCB (?P<account>\d+)\s+(?P<sign>[+-])(?P<amount>[\d,]+) VND lúc "
                                  r"(?P<time>\d\d-\d\d-\d{4} \d\d:\d\d:\d\d)\.\s*Số dư (?P<balance>[\d,]+) VND\. Ref (?P<memo>.*)$"),
               channels=("app_notification",), ref=REF),
    ),
    non_transactions=(("otp", rx(r"Ma giao dich cua Quy (?:DN|KH) la|\bOTP\b")),),
)

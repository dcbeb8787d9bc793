from .base import ACCOUNT, BankFormat, Family, clock, date, moment, rx

REF = rx(r"^(?:(?:MBVCB|IBVCB)\.\d+|TKP#[\w#]+|\d+\.\d+\.\d+)")
WHEN = moment(clock(seconds=True), date("-"))
FORMAT = BankFormat(
    bank="Vietcombank",
    senders={"sms": frozenset({"Vietcombank"}), "app_notification": frozenset({"Vietcombank"})},
    families=(
        Family("VCB_SMS_SDTK", rx(r"^SD TK " + ACCOUNT + r" (?P<sign>[+-])(?P<amount>[\d,]+)VND luc "
                                  + WHEN + r"\. SD (?P<balance>[\d,]+)VND\. Ref (?P<memo>.*)$"),
               ref=REF),
        Family("VCB_SMS_2017", rx(r"^So du TK VCB " + ACCOUNT + r" thay doi (?P<sign>[+-])(?P<amount>[\d,]+) VND luc "
                                  + WHEN + r"\. So du (?P<balance>[\d,]+) VND\. Ref (?P<memo>.*)$"),
               ref=REF),
        Family("VCB_APP_2025", rx(r"^Số dư TK VCB " + ACCOUNT + r"\s+(?P<sign>[+-])(?P<amount>[\d,]+) VND lúc "
                                  + WHEN + r"\.\s*Số dư (?P<balance>[\d,]+) VND\. Ref (?P<memo>.*)$"),
               channels=("app_notification",), ref=REF),
    ),
    non_transactions=(("otp", rx(r"Ma giao dich cua Quy (?:DN|KH) la|\bOTP\b")),),
)

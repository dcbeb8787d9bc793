"""Money as integer minor units of the order's currency (VND has none), never floats.

Amounts are compared when payments are matched to orders, so "513000" must be exactly 513000
everywhere; binary floats cannot promise that ("44.88" is not representable).
"""
from __future__ import annotations

from decimal import ROUND_CEILING, Decimal, Inexact, InvalidOperation, localcontext

# Digits after the decimal point (ISO 4217). Unknown currencies are assumed to have 2.
CURRENCY_DECIMALS = {
    "VND": 0, "JPY": 0, "KRW": 0,
    "USD": 2, "EUR": 2, "GBP": 2, "SGD": 2, "THB": 2, "AUD": 2, "CNY": 2,
}
DEFAULT_DECIMALS = 2
# Largest accepted amount in minor units: fits a signed 64-bit integer (SQLite) with room to spare,
# and stops "1e999999999" from building a billion-digit int.
MAX_MINOR_DIGITS = 18


def _shown(amount: object) -> str:
    """The amount for an error message: repr, cut short (it may be a whole megabyte of payload)."""
    try:
        text = repr(amount)
    except ValueError:  # an int too long for str(): Python refuses > 4300 digits
        return "<a number too long to show>"
    return text if len(text) <= 60 else text[:57] + "..."


def decimals(currency: str) -> int:
    """How many minor-unit digits `currency` has (2 for currencies we do not know)."""
    return CURRENCY_DECIMALS.get((currency or "").strip().upper(), DEFAULT_DECIMALS)


def to_minor(amount: str | int | float | None, currency: str) -> int:
    """WooCommerce totals are strings ("513000", "44.88"); parse them exactly with Decimal.

    None or a blank string is 0 (WooCommerce leaves absent totals empty). Garbage, non-finite
    values, more decimals than the currency has, and absurd magnitudes raise ValueError.
    """
    return _minor(amount, currency, round_up=False)[0]


def to_minor_rounded_up(amount: str | int | float | None, currency: str) -> tuple[int, bool]:
    """Like `to_minor`, but a total with fractions of the currency's smallest unit (a VND shop
    set to 2 decimals: "150750.50") is rounded *up* to the next whole unit instead of refused.
    Returns (minor units, whether it was rounded). Bank transfers move whole dong, so the
    rounded-up amount is what a customer must send; asking less would shortchange the shop and
    refusing the order would make it invisible."""
    return _minor(amount, currency, round_up=True)


def _minor(amount: str | int | float | None, currency: str, round_up: bool) -> tuple[int, bool]:
    if amount is None or (isinstance(amount, str) and not amount.strip()):
        return 0, False
    if isinstance(amount, bool) or not isinstance(amount, (str, int, float, Decimal)):
        raise ValueError(f"amount must be a number or a numeric string, not {_shown(amount)}")
    try:
        if isinstance(amount, str):
            value = Decimal(amount.strip())
        elif isinstance(amount, float):  # via its shortest repr: 44.88 -> "44.88", not 44.8799...
            value = Decimal(str(amount))
        else:
            value = Decimal(amount)
    except (InvalidOperation, ValueError):
        raise ValueError(f"amount {_shown(amount)} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"amount {_shown(amount)} is not a finite number")
    if not value:
        return 0, False
    d = decimals(currency)
    if value.adjusted() + d >= MAX_MINOR_DIGITS:
        raise ValueError(f"amount {_shown(amount)} is too large")
    with localcontext() as ctx:
        # Enough precision that quantize is exact for every accepted magnitude; dropping a
        # non-zero digit (44.885 USD) is an error, not a silent rounding, unless asked to round up.
        ctx.prec = MAX_MINOR_DIGITS + 2
        ctx.traps[Inexact] = True
        try:
            return int(value.scaleb(d).quantize(Decimal(1))), False
        except Inexact:
            if not round_up:
                raise ValueError(f"amount {_shown(amount)} has more decimals than {currency or '?'} allows "
                                 f"({d})") from None
            ctx.traps[Inexact] = False
            return int(value.scaleb(d).quantize(Decimal(1), rounding=ROUND_CEILING)), True


def format_vnd(minor: int, *, symbol: str = "đ") -> str:
    """1290000 -> '1.290.000đ': dots between thousands, the way Vietnamese shops write prices."""
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(int(minor)):,}".replace(",", ".") + symbol


def format_money(minor: int, currency: str) -> str:
    """An amount for a customer: VND the Vietnamese way, others as "1,234.56 USD".

    Integer arithmetic only, so no amount is ever rounded for display.
    """
    code = (currency or "VND").strip().upper() or "VND"
    if code == "VND":
        return format_vnd(minor)
    d = decimals(code)
    minor = int(minor)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10 ** d)
    text = f"{whole:,}" + (f".{frac:0{d}d}" if d else "")
    return f"{sign}{text} {code}"

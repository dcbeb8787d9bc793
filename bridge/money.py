"""Money as integer minor units of the order's currency (VND has none), never floats."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

CURRENCY_DECIMALS = {"VND": 0, "JPY": 0, "KRW": 0, "USD": 2, "EUR": 2, "GBP": 2, "SGD": 2, "THB": 2}


def decimals(currency: str) -> int:
    return CURRENCY_DECIMALS.get((currency or "").upper(), 2)


def to_minor(amount: str | int | float | None, currency: str) -> int:
    """WooCommerce totals are strings ("513000", "44.88"); parse exactly with Decimal."""
    if amount is None or (isinstance(amount, str) and not amount.strip()):
        return 0
    if isinstance(amount, bool):
        raise ValueError(f"amount must be a number, not {amount!r}")
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise ValueError(f"amount {amount!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"amount {amount!r} is not a finite number")
    minor = value.scaleb(decimals(currency))
    if minor != minor.to_integral_value():
        raise ValueError(f"amount {amount!r} has more decimals than {currency} allows")
    return int(minor)


def format_vnd(minor: int, *, symbol: str = "đ") -> str:
    """1290000 -> '1.290.000đ': dots between thousands, the way Vietnamese shops write prices."""
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(int(minor)):,}".replace(",", ".") + symbol


def format_money(minor: int, currency: str) -> str:
    if (currency or "VND").upper() == "VND":
        return format_vnd(minor)
    d = decimals(currency)
    value = Decimal(minor).scaleb(-d)
    return f"{value:,.{d}f} {currency.upper()}"

"""Money as exact integer minor units, and prices written the way customers read them."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.money import CURRENCY_DECIMALS, decimals, format_money, format_vnd, to_minor


@pytest.mark.parametrize("amount, currency, minor", [
    ("513000", "VND", 513000),           # WooCommerce VND total
    ("513000.00", "VND", 513000),        # shop configured with 2 price decimals
    ("44.88", "USD", 4488),
    ("44.8", "USD", 4480),
    ("44.880", "USD", 4488),
    ("0.10", "EUR", 10),
    ("-370000", "VND", -370000),         # refunds
    (" 7 ", "VND", 7),
    ("0", "VND", 0),
    ("", "VND", 0),                      # absent totals are empty strings
    (None, "VND", 0),
    (513000, "VND", 513000),
    (44.88, "USD", 4488),                # a float through its repr, not its binary value
    (0.1 + 0.2, "USD", None),            # 0.30000000000000004: not a USD amount
    (Decimal("1.23"), "EUR", 123),
    ("12", "XYZ", 1200),                 # unknown currency: 2 decimals
    ("1000", "jpy", 1000),
])
def test_to_minor(amount: object, currency: str, minor: int | None) -> None:
    if minor is None:
        with pytest.raises(ValueError):
            to_minor(amount, currency)  # type: ignore[arg-type]
    else:
        assert to_minor(amount, currency) == minor  # type: ignore[arg-type]


@pytest.mark.parametrize("amount, currency, message", [
    ("abc", "VND", "is not a number"),
    ("1.290.000", "VND", "is not a number"),       # a formatted price, not a total
    ("1,290,000", "VND", "is not a number"),
    ("1.5", "VND", "more decimals than VND allows"),
    ("44.885", "USD", "more decimals than USD allows"),
    ("1.0000000000000000000000000000001", "USD", "more decimals"),  # beyond Decimal's default precision
    ("1e-999999999", "USD", "more decimals"),
    ("NaN", "USD", "not a finite number"),
    ("Infinity", "VND", "not a finite number"),
    (float("inf"), "VND", "not a finite number"),
    ("1e999999999", "VND", "too large"),           # would otherwise build a billion-digit int
    (10 ** 18, "VND", "too large"),
    pytest.param(10 ** 5000, "VND", "too large", id="10**5000"),
    (True, "VND", "must be a number"),
    ([1], "VND", "must be a number"),
])
def test_to_minor_rejects_garbage_clearly(amount: object, currency: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        to_minor(amount, currency)  # type: ignore[arg-type]


def test_decimals() -> None:
    assert CURRENCY_DECIMALS["VND"] == 0 and CURRENCY_DECIMALS["USD"] == 2
    assert decimals("vnd") == 0 and decimals("EUR") == 2 and decimals("???") == 2


@pytest.mark.parametrize("minor, shown", [
    (1_290_000, "1.290.000đ"),
    (513_000, "513.000đ"),
    (999, "999đ"),
    (1000, "1.000đ"),
    (0, "0đ"),
    (-370_000, "-370.000đ"),
])
def test_format_vnd(minor: int, shown: str) -> None:
    assert format_vnd(minor) == shown


def test_format_vnd_symbol() -> None:
    assert format_vnd(1_290_000, symbol=" VND") == "1.290.000 VND"


@pytest.mark.parametrize("minor, currency, shown", [
    (1_290_000, "VND", "1.290.000đ"),
    (1_290_000, "vnd", "1.290.000đ"),
    (4488, "USD", "44.88 USD"),
    (5, "usd", "0.05 USD"),
    (-5, "USD", "-0.05 USD"),
    (123_456_789, "EUR", "1,234,567.89 EUR"),
    (1000, "JPY", "1,000 JPY"),
    (10 ** 30 + 1, "USD", "10,000,000,000,000,000,000,000,000,000.01 USD"),  # never rounded
])
def test_format_money(minor: int, currency: str, shown: str) -> None:
    assert format_money(minor, currency) == shown


@given(st.integers(min_value=-10 ** 15, max_value=10 ** 15), st.sampled_from(["VND", "USD", "JPY"]))
def test_to_minor_round_trips_decimal_strings(minor: int, currency: str) -> None:
    d = decimals(currency)
    text = str(Decimal(minor).scaleb(-d)) if d else str(minor)
    assert to_minor(text, currency) == minor


@given(st.one_of(st.none(), st.text(max_size=40), st.integers(), st.floats()))
@settings(max_examples=300, deadline=None)
def test_to_minor_only_ever_raises_value_error(amount: object) -> None:
    try:
        assert isinstance(to_minor(amount, "USD"), int)  # type: ignore[arg-type]
    except ValueError:
        pass

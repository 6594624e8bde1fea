"""The one quantity parser: Kubernetes' grammar, exact values, sentences for bad input."""

from __future__ import annotations

from fractions import Fraction

import pytest

from hub_ext.quantity import (
    QuantityError,
    amount,
    ceil,
    cores,
    format_quantity,
    milli,
    parse_quantity,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Fraction(1, 2)),
        ("2Gi", 2 * 2**30),
        ("1e3", 1000),
        ("1.5", Fraction(3, 2)),
        ("100Mi", 100 * 2**20),
        ("1k", 1000),
        ("512M", 512 * 10**6),
        ("0", 0),
        (3, 3),
        (0.25, Fraction(1, 4)),
        ("250u", Fraction(1, 4000)),
        ("1E-3", Fraction(1, 1000)),
        ("+4", 4),
        (".5", Fraction(1, 2)),
        (" 4Gi ", 4 * 2**30),
    ],
)
def test_parse_quantity(text: str | int | float, value: Fraction | int) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    "bad",
    ["", "abc", "1Gb", "1.2.3", "--1", "1 Gi", "Gi", "10GB", "1e101", True, None, float("inf")],
)
def test_bad_quantities_are_value_errors_with_a_sentence(bad: object) -> None:
    with pytest.raises(QuantityError) as info:
        parse_quantity(bad)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert message.startswith(repr(bad)[:20]) and message.endswith(".")
    assert "is not a quantity such as" in message


def test_a_400_digit_size_is_exact_not_an_overflow() -> None:
    digits = "9" * 400
    assert ceil(digits + "Gi") == int(digits) * 2**30
    assert amount("memory", digits) == int(digits)
    with pytest.raises(QuantityError, match="is too large a number of cores"):
        cores(digits)
    assert parse_quantity("9" * 999) == int("9" * 999)
    with pytest.raises(QuantityError, match=r"^'9999.*\.\.\. is not a quantity"):
        parse_quantity("9" * 5000)  # longer than any quantity: refused before converting


def test_units_of_resources() -> None:
    assert amount("cpu", "500m") == 500 and amount("cpu", "1.0001") == 1001
    assert amount("memory", "1.5Ki") == 1536 and amount("nvidia.com/gpu", "2") == 2
    assert milli("1.5") == 1500 and milli("1m") == 1
    assert cores("250m") == 0.25


def test_format_quantity() -> None:
    assert format_quantity(Fraction(1, 2)) == "500m"
    assert format_quantity(2 * 2**30, binary=True) == "2Gi"
    assert format_quantity(3000) == "3k"
    assert format_quantity(7) == "7"
    assert format_quantity(Fraction(1, 3 * 10**9)) == "1n"

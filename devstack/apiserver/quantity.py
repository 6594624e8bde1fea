"""Kubernetes resource quantities: parse `500m`, `2Gi`, `1e3`, `1.5` exactly; format them."""

from __future__ import annotations

import re
from fractions import Fraction

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL: dict[str, Fraction | int] = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
}
_PATTERN = re.compile(
    r"^(?P<num>[+-]?(?:\d+\.?\d*|\.\d+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$"
)
QUANTITY_ERROR = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)


class QuantityError(ValueError):
    """A string that is not a valid Kubernetes quantity."""


def parse_quantity(value: str | int | float | Fraction) -> Fraction:
    """Exact value of a quantity: `parse_quantity("500m") == Fraction(1, 2)`.

    Raises QuantityError (a ValueError) for malformed input.
    """
    if isinstance(value, bool):
        raise QuantityError(QUANTITY_ERROR)
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise QuantityError(QUANTITY_ERROR)
        return Fraction(str(value))
    text = str(value).strip()
    m = _PATTERN.match(text)
    if not m:
        raise QuantityError(QUANTITY_ERROR)
    number = Fraction(m.group("num"))
    suffix = m.group("suffix") or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix[:1] in ("e", "E"):
        exp = int(suffix[1:])
        if abs(exp) > 100:
            raise QuantityError(QUANTITY_ERROR)
        return number * Fraction(10) ** exp
    return number * Fraction(_DECIMAL[suffix])


def is_quantity(value: object) -> bool:
    """Whether a value parses as a quantity."""
    try:
        parse_quantity(value)  # type: ignore[arg-type]
    except (QuantityError, TypeError):
        return False
    return True


def format_quantity(value: Fraction | int | float, binary: bool = False) -> str:
    """Canonical short form: `Fraction(1, 2)` -> `500m`, 2**31 with binary=True -> `2Gi`.

    Values finer than a milli-unit are formatted in `n`/`u`; integers prefer the largest
    exact suffix (binary suffixes when `binary`).
    """
    q = Fraction(value) if not isinstance(value, Fraction) else value
    if q.denominator != 1:
        for suffix, scale in (("m", 1000), ("u", 10**6), ("n", 10**9)):
            scaled = q * scale
            if scaled.denominator == 1:
                return f"{scaled.numerator}{suffix}"
        return f"{-((-q * 10**9).__floor__()) if q > 0 else (q * 10**9).__floor__()}n"
    n = q.numerator
    if n == 0:
        return "0"
    if binary:
        for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
            scale = _BINARY[suffix]
            if n % scale == 0:
                return f"{n // scale}{suffix}"
        return str(n)
    for suffix in ("E", "P", "T", "G", "M", "k"):
        scale = int(Fraction(_DECIMAL[suffix]))
        if n % scale == 0:
            return f"{n // scale}{suffix}"
    return str(n)


def milli(value: str | int | float | Fraction) -> int:
    """Value in milli-units, rounded up (as `MilliValue()` does for CPU)."""
    q = parse_quantity(value) * 1000
    return -((-q.numerator) // q.denominator)

"""Kubernetes resource quantities, parsed exactly: the one parser of the product.

The grammar is Kubernetes' own: a signed decimal number, then a binary suffix (``Ki`` ... ``Ei``),
a decimal suffix (``n``, ``u``, ``m``, ``k``, ``M`` ... ``E``) or an exponent (``1e3``). Values
are Fractions, so ``500m`` is exactly one half and a 400-digit size is just a large integer.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from .shown import shown

BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
DECIMAL: dict[str, Fraction] = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
_PATTERN = re.compile(
    r"^(?P<num>[+-]?(?:\d+\.?\d*|\.\d+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$"
)
#: Longest text accepted, as the Kubernetes API server does not accept longer quantities either.
MAX_LENGTH = 1000
MAX_EXPONENT = 100

Number = str | int | float | Fraction


class QuantityError(ValueError):
    """A value that is not a Kubernetes quantity; the message is a sentence naming it."""

    def __init__(
        self, value: object, problem: str = "is not a quantity such as 2, 500m or 4Gi"
    ) -> None:
        super().__init__(f"{shown(value, 40)} {problem}.")


def parse_quantity(value: Number) -> Fraction:
    """The exact value of a quantity: ``parse_quantity("500m") == Fraction(1, 2)``.

    Raises QuantityError (a ValueError) for anything else, including booleans, NaN and text too
    long to be a quantity.
    """
    if isinstance(value, bool):
        raise QuantityError(value)
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise QuantityError(value)
        return Fraction(str(value))
    if not isinstance(value, str):
        raise QuantityError(value)
    text = value.strip()
    match = _PATTERN.match(text) if len(text) <= MAX_LENGTH else None
    if not match:
        raise QuantityError(value)
    try:
        number = Fraction(match.group("num"))
    except ValueError:  # more digits than Python converts
        raise QuantityError(value) from None
    suffix = match.group("suffix") or ""
    if suffix in BINARY:
        return number * BINARY[suffix]
    if suffix[:1] in ("e", "E"):
        exponent = int(suffix[1:])
        if abs(exponent) > MAX_EXPONENT:
            raise QuantityError(value)
        return number * Fraction(10) ** exponent
    return number * DECIMAL[suffix]


def is_quantity(value: object) -> bool:
    """Whether a value parses as a quantity."""
    try:
        parse_quantity(value)  # type: ignore[arg-type]
    except QuantityError:
        return False
    return True


def ceil(value: Number) -> int:
    """The quantity rounded up to a whole unit (bytes, devices), as Kubernetes' ``Value()``."""
    q = parse_quantity(value)
    return -((-q.numerator) // q.denominator)


def milli(value: Number) -> int:
    """The quantity in milli-units, rounded up, as Kubernetes' ``MilliValue()`` (CPU)."""
    return ceil(parse_quantity(value) * 1000)


def cores(value: Number) -> float:
    """CPU cores as a float (``"500m"`` -> ``0.5``), for display and comparison."""
    try:
        return float(parse_quantity(value))
    except OverflowError:
        raise QuantityError(value, "is too large a number of cores") from None


def amount(resource: str, value: Number) -> int:
    """An integer amount of ``resource``: millicores for ``cpu``, else whole units (bytes)."""
    return milli(value) if resource == "cpu" else ceil(value)


def format_quantity(value: Number, binary: bool = False) -> str:
    """Canonical short form: ``Fraction(1, 2)`` -> ``500m``; 2**31 with ``binary`` -> ``2Gi``.

    Values finer than a milli-unit use ``u`` or ``n`` (rounded up to a nano-unit); integers take
    the largest exact suffix (binary suffixes when ``binary``).
    """
    q = parse_quantity(value)
    if q.denominator != 1:
        for suffix, scale in (("m", 1000), ("u", 10**6), ("n", 10**9)):
            scaled = q * scale
            if scaled.denominator == 1:
                return f"{scaled.numerator}{suffix}"
        nanos = q * 10**9
        return f"{math.ceil(nanos) if q > 0 else math.floor(nanos)}n"
    n = q.numerator
    if n == 0:
        return "0"
    if binary:
        for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
            if n % BINARY[suffix] == 0:
                return f"{n // BINARY[suffix]}{suffix}"
        return str(n)
    for suffix in ("E", "P", "T", "G", "M", "k"):
        scale = DECIMAL[suffix].numerator
        if n % scale == 0:
            return f"{n // scale}{suffix}"
    return str(n)

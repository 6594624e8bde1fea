"""The rules a quota table obeys, wherever it comes from: the config file or the admin's form.

A quota table is ``{flavor slug or "*": {"devices": N, "per_user": M}}``; N and M are whole
numbers of 0 or more, or None (no limit at that level).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

LIMIT_KEYS = ("devices", "per_user")
MAX_LIMIT = 100_000  # more devices than any cluster has: a typo, not a quota
LABELS = {"devices": "devices for the group", "per_user": "devices per member"}


class QuotaError(ValueError):
    """A quota table breaks a rule; the message is a sentence naming the field."""


def check_quota_table(
    table: Any, where: str, flavors: Collection[str] | None = None
) -> dict[str, dict[str, int | None]]:
    """A checked copy of ``table``, or QuotaError naming the first field (``where`` prefixes it).

    With ``flavors`` given, every key other than ``*`` must be one of them."""
    if not isinstance(table, Mapping):
        raise QuotaError(f"{where} must be a table of flavors, not {_show(table)}.")
    checked: dict[str, dict[str, int | None]] = {}
    for slug, limits in table.items():
        if not isinstance(slug, str) or not slug:
            raise QuotaError(f"{where} has a flavor name that is not a text: {_show(slug)}.")
        if flavors is not None and slug != "*" and slug not in flavors:
            raise QuotaError(f"{where} names the flavor {slug!r}, which is not in the catalog.")
        checked[slug] = check_limits(limits, f"{where}[{slug!r}]")
    return checked


def check_limits(limits: Any, where: str) -> dict[str, int | None]:
    """One flavor's ``{"devices": N, "per_user": M}``, checked."""
    if not isinstance(limits, Mapping):
        raise QuotaError(f'{where} must be {{"devices": N, "per_user": M}}, not {_show(limits)}.')
    extra = sorted(str(k) for k in limits if k not in LIMIT_KEYS)
    if extra:
        raise QuotaError(
            f"{where} has the unknown field {extra[0]!r}: the fields are devices and per_user."
        )
    return {key: check_number(limits.get(key), f"{where}[{key!r}]") for key in LIMIT_KEYS}


def check_number(value: Any, where: str) -> int | None:
    """None (no limit) or a whole number from 0 to MAX_LIMIT."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise QuotaError(
                f"{where} must be a whole number of 0 or more (or none, for no limit), "
                f"not {_show(value)}."
            )
    if not 0 <= value <= MAX_LIMIT:
        raise QuotaError(f"{where} must be between 0 and {MAX_LIMIT}, not {value}.")
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."

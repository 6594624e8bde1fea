"""Figures as people read them on the service's pages: times with relative hints, quantities
in human units, quotas as sentences, and a reason wherever a figure is unknown."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .timeutil import iso, parse_time


@dataclass(frozen=True)
class Moment:
    """A time for a page: ISO for ``<time datetime>`` (the page's script shows it in the
    reader's zone), a UTC text for readers without JavaScript, and a relative hint."""

    iso: str
    text: str
    relative: str


def span(seconds: float) -> str:
    """``45 s``, ``12 min``, ``6 h``, ``3 days``: the coarsest unit that keeps the sense."""
    seconds = abs(seconds)
    if seconds < 90:
        return f"{int(seconds)} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    if seconds < 36 * 3600:
        hours = seconds / 3600
        return f"{hours:.1f} h".replace(".0 h", " h") if hours < 10 else f"{round(hours)} h"
    days = round(seconds / 86400)
    return f"{days} day" if days == 1 else f"{days} days"


def moment(
    value: datetime | str | None, now: datetime, future: str = "in", past: str = ""
) -> Moment | None:
    """``value`` as a Moment; the hint reads ``in 6 h`` / ``3 min ago`` (``future``/``past``
    replace the words: ``ends in``, ``started``)."""
    if value is None or value == "":
        return None
    when = parse_time(value) if isinstance(value, str) else value.astimezone(UTC)
    delta = (when - now).total_seconds()
    if abs(delta) < 30:
        hint = "just now"
    elif delta > 0:
        hint = f"{future} {span(delta)}".strip()
    else:
        hint = f"{past} {span(delta)} ago".strip()
    return Moment(iso=iso(when) or "", text=when.strftime("%d %b %Y, %H:%M UTC"), relative=hint)


def device_hours(value: float | None) -> str:
    """``0.25 device-hours``, ``12 device-hours``; a figure too small for two decimals
    (a server that ran a few seconds) reads ``under 0.01 device-hours``, never ``0``."""
    if value is None:
        return "none recorded"
    if value == 0:
        return "0 device-hours"
    if value < 0.005:
        return "under 0.01 device-hours"
    if value < 10:
        return f"{value:.2f} device-hours".replace(".00 ", " ")
    return f"{value:,.0f} device-hours"


def percent(value: float | None, why_unknown: str) -> str:
    """``42 %``, or why nothing can be said."""
    return why_unknown if value is None else f"{value:.0f} %"


def energy(kwh: float | None, why_unknown: str) -> str:
    """``350 Wh``, ``2.4 kWh``, ``0.3 Wh`` (below 10 Wh, a server's first minutes), or why
    nothing can be said; energy that was drawn never reads ``0 Wh``."""
    if kwh is None:
        return why_unknown
    wh = kwh * 1000
    if 0 < wh < 0.05:
        return "under 0.1 Wh"
    if wh < 9.95:
        return f"{wh:.1f} Wh".replace(".0 ", " ")
    if kwh < 1:
        return f"{wh:.0f} Wh"
    return f"{kwh:,.1f} kWh"


def count(value: int | None, why_unknown: str) -> str:
    """An integer, or why it is unknown (never ``?``)."""
    return why_unknown if value is None else str(value)


def limit_sentence(raw: Any) -> str:
    """``{"devices": 4, "per_user": 2}`` -> ``4 devices for the group, at most 2 per member``."""
    if not isinstance(raw, Mapping):
        return "no limit set"
    devices, per_user = raw.get("devices"), raw.get("per_user")
    if devices == 0 and per_user == 0:
        return "closed to the group"
    pool = "no limit for the group" if devices is None else _devices(devices, "for the group")
    if devices == 0:
        pool = "none for the group as a pool"
    each = "no limit per member" if per_user is None else f"at most {per_user} per member"
    return f"{pool}, {each}"


def _devices(n: int, tail: str) -> str:
    return f"{n} device{'s' if n != 1 else ''} {tail}"


def quota_rows(quotas: Any, flavor_names: Mapping[str, str]) -> list[tuple[str, str]]:
    """A quota table as (which flavors, sentence) rows; ``*`` reads as every other flavor."""
    if not isinstance(quotas, Mapping) or not quotas:
        return []
    rows = []
    named = sorted(k for k in quotas if k != "*")
    for slug in named:
        rows.append((flavor_names.get(slug, slug), limit_sentence(quotas[slug])))
    if "*" in quotas:
        label = "every other flavor" if named else "every flavor"
        rows.append((label, limit_sentence(quotas["*"])))
    return rows


def catalog_access(groups: Sequence[str]) -> str:
    """What the catalog's ``groups:`` says of a flavor, e.g. ``only for ml-experts``."""
    return f"only for {', '.join(groups)}" if groups else "open to everyone"


ACCESS_WORDS = {"open": "open to the group", "closed": "closed to the group"}


def access_rows(table: Any, flavor_names: Mapping[str, str]) -> list[tuple[str, str]]:
    """A flavor access table as (flavor, sentence) rows."""
    if not isinstance(table, Mapping):
        return []
    return [
        (flavor_names.get(slug, slug), ACCESS_WORDS.get(str(choice), str(choice)))
        for slug, choice in sorted(table.items())
    ]

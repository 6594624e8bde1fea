"""The spawn form: flavors a user may use, with live availability, quota and reservations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, Template, select_autoescape

from ..admission import Entitlement
from ..catalog import Flavor
from ..inventory import FlavorCounts
from .pending import WAIT_CURES, device_name

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
WHY = {
    "quota": "Your group's quota for this flavor is used up.",
    "user_cap": "You already hold as many of these as you may.",
    "not_allowed": "None of your groups may use this flavor.",
    "reservation": "All of these are reserved for a hackathon group right now.",
    "capacity": "None is free right now.",
    "unknown_flavor": "The hub service does not know this flavor.",
}


@dataclass
class FormRow:
    """One flavor as the form shows it."""

    slug: str
    display_name: str
    description: str
    availability: str
    free: int | None
    total: int | None
    quota: str = ""
    reservation: str = ""
    reservation_title: str = ""
    disabled: bool = False
    why: str = ""
    checked: bool = False
    waitable: bool = False  # the row offers "Wait in line"
    full: bool = False  # nothing free now: usable only by waiting in line
    counts: list[int] = field(default_factory=list)
    cpus: list[str] = field(default_factory=list)
    memories: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)


def _availability(
    flavor: Flavor, counts: FlavorCounts | None
) -> tuple[str, int | None, int | None]:
    if counts is None:
        return "Availability unknown", None, None
    if flavor.kind == "cpu":
        return f"{counts.free} / {counts.capacity} CPU cores free", counts.free, counts.capacity
    text = f"{counts.free} / {counts.capacity} free"
    if counts.pending:
        text += f" ({counts.pending} wanted by waiting pods)"
    return text, counts.free, counts.capacity


def _quota(ent: Entitlement | None) -> str:
    if ent is None:
        return ""
    parts = []
    if ent.user_cap is not None:
        parts.append(f"you use {ent.user_in_use} of your {ent.user_cap}")
    if ent.group_quota_remaining is not None:
        parts.append(f"{ent.group_quota_remaining} left in your group's quota")
    if ent.queue_position:
        parts.append(f"you are number {ent.queue_position} in line")
    return "; ".join(parts).capitalize()


def build_rows(
    flavors: Sequence[Flavor],
    counts: Mapping[str, FlavorCounts],
    entitlements: Mapping[str, Entitlement],
    default_image: str | None = None,
    can_wait: bool = True,
    last: str | None = None,
    hide_unavailable: bool = False,
    refused: str | None = None,
) -> list[FormRow]:
    """One row per flavor, disabled with a reason when it cannot be used now; with
    ``can_wait``, a row whose devices are all taken stays open for waiting in line.
    The ``last`` flavor the user started is pre-selected if it can start now (only the
    flavor carries over), else the first that can; the form shown with a refusal keeps the
    ``refused`` flavor chosen while it is usable (full, it can wait in line). A flavor the
    cluster has no device of says so, or is left out with ``hide_unavailable``."""
    rows: list[FormRow] = []
    for flavor in flavors:
        c = counts.get(flavor.slug)
        ent = entitlements.get(flavor.slug)
        text, free, total = _availability(flavor, c)
        row = FormRow(
            slug=flavor.slug,
            display_name=flavor.display_name,
            description=flavor.description,
            availability=text,
            free=free,
            total=total,
            quota=_quota(ent) if flavor.accelerated else "",
            counts=list(flavor.counts),
            cpus=[f"{x:g}" for x in flavor.allowed_cpus()],
            memories=list(flavor.allowed_memories()),
            images=list(flavor.images or ((default_image,) if default_image else ())),
            waitable=can_wait and flavor.accelerated,
        )
        if ent is not None and ent.reservation is not None:
            res = ent.reservation
            row.reservation = f"Reserved for {res.group or 'your group'}"
            row.reservation_title = f"{res.name}" + (
                f", until {res.ends_at}" if res.ends_at else ""
            )
        busy = ent is not None and not ent.allowed and ent.reason in WAIT_CURES
        if ent is not None and not ent.allowed and not busy:
            row.disabled, row.why = True, WHY.get(ent.reason or "", "Not available to you now.")
        elif flavor.resource and c is not None and c.capacity == 0:
            if hide_unavailable:
                continue
            row.disabled = True
            row.why = f"Not available on this cluster: it has no {device_name(flavor)}."
        elif busy or (
            flavor.resource and c is not None and c.free < flavor.counts[0] and not row.reservation
        ):
            if busy and ent is not None and ent.reason == "reservation":
                why = WHY["reservation"]
            else:
                why = f"No {device_name(flavor)} is free right now."
            if row.waitable:
                row.full, row.why = True, f"{why} You can wait in line for one."
            else:
                row.disabled, row.why = True, why
        rows.append(row)
    usable = [r for r in rows if not r.disabled]
    kept = next((r for r in usable if r.slug == refused), None)
    again = kept or next((r for r in usable if r.slug == last and not r.full), None)
    first = again or next((r for r in usable if not r.full), usable[0] if usable else None)
    if first is not None:
        first.checked = True
    return rows


@cache
def _template() -> Template:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        trim_blocks=False,
    )
    return env.get_template("accelhub_form.html")


def render_form(rows: Sequence[FormRow], note: str = "") -> str:
    """The form's HTML (autoescaped)."""
    return _template().render(rows=rows, note=note)

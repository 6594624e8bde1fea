"""The spawn form a user is offered: the flavors open to them, live counts and entitlements."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..admission import AdmissionUnavailable
from .form import build_rows, render_form

if TYPE_CHECKING:
    from .spawner import AcceleratorSpawner


async def render_offer(spawner: AcceleratorSpawner) -> str:
    """The form's HTML for ``spawner``'s user; it renders even without the cluster or the
    service, saying what is not known."""
    groups = spawner.user_groups()
    flavors = spawner.catalog.for_groups(spawner.group_access())
    notes = []
    counts = {}
    try:
        inventory = spawner.inventory()
        if not inventory.synced:
            await inventory.wait_synced(spawner.inventory_sync_seconds)
        if inventory.synced:
            counts = inventory.all_counts()
        else:
            notes.append("Live availability is not known yet.")
    except Exception as err:  # the form must render even without the cluster
        spawner.log.warning("inventory unavailable for the spawn form: %s", err)
        notes.append("Live availability is not known right now.")
    try:
        entitlements = await spawner.policy.entitlements(spawner.user.name, groups)
    except AdmissionUnavailable as err:
        entitlements = {}
        notes.append(str(err))
    rows = build_rows(
        flavors,
        counts,
        entitlements,
        spawner.image,
        spawner.admission_wait,
        spawner.last_flavor,
        hide_unavailable=spawner.unavailable_flavors == "hide",
        refused=spawner.take_refused_flavor(),
    )
    notes.append("Counts are live; a device is yours once your server starts.")
    return render_form(rows, " ".join(notes))

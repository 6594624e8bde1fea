"""The scheduler's failure sentences (`FitError.Error()` and the preemption suffix)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from devstack.controllers.scheduling.predicates import Status

NO_NODES = "no nodes available to schedule pods"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"
NEVER = "not eligible due to preemptionPolicy=Never."
TERMINATING = "not eligible due to terminating pod on the nominated node."


def histogram(statuses: Mapping[str, Status]) -> list[str]:
    """`"<count> <reason>"` entries, sorted as strings like the real scheduler does."""
    counts: Counter[str] = Counter()
    for status in statuses.values():
        for reason in dict.fromkeys(status.reasons):
            counts[reason] += 1
    return sorted(f"{n} {reason}" for reason, n in counts.items())


def fit_error(num_nodes: int, statuses: Mapping[str, Status], post_filter: str = "") -> str:
    """`0/N nodes are available: <sorted reasons>.` plus ` preemption: ...` when given."""
    if num_nodes == 0:
        return NO_NODES
    text = f"0/{num_nodes} nodes are available:"
    parts = histogram(statuses)
    if parts:
        text += " " + ", ".join(parts) + "."
    if post_filter:
        text += " preemption: " + post_filter
    return text


def prefilter_error(num_nodes: int, reason: str) -> str:
    """A pre-filter rejection (same for every node): preemption cannot help it."""
    return (
        f"0/{num_nodes} nodes are available: {reason}. preemption: 0/{num_nodes} nodes are "
        f"available: {num_nodes} {NOT_HELPFUL}."
    )

"""Refusal reasons and the labels of the pods the service and the spawner create."""

from __future__ import annotations

import re

# -- refusal reasons ------------------------------------------------------------------------

REASONS = ("quota", "user_cap", "reservation", "capacity", "not_allowed", "unknown_flavor")
# Refusals that waiting in the flavor's line can cure: a device frees or a reservation ends.
# Quota and per-user caps are not: they free only when the same group or user stops a server,
# which the line does not track, so such a request is refused at once and never queued.
WAITABLE = frozenset({"capacity", "reservation"})

# -- pod labels ------------------------------------------------------------------------------

LEASE_LABEL = "accelhub.io/lease"
FLAVOR_LABEL = "accelhub.io/flavor"
KIND_LABEL = "accelhub.io/kind"
USER_LABEL = "accelhub.io/user"
RESERVATION_LABEL = "accelhub.io/reservation"
PLACEHOLDER_LABEL = "accelhub.io/placeholder"


def label_value(text: str) -> str:
    """A valid Kubernetes label value for any text (63 chars, alphanumerics at both ends)."""
    value = re.sub(r"[^A-Za-z0-9._-]", "-", text)[:63]
    return value.strip("._-") or "x"


def lease_labels(
    lease_id: str, flavor: str, user: str, reservation_id: str | None = None
) -> dict[str, str]:
    """The labels of a pod holding a lease."""
    labels = {
        LEASE_LABEL: lease_id,
        FLAVOR_LABEL: label_value(flavor),
        USER_LABEL: label_value(user),
    }
    if reservation_id:
        labels[RESERVATION_LABEL] = reservation_id
    return labels


# -- offload jobs ------------------------------------------------------------------------------

JOB_LABEL = "accelhub.io/job"  # the job id, on an offload pod and its ConfigMap

"""The lease as the spawner sees it: labels, tolerations and priority for the user's pod."""

from __future__ import annotations

import re
from typing import Any

from .records import Lease
from .timeutil import iso

LEASE_LABEL = "accelhub.io/lease"
FLAVOR_LABEL = "accelhub.io/flavor"
USER_LABEL = "accelhub.io/user"
RESERVATION_LABEL = "accelhub.io/reservation"
PLACEHOLDER_LABEL = "accelhub.io/placeholder"


def label_value(text: str) -> str:
    """A valid Kubernetes label value for any text (63 chars, alphanumerics at both ends)."""
    value = re.sub(r"[^A-Za-z0-9._-]", "-", text)[:63]
    return value.strip("._-") or "x"


def lease_labels(lease: Lease) -> dict[str, str]:
    labels = {
        LEASE_LABEL: lease.id,
        FLAVOR_LABEL: label_value(lease.flavor),
        USER_LABEL: label_value(lease.user),
    }
    if lease.reservation_id:
        labels[RESERVATION_LABEL] = lease.reservation_id
    return labels


def lease_json(
    lease: Lease,
    reserved_priority_class: str | None = None,
    lease_priority_class: str | None = None,
) -> dict[str, Any]:
    """The lease body of the REST API."""
    priority = reserved_priority_class if lease.reservation_id else lease_priority_class
    return {
        "id": lease.id,
        "user": lease.user,
        "server": lease.server,
        "flavor": lease.flavor,
        "count": lease.count,
        "group": lease.group,
        "reservation": lease.reservation_id,
        "tolerations": [],
        "node_selector": {},
        "priority_class_name": priority,
        "labels": lease_labels(lease),
        "started_at": iso(lease.started_at),
        "expires_at": iso(lease.expires_at),
        "bound": {"namespace": lease.namespace, "pod": lease.pod} if lease.pod else None,
        "ended_at": iso(lease.ended_at),
        "end_reason": lease.end_reason,
        "end_message": lease.end_message,
    }

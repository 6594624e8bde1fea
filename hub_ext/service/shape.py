"""The lease as the spawner sees it (``contract.Lease``): labels, tolerations and priority."""

from __future__ import annotations

from typing import Any

from ..contract import Lease as WireLease
from ..contract import PodRef, lease_labels
from .records import LeaseRecord
from .timeutil import iso


def labels_of(lease: LeaseRecord) -> dict[str, str]:
    """The labels of the pod holding a lease."""
    return lease_labels(lease.id, lease.flavor, lease.user, lease.reservation_id)


def lease_json(
    lease: LeaseRecord,
    reserved_priority_class: str | None = None,
    lease_priority_class: str | None = None,
) -> dict[str, Any]:
    """The lease body of the REST API, as JSON."""
    return wire_lease(lease, reserved_priority_class, lease_priority_class).to_json()


def wire_lease(
    lease: LeaseRecord,
    reserved_priority_class: str | None = None,
    lease_priority_class: str | None = None,
) -> WireLease:
    """The lease body of the REST API."""
    priority = reserved_priority_class if lease.reservation_id else lease_priority_class
    return WireLease(
        id=lease.id,
        user=lease.user,
        server=lease.server,
        flavor=lease.flavor,
        count=lease.count,
        group=lease.group,
        reservation=lease.reservation_id,
        priority_class_name=priority,
        labels=labels_of(lease),
        started_at=iso(lease.started_at),
        expires_at=iso(lease.expires_at),
        bound=PodRef(lease.namespace, lease.pod) if lease.pod else None,
        ended_at=iso(lease.ended_at),
        end_reason=lease.end_reason,
        end_message=lease.end_message,
    )

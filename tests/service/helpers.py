"""Builders shared by the service tests: flavors, directories, admission cores and pods."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from hub_ext.catalog import Flavor
from hub_ext.service.core import AdmissionCore
from hub_ext.service.directory import GroupInfo, StaticDirectory
from hub_ext.service.policy import QuotaPolicy
from hub_ext.service.records import Capacity, LeaseRecord
from hub_ext.service.shape import labels_of
from hub_ext.service.store import Repository

# One T4 per device on devstack nodes labelled for it (the cluster tests and the burst bench).
T4 = Flavor(
    slug="t4",
    display_name="T4",
    kind="gpu",
    resource="nvidia.com/gpu",
    node_selector={"accelhub.infn.it/accelerator": "t4"},
    counts=(1,),
)


def gpu(slug: str = "a100", groups: tuple[str, ...] = ()) -> Flavor:
    return Flavor(
        slug=slug,
        display_name=slug.upper(),
        kind="gpu",
        resource="nvidia.com/gpu",
        counts=(1, 2),
        groups=groups,
    )


class FixedCapacity:
    """Capacity per flavor set by the test."""

    def __init__(self, **totals: int) -> None:
        self.totals = dict(totals)
        self.external: dict[str, int] = {}

    def capacity(self, flavor: str) -> Capacity | None:
        if flavor not in self.totals:
            return None
        return Capacity(self.totals[flavor], self.external.get(flavor, 0))


def directory(
    groups: dict[str, list[str]], properties: dict[str, Any] | None = None
) -> StaticDirectory:
    props = properties or {}
    return StaticDirectory(
        {name: GroupInfo(name, users, props.get(name, {})) for name, users in groups.items()}
    )


def policy(
    group_quotas: dict[str, Any] | None = None, default_quota: dict[str, Any] | None = None
) -> QuotaPolicy:
    p = QuotaPolicy()
    p.group_quotas = group_quotas or {}
    if default_quota is not None:
        p.default_quota = default_quota
    return p


class Clock:
    """A settable clock."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_core(
    engine: AsyncEngine,
    groups: dict[str, list[str]],
    group_quotas: dict[str, Any] | None = None,
    default_quota: dict[str, Any] | None = None,
    capacity: FixedCapacity | None = None,
    flavors: list[Flavor] | None = None,
    clock: Callable[[], datetime] | None = None,
    properties: dict[str, Any] | None = None,
) -> AdmissionCore:
    kwargs: dict[str, Any] = {}
    if clock is not None:
        kwargs["clock"] = clock
    return AdmissionCore(
        Repository(engine),
        {f.slug: f for f in (flavors or [gpu()])},
        policy(group_quotas, default_quota),
        directory(groups, properties),
        capacity,
        **kwargs,
    )


def lease_pod(
    lease: LeaseRecord, flavor: Flavor, priority: str | None = None, name: str | None = None
) -> dict[str, Any]:
    """The notebook pod of a granted lease, labelled and annotated as the spawner makes it."""
    spec: dict[str, Any] = {
        "nodeSelector": dict(flavor.node_selector),
        "terminationGracePeriodSeconds": 0,
        "containers": [
            {
                "name": "notebook",
                "image": "jupyter",
                "command": ["sleep", "900"],
                "resources": {"limits": {"nvidia.com/gpu": str(lease.count)}},
            }
        ],
    }
    if priority:
        spec["priorityClassName"] = priority
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name or f"jupyter-{lease.user}",
            "labels": labels_of(lease),
            "annotations": {
                "hub.jupyter.org/username": lease.user,
                "hub.jupyter.org/servername": lease.server,
            },
        },
        "spec": spec,
    }

"""Quota policy: devices per group and flavor and per user, from config and group properties."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from traitlets import CaselessStrEnum, Dict, Float, TraitError, Unicode, validate
from traitlets.config import Configurable

from ..flavor_access import GROUP_PROPERTY_KEY, GroupAccess
from .quota_rules import QuotaError, check_quota_table


@dataclass(frozen=True)
class Limits:
    """How many devices of one flavor a group may hold at once, and each of its users."""

    devices: int | None
    per_user: int | None

    @property
    def closed(self) -> bool:
        """No device at all, for the group or any member: the flavor is closed to the group."""
        return self.devices == 0 and self.per_user == 0


def _limits(raw: Any) -> Limits | None:
    if not isinstance(raw, Mapping):
        return None
    devices = raw.get("devices")
    per_user = raw.get("per_user")
    return Limits(
        devices=int(devices) if devices is not None else None,
        per_user=int(per_user) if per_user is not None else None,
    )


def _lookup(table: Any, flavor: str) -> Limits | None:
    if not isinstance(table, Mapping):
        return None
    if flavor in table:
        return _limits(table[flavor])
    if "*" in table:
        return _limits(table["*"])
    return None


@dataclass(frozen=True)
class OffloadLimits:
    """How many offload jobs a group may run at once, and its device-hours per period."""

    jobs: int | None
    device_hours: float | None


def _offload_limits(raw: Any) -> OffloadLimits | None:
    if not isinstance(raw, Mapping):
        return None
    jobs, hours = raw.get("jobs"), raw.get("device_hours")
    return OffloadLimits(
        jobs=int(jobs) if jobs is not None else None,
        device_hours=float(hours) if hours is not None else None,
    )


class QuotaPolicy(Configurable):
    """Quotas per group and flavor; JupyterHub group properties override the config file."""

    group_quotas = Dict(
        config=True,
        help="""Quotas per group: {group: {flavor or "*": {"devices": N, "per_user": M}}}.
        `devices` caps what the group holds at once, `per_user` what each member holds.
        Omitted or null means no limit at that level.""",
    )
    default_quota = Dict(
        {"*": {"devices": None, "per_user": 1}},
        config=True,
        help="""Quota for users in no group with a quota for the flavor:
        {flavor or "*": {"devices": N, "per_user": M}}; `devices` is the pool they share.
        A flavor with no entry here is refused to them.""",
    )
    per_user_scope = CaselessStrEnum(
        ["all", "flavor"],
        "all",
        config=True,
        help="""What a `per_user` cap counts: "all" (default) the devices a user holds across
        every flavor and named server (outside reservations); "flavor" only those of the
        flavor asked for, so a user may hold `per_user` devices of each flavor at once.""",
    )
    group_property_key = Unicode(
        GROUP_PROPERTY_KEY,
        config=True,
        help="""Key in a JupyterHub group's properties holding accelhub settings, e.g.
        {"accelhub": {"quotas": {"a100": {"devices": 4, "per_user": 1}},
        "flavors": {"a100-80gb": "open"}, "idle_timeout_minutes": 60, "hackathon": true}}.
        Its quotas override `group_quotas`; its flavors open or close catalog flavors to the
        group (hub_ext.flavor_access). Keep it equal to AcceleratorSpawner.group_property_key.""",
    )

    @validate("group_quotas")
    def _check_group_quotas(self, proposal: Any) -> dict[str, Any]:
        tables = proposal["value"]
        try:
            return {
                str(group): check_quota_table(table, f"QuotaPolicy.group_quotas[{group!r}]")
                for group, table in tables.items()
            }
        except QuotaError as error:
            raise TraitError(str(error)) from None

    @validate("default_quota")
    def _check_default_quota(self, proposal: Any) -> dict[str, Any]:
        try:
            return check_quota_table(proposal["value"], "QuotaPolicy.default_quota")
        except QuotaError as error:
            raise TraitError(str(error)) from None

    def group_settings(self, properties: Mapping[str, Any] | None) -> Mapping[str, Any]:
        """The accelhub part of a group's properties (empty if none)."""
        if not properties:
            return {}
        value = properties.get(self.group_property_key)
        return value if isinstance(value, Mapping) else {}

    def access(self, groups: Mapping[str, Mapping[str, Any] | None]) -> GroupAccess:
        """Which flavors members of ``groups`` (name -> JupyterHub properties) may use."""
        return GroupAccess.of(groups, self.group_property_key)

    def group_limits(
        self, group: str, flavor: str, properties: Mapping[str, Any] | None
    ) -> Limits | None:
        """The group's limits for the flavor, or None when the group has no quota for it."""
        from_props = _lookup(self.group_settings(properties).get("quotas"), flavor)
        if from_props is not None:
            return from_props
        return _lookup(self.group_quotas.get(group), flavor)

    def default_limits(self, flavor: str) -> Limits | None:
        """Limits for users whose groups have no quota for the flavor."""
        return _lookup(self.default_quota, flavor)

    offload_quotas = Dict(
        config=True,
        help="""Offload quotas per group: {group: {"jobs": N, "device_hours": H}}. `jobs` caps
        the group's pending and running offload jobs, `device_hours` the accelerator hours its
        jobs may use per `offload_period_days`. Omitted or null means no limit. The group
        property accelhub.offload overrides it.""",
    )
    default_offload_quota = Dict(
        {"jobs": 4, "device_hours": None},
        config=True,
        help="""Offload quota of each user in no group with an offload quota (per user).""",
    )
    offload_period_days = Float(
        30.0, config=True, help="The period over which offload device-hours are counted."
    )

    def offload_limits(
        self, group: str, properties: Mapping[str, Any] | None
    ) -> OffloadLimits | None:
        """The group's offload limits, or None when it has no offload quota."""
        from_props = _offload_limits(self.group_settings(properties).get("offload"))
        return from_props or _offload_limits(self.offload_quotas.get(group))

    def default_offload_limits(self) -> OffloadLimits:
        return _offload_limits(self.default_offload_quota) or OffloadLimits(None, None)

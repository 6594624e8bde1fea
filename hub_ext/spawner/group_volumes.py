"""Group shared areas: a volume per JupyterHub group, mounted into its members' servers.

    c.GroupVolumes.volumes = {
        "physics": {"claim": "shared-physics", "mount_path": "/shared/physics", "size": "50Gi"},
        "hackathon": {"mount_path": "/shared/hackathon", "read_only": True, "writers": ["otto"]},
    }

A group's claim (default ``shared-<group>``) is created ReadWriteMany when missing and a
``size`` is given; without a size it must exist already (an admin's or a static volume).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio.client import (
    V1ObjectMeta,
    V1PersistentVolumeClaim,
    V1PersistentVolumeClaimSpec,
    V1PersistentVolumeClaimVolumeSource,
    V1Volume,
    V1VolumeMount,
    V1VolumeResourceRequirements,
)
from kubernetes_asyncio.client.exceptions import ApiException
from traitlets import Dict, TraitError, Unicode, validate
from traitlets.config import LoggingConfigurable

from ..quantity import parse_quantity
from .errors import SpawnRefused

GROUP_LABEL = "accelhub.io/group"
_KEYS = {"claim", "mount_path", "read_only", "size", "writers"}
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class GroupVolume:
    """One group's shared area."""

    group: str
    claim: str
    mount_path: str
    read_only: bool = False
    size: str | None = None
    writers: tuple[str, ...] = ()

    @property
    def volume_name(self) -> str:
        """The pod volume's name."""
        return f"group-{self.claim}"[:63].rstrip("-")

    def read_only_for(self, username: str) -> bool:
        """Read-only areas stay writable for their writers."""
        return self.read_only and username not in self.writers


def _parse(group: str, raw: Any) -> GroupVolume:
    where = f"GroupVolumes.volumes[{group!r}]"
    if not isinstance(raw, Mapping):
        raise TraitError(f"{where} must be a mapping with mount_path (and claim, size...).")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise TraitError(f"{where} has unknown keys {unknown}; known: {sorted(_KEYS)}.")
    mount_path = raw.get("mount_path")
    if not isinstance(mount_path, str) or not mount_path.startswith("/"):
        raise TraitError(f"{where}.mount_path must be an absolute path such as /shared/{group}.")
    claim = raw.get("claim") or f"shared-{group}"
    if not isinstance(claim, str) or not _NAME.match(claim) or len(claim) > 253:
        raise TraitError(f"{where}.claim {claim!r} is not a valid claim name.")
    size = raw.get("size")
    if size is not None:
        try:
            parse_quantity(str(size))
        except ValueError:
            raise TraitError(f"{where}.size {size!r} is not a quantity such as 50Gi.") from None
    read_only = raw.get("read_only", False)
    if not isinstance(read_only, bool):
        raise TraitError(f"{where}.read_only must be true or false.")
    writers = raw.get("writers") or []
    if not isinstance(writers, list) or not all(isinstance(w, str) for w in writers):
        raise TraitError(f"{where}.writers must be a list of user names.")
    return GroupVolume(
        group, claim, mount_path, read_only, str(size) if size else None, tuple(writers)
    )


class GroupVolumes(LoggingConfigurable):
    """Which groups have a shared area, and where it is mounted."""

    volumes = Dict(
        config=True,
        help="Group name -> {mount_path, claim (default shared-<group>), read_only (false), "
        "size (create the claim ReadWriteMany when missing), writers (user names that mount a "
        "read-only area read-write)}.",
    )
    storage_class = Unicode(
        None,
        allow_none=True,
        config=True,
        help="StorageClass of the group claims created here (None: the cluster's default).",
    )

    @validate("volumes")
    def _check_volumes(self, proposal: Any) -> dict[str, Any]:
        value = dict(proposal["value"])
        for group, raw in value.items():
            _parse(group, raw)
        return value

    def for_groups(self, groups: Iterable[str]) -> list[GroupVolume]:
        """The areas of the given groups, in the order they were configured."""
        wanted = set(groups)
        return [_parse(g, raw) for g, raw in self.volumes.items() if g in wanted]

    def claim_manifest(self, area: GroupVolume) -> V1PersistentVolumeClaim:
        """The ReadWriteMany claim created for an area with a size."""
        return V1PersistentVolumeClaim(
            metadata=V1ObjectMeta(
                name=area.claim,
                labels={"app.kubernetes.io/managed-by": "accelhub", GROUP_LABEL: area.group},
            ),
            spec=V1PersistentVolumeClaimSpec(
                access_modes=["ReadWriteMany"],
                resources=V1VolumeResourceRequirements(requests={"storage": str(area.size)}),
                storage_class_name=self.storage_class,
            ),
        )

    async def ensure_claims(
        self, api: Any, namespace: str, areas: Iterable[GroupVolume], request_timeout: float
    ) -> None:
        """Create the missing claims of areas that have a size (a 409 means it exists)."""
        for area in areas:
            if area.size is None:
                continue
            try:
                await asyncio.wait_for(
                    api.create_namespaced_persistent_volume_claim(
                        namespace=namespace, body=self.claim_manifest(area)
                    ),
                    request_timeout,
                )
                self.log.info("Created the shared claim %s of group %s", area.claim, area.group)
            except ApiException as exc:
                if exc.status != 409:
                    raise


def mount_group_volumes(pod: Any, areas: Iterable[GroupVolume], username: str) -> Any:
    """Add each area's volume and a mount in every container (in place; also returned)."""
    spec = pod.spec
    for area in areas:
        read_only = area.read_only_for(username)
        volume = V1Volume(
            name=area.volume_name,
            persistent_volume_claim=V1PersistentVolumeClaimVolumeSource(
                claim_name=area.claim, read_only=read_only
            ),
        )
        spec.volumes = [*(spec.volumes or []), volume]
        for container in spec.containers:
            mount = V1VolumeMount(
                name=area.volume_name, mount_path=area.mount_path, read_only=read_only
            )
            container.volume_mounts = [*(container.volume_mounts or []), mount]
    return pod


async def group_areas(spawner: Any, pod: Any) -> Any:
    """The spawner's hook: ensure and mount the areas of the user's groups."""
    try:
        config = GroupVolumes(config=spawner.config, log=spawner.log)
        areas = config.for_groups(spawner.user_groups())
    except TraitError as err:
        raise SpawnRefused(
            f"The group shared areas are misconfigured: {err}",
            reason="group_volumes_config",
            status_code=500,
        ) from None
    await config.ensure_claims(
        spawner.api, spawner.namespace, areas, spawner.k8s_api_request_timeout
    )
    return mount_group_volumes(pod, areas, spawner.user.name)

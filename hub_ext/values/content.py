"""accelhub's own part of the values: the catalog the hub and the service share, the service's
settings, quotas, reservations, PriorityClasses and the culler."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..flavors import CatalogError, Flavor, parse_flavors
from .files import MountedFile, mounted_files
from .problems import Problem, dig

SERVICE_MODULE = "hub_ext.service"


@dataclass
class Found:
    """What the checks learn about the values on the way (shared by content and wiring)."""

    flavors: list[Flavor] = field(default_factory=list)
    service_name: str | None = None
    service_config: MountedFile | None = None
    catalog_key: str = "hub.config.AcceleratorCatalog.catalog_file"
    problems: list[Problem] = field(default_factory=list)

    def fail(self, key: str, message: str) -> None:
        self.problems.append(Problem(key, message))

    def service_setting(self, section: str, name: str, default: Any = None) -> Any:
        content = self.service_config.content if self.service_config else None
        return (
            dig(content, f"{section}.{name}", default) if isinstance(content, Mapping) else default
        )

    def setting_key(self, section: str, name: str) -> str:
        where = self.service_config.where if self.service_config else "hub.extraFiles.?"
        return f"{where}.data.{section}.{name}"


def accelhub_service(values: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """The hub.services entry that runs the accelhub service (by its command)."""
    for name, service in (dig(values, "hub.services") or {}).items():
        command = service.get("command") if isinstance(service, Mapping) else None
        text = " ".join(map(str, command)) if isinstance(command, list) else str(command or "")
        if SERVICE_MODULE in text or "accelhub service" in text:
            return str(name), service
    return None


def _config_path(command: Any) -> str | None:
    args = list(map(str, command)) if isinstance(command, list) else str(command).split()
    for i, arg in enumerate(args):
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
        if arg == "--config" and i + 1 < len(args):
            return args[i + 1]
    return None


def check_catalog(values: Mapping[str, Any], found: Found) -> None:
    """The hub's catalog file is mounted, valid, and the one the service reads."""
    key = "hub.config.AcceleratorCatalog.catalog_file"
    path = dig(values, key)
    if not path:
        found.fail(key, "is not set: the hub has no accelerator catalog")
        return
    files = mounted_files(values)
    mounted = files.get(str(path))
    if mounted is None:
        found.fail(key, f"{path!r} is mounted by no hub.extraFiles entry")
        return
    data = mounted.content
    if isinstance(data, Mapping) and list(data) == ["flavors"]:
        data = data["flavors"]
    found.catalog_key = f"{mounted.where}.data.flavors"
    try:
        found.flavors = parse_flavors(data, found.catalog_key)
    except CatalogError as err:
        key, _, message = str(err).partition(": ")  # CatalogError names its key first
        found.fail(key if message else mounted.where, message or key)


def check_service_config(values: Mapping[str, Any], found: Found) -> None:
    """The service runs with a mounted config that reads the hub's catalog and the cluster."""
    entry = accelhub_service(values)
    if entry is None:
        found.fail("hub.services", f"no service runs {SERVICE_MODULE} (the accelhub service)")
        return
    found.service_name, service = entry
    key = f"hub.services.{found.service_name}.command"
    path = _config_path(service.get("command"))
    if path is None:
        found.fail(key, "gives no --config=FILE: the service would run on its defaults")
        return
    found.service_config = mounted_files(values).get(path)
    if found.service_config is None:
        found.fail(key, f"--config={path} is mounted by no hub.extraFiles entry")
        return
    if not isinstance(found.service_config.content, Mapping):
        found.fail(found.service_config.where, "must be a mapping of traitlets sections (JSON)")
        found.service_config = None
        return
    hub_catalog = dig(values, "hub.config.AcceleratorCatalog.catalog_file")
    catalog = found.service_setting("AcceleratorCatalog", "catalog_file")
    if catalog != hub_catalog:
        found.fail(
            found.setting_key("AcceleratorCatalog", "catalog_file"),
            f"is {catalog!r}, not the hub's catalog {hub_catalog!r}: "
            "the service would offer other flavors",
        )
    if found.service_setting("AccelhubService", "kubernetes") is not True:
        found.fail(
            found.setting_key("AccelhubService", "kubernetes"),
            "must be true: without it there is no capacity and reservations hold nothing",
        )
    db_url = str(found.service_setting("AccelhubService", "db_url", ""))
    if not (db_url.startswith("sqlite:////") or db_url.startswith("postgresql")):
        found.fail(
            found.setting_key("AccelhubService", "db_url"),
            f"{db_url!r} is not an absolute sqlite:////path or a postgresql:// URL",
        )


def check_quotas(found: Found) -> None:
    """Quota entries name flavors of the catalog (or "*")."""
    slugs = {f.slug for f in found.flavors}
    if not slugs:
        return
    default = found.service_setting("QuotaPolicy", "default_quota") or {}
    groups = found.service_setting("QuotaPolicy", "group_quotas") or {}
    tables = [(found.setting_key("QuotaPolicy", "default_quota"), default)]
    tables += [
        (f"{found.setting_key('QuotaPolicy', 'group_quotas')}.{g}", q) for g, q in groups.items()
    ]
    for key, table in tables:
        if not isinstance(table, Mapping):
            found.fail(key, "must map flavors (or '*') to {devices, per_user}")
            continue
        for flavor, limits in table.items():
            if flavor != "*" and flavor not in slugs:
                found.fail(f"{key}.{flavor}", f"{flavor!r} is not a flavor of the catalog")
            elif not isinstance(limits, Mapping) or set(limits) - {"devices", "per_user"}:
                found.fail(f"{key}.{flavor}", "must be {devices: N|null, per_user: M|null}")


def check_reservations(found: Found) -> None:
    """Start-up reservations name a catalog flavor, a group and a size."""
    key = found.setting_key("AccelhubService", "startup_reservations")
    slugs = {f.slug for f in found.flavors}
    for i, spec in enumerate(
        found.service_setting("AccelhubService", "startup_reservations") or []
    ):
        where = f"{key}[{i}]"
        if not isinstance(spec, Mapping) or not spec.get("group"):
            found.fail(where, "needs a group")
            continue
        if spec.get("flavor") not in slugs:
            found.fail(f"{where}.flavor", f"{spec.get('flavor')!r} is not a flavor of the catalog")
        if not spec.get("per_member") and not spec.get("count"):
            found.fail(where, "needs per_member: true or a count")


def check_priority_classes(found: Found) -> None:
    """Every PriorityClass the catalog and the service name is one `accelhub manifests` makes."""
    from ..manifests import priority_classes

    made = [name for name, *_ in priority_classes()]
    for i, flavor in enumerate(found.flavors):
        if flavor.priority_class_name and flavor.priority_class_name not in made:
            found.fail(
                f"{found.catalog_key}[{i}].priority_class_name",
                f"{flavor.priority_class_name!r} is not a PriorityClass `accelhub manifests` "
                f"creates ({', '.join(made)}): every such pod would be rejected",
            )
    for section, name in (
        ("AccelhubService", "reserved_priority_class"),
        ("KubeCluster", "placeholder_priority_class"),
    ):
        value = found.service_setting(section, name)
        if value and value not in made:
            found.fail(
                found.setting_key(section, name),
                f"{value!r} is not a PriorityClass `accelhub manifests` creates "
                f"({', '.join(made)})",
            )


def check_culler(values: Mapping[str, Any], found: Found) -> None:
    """z2jh's culler must not stop GPU servers before accelhub's idle reclaim warns and acts."""
    if not dig(values, "cull.enabled"):
        return
    idle = float(found.service_setting("AccelhubService", "idle_timeout_minutes", 0) or 0)
    warn = float(found.service_setting("AccelhubService", "idle_warning_minutes", 10) or 0)
    timeout = dig(values, "cull.timeout")
    if idle > 0 and isinstance(timeout, int | float) and timeout <= (idle + warn) * 60:
        found.fail(
            "cull.timeout",
            f"{timeout} s culls servers before accelhub's idle reclaim ({idle:g} min + "
            f"{warn:g} min warning): make it longer than {int((idle + warn) * 60)} s",
        )

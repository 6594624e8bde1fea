"""Accelerator flavors: the Flavor record and the validation of raw flavor mappings."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .flavor_access import GroupAccess
from .mig import GPU_RESOURCE, mig_shapes, mig_strategies
from .quantity import QuantityError, cores, format_quantity, parse_quantity
from .shown import shown

KINDS = ("cpu", "gpu", "mig", "fpga")
_RESOURCE_NAME = re.compile(
    r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_SLUG = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class CatalogError(ValueError):
    """An invalid catalog entry; the message names the bad key."""


class UnknownFlavor(LookupError):
    """A flavor slug that is not in the catalog."""

    def __init__(self, slug: str, known: Sequence[str] = ()) -> None:
        self.slug = slug
        choices = ", ".join(known)
        hint = f" Choose one of: {choices}." if choices else ""
        super().__init__(f"There is no accelerator flavor called {shown(slug)}.{hint}")


@dataclass(frozen=True)
class Placement:
    """One way a flavor's pod can be shaped: the resource it requests and where it may land.

    A MIG flavor served by nodes of both device-plugin strategies has one placement per
    strategy; every other flavor has one.
    """

    strategy: str | None
    resource: str | None
    node_selector: dict[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Flavor:
    """One thing a user can pick at spawn time: CPU only, a GPU model, a MIG slice or an FPGA."""

    slug: str
    display_name: str
    description: str = ""
    kind: str = "cpu"
    resource: str | None = None
    node_selector: dict[str, str] = field(default_factory=dict, hash=False)
    tolerations: list[dict[str, Any]] = field(default_factory=list, hash=False)
    device_memory: str | None = None
    counts: tuple[int, ...] = (0,)
    default_cpu: float = 1.0
    cpu_choices: tuple[float, ...] = ()
    cpu_limit: float | None = None
    default_memory: str = "2Gi"
    memory_choices: tuple[str, ...] = ()
    memory_limit: str | None = None
    images: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    mig_profile: str | None = None
    mig_strategy: str | None = None
    priority_class_name: str | None = None
    env: dict[str, str] = field(default_factory=dict, hash=False)
    alternates: tuple[Placement, ...] = field(default=(), hash=False)

    @property
    def placements(self) -> tuple[Placement, ...]:
        """Every shape the flavor's pod may take, preferred first (``resource`` and
        ``node_selector`` are the first's)."""
        first = Placement(self.mig_strategy, self.resource, self.node_selector)
        return (first, *self.alternates)

    @property
    def mig_strategies(self) -> tuple[str, ...]:
        """The device-plugin strategies whose nodes serve this MIG flavor, preferred first."""
        return tuple(p.strategy for p in self.placements if p.strategy)

    @property
    def default_count(self) -> int:
        """The device count pre-selected in the form."""
        return self.counts[0]

    @property
    def default_image(self) -> str | None:
        """The image used when the user does not choose one (None: the spawner's own)."""
        return self.images[0] if self.images else None

    @property
    def accelerated(self) -> bool:
        """True when the flavor requests an extended resource."""
        return self.resource is not None

    def allowed_cpus(self) -> tuple[float, ...]:
        """CPU amounts a user may choose, default first."""
        return _unique((self.default_cpu, *self.cpu_choices))

    def allowed_memories(self) -> tuple[str, ...]:
        """Memory sizes a user may choose, default first."""
        return _unique((self.default_memory, *self.memory_choices))

    def allows_group(self, groups: Sequence[str]) -> bool:
        """Whether a member of ``groups`` may use this flavor, by the catalog alone (group
        properties may open or close it: see hub_ext.flavor_access)."""
        return GroupAccess.names(groups).may_use(self)


_T = TypeVar("_T")


def _unique(items: Sequence[_T]) -> tuple[_T, ...]:
    out: list[_T] = []
    for item in items:
        if item not in out:
            out.append(item)
    return tuple(out)


_FIELDS = {
    "slug",
    "display_name",
    "description",
    "kind",
    "resource",
    "node_selector",
    "tolerations",
    "device_memory",
    "counts",
    "default_cpu",
    "cpu_choices",
    "cpu_limit",
    "default_memory",
    "memory_choices",
    "memory_limit",
    "images",
    "groups",
    "mig_profile",
    "mig_strategy",
    "mig_parent_product",
    "priority_class_name",
    "env",
}


class _Reader:
    """Reads one raw flavor mapping, raising CatalogError that names the key at fault."""

    def __init__(self, raw: Mapping[str, Any], where: str) -> None:
        self.raw = raw
        self.where = where

    def fail(self, key: str, problem: str) -> CatalogError:
        return CatalogError(f"{self.where}.{key}: {problem}")

    def text(self, key: str, default: str | None = None, required: bool = False) -> str | None:
        value = self.raw.get(key, default)
        if value is None:
            if required:
                raise self.fail(key, "is required")
            return None
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.fail(key, f"{value!r} is not a non-empty string")
        return value

    def choice(self, key: str, options: Sequence[str], default: str | None) -> str | None:
        value = self.raw.get(key, default)
        if value is None:
            return None
        if value not in options:
            raise self.fail(key, f"{value!r} is not one of {', '.join(options)}")
        return str(value)

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.raw.get(key, ())
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise self.fail(key, f"{value!r} is not a list of strings")
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item:
                raise self.fail(f"{key}[{i}]", f"{item!r} is not a non-empty string")
        return tuple(value)

    def mapping(self, key: str) -> dict[str, str]:
        value = self.raw.get(key, {}) or {}
        if not isinstance(value, Mapping):
            raise self.fail(key, f"{value!r} is not a mapping of strings")
        for k, v in value.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise self.fail(f"{key}.{k}", f"{v!r} is not a string")
        return dict(value)

    def tolerations(self) -> list[dict[str, Any]]:
        value = self.raw.get("tolerations", []) or []
        if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
            raise self.fail("tolerations", f"{value!r} is not a list of tolerations")
        allowed = {"key", "operator", "value", "effect", "tolerationSeconds"}
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, Mapping):
                raise self.fail(f"tolerations[{i}]", f"{item!r} is not a mapping")
            extra = sorted(set(item) - allowed)
            if extra:
                raise self.fail(
                    f"tolerations[{i}].{extra[0]}",
                    f"is not a toleration field ({', '.join(sorted(allowed))})",
                )
            if item.get("operator", "Equal") not in ("Equal", "Exists"):
                raise self.fail(
                    f"tolerations[{i}].operator", f"{item['operator']!r} is not Equal or Exists"
                )
            out.append(dict(item))
        return out

    def counts(self, default: tuple[int, ...]) -> tuple[int, ...]:
        value = self.raw.get("counts", default)
        if isinstance(value, int) and not isinstance(value, bool):
            value = (value,)
        if isinstance(value, str) or not isinstance(value, Sequence) or not value:
            raise self.fail("counts", f"{value!r} is not a non-empty list of device counts")
        for i, item in enumerate(value):
            if not isinstance(item, int) or isinstance(item, bool) or item < 0:
                raise self.fail(f"counts[{i}]", f"{item!r} is not a whole number of devices")
        return _unique(tuple(value))

    def one(self, key: str, default: Any, check: Callable[[str, Any], _T]) -> _T | None:
        """A setting passed through ``check`` (``cores``, ``size``), or None when unset."""
        value = self.raw.get(key, default)
        return None if value is None else check(key, value)

    def many(self, key: str, what: str, check: Callable[[str, Any], _T]) -> tuple[_T, ...]:
        """A list setting, each item passed through ``check``; ``what`` names the items."""
        value = self.raw.get(key, ()) or ()
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise self.fail(key, f"{value!r} is not a list of {what}")
        return tuple(check(f"{key}[{i}]", v) for i, v in enumerate(value))

    def cores(self, key: str, value: Any) -> float:
        """A positive CPU amount; ``key`` names it in the error (``cpu_choices[1]``)."""
        try:
            amount = cores(value)
        except QuantityError as err:
            raise self.fail(key, str(err)) from None
        if amount <= 0:
            raise self.fail(key, f"{value!r} must be more than zero")
        return amount

    def size(self, key: str, value: Any) -> str:
        """A positive memory size as given (numbers in bytes become ``16Gi``-style text);
        ``key`` names it in the error (``memory_choices[1]``)."""
        try:
            size = parse_quantity(value)
        except QuantityError as err:
            raise self.fail(key, str(err)) from None
        if size <= 0:
            raise self.fail(key, f"{value!r} must be more than zero")
        return value if isinstance(value, str) else format_quantity(size, binary=True)


def parse_flavor(raw: Any, where: str = "flavor") -> Flavor:
    """Build and validate one Flavor from a config mapping; CatalogError names the bad key."""
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{where}: {raw!r} is not a mapping")
    unknown = sorted(str(k) for k in raw if k not in _FIELDS)
    if unknown:
        raise CatalogError(
            f"{where}.{unknown[0]}: is not a flavor setting (known: {', '.join(sorted(_FIELDS))})"
        )
    r = _Reader(raw, where)
    slug = r.text("slug", required=True) or ""
    if not _SLUG.match(slug):
        raise r.fail("slug", f"{slug!r} must be lower-case letters, digits and dashes")
    kind = r.choice("kind", KINDS, "cpu") or "cpu"
    resource = r.text("resource")
    node_selector = r.mapping("node_selector")
    mig_profile = r.text("mig_profile")
    strategies = mig_strategies(r)
    mig_strategy = strategies[0] if strategies else None
    alternates: tuple[Placement, ...] = ()
    if kind == "cpu":
        if resource is not None:
            raise r.fail("resource", "a cpu flavor requests no extended resource")
        counts = r.counts((0,))
        if counts != (0,):
            raise r.fail("counts", "a cpu flavor has no devices; leave counts out")
    else:
        counts = r.counts((1,))
        if 0 in counts:
            raise r.fail("counts", f"a {kind} flavor needs at least one device")
    if kind == "mig":
        shapes = mig_shapes(r, resource, node_selector, mig_profile, strategies)
        pairs = zip(strategies[1:], shapes[1:], strict=True)
        alternates = tuple(Placement(s, res, sel) for s, (res, sel) in pairs)
        resource, node_selector = shapes[0]
    elif mig_profile is not None or mig_strategy is not None:
        key = "mig_profile" if mig_profile is not None else "mig_strategy"
        raise r.fail(key, f"only mig flavors take a MIG setting (kind is {kind!r})")
    elif kind == "gpu":
        resource = resource or GPU_RESOURCE
    elif kind == "fpga" and resource is None:
        raise r.fail("resource", "an fpga flavor must name its extended resource")
    if resource is not None and not _RESOURCE_NAME.match(resource):
        raise r.fail(
            "resource", f"{resource!r} is not an extended resource name such as vendor/device"
        )
    if "mig_parent_product" in raw and kind != "mig":
        raise r.fail("mig_parent_product", "only mig flavors take a MIG setting")
    default_cpu = r.one("default_cpu", 1.0, r.cores) or 1.0
    cpu_limit = r.one("cpu_limit", None, r.cores)
    cpu_choices = r.many("cpu_choices", "CPU amounts", r.cores)
    if cpu_limit is not None:
        for i, cores in enumerate((default_cpu, *cpu_choices)):
            if cores > cpu_limit:
                key = "default_cpu" if i == 0 else f"cpu_choices[{i - 1}]"
                raise r.fail(key, f"{cores:g} is above cpu_limit {cpu_limit:g}")
    default_memory = r.one("default_memory", "2Gi", r.size) or "2Gi"
    memory_limit = r.one("memory_limit", None, r.size)
    memory_choices = r.many("memory_choices", "memory sizes", r.size)
    if memory_limit is not None:
        cap = parse_quantity(memory_limit)
        for i, size in enumerate((default_memory, *memory_choices)):
            if parse_quantity(size) > cap:
                key = "default_memory" if i == 0 else f"memory_choices[{i - 1}]"
                raise r.fail(key, f"{size} is above memory_limit {memory_limit}")
    device_memory = r.one("device_memory", None, r.size)
    return Flavor(
        slug=slug,
        display_name=r.text("display_name", slug) or slug,
        description=r.text("description", "") or "",
        kind=kind,
        resource=resource,
        node_selector=node_selector,
        tolerations=r.tolerations(),
        device_memory=device_memory,
        counts=counts,
        default_cpu=default_cpu,
        cpu_choices=cpu_choices,
        cpu_limit=cpu_limit,
        default_memory=default_memory,
        memory_choices=memory_choices,
        memory_limit=memory_limit,
        images=_unique(r.strings("images")),
        groups=_unique(r.strings("groups")),
        mig_profile=mig_profile,
        mig_strategy=mig_strategy,
        priority_class_name=r.text("priority_class_name"),
        env=r.mapping("env"),
        alternates=alternates,
    )


def parse_flavors(raw: Any, where: str = "AcceleratorCatalog.flavors") -> list[Flavor]:
    """Validate a whole list of flavor mappings; slugs must be unique."""
    if isinstance(raw, str | Mapping) or not isinstance(raw, Sequence):
        raise CatalogError(f"{where}: {raw!r} is not a list of flavors")
    flavors: list[Flavor] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        flavor = parse_flavor(item, f"{where}[{i}]")
        if flavor.slug in seen:
            raise CatalogError(
                f"{where}[{i}].slug: {flavor.slug!r} is already used by "
                f"{where}[{seen[flavor.slug]}]"
            )
        seen[flavor.slug] = i
        flavors.append(flavor)
    if not flavors:
        raise CatalogError(f"{where}: the catalog offers no flavor; configure at least one")
    return flavors

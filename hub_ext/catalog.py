"""The accelerator catalog: the flavors on offer, read from one file both the hub and the service
load (``c.AcceleratorCatalog.catalog_file``), or given inline in traitlets config."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from traitlets import Dict, List, TraitError, Unicode, validate
from traitlets.config import Config, Configurable

from .flavor_access import GroupAccess, as_access
from .flavors import KINDS, CatalogError, Flavor, UnknownFlavor, parse_flavor, parse_flavors
from .mig import GPU_RESOURCE, MIG_STRATEGIES, PRODUCT_LABEL

__all__ = [
    "AI_INFN_CATALOG",
    "GPU_RESOURCE",
    "KINDS",
    "MIG_STRATEGIES",
    "PRODUCT_LABEL",
    "AcceleratorCatalog",
    "CatalogError",
    "Flavor",
    "UnknownFlavor",
    "check_catalog",
    "check_config",
    "load_catalog_file",
    "parse_flavor",
    "parse_flavors",
]

#: The catalog shipped in the wheel: AI_INFN's accelerators (and devstack's ``ai-infn`` cluster).
AI_INFN_CATALOG = str(Path(__file__).parent / "catalogs" / "ai-infn.yaml")

_FILE_KEY = "AcceleratorCatalog.catalog_file"
_INLINE_KEY = "AcceleratorCatalog.flavors"


def load_catalog_file(path: str) -> list[Flavor]:
    """Read and validate a catalog file: a YAML (or JSON) list of flavor mappings, or a mapping
    whose only key is ``flavors``. CatalogError names the file and the bad key."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise CatalogError(f"{_FILE_KEY}: cannot read {path!r} ({err.strerror})") from None
    try:
        data = yaml.safe_load(text)  # JSON is YAML too
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise CatalogError(f"{_FILE_KEY}: {path!r} is not valid YAML or JSON{where}") from None
    if isinstance(data, Mapping) and list(data) == ["flavors"]:
        data = data["flavors"]
    return parse_flavors(data, path)


class AcceleratorCatalog(Configurable):
    """The flavors on offer: from ``catalog_file`` (shared by hub and service) or ``flavors``."""

    catalog_file = Unicode(
        "",
        config=True,
        help=f"""A YAML or JSON file listing the flavors (a list of mappings, or a mapping with
        the one key `flavors`). Point the hub and the hub service at the same file so they offer
        the same flavors. accelhub ships AI_INFN's catalog: {AI_INFN_CATALOG}.""",
    )
    flavors = List(
        Dict(),
        config=True,
        help="""Flavors given inline instead of catalog_file (not both), a list of mappings
        with keys: slug, display_name, description, kind (cpu|gpu|mig|fpga), resource,
        node_selector, tolerations, device_memory, counts, default_cpu, cpu_choices, cpu_limit,
        default_memory, memory_choices, memory_limit, images, groups, mig_profile,
        mig_strategy (mixed, single, or a list of both: nodes of either serve the flavor,
        the first listed preferred), mig_parent_product, priority_class_name, env. The first
        flavor is the default.""",
    )

    _parsed: list[Flavor]
    _by_slug: dict[str, Flavor]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._index()
        self.observe(lambda _change: self._index(), ["flavors", "catalog_file"])

    @validate("flavors")
    def _validate_flavors(self, proposal: Any) -> list[dict[str, Any]]:
        try:
            parse_flavors(proposal["value"], _INLINE_KEY)
        except CatalogError as err:
            raise TraitError(str(err)) from None
        return list(proposal["value"])

    def _index(self) -> None:
        self._parsed = self._load()
        self._by_slug = {f.slug: f for f in self._parsed}

    def _load(self) -> list[Flavor]:
        if self.catalog_file and self.flavors:
            raise CatalogError(f"{_INLINE_KEY}: set either {_FILE_KEY} or {_INLINE_KEY}, not both")
        if self.catalog_file:
            return load_catalog_file(self.catalog_file)
        if self.flavors:
            return parse_flavors(self.flavors, _INLINE_KEY)
        raise CatalogError(
            f"{_FILE_KEY}: no catalog is configured; set it to a YAML or JSON file of flavors "
            f"(accelhub ships AI_INFN's: {AI_INFN_CATALOG})"
        )

    def all(self) -> list[Flavor]:
        """Every flavor, in configured order (the first is the default)."""
        return list(self._parsed)

    def slugs(self) -> list[str]:
        """Every flavor slug, in configured order."""
        return [f.slug for f in self._parsed]

    def get(self, slug: str) -> Flavor:
        """The flavor called ``slug``; raises UnknownFlavor (never KeyError) otherwise."""
        try:
            return self._by_slug[slug]
        except (KeyError, TypeError):
            raise UnknownFlavor(str(slug), self.slugs()) from None

    @property
    def default(self) -> Flavor:
        """The first flavor."""
        return self._parsed[0]

    def for_groups(self, groups: GroupAccess | Sequence[str]) -> list[Flavor]:
        """Flavors open to a member of ``groups`` (names: by the catalog alone; a
        GroupAccess: with what the groups' properties open or close)."""
        return as_access(groups).usable(self._parsed)


def check_catalog(config: Config) -> AcceleratorCatalog:
    """The catalog of a hub's or service's config; SystemExit with one line naming the bad key."""
    try:
        return AcceleratorCatalog(config=config)
    except (TraitError, CatalogError) as err:
        raise SystemExit(f"accelhub: invalid accelerator catalog: {err}") from None


def check_config(config: Config) -> AcceleratorCatalog:
    """The hub's start-up check: validate the catalog, and say so when quotas are off.

    Call it at the end of ``jupyterhub_config.py`` (z2jh: ``hub.extraConfig``) so a missing or
    invalid catalog stops start-up with one readable line instead of failing the first spawn.
    """
    from .capacity import log_admission_notice  # the capacity policy needs the catalog

    catalog = check_catalog(config)
    log_admission_notice(config)
    return catalog

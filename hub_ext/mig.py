"""MIG flavors: the device plugin's strategies and the resource and node selector of each."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .flavors import _Reader as Reader

MIG_STRATEGIES = ("mixed", "single")
GPU_RESOURCE = "nvidia.com/gpu"
PRODUCT_LABEL = "nvidia.com/gpu.product"
DEFAULT_MIG_PARENT = "NVIDIA-A100-80GB-PCIe"
_MIG_PROFILE = re.compile(r"^[1-7]g\.[0-9]+gb$")


def mig_strategies(r: Reader) -> tuple[str, ...]:
    """``mig_strategy``: one strategy or a list of them (preferred first); () when unset."""
    value = r.raw.get("mig_strategy")
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Sequence) or not items:
        raise r.fail("mig_strategy", f"{value!r} is not mixed, single or a list of them")
    for i, item in enumerate(items):
        if item not in MIG_STRATEGIES:
            key = "mig_strategy" if isinstance(value, str) else f"mig_strategy[{i}]"
            raise r.fail(key, f"{item!r} is not one of {', '.join(MIG_STRATEGIES)}")
    if len(set(items)) != len(items):
        raise r.fail("mig_strategy", f"{value!r} names a strategy twice")
    return tuple(items)


def mig_shape(
    r: Reader,
    resource: str | None,
    node_selector: dict[str, str],
    profile: str | None,
    strategy: str,
) -> tuple[str, dict[str, str]]:
    """The resource and node selector for a MIG slice under the device plugin's strategy."""
    if profile is None:
        raise r.fail("mig_profile", "is required for a mig flavor (for example '1g.10gb')")
    if not _MIG_PROFILE.match(profile):
        raise r.fail("mig_profile", f"{profile!r} is not a MIG profile such as 1g.10gb")
    parent = r.text("mig_parent_product", DEFAULT_MIG_PARENT) or DEFAULT_MIG_PARENT
    selector = dict(node_selector)
    if strategy == "mixed":
        expected = f"nvidia.com/mig-{profile}"
    else:
        expected = GPU_RESOURCE
        product = f"{parent}-MIG-{profile}"
        if selector.setdefault(PRODUCT_LABEL, product) != product:
            raise r.fail(
                f"node_selector.{PRODUCT_LABEL}",
                f"{selector[PRODUCT_LABEL]!r} does not match MIG profile {profile} ({product!r})",
            )
    if resource is not None and resource != expected:
        raise r.fail(
            "resource", f"{resource!r} does not match the {strategy} strategy ({expected!r})"
        )
    return expected, selector


def mig_shapes(
    r: Reader,
    resource: str | None,
    node_selector: dict[str, str],
    profile: str | None,
    strategies: Sequence[str],
) -> list[tuple[str, dict[str, str]]]:
    """The resource and node selector under each strategy, in the order given."""
    if not strategies:
        raise r.fail("mig_strategy", "is required for a mig flavor: mixed, single or both")
    if len(strategies) > 1 and PRODUCT_LABEL in node_selector:
        raise r.fail(
            f"node_selector.{PRODUCT_LABEL}",
            "is set per strategy when a flavor lists several; leave it out",
        )
    return [mig_shape(r, resource, node_selector, profile, s) for s in strategies]


def device_labels(strategy: str | None, node_selector: Mapping[str, str]) -> dict[str, str]:
    """The node labels without which a placement's resource is not its device: under the
    single strategy ``nvidia.com/gpu`` is this MIG slice only on nodes with its product label;
    every other resource name says what it is."""
    if strategy == "single":
        return {PRODUCT_LABEL: node_selector[PRODUCT_LABEL]}
    return {}

"""The accelerator catalog: defaults, MIG strategies and validation messages naming the key."""

from __future__ import annotations

from typing import Any

import pytest
from traitlets.config import Config

from hub_ext.catalog import (
    AcceleratorCatalog,
    CatalogError,
    UnknownFlavor,
    check_config,
    parse_flavor,
    parse_memory,
)


def catalog(flavors: list[dict[str, Any]]) -> AcceleratorCatalog:
    config = Config()
    config.AcceleratorCatalog.flavors = flavors
    return AcceleratorCatalog(config=config)


def test_default_catalog_mirrors_ai_infn() -> None:
    cat = AcceleratorCatalog()
    kinds = {f.kind for f in cat.all()}
    assert kinds == {"cpu", "gpu", "mig", "fpga"}
    assert cat.default.slug == "cpu"
    mixed = cat.get("mig-1g-10gb")
    assert mixed.resource == "nvidia.com/mig-1g.10gb"
    assert mixed.node_selector == {}
    single = cat.get("mig-1g-10gb-single")
    assert single.resource == "nvidia.com/gpu"
    assert single.node_selector == {"nvidia.com/gpu.product": "NVIDIA-A100-80GB-PCIe-MIG-1g.10gb"}
    fpga = cat.get("fpga-u55c")
    assert fpga.resource == "amd.com/xilinx_u55c_gen3x16_xdma_base_3-0"
    assert fpga.groups == ("fpga-users",)


def test_get_unknown_flavor_is_not_a_key_error() -> None:
    cat = AcceleratorCatalog()
    with pytest.raises(UnknownFlavor) as info:
        cat.get("h100")
    assert not isinstance(info.value, KeyError)
    assert "'h100'" in str(info.value) and "cpu" in str(info.value)


@pytest.mark.parametrize(
    ("flavors", "message"),
    [
        (
            [{"slug": "a"}, {"slug": "b"}, {"slug": "c"}, {"slug": "d", "kind": "gpuu"}],
            "AcceleratorCatalog.flavors[3].kind: 'gpuu' is not one of cpu, gpu, mig, fpga",
        ),
        ([{"slug": "x", "colour": "red"}], "AcceleratorCatalog.flavors[0].colour: is not a"),
        ([{"slug": "x"}, {"slug": "x"}], "flavors[1].slug: 'x' is already used by"),
        ([{"slug": "f", "kind": "fpga"}], "flavors[0].resource: an fpga flavor must name"),
        ([{"slug": "m", "kind": "mig", "mig_strategy": "mixed"}], "flavors[0].mig_profile"),
        (
            [{"slug": "m", "kind": "mig", "mig_profile": "1g.10gb", "mig_strategy": "both"}],
            "flavors[0].mig_strategy: 'both' is not one of mixed, single",
        ),
        (
            [
                {
                    "slug": "m",
                    "kind": "mig",
                    "mig_profile": "1g.10gb",
                    "mig_strategy": "mixed",
                    "resource": "nvidia.com/gpu",
                }
            ],
            "flavors[0].resource: 'nvidia.com/gpu' does not match the mixed strategy",
        ),
        ([{"slug": "g", "kind": "gpu", "counts": [0, 1]}], "flavors[0].counts"),
        ([{"slug": "c", "counts": [2]}], "flavors[0].counts: a cpu flavor has no devices"),
        ([{"slug": "c", "default_memory": "lots"}], "flavors[0].default_memory: 'lots'"),
        (
            [{"slug": "c", "memory_choices": ["8Gi", "0"]}],
            "flavors[0].memory_choices[1]: '0' must be more than zero",
        ),
        (
            [{"slug": "c", "cpu_choices": [2, "-1"]}],
            "flavors[0].cpu_choices[1]: '-1' must be more than zero",
        ),
        (
            [{"slug": "c", "default_cpu": 4, "cpu_limit": 2}],
            "flavors[0].default_cpu: 4 is above cpu_limit 2",
        ),
        (
            [{"slug": "c", "tolerations": [{"key": "k", "operater": "Exists"}]}],
            "flavors[0].tolerations[0].operater",
        ),
        ([{"slug": "Bad Slug"}], "flavors[0].slug"),
        ([], "offers no flavor"),
    ],
)
def test_invalid_config_names_the_bad_key(flavors: list[dict[str, Any]], message: str) -> None:
    config = Config()
    config.AcceleratorCatalog.flavors = flavors
    with pytest.raises(SystemExit) as info:
        check_config(config)
    assert message in str(info.value)
    assert str(info.value).startswith("accelhub: invalid accelerator catalog:")


def test_single_strategy_selector_must_match_profile() -> None:
    with pytest.raises(CatalogError, match=r"node_selector.nvidia.com/gpu.product"):
        parse_flavor(
            {
                "slug": "m",
                "kind": "mig",
                "mig_profile": "2g.20gb",
                "mig_strategy": "single",
                "node_selector": {"nvidia.com/gpu.product": "NVIDIA-A100-80GB-PCIe-MIG-1g.10gb"},
            }
        )


def test_custom_catalog_and_group_filter() -> None:
    cat = catalog(
        [
            {"slug": "cpu"},
            {"slug": "v100", "kind": "gpu", "counts": [1, 2, 4], "groups": ["hep"]},
        ]
    )
    assert [f.slug for f in cat.for_groups(["bio"])] == ["cpu"]
    assert [f.slug for f in cat.for_groups(["hep"])] == ["cpu", "v100"]
    assert cat.get("v100").resource == "nvidia.com/gpu"
    assert cat.get("v100").counts == (1, 2, 4)


def test_changing_flavors_reindexes() -> None:
    cat = catalog([{"slug": "cpu"}])
    cat.flavors = [{"slug": "cpu"}, {"slug": "t4", "kind": "gpu"}]
    assert cat.get("t4").kind == "gpu"


def test_memory_quantities() -> None:
    assert parse_memory("10Gi") == 10 * 2**30
    assert parse_memory("512M") == 512 * 10**6
    assert parse_memory(1024) == 1024
    with pytest.raises(ValueError):
        parse_memory("ten")

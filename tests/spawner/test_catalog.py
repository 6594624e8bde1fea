"""The accelerator catalog: defaults, MIG strategies and validation messages naming the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from traitlets.config import Config

from hub_ext.catalog import (
    AI_INFN_CATALOG,
    AcceleratorCatalog,
    CatalogError,
    UnknownFlavor,
    check_config,
    parse_flavor,
)


def catalog(flavors: list[dict[str, Any]]) -> AcceleratorCatalog:
    config = Config()
    config.AcceleratorCatalog.flavors = flavors
    return AcceleratorCatalog(config=config)


def test_default_catalog_mirrors_ai_infn() -> None:
    cat = AcceleratorCatalog(catalog_file=AI_INFN_CATALOG)
    kinds = {f.kind for f in cat.all()}
    assert kinds == {"cpu", "gpu", "mig", "fpga"}
    assert cat.default.slug == "cpu"
    slice_ = cat.get("mig-1g-10gb")  # one row for the slice, served by nodes of both strategies
    assert slice_.mig_strategies == ("mixed", "single")
    mixed, single = slice_.placements
    assert (mixed.resource, mixed.node_selector) == ("nvidia.com/mig-1g.10gb", {})
    assert (slice_.resource, slice_.node_selector) == (mixed.resource, mixed.node_selector)
    assert single.resource == "nvidia.com/gpu"
    assert single.node_selector == {"nvidia.com/gpu.product": "NVIDIA-A100-80GB-PCIe-MIG-1g.10gb"}
    migs = [f for f in cat.all() if f.kind == "mig"]
    assert len({f.mig_profile for f in migs}) == len(migs)  # no profile offered twice
    fpga = cat.get("fpga-u55c")
    assert fpga.resource == "amd.com/xilinx_u55c_gen3x16_xdma_base_3-0"
    assert fpga.groups == ("fpga-users",)


def test_get_unknown_flavor_is_not_a_key_error() -> None:
    cat = AcceleratorCatalog(catalog_file=AI_INFN_CATALOG)
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
        (
            [{"slug": "m", "kind": "mig", "mig_profile": "1g.10gb", "mig_strategy": ["mixed", 1]}],
            "flavors[0].mig_strategy[1]: 1 is not one of mixed, single",
        ),
        (
            [{"slug": "m", "kind": "mig", "mig_profile": "1g.10gb", "mig_strategy": []}],
            "flavors[0].mig_strategy: [] is not mixed, single or a list of them",
        ),
        (
            [
                {
                    "slug": "m",
                    "kind": "mig",
                    "mig_profile": "1g.10gb",
                    "mig_strategy": ["single", "single"],
                }
            ],
            "flavors[0].mig_strategy: ['single', 'single'] names a strategy twice",
        ),
        (
            [
                {
                    "slug": "m",
                    "kind": "mig",
                    "mig_profile": "1g.10gb",
                    "mig_strategy": ["mixed", "single"],
                    "node_selector": {"nvidia.com/gpu.product": "X"},
                }
            ],
            "flavors[0].node_selector.nvidia.com/gpu.product: is set per strategy",
        ),
        (
            [{"slug": "g", "kind": "gpu", "mig_strategy": ["mixed"]}],
            "flavors[0].mig_strategy: only mig flavors take a MIG setting",
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


def test_memory_sizes_take_the_kubernetes_grammar() -> None:
    cat = catalog([{"slug": "c", "default_memory": "1.5Gi", "memory_choices": [2**31, "2e9"]}])
    assert cat.default.allowed_memories() == ("1.5Gi", "2Gi", "2e9")
    with pytest.raises(SystemExit, match=r"flavors\[0\].default_cpu: '1\.5 cores' is not a"):
        check_config(
            Config({"AcceleratorCatalog": {"flavors": [{"slug": "c", "default_cpu": "1.5 cores"}]}})
        )


def file_config(path: Path) -> Config:
    config = Config()
    config.AcceleratorCatalog.catalog_file = str(path)
    return config


def test_catalog_file_in_yaml_or_json(tmp_path: Path) -> None:
    flavors = [{"slug": "cpu"}, {"slug": "t4", "kind": "gpu", "counts": [1, 2]}]
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(flavors))
    (tmp_path / "c.json").write_text(json.dumps({"flavors": flavors}))
    for name in ("c.yaml", "c.json"):
        cat = check_config(file_config(tmp_path / name))
        assert cat.slugs() == ["cpu", "t4"] and cat.get("t4").counts == (1, 2)


def test_shipped_ai_infn_catalog_is_in_the_package() -> None:
    assert Path(AI_INFN_CATALOG).is_file()
    assert Path(AI_INFN_CATALOG).parent.parent.name == "hub_ext"
    assert len(check_config(file_config(Path(AI_INFN_CATALOG))).all()) == 8


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "AcceleratorCatalog.catalog_file: cannot read"),
        ("- slug: cpu\n  kind: [", "AcceleratorCatalog.catalog_file: '{path}' is not valid YAML"),
        ("slug: cpu\n", "{path}: {{'slug': 'cpu'}} is not a list of flavors"),
        ("- slug: cpu\n- slug: t4\n  kind: gpuu\n", "{path}[1].kind: 'gpuu' is not one of"),
        ("[]", "{path}: the catalog offers no flavor"),
    ],
)
def test_bad_catalog_file_names_the_file_and_key(
    tmp_path: Path, text: str | None, message: str
) -> None:
    path = tmp_path / "catalog.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(SystemExit) as info:
        check_config(file_config(path))
    assert message.format(path=path) in str(info.value)
    assert "\n" not in str(info.value) and "Traceback" not in str(info.value)


def test_no_catalog_at_all_stops_start_up_naming_the_key() -> None:
    with pytest.raises(SystemExit, match=r"AcceleratorCatalog\.catalog_file: no catalog is config"):
        check_config(Config())


def test_file_and_inline_flavors_are_not_both_allowed(tmp_path: Path) -> None:
    config = file_config(Path(AI_INFN_CATALOG))
    config.AcceleratorCatalog.flavors = [{"slug": "cpu"}]
    with pytest.raises(SystemExit, match=r"set either AcceleratorCatalog\.catalog_file or"):
        check_config(config)

"""The z2jh values files parse, set the spawner and carry a catalog that validates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from traitlets.config import Config

from hub_ext.catalog import load_catalog_file, parse_flavors
from hub_ext.spawner.group_volumes import GroupVolumes

VALUES = Path(__file__).resolve().parents[2] / "helm-values"


def load(name: str) -> Any:
    return yaml.safe_load((VALUES / name).read_text())


def catalog_data(name: str) -> Any:
    return load(name)["hub"]["extraFiles"]["accelhub-catalog"]["data"]


@pytest.mark.parametrize("name", ["values.yaml", "ai-infn.yaml"])
def test_catalog_in_values_validates(name: str, tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"  # as z2jh's extraFiles renders `data` into the file
    path.write_text(yaml.safe_dump(catalog_data(name)))
    parsed = load_catalog_file(str(path))
    assert parsed[0].kind == "cpu"


def test_hub_and_service_read_the_same_catalog_file() -> None:
    hub = load("values.yaml")["hub"]
    path = hub["extraFiles"]["accelhub-catalog"]["mountPath"]
    assert hub["config"]["AcceleratorCatalog"] == {"catalog_file": path}
    service_file = hub["extraFiles"]["accelhub-service-config"]
    assert service_file["data"]["AcceleratorCatalog"] == {"catalog_file": path}
    assert f"--config={service_file['mountPath']}" in hub["services"]["accelhub"]["command"]


def test_base_values_wire_spawner_service_and_check() -> None:
    hub = load("values.yaml")["hub"]
    assert hub["config"]["JupyterHub"]["spawner_class"] == "accelerator"
    policy = hub["config"]["AcceleratorSpawner"]["admission_policy_class"]
    assert policy == "hub_ext.admission.ServicePolicy"
    assert "accelhub" in hub["services"] and "accelhub-spawner" in hub["services"]
    assert "custom:accelhub:admit" in hub["loadRoles"]["accelhub-spawner"]["scopes"]
    for source in hub["extraConfig"].values():
        compile(source, "extraConfig", "exec")
    assert "check_config(c)" in hub["extraConfig"]["accelhub-check"]


def test_ai_infn_values_are_how_ai_infn_runs() -> None:
    values = load("ai-infn.yaml")
    flavors = parse_flavors(catalog_data("ai-infn.yaml")["flavors"])
    migs = [f for f in flavors if f.kind == "mig"]
    assert {f.mig_strategy for f in migs} == {"single"}  # MIG_STRATEGY=single everywhere
    assert {"4g.40gb", "7g.80gb"} <= {f.mig_profile for f in migs}
    assert {f.resource for f in migs} == {"nvidia.com/gpu"}
    taint = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    for flavor in flavors:
        gpu = flavor.kind in ("gpu", "mig")
        assert (taint in flavor.tolerations) == gpu, flavor.slug
    products = {f.node_selector.get("nvidia.com/gpu.product") for f in flavors}
    assert {"Tesla-T4", "Quadro-RTX-5000"} <= products
    assert any(f.kind == "fpga" and "u55c" in f.resource for f in flavors if f.resource)
    assert values["singleuser"]["extraPodConfig"]["runtimeClassName"] == "nvidia"


def test_homes_are_per_user_claims_shared_by_all_servers() -> None:
    storage = load("values.yaml")["singleuser"]["storage"]
    assert storage["type"] == "dynamic"
    assert storage["dynamic"]["pvcNameTemplate"] == "claim-{username}"  # not per server
    assert storage["dynamic"]["storageAccessModes"] == ["ReadWriteMany"]
    assert storage["homeMountPath"] == "/home/jovyan"


@pytest.mark.parametrize(
    ("name", "group"), [("values.yaml", "physics"), ("hackathon.yaml", "hackathon")]
)
def test_group_areas_in_values_validate(name: str, group: str) -> None:
    config = Config()
    config.GroupVolumes.volumes = load(name)["hub"]["config"]["GroupVolumes"]["volumes"]
    areas = GroupVolumes(config=config).for_groups([group])
    assert [a.group for a in areas] == [group]
    assert areas[0].mount_path.startswith("/home/jovyan/shared/")

"""The z2jh values files parse, set the spawner and carry a catalog that validates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hub_ext.catalog import DEFAULT_FLAVORS, parse_flavors

VALUES = Path(__file__).resolve().parents[2] / "helm-values"


def load(name: str) -> Any:
    return yaml.safe_load((VALUES / name).read_text())


@pytest.mark.parametrize("name", ["values.yaml", "values-ai-infn.yaml"])
def test_catalog_in_values_validates(name: str) -> None:
    flavors = load(name)["hub"]["config"]["AcceleratorCatalog"]["flavors"]
    parsed = parse_flavors(flavors)
    assert parsed[0].kind == "cpu"


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


def test_ai_infn_values_match_the_built_in_catalog() -> None:
    flavors = load("values-ai-infn.yaml")["hub"]["config"]["AcceleratorCatalog"]["flavors"]
    assert parse_flavors(flavors) == parse_flavors(DEFAULT_FLAVORS)
    kinds = {f["slug"]: f.get("mig_strategy") for f in flavors if f["kind"] == "mig"}
    assert set(kinds.values()) == {"mixed", "single"}


def test_rbac_manifest_grants_cluster_wide_watch() -> None:
    docs = list(yaml.safe_load_all((VALUES / "rbac-inventory.yaml").read_text()))
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    assert set(role["rules"][0]["resources"]) == {"nodes", "pods"}
    assert {"list", "watch"} <= set(role["rules"][0]["verbs"])

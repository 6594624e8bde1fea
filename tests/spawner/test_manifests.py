"""`accelhub manifests`: applied with kubectl to devstack, it grants the hub and the service
what they use and nothing more (devstack enforces RBAC for ServiceAccount tokens)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hub_ext.manifests import manifests
from tests.devstack.conftest import RunningDevstack
from tests.helpers.service_accounts import hub_kubeconfig

pytestmark = pytest.mark.integration


def test_manifest_kinds_and_priority_values() -> None:
    objs = manifests("jhub", release="r1")
    kinds = [(o["kind"], o["metadata"]["name"]) for o in objs]
    assert kinds == [
        ("ClusterRole", "r1-accelhub-hub"),
        ("ClusterRoleBinding", "r1-accelhub-hub"),
        ("ClusterRole", "r1-accelhub-service"),
        ("ClusterRoleBinding", "r1-accelhub-service"),
        ("Role", "r1-accelhub-service"),
        ("RoleBinding", "r1-accelhub-service"),
        ("PriorityClass", "interactive"),
        ("PriorityClass", "accelhub-hold"),
        ("PriorityClass", "accelhub-reserved"),
    ]
    values = {o["metadata"]["name"]: o["value"] for o in objs if o["kind"] == "PriorityClass"}
    assert values == {"interactive": 1000, "accelhub-hold": 5000, "accelhub-reserved": 10000}
    binding = objs[1]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "hub", "namespace": "jhub"}]


def _can(ds: RunningDevstack, config: Path, *args: str) -> str:
    env = dict(ds.env, KUBECONFIG=str(config))
    kubectl = str(Path(sys.executable).parent / "kubectl")
    done = subprocess.run(
        [kubectl, "auth", "can-i", *args], env=env, capture_output=True, text=True, timeout=30
    )
    return done.stdout.strip()


def test_applied_manifests_grant_enough_and_no_more(
    spawner_devstack: RunningDevstack, tmp_path: Path
) -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "hub_ext.cli", "manifests", "--namespace", "accelhub"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert list(yaml.safe_load_all(printed)) == manifests("accelhub")
    config = hub_kubeconfig(spawner_devstack.kubeconfig, tmp_path / "hub-kubeconfig")
    who = json.loads(config.read_text())["users"][0]["user"]["token"]
    assert who.count(".") == 2
    allowed = [
        ("list", "nodes"),
        ("watch", "pods", "--all-namespaces"),
        ("create", "pods", "-n", "accelhub"),
        ("delete", "pods", "-n", "accelhub"),
        ("create", "configmaps", "-n", "accelhub"),
        ("create", "persistentvolumeclaims", "-n", "accelhub"),
        ("list", "events", "-n", "accelhub"),
        ("create", "priorityclasses.scheduling.k8s.io"),
    ]
    refused = [
        ("delete", "nodes"),
        ("patch", "nodes"),
        ("create", "pods", "-n", "default"),
        ("create", "configmaps", "-n", "default"),
        ("delete", "pods", "-n", "kube-system"),
        ("list", "secrets", "--all-namespaces"),
        ("delete", "priorityclasses.scheduling.k8s.io"),
        ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
    ]
    assert [_can(spawner_devstack, config, *a) for a in allowed] == ["yes"] * len(allowed)
    assert [_can(spawner_devstack, config, *a) for a in refused] == ["no"] * len(refused)

"""Homes and group shared areas end to end: the real hub, the hub service, the demo's
storage settings and devstack's provisioner."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub_ext.catalog import AI_INFN_CATALOG
from hub_ext.demo.config import HOME, storage_settings
from tests.devstack.conftest import RunningDevstack
from tests.spawner.hubstack import SpawnerHub, start_service_hub

pytestmark = pytest.mark.integration

SWITCHES = ("t4", "mig-1g-10gb", "cpu")


@pytest.fixture(scope="module")
def homes_hub(
    spawner_devstack: RunningDevstack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SpawnerHub]:
    """JupyterHub + accelhub service + AcceleratorSpawner with the demo's storage settings."""
    state: Path = tmp_path_factory.mktemp("homes-hub")
    hub, _, _ = start_service_hub(
        state,
        spawner_devstack.kubeconfig,
        f"c.AcceleratorCatalog.catalog_file = {AI_INFN_CATALOG!r}\n"  # the hub's catalog too
        "c.QuotaPolicy.default_quota = {'*': {'devices': 8, 'per_user': 2}}\n"
        "c.AccelhubService.static_capacity = "
        "{'t4': 2, 'mig-1g-10gb': 10, 'cpu': 100}\n",
        "\n".join(
            [
                f"c.AcceleratorCatalog.catalog_file = {AI_INFN_CATALOG!r}",
                "c.KubeSpawner.start_timeout = 90",
                *(f"{name} = {value!r}" for name, value in storage_settings()),
            ]
        )
        + "\n",
    )
    yield hub
    hub.shutdown()


class Server:
    """One user's default server, reached through the proxy with the user's own token."""

    def __init__(self, hub: SpawnerHub, user: str) -> None:
        self.hub, self.user = hub, user
        token = hub.api("POST", f"/users/{user}/tokens", json={}).json()["token"]
        self.headers = {"Authorization": f"token {token}"}

    def start(self, flavor: str) -> dict[str, Any]:
        response = self.hub.api("POST", f"/users/{self.user}/server", json={"flavor": flavor})
        assert response.status_code in (201, 202), response.text
        model = self.hub.wait_ready(self.user, timeout=120)
        assert model.get("ready"), model
        return model

    def stop(self) -> None:
        self.hub.stop(self.user, timeout=90)

    def contents(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.hub.url}/user/{self.user}/api/contents/{path}",
            headers=self.headers,
            timeout=30,
            **kwargs,
        )

    def write(self, path: str, text: str) -> httpx.Response:
        body = {"type": "file", "format": "text", "content": text}
        return self.contents("PUT", path, json=body)

    def read(self, path: str) -> str | None:
        response = self.contents("GET", path)
        return str(response.json()["content"]) if response.status_code == 200 else None


def kubectl_json(ds: RunningDevstack, *args: str) -> dict[str, Any]:
    return dict(json.loads(ds.kubectl(*args, "-o", "json").stdout))


def pod_of(ds: RunningDevstack, model: dict[str, Any]) -> dict[str, Any]:
    return kubectl_json(ds, "get", "pod", "-n", "accelhub", model["state"]["pod_name"])


def test_home_survives_switching_t4_mig_cpu(
    homes_hub: SpawnerHub, spawner_devstack: RunningDevstack
) -> None:
    ada = Server(homes_hub, "ada")
    nodes = []
    for i, flavor in enumerate(SWITCHES):
        model = ada.start(flavor)
        try:
            pod = pod_of(spawner_devstack, model)
            nodes.append(pod["spec"]["nodeName"])
            env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
            assert env["ACCELHUB_FLAVOR"] == flavor
            claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["spec"]["volumes"]]
            assert "claim-ada" in claims
            if i == 0:
                assert ada.read("keep-me.txt") is None
                assert ada.write("keep-me.txt", "results of the T4 run").status_code == 201
            assert ada.read("keep-me.txt") == "results of the T4 run", flavor
            ada.write(f"from-{flavor}.txt", flavor)
        finally:
            ada.stop()
    assert nodes[0].startswith("t4-") and nodes[1].startswith("a100-"), nodes  # one home
    pvc = kubectl_json(spawner_devstack, "get", "pvc", "-n", "accelhub", "claim-ada")
    assert pvc["status"]["phase"] == "Bound"
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    pv = kubectl_json(spawner_devstack, "get", "pv", pvc["spec"]["volumeName"])
    home = Path(pv["spec"]["hostPath"]["path"])
    assert sorted(p.name for p in home.glob("*.txt")) == sorted(
        ["keep-me.txt", *(f"from-{f}.txt" for f in SWITCHES)]
    )


def test_group_area_for_members_only(
    homes_hub: SpawnerHub, spawner_devstack: RunningDevstack
) -> None:
    ada, bob, hal = (Server(homes_hub, u) for u in ("ada", "bob", "hal"))
    model = ada.start("cpu")
    try:
        mounts = pod_of(spawner_devstack, model)["spec"]["containers"][0]["volumeMounts"]
        assert {"name": "group-shared-physics", "mountPath": f"{HOME}/shared/physics"} in [
            {k: m[k] for k in ("name", "mountPath")} for m in mounts
        ]
        assert ada.write("shared/physics/calibration.txt", "by ada").status_code == 201
    finally:
        ada.stop()
    pvc = kubectl_json(spawner_devstack, "get", "pvc", "-n", "accelhub", "shared-physics")
    assert pvc["status"]["phase"] == "Bound"
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["metadata"]["labels"]["accelhub.io/group"] == "physics"

    bob.start("cpu")
    try:
        assert bob.read("shared/physics/calibration.txt") == "by ada"
        assert bob.write("shared/physics/reply.txt", "by bob").status_code == 201
    finally:
        bob.stop()

    model = hal.start("cpu")
    try:
        pod = pod_of(spawner_devstack, model)
        claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["spec"]["volumes"]]
        assert claims == ["claim-hal"]
        assert hal.read("shared/physics/calibration.txt") is None
        assert hal.contents("GET", "shared").status_code == 404
    finally:
        hal.stop()


def test_admin_deleting_a_home_claim_takes_its_data(
    homes_hub: SpawnerHub, spawner_devstack: RunningDevstack
) -> None:
    fred = Server(homes_hub, "fred")
    fred.start("cpu")
    try:
        assert fred.write("notes.txt", "draft").status_code == 201
    finally:
        fred.stop()
    pvc = kubectl_json(spawner_devstack, "get", "pvc", "-n", "accelhub", "claim-fred")
    pv_name = pvc["spec"]["volumeName"]
    home = Path(kubectl_json(spawner_devstack, "get", "pv", pv_name)["spec"]["hostPath"]["path"])
    assert (home / "notes.txt").read_text() == "draft"
    spawner_devstack.kubectl("delete", "pvc", "-n", "accelhub", "claim-fred", "--wait=true")
    deadline = time.monotonic() + 20
    while home.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not home.exists()  # the default class reclaims with Delete
    assert "NotFound" in spawner_devstack.kubectl("get", "pv", pv_name, check=False).stderr
    # The next start gets a fresh, empty home.
    fred.start("cpu")
    try:
        assert fred.read("notes.txt") is None
    finally:
        fred.stop()

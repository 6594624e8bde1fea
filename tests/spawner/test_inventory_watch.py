"""ClusterInventory against devstack's API server: list, watch, 410 and reconnects."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client, config

from hub_ext.catalog import AI_INFN_CATALOG, AcceleratorCatalog
from hub_ext.inventory import ClusterInventory, _Gone
from tests.devstack.conftest import RunningDevstack, start_devstack, stop_devstack

pytestmark = pytest.mark.integration
CAT = AcceleratorCatalog(catalog_file=AI_INFN_CATALOG)


@pytest.fixture(scope="module")
def api_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevstack]:
    """The API server alone, keeping only a short watch history (old versions get 410)."""
    state = tmp_path_factory.mktemp("inventory-devstack") / "state"
    ds = start_devstack(state, "none", None, "--history-size", "20")
    yield ds
    stop_devstack(ds)


@pytest.fixture
async def core(api_only: RunningDevstack) -> AsyncIterator[client.CoreV1Api]:
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(api_only.kubeconfig), client_configuration=configuration
    )
    async with client.ApiClient(configuration) as api_client:
        yield client.CoreV1Api(api_client)


def bound_pod(name: str, node: str, resource: str, count: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "hackathon"},
        "spec": {
            "nodeName": node,
            "containers": [
                {"name": "c", "image": "x", "resources": {"limits": {resource: str(count)}}}
            ],
        },
    }


async def wait_for(predicate: Any, seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


async def test_inventory_follows_pods_in_other_namespaces(
    api_only: RunningDevstack, core: client.CoreV1Api
) -> None:
    inventory = ClusterInventory(CAT.all(), lambda: core)
    inventory.start()
    try:
        assert await inventory.wait_synced(15)
        assert inventory.counts("mig-1g-10gb").capacity == 3 + 7  # mixed + single nodes
        assert inventory.counts("fpga-u55c").capacity == 1
        pod = bound_pod("holder", "a100-1", "nvidia.com/gpu", 3)
        api_only.kubectl("apply", "-f", "-", input=json.dumps(pod))
        await wait_for(lambda: inventory.counts("mig-1g-10gb").free == 10 - 3)
        api_only.kubectl("delete", "pod", "-n", "hackathon", "holder", "--grace-period=0")
        await wait_for(lambda: inventory.counts("mig-1g-10gb").free == 10)
    finally:
        await inventory.stop()


async def test_stale_resource_version_gets_410_and_relists(
    api_only: RunningDevstack, core: client.CoreV1Api
) -> None:
    inventory = ClusterInventory(CAT.all(), lambda: core)
    response = await core.list_pod_for_all_namespaces(_preload_content=False)
    old_rv = json.loads(await response.read())["metadata"]["resourceVersion"]
    response.release()
    churn = {  # push the old version out of the 20-event pod history
        "apiVersion": "v1",
        "kind": "List",
        "items": [bound_pod(f"churn-{i}", "cpu-1", "cpu", 1) for i in range(25)],
    }
    api_only.kubectl("apply", "-f", "-", input=json.dumps(churn))
    with pytest.raises(_Gone):
        await asyncio.wait_for(
            inventory._watch("pods", core.list_pod_for_all_namespaces, old_rv), 15
        )
    inventory.start()
    try:
        assert await inventory.wait_synced(15)
        assert inventory.relists >= 2
        assert len([k for k in inventory.state.pods if "churn" in k]) == 25
    finally:
        await inventory.stop()
        api_only.kubectl("delete", "pods", "-n", "hackathon", "--all", "--grace-period=0")


async def test_inventory_recovers_from_a_dropped_connection(
    api_only: RunningDevstack, core: client.CoreV1Api, tmp_path: Path
) -> None:
    calls = {"n": 0}

    class Flaky:
        """Fails the first pod list like a dropped connection, then behaves."""

        def __getattr__(self, name: str) -> Any:
            return getattr(core, name)

        async def list_pod_for_all_namespaces(self, **kwargs: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == 1:
                raise ConnectionResetError("connection reset by peer")
            return await core.list_pod_for_all_namespaces(**kwargs)

    inventory = ClusterInventory(CAT.all(), Flaky, backoff_max=0.5)
    inventory.start()
    try:
        assert await inventory.wait_synced(15)
        assert calls["n"] >= 2 and inventory.last_error is not None
    finally:
        await inventory.stop()

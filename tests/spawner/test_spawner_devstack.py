"""AcceleratorSpawner in this process against devstack: the timeout says what it waited for."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from jupyterhub.spawner import SpawnException
from kubernetes_asyncio import config as kube_config_loader
from kubespawner import clients
from traitlets.config import Config

from hub_ext.catalog import AI_INFN_CATALOG
from hub_ext.spawner import AcceleratorSpawner
from tests.devstack.conftest import RunningDevstack
from tests.spawner.kube import hold_devices, release, wait_phase

pytestmark = pytest.mark.integration
T4 = {"nvidia.com/gpu.product": "Tesla-T4"}


class Group:
    def __init__(self, name: str) -> None:
        self.name = name


class User:
    """What a spawner reads of a JupyterHub user."""

    def __init__(self, name: str, groups: list[str]) -> None:
        self.name = name
        self.id = 4242
        self.url = f"/user/{name}/"
        self.groups = [Group(g) for g in groups]


async def test_unschedulable_spawn_times_out_with_a_plain_message(
    spawner_devstack: RunningDevstack,
) -> None:
    cfg = Config()
    cfg.AcceleratorCatalog.catalog_file = AI_INFN_CATALOG
    cfg.KubeSpawner.namespace = "accelhub"
    cfg.KubeSpawner.cmd = ["sleep", "600"]
    cfg.KubeSpawner.start_timeout = 8
    cfg.AcceleratorSpawner.timeout_margin = 2
    user: Any = User("zoe", ["ml-experts"])
    spawner = AcceleratorSpawner(_mock=True, user=user, config=cfg)
    # KubeSpawner loads one kubeconfig per process (the unit tests' dummy one may come
    # first): point the default configuration at devstack and rebuild this loop's clients.
    await kube_config_loader.load_kube_config(config_file=str(spawner_devstack.kubeconfig))
    for key in [k for k in clients._client_cache if k[0] is asyncio.get_running_loop()]:
        clients._client_cache.pop(key)
    spawner.api = clients.shared_client("CoreV1Api")
    spawner.api_token = "unused"
    # Both T4s are held elsewhere: the capacity policy lets the spawn wait (the cluster has
    # T4s), and the pod stays Pending until the spawner gives up.
    hold_devices(spawner_devstack, "hackathon", "hold-t4s", "nvidia.com/gpu", 2, T4)
    wait_phase(spawner_devstack, "hackathon", "hold-t4s", "Running")
    spawner.user_options = {"flavor": "t4", "wait": True}
    try:
        with pytest.raises(SpawnException) as info:
            await spawner.start()
        message = info.value.message
        assert info.value.reason == "timeout"
        assert "Gave up after" in message
        assert "waiting for a node with 1 x NVIDIA Tesla T4 GPU" in message
        assert "Last status:" in message and "Traceback" not in message
    finally:
        await spawner.stop(now=True)
        release(spawner_devstack, "hackathon", "hold-t4s")
    assert spawner._lease_id is None

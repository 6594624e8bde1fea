"""Fixtures for the AcceleratorSpawner suite: a dummy kubeconfig, devstack and a real hub."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes_asyncio.config import kube_config

from tests.devstack.conftest import RunningDevstack, start_devstack, stop_devstack
from tests.spawner.hubstack import SpawnerHub, start_spawner_hub

DUMMY_KUBECONFIG = """\
apiVersion: v1
kind: Config
current-context: dummy
clusters: [{name: dummy, cluster: {server: "https://127.0.0.1:9"}}]
contexts: [{name: dummy, context: {cluster: dummy, user: dummy}}]
users: [{name: dummy, user: {token: unused}}]
"""


@pytest.fixture(scope="session", autouse=True)
def _kubeconfig_for_unit_spawners(tmp_path_factory: pytest.TempPathFactory) -> None:
    """KubeSpawner loads a kubeconfig when constructed; in-process spawners never contact it.

    kubernetes_asyncio reads $KUBECONFIG when it is imported, so the default location is
    set on the module as well.
    """
    if os.environ.get("KUBECONFIG"):
        return
    path = tmp_path_factory.mktemp("kube") / "config"
    path.write_text(DUMMY_KUBECONFIG)
    kube_config.KUBE_CONFIG_DEFAULT_LOCATION = str(path)


@pytest.fixture(scope="session")
def spawner_devstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevstack]:
    """The full devstack (AI_INFN cluster) for this suite."""
    ds = start_devstack(tmp_path_factory.mktemp("spawner-devstack") / "state")
    yield ds
    stop_devstack(ds)


HUB_EXTRA = ""  # no hub service: the default CapacityPolicy admits by capacity alone


@pytest.fixture(scope="session")
def spawner_hub(
    spawner_devstack: RunningDevstack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SpawnerHub]:
    """A real JupyterHub with the AcceleratorSpawner on devstack."""
    state: Path = tmp_path_factory.mktemp("spawner-hub")
    hub = start_spawner_hub(state, spawner_devstack.kubeconfig, HUB_EXTRA)
    yield hub
    hub.shutdown()

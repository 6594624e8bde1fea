"""The hub service's Kubernetes side on a devstack of the test module's own: the cluster,
and the service's core and KubeCluster acting as the hub's ServiceAccount."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hub_ext.flavors import Flavor
from hub_ext.service.core import AdmissionCore
from hub_ext.service.kube import KubeCluster
from hub_ext.service.records import ReservationRecord
from hub_ext.service.store import Repository
from tests.devstack.conftest import RunningDevstack, start_devstack, stop_devstack
from tests.helpers.service_accounts import hub_kubeconfig
from tests.service.helpers import directory, policy


@contextlib.contextmanager
def own_devstack(
    tmp_path_factory: pytest.TempPathFactory, name: str, cluster_yaml: str
) -> Iterator[RunningDevstack]:
    """A devstack running the cluster described by ``cluster_yaml``, stopped afterwards."""
    base = tmp_path_factory.mktemp(name)
    cluster = base / "cluster.yaml"
    cluster.write_text(cluster_yaml)
    ds = start_devstack(base / "state", cluster=str(cluster))
    try:
        yield ds
    finally:
        stop_devstack(ds)


async def start_service(
    engine: AsyncEngine,
    ds: RunningDevstack,
    flavors: Mapping[str, Flavor],
    quotas: Mapping[str, Any],
    groups: Mapping[str, list[str]],
    **cluster_options: Any,
) -> tuple[AdmissionCore, KubeCluster]:
    """The service's core and cluster, started and attached; the caller stops the cluster.
    It talks to the cluster as the hub's ServiceAccount, bound as admins bind it."""
    kubeconfig = ds.state_dir.parent / "hub-kubeconfig"
    if not kubeconfig.exists():
        hub_kubeconfig(ds.kubeconfig, kubeconfig)
    options = {"poll_seconds": 0.5, "reconcile_seconds": 3600, **cluster_options}
    cluster = KubeCluster(flavors=dict(flavors), kubeconfig=str(kubeconfig), **options)
    await cluster.start()
    core = AdmissionCore(
        Repository(engine), dict(flavors), policy(dict(quotas)), directory(dict(groups)), cluster
    )
    await core.load()
    cluster.attach(core)
    return core, cluster


async def hold_for_hack(
    core: AdmissionCore, cluster: KubeCluster, flavor: str
) -> ReservationRecord:
    """A reservation of a ``flavor`` device per member of the group hack, open for the next
    hour, with its placeholders asked for."""
    now = datetime.now(UTC)
    start, end = now - timedelta(minutes=1), now + timedelta(hours=1)
    res = await core.create_reservation("hack", "hack", flavor, None, True, start, end, "org")
    await cluster.sync_placeholders()
    return res

"""A reservation of a MIG flavor served by nodes of both device-plugin strategies: the
service counts both kinds of nodes and its placeholders take the shape of the node with room."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hub_ext.contract import PLACEHOLDER_LABEL
from hub_ext.flavors import parse_flavor
from tests.devstack.conftest import RunningDevstack
from tests.service.kube_service import hold_for_hack, own_devstack, start_service

pytestmark = pytest.mark.integration

SLICES = "\n".join(
    f"          - {{profile: 1g.10gb, uuid: MIG-00000000-0000-0000-0000-00000000000{i}}}"
    for i in range(1, 4)
)
CLUSTER = f"""
name: accelhub-mig-test
namespaces: [accelhub, users]
priorityClasses:
  - {{name: interactive, value: 1000, description: "notebook sessions"}}
nodes:
  - name: mixed-1
    capacity: {{cpu: "64", memory: 512Gi, ephemeral-storage: 1Ti, pods: "110"}}
    migStrategy: mixed
    gpus:
      - model: a100-80gb-pcie
        uuid: GPU-00000000-0000-0000-0000-00000000000a
        mig:
          - {{profile: 1g.10gb, uuid: MIG-00000000-0000-0000-0000-00000000000f}}
  - name: single-1
    capacity: {{cpu: "64", memory: 512Gi, ephemeral-storage: 1Ti, pods: "110"}}
    migStrategy: single
    gpus:
      - model: a100-80gb-pcie
        uuid: GPU-00000000-0000-0000-0000-00000000000b
        mig:
{SLICES}
"""
MIG = parse_flavor(
    {"slug": "mig", "kind": "mig", "mig_profile": "1g.10gb", "mig_strategy": ["mixed", "single"]}
)
GROUPS = {"hack": ["h1", "h2"]}


@pytest.fixture(scope="module")
def mig_devstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevstack]:
    with own_devstack(tmp_path_factory, "mig-devstack", CLUSTER) as ds:
        yield ds


async def test_placeholders_fill_the_mixed_node_then_the_single_one(
    mig_devstack: RunningDevstack, store: AsyncEngine
) -> None:
    quotas = {"hack": {"mig": {"devices": 0, "per_user": 1}}}
    core, cluster = await start_service(store, mig_devstack, {"mig": MIG}, quotas, GROUPS)
    try:
        assert cluster.inventory is not None
        deadline = time.monotonic() + 30  # start() waited for the first list
        capacity = cluster.capacity("mig")
        assert capacity is not None and capacity.total == 1 + 3  # both strategies' nodes
        await hold_for_hack(core, cluster, "mig")
        held: list[Any] = []
        while len(held) < 2 or any(p.node is None for p in held):
            assert time.monotonic() < deadline, held
            await asyncio.sleep(0.3)
            held = [p for p in cluster.inventory.state.labelled(PLACEHOLDER_LABEL) if p.live]
        shapes = sorted((p.node, *sorted(k for k in p.requests if "/" in k)) for p in held)
        assert shapes == [("mixed-1", "nvidia.com/mig-1g.10gb"), ("single-1", "nvidia.com/gpu")]
        counts = cluster.inventory.counts("mig")
        assert (counts.capacity, counts.allocated, counts.free) == (4, 2, 2)
    finally:
        await cluster.stop()

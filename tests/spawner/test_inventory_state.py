"""Pure inventory accounting: nodes and pods as plain dicts, counts per flavor."""

from __future__ import annotations

from typing import Any

from hub_ext.catalog import AI_INFN_CATALOG, AcceleratorCatalog
from hub_ext.inventory import InventoryState

CAT = AcceleratorCatalog(catalog_file=AI_INFN_CATALOG)
PRODUCT = "nvidia.com/gpu.product"


def node(name: str, labels: dict[str, str], alloc: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
        "status": {"allocatable": {"cpu": "30", "memory": "128Gi", **alloc}},
    }


def pod(
    ns: str,
    name: str,
    requests: dict[str, str],
    node_name: str | None = None,
    phase: str = "Running",
    selector: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "metadata": {"namespace": ns, "name": name},
        "spec": {
            "nodeName": node_name,
            "nodeSelector": selector or {},
            "containers": [{"name": "c", "resources": {"limits": requests}}],
        },
        "status": {"phase": phase},
    }


def cluster() -> InventoryState:
    state = InventoryState(CAT.all())
    state.replace_nodes(
        [
            node("a100-1", {PRODUCT: "NVIDIA-A100-80GB-PCIe-MIG-1g.10gb"}, {"nvidia.com/gpu": "7"}),
            node("a100-2", {PRODUCT: "NVIDIA-A100-80GB-PCIe"}, {"nvidia.com/mig-1g.10gb": "2"}),
            node("a100-3", {PRODUCT: "NVIDIA-A100-80GB-PCIe"}, {"nvidia.com/mig-1g.10gb": "1"}),
            node("t4-1", {PRODUCT: "Tesla-T4"}, {"nvidia.com/gpu": "2"}),
            node("fpga", {}, {"amd.com/xilinx_u55c_gen3x16_xdma_base_3-0": "1"}),
            node("cpu-1", {}, {}),
            node(
                "vk",
                {},
                {"nvidia.com/gpu": "4"},
                taints=[{"key": "virtual-node.interlink/no-schedule", "effect": "NoSchedule"}],
            ),
        ]
    )
    return state


def test_capacity_per_flavor_and_strategy() -> None:
    state = cluster()
    assert state.counts("mig-1g-10gb").capacity == 3  # mixed: a100-2 + a100-3
    assert state.counts("mig-1g-10gb-single").capacity == 7  # single: product label
    assert state.counts("t4").capacity == 2  # virtual node's GPUs are not T4s
    assert state.counts("fpga-u55c").capacity == 1
    assert state.counts("a100").capacity == 0
    assert state.counts("cpu").capacity == 30 * 6  # tainted virtual node excluded


def test_pods_in_every_namespace_hold_devices() -> None:
    state = cluster()
    state.set_pod(pod("hub", "jupyter-ada", {"nvidia.com/mig-1g.10gb": "1"}, "a100-2"))
    state.set_pod(pod("batch", "train-1", {"nvidia.com/mig-1g.10gb": "1"}, "a100-2"))
    state.set_pod(pod("offload", "job", {"nvidia.com/mig-1g.10gb": "1"}, "a100-3"))
    c = state.counts("mig-1g-10gb")
    assert (c.capacity, c.allocated, c.free, c.pending) == (3, 3, 0, 0)
    state.set_pod(pod("batch", "train-2", {"nvidia.com/mig-1g.10gb": "1"}, None, "Pending"))
    assert state.counts("mig-1g-10gb").pending == 1
    state.set_pod(pod("batch", "train-1", {"nvidia.com/mig-1g.10gb": "1"}, "a100-2", "Succeeded"))
    assert state.counts("mig-1g-10gb").free == 1
    state.delete_pod("offload/job")
    assert state.counts("mig-1g-10gb").free == 2


def test_single_strategy_gpu_pods_count_per_node() -> None:
    state = cluster()
    state.set_pod(pod("a", "p", {"nvidia.com/gpu": "2"}, "a100-1"))
    state.set_pod(pod("a", "q", {"nvidia.com/gpu": "1"}, "t4-1"))
    assert state.counts("mig-1g-10gb-single").free == 5
    assert state.counts("t4").free == 1


def test_pending_pod_counts_only_for_compatible_flavors() -> None:
    state = cluster()
    state.set_pod(pod("a", "p", {"nvidia.com/gpu": "1"}, None, "Pending", {PRODUCT: "Tesla-T4"}))
    assert state.counts("t4").pending == 1
    assert state.counts("rtx5000").pending == 0


def test_node_relabel_and_delete_move_pods() -> None:
    state = cluster()
    state.set_pod(pod("a", "p", {"nvidia.com/gpu": "1"}, "t4-1"))
    state.set_node(node("t4-1", {PRODUCT: "Quadro-RTX-5000"}, {"nvidia.com/gpu": "2"}))
    assert state.counts("t4").capacity == 0 and state.counts("t4").allocated == 0
    assert state.counts("rtx5000").allocated == 1 and state.counts("rtx5000").free == 1
    state.delete_node("t4-1")
    assert state.counts("rtx5000").capacity == 0 and state.counts("rtx5000").allocated == 0
    state.set_node(node("t4-1", {PRODUCT: "Tesla-T4"}, {"nvidia.com/gpu": "2"}))
    assert state.counts("t4").allocated == 1 and state.counts("t4").free == 1


def test_cordoned_node_has_no_capacity() -> None:
    state = cluster()
    state.set_node(
        node("fpga", {}, {"amd.com/xilinx_u55c_gen3x16_xdma_base_3-0": "1"}, unschedulable=True)
    )
    assert state.counts("fpga-u55c").capacity == 0


def test_replace_drops_vanished_objects() -> None:
    state = cluster()
    state.set_pod(pod("a", "p", {"nvidia.com/gpu": "1"}, "t4-1"))
    state.replace_pods([])
    assert state.counts("t4").free == 2
    assert not state.pods


def test_over_allocated_node_never_goes_negative() -> None:
    state = cluster()
    for i in range(3):
        state.set_pod(pod("a", f"p{i}", {"nvidia.com/gpu": "1"}, "t4-1"))
    c = state.counts("t4")
    assert c.free == 0 and c.in_use == 2 and c.allocated == 3


def test_external_use_and_labelled_pods_for_the_service() -> None:
    lease, hold = "accelhub.io/lease", "accelhub.io/placeholder"
    state = InventoryState(CAT.all(), managed_labels=(lease, hold), indexed_labels=(lease, hold))
    state.replace_nodes([node("t4-1", {PRODUCT: "Tesla-T4"}, {"nvidia.com/gpu": "4"})])
    batch = pod("batch", "job", {"nvidia.com/gpu": "1"}, "t4-1")
    leased = pod("users", "nb", {"nvidia.com/gpu": "1"}, "t4-1")
    leased["metadata"].update(labels={lease: "L1"}, annotations={"a": "b"})
    placeholder = pod("accelhub", "hold", {"nvidia.com/gpu": "1"}, "t4-1")
    placeholder["metadata"]["labels"] = {hold: "R1"}
    for obj in (batch, leased, placeholder):
        state.set_pod(obj)
    t4 = state.counts("t4")
    assert (t4.allocated, t4.external, t4.free) == (3, 1, 1)  # only the batch job is external
    [held] = state.labelled(lease)
    assert (held.namespace, held.name, held.annotations, held.live) == (
        "users",
        "nb",
        {"a": "b"},
        True,
    )
    leased["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    state.set_pod(leased)
    assert not state.labelled(lease)[0].live
    leased["metadata"]["labels"] = {}  # relabelled: no longer indexed, now external
    state.set_pod(leased)
    assert state.labelled(lease) == [] and state.counts("t4").external == 2
    state.delete_pod(placeholder)
    assert state.labelled(hold) == [] and state.counts("t4").allocated == 2

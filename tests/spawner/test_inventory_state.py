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
    state.replace_nodes(cluster_nodes())
    return state


def cluster_nodes() -> list[dict[str, Any]]:
    return [
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


def test_capacity_per_flavor_and_strategy() -> None:
    state = cluster()
    mig = state.counts("mig-1g-10gb")
    # mixed (a100-2 + a100-3: nvidia.com/mig-1g.10gb) + single (a100-1: product label)
    assert (mig.capacity, mig.nodes) == (3 + 7, 3)
    assert state.counts("mig-2g-20gb").capacity == 0  # the single node's slices are 1g.10gb
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
    assert (c.capacity, c.allocated, c.free, c.pending) == (10, 3, 7, 0)
    state.set_pod(pod("batch", "train-2", {"nvidia.com/mig-1g.10gb": "1"}, None, "Pending"))
    assert state.counts("mig-1g-10gb").pending == 1
    state.set_pod(pod("batch", "train-1", {"nvidia.com/mig-1g.10gb": "1"}, "a100-2", "Succeeded"))
    assert state.counts("mig-1g-10gb").free == 8
    state.delete_pod("offload/job")
    assert state.counts("mig-1g-10gb").free == 9


def test_single_strategy_gpu_pods_count_per_node() -> None:
    state = cluster()
    state.set_pod(pod("a", "p", {"nvidia.com/gpu": "2"}, "a100-1"))
    state.set_pod(pod("a", "q", {"nvidia.com/gpu": "1"}, "t4-1"))
    assert state.counts("mig-1g-10gb").free == 10 - 2
    assert state.counts("mig-1g-10gb").allocated == 2  # the T4 pod is not a slice
    assert state.counts("t4").free == 1


def test_both_strategies_count_for_one_flavor_and_a_one_strategy_flavor_still_loads() -> None:
    legacy = AcceleratorCatalog(
        flavors=[
            {"slug": "m", "kind": "mig", "mig_profile": "1g.10gb", "mig_strategy": "single"},
            {"slug": "x", "kind": "mig", "mig_profile": "1g.10gb", "mig_strategy": "mixed"},
        ]
    )
    state = InventoryState(legacy.all())
    state.replace_nodes([n for n in cluster_nodes() if n["metadata"]["name"].startswith("a100")])
    assert state.counts("m").capacity == 7 and state.counts("x").capacity == 3
    both = InventoryState(CAT.all())
    both.replace_nodes(cluster_nodes())
    both.set_pod(pod("a", "p", {"nvidia.com/gpu": "1"}, "a100-1"))
    both.set_pod(pod("a", "q", {"nvidia.com/mig-1g.10gb": "1"}, "a100-2"))
    slice_pending = {PRODUCT: "NVIDIA-A100-80GB-PCIe-MIG-1g.10gb"}
    both.set_pod(pod("a", "r", {"nvidia.com/gpu": "1"}, None, "Pending", slice_pending))
    both.set_pod(pod("a", "s", {"nvidia.com/mig-1g.10gb": "1"}, None, "Pending"))
    c = both.counts("mig-1g-10gb")
    assert (c.capacity, c.allocated, c.free, c.pending) == (10, 2, 8, 2)
    assert both.counts("t4").pending == 0  # the pending slice's selector rules the T4 out


def test_choose_placement_prefers_the_first_strategy_that_fits() -> None:
    state = cluster()
    mig = CAT.get("mig-1g-10gb")
    mixed, single = mig.placements
    assert (mixed.strategy, mixed.resource, mixed.node_selector) == (
        "mixed",
        "nvidia.com/mig-1g.10gb",
        {},
    )
    assert (single.strategy, single.resource, single.node_selector) == (
        "single",
        "nvidia.com/gpu",
        {PRODUCT: "NVIDIA-A100-80GB-PCIe-MIG-1g.10gb"},
    )
    assert state.choose_placement(mig, 1) == mixed  # both free: the catalog's order
    assert state.choose_placement(mig, 3) == single  # no mixed node has 3 slices
    state.set_pod(pod("a", "p", {"nvidia.com/mig-1g.10gb": "2"}, "a100-2"))
    assert state.choose_placement(mig, 1) == mixed  # a100-3 still has one
    state.set_pod(pod("a", "q", {"nvidia.com/mig-1g.10gb": "1"}, None, "Pending"))
    assert state.choose_placement(mig, 1) == single  # that one is promised to q
    state.set_pod(pod("a", "q", {"nvidia.com/mig-1g.10gb": "1"}, "a100-3"))
    assert state.choose_placement(mig, 1) == single  # mixed full
    for i in range(7):
        state.set_pod(pod("a", f"s{i}", {"nvidia.com/gpu": "1"}, "a100-1"))
    assert state.choose_placement(mig, 1) == mixed  # nothing free anywhere: the first
    state.delete_pod("a/p")
    assert state.choose_placement(mig, 1) == mixed
    assert state.choose_placement(CAT.get("t4"), 1) == CAT.get("t4").placements[0]


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

"""Unit tests of the pure scheduling logic with plain dicts (no store)."""

from __future__ import annotations

from typing import Any

from devstack.controllers.scheduling.cluster import ClusterState
from devstack.controllers.scheduling.model import PodView
from devstack.controllers.scheduling.predicates import tolerates
from devstack.controllers.scheduling.resources import pod_requests

VK_TAINT = {"key": "virtual-node.interlink/no-schedule", "value": "true", "effect": "NoSchedule"}
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}


def node(
    name: str,
    capacity: dict[str, Any],
    labels: dict[str, str] | None = None,
    taints: list[dict[str, Any]] | None = None,
    unschedulable: bool = False,
) -> dict[str, Any]:
    cap = {"cpu": "32", "memory": "128Gi", "pods": "110", **capacity}
    spec: dict[str, Any] = {"taints": taints or []}
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": spec,
        "status": {"capacity": cap, "allocatable": cap},
    }


def pod(
    name: str,
    requests: dict[str, Any] | None = None,
    *,
    priority: int = 0,
    node_name: str = "",
    limits: dict[str, Any] | None = None,
    **spec: Any,
) -> PodView:
    resources: dict[str, Any] = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    obj = {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"uid-{name}",
            "creationTimestamp": f"2026-01-01T00:00:{len(name):02d}Z",
        },
        "spec": {
            "containers": [{"name": "c", "resources": resources}],
            "priority": priority,
            "nodeName": node_name,
            **spec,
        },
        "status": {"phase": "Running" if node_name else "Pending"},
    }
    return PodView.from_pod(obj)


def ai_infn() -> ClusterState:
    """Nine nodes shaped like the AI_INFN cluster."""
    state = ClusterState()
    gpu_labels = {"nvidia.com/gpu.present": "true"}
    for n in [
        node(
            "a100-0",
            {"nvidia.com/mig-1g.10gb": "7"},
            {**gpu_labels, "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB-MIG-1g.10gb"},
        ),
        node(
            "a100-1",
            {"nvidia.com/mig-3g.40gb": "2"},
            {**gpu_labels, "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB-MIG-3g.40gb"},
        ),
        node("t4-0", {"nvidia.com/gpu": "2"}, {**gpu_labels, "nvidia.com/gpu.product": "Tesla-T4"}),
        node("t4-1", {"nvidia.com/gpu": "2"}, {**gpu_labels, "nvidia.com/gpu.product": "Tesla-T4"}),
        node(
            "rtx-0",
            {"nvidia.com/gpu": "2"},
            {**gpu_labels, "nvidia.com/gpu.product": "Quadro-RTX-5000"},
        ),
        node("fpga-0", {"amd.com/xilinx_u55c_gen3x16_xdma_base_3-0": "1"}),
        node("cpu-0", {}),
        node(
            "vk-site-a",
            {"cpu": "1000", "nvidia.com/gpu": "8"},
            {"type": "virtual-kubelet"},
            [VK_TAINT],
        ),
        node("vk-site-b", {"cpu": "1000"}, {"type": "virtual-kubelet"}, [VK_TAINT]),
    ]:
        state.upsert_node(n)
    return state


def fill(state: ClusterState, node_name: str, resource: str, count: int, priority: int = 0) -> None:
    for i in range(count):
        state.account_pod(
            pod(
                f"{node_name}-{resource[-4:]}-{i}",
                {resource: "1"},
                priority=priority,
                node_name=node_name,
            )
        )


def test_limits_default_requests_and_init_containers() -> None:
    spec = {
        "containers": [
            {"name": "a", "resources": {"limits": {"cpu": "2", "memory": "1Gi"}}},
            {"name": "b", "resources": {"requests": {"cpu": "500m"}}},
        ],
        "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "4"}}}],
    }
    assert pod_requests(spec) == {"cpu": 4000, "memory": 2**30}


def test_gpu_pod_fits_on_t4() -> None:
    state = ai_infn()
    decision = state.schedule(pod("p", {"nvidia.com/gpu": "1"}))
    assert decision.node in ("t4-0", "t4-1", "rtx-0")


def test_reasons_sorted_as_strings_with_counts() -> None:
    state = ai_infn()
    for name in ("t4-0", "t4-1", "rtx-0"):
        fill(state, name, "nvidia.com/gpu", 2)
    msg = state.schedule(pod("p", {"nvidia.com/gpu": "1"})).message
    # The three full GPU nodes only hold pods of equal priority: no victims there.
    assert msg == (
        "0/9 nodes are available: 2 node(s) had untolerated taint "
        "{virtual-node.interlink/no-schedule: true}, 7 Insufficient nvidia.com/gpu. "
        "preemption: 0/9 nodes are available: 3 No preemption victims found for incoming pod, "
        "6 Preemption is not helpful for scheduling."
    )


def test_mig_profile_message() -> None:
    state = ai_infn()
    fill(state, "a100-1", "nvidia.com/mig-3g.40gb", 2)
    msg = state.schedule(pod("p", {"nvidia.com/mig-3g.40gb": "1"})).message
    assert msg == (
        "0/9 nodes are available: 2 node(s) had untolerated taint "
        "{virtual-node.interlink/no-schedule: true}, 7 Insufficient nvidia.com/mig-3g.40gb. "
        "preemption: 0/9 nodes are available: 1 No preemption victims found for incoming pod, "
        "8 Preemption is not helpful for scheduling."
    )


def test_fpga_with_selector_message() -> None:
    state = ai_infn()
    res = "amd.com/xilinx_u55c_gen3x16_xdma_base_3-0"
    fill(state, "fpga-0", res, 1)
    msg = state.schedule(pod("p", {res: "1"}, nodeSelector={"kubernetes.io/hostname": "fpga-0"}))
    assert msg.message == (
        "0/9 nodes are available: 1 Insufficient amd.com/xilinx_u55c_gen3x16_xdma_base_3-0, "
        "2 node(s) had untolerated taint {virtual-node.interlink/no-schedule: true}, "
        "6 node(s) didn't match Pod's node affinity/selector. "
        "preemption: 0/9 nodes are available: 1 No preemption victims found for incoming pod, "
        "8 Preemption is not helpful for scheduling."
    )


def test_several_insufficient_resources_on_one_node_each_count() -> None:
    state = ClusterState()
    state.upsert_node(node("n1", {"cpu": "2", "memory": "1Gi"}))
    msg = state.schedule(pod("p", {"cpu": "4", "memory": "2Gi"})).message
    assert msg == (
        "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. "
        "preemption: 0/1 nodes are available: 1 Preemption is not helpful for "
        "scheduling."
    )


def test_too_many_pods() -> None:
    state = ClusterState()
    state.upsert_node(node("n1", {"pods": "1"}))
    state.account_pod(pod("a", node_name="n1"))
    assert state.schedule(pod("b")).message.startswith("0/1 nodes are available: 1 Too many pods.")


def test_taints_tolerations() -> None:
    assert tolerates({"operator": "Exists"}, GPU_TAINT)
    assert tolerates({"key": "nvidia.com/gpu", "operator": "Exists"}, GPU_TAINT)
    assert tolerates(
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}, GPU_TAINT
    )
    assert not tolerates({"key": "nvidia.com/gpu", "value": "x"}, GPU_TAINT)
    assert not tolerates(
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"}, GPU_TAINT
    )
    state = ai_infn()
    tol = [{"key": "virtual-node.interlink/no-schedule", "operator": "Exists"}]
    decision = state.schedule(pod("p", {"cpu": "100"}, tolerations=tol))
    assert decision.node in ("vk-site-a", "vk-site-b")


def test_prefer_no_schedule_is_only_a_preference() -> None:
    state = ClusterState()
    state.upsert_node(node("soft", {}, taints=[{"key": "k", "effect": "PreferNoSchedule"}]))
    state.upsert_node(node("plain", {"cpu": "1"}))
    assert state.schedule(pod("p")).node == "plain"
    state.upsert_node(node("plain", {"cpu": "1"}, unschedulable=True))
    assert state.schedule(pod("p")).node == "soft"


def test_unschedulable_node_and_its_toleration() -> None:
    state = ClusterState()
    state.upsert_node(node("n1", {}, unschedulable=True))
    assert state.schedule(pod("p")).message == (
        "0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are "
        "available: 1 Preemption is not helpful for scheduling."
    )
    tol = [
        {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert state.schedule(pod("p", tolerations=tol)).node == "n1"


def affinity(*exprs: dict[str, Any]) -> dict[str, Any]:
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": list(exprs)}]
            }
        }
    }


def test_required_affinity_operators() -> None:
    state = ClusterState()
    state.upsert_node(node("a", {}, {"gen": "3", "zone": "x"}))
    state.upsert_node(node("b", {}, {"gen": "5"}))

    def where(*exprs: dict[str, Any]) -> str | None:
        return state.schedule(pod("p", affinity=affinity(*exprs))).node

    assert where({"key": "zone", "operator": "In", "values": ["x"]}) == "a"
    assert where({"key": "zone", "operator": "NotIn", "values": ["x"]}) == "b"
    assert where({"key": "zone", "operator": "Exists"}) == "a"
    assert where({"key": "zone", "operator": "DoesNotExist"}) == "b"
    assert where({"key": "gen", "operator": "Gt", "values": ["4"]}) == "b"
    assert where({"key": "gen", "operator": "Lt", "values": ["4"]}) == "a"
    assert where({"key": "gen", "operator": "Gt", "values": ["9"]}) is None
    msg = state.schedule(
        pod("p", affinity=affinity({"key": "gen", "operator": "Gt", "values": ["9"]}))
    ).message
    assert msg.startswith(
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."
    )


def test_preferred_affinity_wins() -> None:
    state = ClusterState()
    state.upsert_node(node("a", {}, {"disk": "ssd"}))
    state.upsert_node(node("b", {}, {"disk": "hdd"}))
    pref = {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 10,
                    "preference": {
                        "matchExpressions": [{"key": "disk", "operator": "In", "values": ["hdd"]}]
                    },
                }
            ]
        }
    }
    assert state.schedule(pod("p", affinity=pref)).node == "b"


def test_preemption_picks_lowest_priority_fewest_victims() -> None:
    state = ClusterState()
    state.upsert_node(node("n1", {"nvidia.com/gpu": "2"}))
    state.upsert_node(node("n2", {"nvidia.com/gpu": "2"}))
    state.account_pod(pod("hi-1", {"nvidia.com/gpu": "1"}, priority=100, node_name="n1"))
    state.account_pod(pod("lo-1", {"nvidia.com/gpu": "1"}, priority=10, node_name="n1"))
    state.account_pod(pod("mid-1", {"nvidia.com/gpu": "1"}, priority=50, node_name="n2"))
    state.account_pod(pod("mid-2", {"nvidia.com/gpu": "1"}, priority=50, node_name="n2"))
    decision = state.schedule(pod("p", {"nvidia.com/gpu": "1"}, priority=1000))
    assert decision.node is None
    assert decision.nominate == "n1"
    assert [v.name for v in decision.victims] == ["lo-1"]
    assert decision.message == "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."


def test_preemption_reprieves_and_respects_policy_never() -> None:
    state = ClusterState()
    state.upsert_node(node("n1", {"cpu": "4"}))
    for i, prio in enumerate((1, 2, 3)):
        state.account_pod(pod(f"v{i}", {"cpu": "1"}, priority=prio, node_name="n1"))
    # 1 cpu free: a 2-cpu pod needs one victim: the lowest priority one.
    decision = state.schedule(pod("p", {"cpu": "2"}, priority=5))
    assert [v.name for v in decision.victims] == ["v0"]
    never = state.schedule(pod("p", {"cpu": "2"}, priority=5, preemptionPolicy="Never"))
    assert never.victims == []
    assert never.message == (
        "0/1 nodes are available: 1 Insufficient cpu. preemption: not "
        "eligible due to preemptionPolicy=Never."
    )


def test_preemption_not_enough_even_with_all_victims() -> None:
    state = ClusterState()
    state.upsert_node(node("n1", {"cpu": "4"}))
    state.account_pod(pod("big", {"cpu": "3"}, priority=100, node_name="n1"))
    state.account_pod(pod("small", {"cpu": "1"}, priority=1, node_name="n1"))
    decision = state.schedule(pod("p", {"cpu": "2"}, priority=50))
    assert decision.victims == []
    assert decision.message == (
        "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 "
        "nodes are available: 1 Insufficient cpu."
    )


def test_nominated_pod_reserves_room() -> None:
    state = ClusterState()
    state.upsert_node(node("n1", {"cpu": "2"}))
    high = pod("high", {"cpu": "2"}, priority=100)
    state.nominate(high, "n1")
    assert state.schedule(pod("low", {"cpu": "1"}, priority=0)).node is None
    # The nominated pod itself fits on its nominated node.
    assert state.schedule(high).node == "n1"


def test_accounting_is_incremental() -> None:
    state = ClusterState()
    state.upsert_node(node("n1", {"cpu": "1"}))
    p = pod("a", {"cpu": "1"}, node_name="n1")
    state.account_pod(p)
    assert state.nodes["n1"].free("cpu") == 0
    state.account_pod(p)  # same pod twice counts once
    assert state.nodes["n1"].free("cpu") == 0
    state.forget_pod(p.key)
    assert state.nodes["n1"].free("cpu") == 1000


def test_no_nodes() -> None:
    assert ClusterState().schedule(pod("p")).message == "no nodes available to schedule pods"

"""Sites from virtual nodes and the auto choice, on the pure inventory state; job pods."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from hub_ext.cluster_state import InventoryState
from hub_ext.contract import JOB_LABEL
from hub_ext.flavors import Flavor, parse_flavor
from hub_ext.service.offload import pods, sites
from hub_ext.service.offload.record import JobRecord

GPU = Flavor(slug="a100", display_name="A100", kind="gpu", resource="nvidia.com/gpu", counts=(2,))
CPU = Flavor(slug="cpu", display_name="CPU")
# One MIG slice, served by nodes of either device-plugin strategy (mixed preferred).
MIG = parse_flavor(
    {
        "slug": "mig",
        "display_name": "A100 MIG 1g.10gb",
        "kind": "mig",
        "mig_profile": "1g.10gb",
        "mig_strategy": ["mixed", "single"],
    }
)
MIXED, SINGLE = MIG.placements
SLICE = "nvidia.com/mig-1g.10gb"
PRODUCT = {"nvidia.com/gpu.product": "NVIDIA-A100-80GB-PCIe-MIG-1g.10gb"}


def node(
    name: str, ready: bool = True, gpus: int = 0, slices: int = 0, **labels: str
) -> dict[str, Any]:
    allocatable = {"cpu": "100", **({"nvidia.com/gpu": str(gpus)} if gpus else {})}
    allocatable.update({SLICE: str(slices)} if slices else {})
    return {
        "metadata": {
            "name": name,
            "labels": {"virtual-node.interlink/type": "virtual-kubelet", **labels},
        },
        "spec": {"taints": [{"key": sites.TAINT_KEY, "value": "true", "effect": "NoSchedule"}]},
        "status": {
            "allocatable": allocatable,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "message": "ok" if ready else "the site's plugin at http://x does not answer",
                    "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                }
            ],
        },
    }


def pod(
    name: str, node_name: str, gpus: int, phase: str = "Running", resource: str = "nvidia.com/gpu"
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "accelhub", "labels": {JOB_LABEL: name}},
        "spec": {
            "nodeName": node_name,
            "containers": [{"resources": {"limits": {resource: str(gpus)}}}],
        },
        "status": {"phase": phase},
    }


def state(*objs: dict[str, Any]) -> InventoryState:
    st = InventoryState([GPU, MIG])
    for obj in objs:
        (st.set_pod if "spec" in obj and "nodeName" in obj["spec"] else st.set_node)(obj)
    return st


def record(**fields: Any) -> JobRecord:
    """A job of ada's on vk-a (``fields`` override)."""
    base: dict[str, Any] = {
        "id": "j" * 32,
        "user": "ada@example.org",
        "group": None,
        "name": "a.ipynb",
        "site": "vk-a",
        "site_reason": "",
        "flavor": "a100",
        "count": 2,
        "cell_id": "c9",
        "setup": "above",
        "parameters": {"n": 1},
        "resources": {},
        "image": "img",
        "input_sha256": "0" * 64,
        "namespace": "accelhub",
        "pod": "accelhub-job-x",
        "submitted_at": datetime.now(UTC),
    }
    return JobRecord(**{**base, **fields})


def test_only_virtual_nodes_are_sites_with_free_devices_and_health() -> None:
    plain = {"metadata": {"name": "cpu-1"}, "status": {"allocatable": {"cpu": "8"}}}
    st = state(
        node("vk-a", gpus=4, **{"accelhub.io/site-display-name": "Leonardo"}),
        node("vk-b", ready=False),
        plain,
        pod("j1", "vk-a", 1),
        pod("j2", "vk-a", 2, phase="Succeeded"),  # finished: holds nothing
    )
    found = {s.name: s for s in sites.sites(st, {"vk-a": 3})}
    assert set(found) == {"vk-a", "vk-b"}
    assert found["vk-a"].display_name == "Leonardo"
    assert found["vk-a"].accelerators == {"nvidia.com/gpu": 3}
    assert (found["vk-a"].queue, found["vk-a"].ready, found["vk-a"].last_seen) == (
        3,
        True,
        "2026-01-01T00:00:00Z",
    )
    assert not found["vk-b"].ready and "does not answer" in (found["vk-b"].message or "")


def test_auto_takes_the_ready_site_with_most_free_devices_and_says_why() -> None:
    st = state(node("vk-a", gpus=4), node("vk-b", gpus=8), node("vk-c"), pod("j", "vk-b", 6))
    choice = sites.choose(st, sites.sites(st, {}), GPU, 2)
    assert choice.site is not None and choice.site.name == "vk-a"  # 4 free beats 2 free
    assert choice.reason == (
        "chosen: offers nvidia.com/gpu, 4 free, 0 queued; skipped vk-c (no 2 nvidia.com/gpu)"
    )


def test_auto_skips_a_not_ready_site_and_refuses_when_none_fits() -> None:
    st = state(node("vk-a", ready=False, gpus=4), node("vk-b", gpus=1))
    choice = sites.choose(st, sites.sites(st, {}), GPU, 2)
    assert choice.site is None
    assert choice.reason == (
        "No ready site offers 2 nvidia.com/gpu: vk-a (not ready), vk-b (no 2 nvidia.com/gpu)."
    )


def test_queue_breaks_ties() -> None:
    st = state(node("vk-a"), node("vk-b"))
    choice = sites.choose(st, sites.sites(st, {"vk-a": 2}), CPU, 0)
    assert choice.site is not None and choice.site.name == "vk-b"


def test_the_pod_lands_on_the_site_with_devices_annotations_and_the_notebook() -> None:
    job = record(resources=pods.resources(GPU, GPU.placements[0], 2))
    notes = pods.site_annotations({"slurm-job.vk.io/flags": "--gres=gpu:{count}"}, 2, "ada", "a")
    manifest = pods.pod(
        job, ["python", "-m", "server_ext.offload.runner"], notes, {}, GPU.placements[0]
    )
    spec = manifest["spec"]
    assert spec["nodeSelector"] == {"kubernetes.io/hostname": "vk-a"}
    assert spec["tolerations"][0]["key"] == "virtual-node.interlink/no-schedule"
    assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert spec["containers"][0]["args"][-4:] == ["--cell-id", "c9", "--setup", "above"]
    assert manifest["metadata"]["annotations"]["slurm-job.vk.io/flags"] == "--gres=gpu:2"
    assert manifest["metadata"]["labels"]["accelhub.io/user"] == "ada-example.org"
    assert "slurm-job.vk.io/flags" not in pods.site_annotations(
        {"slurm-job.vk.io/flags": "--gres=gpu:{count}"}, 0, "ada", "cpu"
    )
    assert '"n": 1' in pods.configmap(job, {"cells": []})["data"]["parameters.json"]


def test_auto_for_a_job_without_accelerators_says_none_is_needed() -> None:
    st = state(node("vk-a", gpus=4), node("vk-b"), pod("j", "vk-a", 0))
    choice = sites.choose(st, sites.sites(st, {"vk-a": 2}), CPU, 0)
    assert choice.site is not None and choice.site.name == "vk-b"  # the shorter queue
    assert choice.reason == "chosen: no accelerator needed, 0 queued"


def test_a_mig_flavor_takes_on_each_site_the_shape_the_site_offers() -> None:
    st = state(
        node("vk-full", gpus=8),  # whole GPUs: not the slice under either strategy
        node("vk-single", gpus=2, **PRODUCT),  # single strategy: nvidia.com/gpu + product
        node("vk-mixed", slices=1),
        pod("j", "vk-mixed", 1, resource=SLICE),  # the mixed site's one slice is held
    )
    found = {s.name: s for s in sites.sites(st, {}, [(MIG, 1), (GPU, 2)])}
    assert sites.shape(st, found["vk-mixed"], MIG, 1) == MIXED
    assert sites.shape(st, found["vk-single"], MIG, 1) == SINGLE
    assert sites.shape(st, found["vk-full"], MIG, 1) is None
    # A site's own labels rule out flavors they contradict: a MIG product is not an A100.
    a100 = replace(GPU, node_selector={"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB"})
    assert sites.shape(st, found["vk-single"], a100, 1) is None
    assert sites.shape(st, found["vk-full"], a100, 1) == a100.placements[0]
    # The site list says what one job of each flavor asks for there.
    assert found["vk-single"].offers == {
        "mig": "nvidia.com/gpu labelled nvidia.com/gpu.product=NVIDIA-A100-80GB-PCIe-MIG-1g.10gb",
        "a100": "nvidia.com/gpu",
    }
    assert found["vk-mixed"].offers == {"mig": SLICE}
    assert found["vk-full"].offers == {"a100": "nvidia.com/gpu"}

    choice = sites.choose(st, list(found.values()), MIG, 1)
    assert choice.site is not None and choice.site.name == "vk-single"  # the free slices
    assert choice.placement == SINGLE
    assert choice.reason == (
        "chosen: offers nvidia.com/gpu labelled nvidia.com/gpu.product="
        "NVIDIA-A100-80GB-PCIe-MIG-1g.10gb, 2 free, 0 queued; skipped vk-full (no 1 "
        "nvidia.com/mig-1g.10gb or nvidia.com/gpu labelled nvidia.com/gpu.product="
        "NVIDIA-A100-80GB-PCIe-MIG-1g.10gb)"
    )


def test_a_site_offering_both_shapes_prefers_the_first_with_room() -> None:
    st = state(node("vk-both", gpus=1, slices=2, **PRODUCT))
    site = sites.sites(st, {})[0]
    assert sites.shape(st, site, MIG, 1) == MIXED
    st.set_pod(pod("a", "vk-both", 2, resource=SLICE))
    assert sites.shape(st, sites.sites(st, {})[0], MIG, 1) == SINGLE  # mixed is full


def test_the_pod_of_a_single_strategy_slice_asks_for_a_gpu_on_its_product() -> None:
    job = record(site="vk-single", flavor="mig", count=1, resources=pods.resources(MIG, SINGLE, 1))
    spec = pods.pod(job, ["run"], {}, {}, SINGLE)["spec"]
    assert spec["nodeSelector"] == {"kubernetes.io/hostname": "vk-single", **PRODUCT}
    limits = spec["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == "1" and SLICE not in limits
    mixed = pods.pod(job, ["run"], {}, {}, MIXED)["spec"]
    assert mixed["nodeSelector"] == {"kubernetes.io/hostname": "vk-single"}
    assert pods.resources(MIG, MIXED, 1)["limits"][SLICE] == "1"

"""AcceleratorSpawner without a hub: pod shaping, per-spawn reset, admission refusals, form."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from jupyterhub.spawner import SpawnException
from jupyterhub.utils import format_exception
from traitlets.config import Config

from hub_ext.admission import LeaseDecision, Reservation
from hub_ext.capacity import CapacityPolicy
from hub_ext.catalog import AI_INFN_CATALOG
from hub_ext.flavor_access import GROUP_PROPERTY_KEY
from hub_ext.inventory import ClusterInventory, FlavorCounts
from hub_ext.service.policy import QuotaPolicy
from hub_ext.spawner import AcceleratorSpawner
from hub_ext.spawner.errors import ADVICE, WAIT_ADVICE
from hub_ext.spawner.form import build_rows, render_form
from hub_ext.spawner.pending import availability, scheduler_message, timeout_message
from tests.spawner.test_inventory_state import node, pod


def make_spawner(**settings: Any) -> AcceleratorSpawner:
    config = Config()
    config.AcceleratorCatalog.catalog_file = AI_INFN_CATALOG
    for key, value in settings.items():
        setattr(config.AcceleratorSpawner, key, value)
    return AcceleratorSpawner(_mock=True, config=config)


async def manifest(spawner: AcceleratorSpawner, options: dict[str, Any]) -> Any:
    spawner.user_options = options
    await spawner.load_user_options()
    return await spawner.get_pod_manifest()


def env_of(pod: Any) -> dict[str, str]:
    return {e.name: e.value for e in pod.spec.containers[0].env}


async def test_mig_mixed_pod_shape() -> None:
    spawner = make_spawner(inventory_sync_seconds=0.1)  # no cluster: the catalog's first shape
    spawner._lease = LeaseDecision(
        granted=True,
        lease_id="L-7",
        tolerations=[
            {
                "key": "accelhub.io/reservation",
                "operator": "Equal",
                "value": "hack",
                "effect": "NoSchedule",
            }
        ],
        priority_class_name="interactive-high",
        reservation=Reservation(id="R", name="hack", group="hackers"),
    )
    pod = await manifest(spawner, {"flavor": "mig-1g-10gb"})
    res = pod.spec.containers[0].resources
    assert res.limits["nvidia.com/mig-1g.10gb"] == "1"
    assert res.requests["nvidia.com/mig-1g.10gb"] == "1"
    assert res.limits["memory"] == "8Gi" and res.requests["cpu"] == "2"
    assert pod.metadata.labels["accelhub.io/flavor"] == "mig-1g-10gb"
    assert pod.metadata.labels["accelhub.io/lease"] == "L-7"
    assert pod.spec.priority_class_name == "interactive-high"
    assert any(t.key == "accelhub.io/reservation" for t in pod.spec.tolerations)
    env = env_of(pod)
    assert env["ACCELHUB_MIG_PROFILE"] == "1g.10gb" and env["ACCELHUB_LEASE_ID"] == "L-7"
    assert env["ACCELHUB_RESERVATION"] == "hack"


async def test_slice_pod_takes_the_shape_of_the_strategy_with_room(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spawner = make_spawner()
    inventory = ClusterInventory(spawner.catalog.all(), api_factory=lambda: None)
    product = {"nvidia.com/gpu.product": "NVIDIA-A100-80GB-PCIe-MIG-1g.10gb"}
    inventory.state.replace_nodes(
        [
            node("a100-1", product, {"nvidia.com/gpu": "7"}),
            node("a100-2", {}, {"nvidia.com/mig-1g.10gb": "1"}),
        ]
    )
    for event in inventory._synced.values():
        event.set()
    monkeypatch.setattr(spawner, "inventory", lambda: inventory)
    shaped = await manifest(spawner, {"flavor": "mig-1g-10gb"})  # a mixed slice is free
    assert shaped.spec.containers[0].resources.limits == {
        "cpu": "2",
        "memory": "8Gi",
        "nvidia.com/mig-1g.10gb": "1",
    }
    assert not shaped.spec.node_selector
    assert env_of(shaped)["ACCELHUB_MIG_STRATEGY"] == "mixed"
    inventory.state.set_pod(pod("batch", "job", {"nvidia.com/mig-1g.10gb": "1"}, "a100-2"))
    shaped = await manifest(spawner, {"flavor": "mig-1g-10gb"})  # mixed full: the single node
    limits = shaped.spec.containers[0].resources.limits
    assert limits["nvidia.com/gpu"] == "1" and "nvidia.com/mig-1g.10gb" not in limits
    assert shaped.spec.node_selector == product
    env = env_of(shaped)
    assert (env["ACCELHUB_MIG_STRATEGY"], env["ACCELHUB_RESOURCE"]) == ("single", "nvidia.com/gpu")
    assert shaped.metadata.labels["accelhub.io/flavor"] == "mig-1g-10gb"


async def test_fpga_and_gpu_shape() -> None:
    spawner = make_spawner()
    pod = await manifest(spawner, {"flavor": "t4", "count": 2, "cpu": 8})
    assert pod.spec.containers[0].resources.limits["nvidia.com/gpu"] == "2"
    assert pod.spec.containers[0].resources.limits["cpu"] == "8"


async def test_nothing_leaks_from_one_spawn_to_the_next() -> None:
    spawner = make_spawner()
    gpu = await manifest(spawner, {"flavor": "t4", "count": 2})
    assert gpu.spec.node_selector
    cpu = await manifest(spawner, {})
    limits = cpu.spec.containers[0].resources.limits
    assert not any(k.startswith("nvidia.com") for k in limits)
    assert not cpu.spec.node_selector
    assert env_of(cpu)["NVIDIA_VISIBLE_DEVICES"] == "void"
    assert cpu.metadata.labels["accelhub.io/flavor"] == "cpu"
    assert spawner.node_selector == {} and spawner.extra_resource_limits == {}


async def test_bad_options_raise_a_400_spawn_exception() -> None:
    spawner = make_spawner()
    spawner.user_options = {"flavor": "t4", "count": 5}
    with pytest.raises(SpawnException) as info:
        await spawner.load_user_options()
    assert info.value.status_code == 400 and "not 5" in info.value.message
    # JupyterHub's pages show jupyterhub_message, else str(exc): the log line with the repr
    shown = format_exception(info.value)[0]
    assert "SpawnException" not in shown and shown.endswith(ADVICE["invalid_options"])
    with pytest.raises(SpawnException):
        await spawner.run_options_from_form({"flavor": ["nope"]})
    options = await spawner.run_options_from_form({"flavor": ["t4"], "t4--count": ["2"]})
    assert options["flavor"] == "t4" and options["count"] == 2


async def test_default_policy_is_capacity_alone_reading_the_spawners_inventory() -> None:
    spawner = make_spawner(admission_wait=False)
    policy = spawner.policy
    assert isinstance(policy, CapacityPolicy)
    inventory = ClusterInventory(spawner.catalog.all(), api_factory=lambda: None)
    for event in inventory._synced.values():
        event.set()  # synced, and the cluster has no T4 at all
    assert policy._inventory is not None
    assert policy._inventory.__func__ is AcceleratorSpawner.inventory  # type: ignore[attr-defined]
    policy._inventory = lambda: inventory
    spawner.user_options = {"flavor": "t4"}
    await spawner.load_user_options()
    assert spawner._selection is not None
    with pytest.raises(SpawnException) as info:
        await spawner._admit(spawner._selection, time.monotonic() + 5)
    assert info.value.reason == "capacity" and info.value.status_code == 503
    assert "The cluster has 0 NVIDIA Tesla T4 device(s)" in info.value.message
    assert str(info.value.jupyterhub_message).endswith(ADVICE["capacity"])


async def test_full_flavor_without_waiting_says_how_to_wait() -> None:
    spawner = make_spawner()
    inventory = ClusterInventory(spawner.catalog.all(), api_factory=lambda: None)
    inventory.state.replace_nodes(
        [node("t4-1", {"nvidia.com/gpu.product": "Tesla-T4"}, {"nvidia.com/gpu": "2"})]
    )
    inventory.state.replace_pods([pod("batch", "job", {"nvidia.com/gpu": "2"}, "t4-1")])
    for event in inventory._synced.values():
        event.set()  # synced: the cluster has 2 T4s, none free
    policy: Any = spawner.policy
    policy._inventory = lambda: inventory
    options = await spawner.run_options_from_form({"flavor": ["t4"], "t4--wait": ["on"]})
    assert options["wait"] is True
    spawner.user_options = {"flavor": "t4"}
    await spawner.load_user_options()
    assert spawner._selection is not None and not spawner._selection.wait
    with pytest.raises(SpawnException) as info:
        await spawner._admit(spawner._selection, time.monotonic() + 5)
    assert info.value.reason == "capacity" and info.value.status_code == 503
    assert info.value.message.endswith(WAIT_ADVICE)
    spawner.user_options = {"flavor": "t4", "wait": True}  # waiting: the pod may be Pending
    await spawner.load_user_options()
    assert spawner._selection is not None
    assert (await spawner._admit(spawner._selection, time.monotonic() + 5)).granted


async def test_form_rows_and_html() -> None:
    spawner = make_spawner()
    flavors = spawner.catalog.for_groups(["physics"])
    counts = {
        "cpu": FlavorCounts(180, 10, 170, 0, 6),
        "t4": FlavorCounts(2, 2, 0, 1, 1),
        "mig-1g-10gb": FlavorCounts(3, 1, 2, 0, 2),
    }
    rows = build_rows(flavors, counts, {}, None)
    slugs = [r.slug for r in rows]
    assert "fpga-u55c" not in slugs and "a100" not in slugs
    t4 = next(r for r in rows if r.slug == "t4")
    assert t4.full and not t4.disabled and "wait in line" in t4.why
    assert not t4.checked  # a flavor with something free is pre-selected instead
    mig = next(r for r in rows if r.slug == "mig-1g-10gb")
    assert mig.availability.startswith("2 / 3 free") and not mig.disabled
    html = render_form(rows, "<note>")
    assert 'value="mig-1g-10gb"' in html and "&lt;note&gt;" in html
    assert 'name="t4--wait" value="on" checked' in html  # a full flavor: waiting pre-ticked
    assert 'name="mig-1g-10gb--wait" value="on">' in html  # one with devices free: unticked
    assert 'name="cpu--wait"' not in html  # nothing to wait for without an accelerator
    no_wait = build_rows(flavors, counts, {}, None, can_wait=False)
    t4 = next(r for r in no_wait if r.slug == "t4")
    assert t4.disabled and "free" in t4.why
    assert 'name="t4--count"' not in render_form(no_wait)  # disabled flavors offer no choices


async def test_form_preselects_the_last_flavor_started_if_it_can_start_now() -> None:
    spawner = make_spawner()
    flavors = spawner.catalog.for_groups(["physics"])
    counts = {
        "cpu": FlavorCounts(180, 10, 170, 0, 6),
        "t4": FlavorCounts(2, 2, 0, 1, 1),
        "mig-1g-10gb": FlavorCounts(3, 1, 2, 0, 2),
    }
    rows = build_rows(flavors, counts, {}, None, last="mig-1g-10gb")
    assert [r.slug for r in rows if r.checked] == ["mig-1g-10gb"]
    empty = {**counts, "mig-1g-10gb": FlavorCounts(0, 0, 0, 0, 0)}
    shown = next(r for r in build_rows(flavors, empty, {}, None) if r.slug == "mig-1g-10gb")
    assert shown.disabled and shown.why.startswith("Not available on this cluster")
    hidden = build_rows(flavors, empty, {}, None, hide_unavailable=True)
    assert "mig-1g-10gb" not in [r.slug for r in hidden] and len(hidden) == len(rows) - 1
    for last in ("t4", "a100", "gone", None):  # full, not the user's, unknown, none: the first
        rows = build_rows(flavors, counts, {}, None, last=last)
        assert [r.slug for r in rows if r.checked] == ["cpu"], last


async def test_the_form_shown_with_a_refusal_keeps_the_refused_flavor_chosen() -> None:
    spawner = make_spawner()
    flavors = spawner.catalog.for_groups(["physics"])
    counts = {
        "cpu": FlavorCounts(180, 10, 170, 0, 6),
        "t4": FlavorCounts(2, 2, 0, 1, 1),  # full: the user may wait in line for it
        "mig-1g-10gb": FlavorCounts(3, 1, 2, 0, 2),
    }
    rows = build_rows(flavors, counts, {}, None, last="t4", refused="t4")
    assert [r.slug for r in rows if r.checked] == ["t4"]
    for refused in ("a100", "gone"):  # not the user's, unknown: the usual choice
        rows = build_rows(flavors, counts, {}, None, last="t4", refused=refused)
        assert [r.slug for r in rows if r.checked] == ["cpu"], refused
    spawner._refused_flavor = "t4"
    assert spawner.take_refused_flavor() == "t4" and spawner.take_refused_flavor() is None


async def test_pending_words() -> None:
    spawner = make_spawner()
    mig = spawner.catalog.get("mig-1g-10gb")
    text = availability(mig, FlavorCounts(7, 7, 0, 0, 1), queue=2)
    assert text == "No MIG 1g.10gb slice is free: 7/7 in use; you are 2nd in line"
    events = [{"reason": "FailedScheduling", "message": "0/9 nodes are available: ..."}]
    assert scheduler_message(events) == "Waiting for the scheduler: 0/9 nodes are available: ..."
    msg = timeout_message(mig, 1, 60, "No MIG 1g.10gb slice is free", None)
    assert "waiting for a node with 1 x MIG 1g.10gb slice" in msg


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, []),
        ({"ClusterInventory": {"namespaces": ["users"]}}, ["users"]),
        (
            {
                "ClusterInventory": {"namespaces": ["users"]},
                "AcceleratorSpawner": {"inventory_namespaces": ["lab"]},
            },
            ["lab"],
        ),
    ],
)
async def test_inventory_namespaces_come_from_either_setting(
    settings: dict[str, Any], expected: list[str]
) -> None:
    config = Config(settings)
    config.AcceleratorCatalog.catalog_file = AI_INFN_CATALOG
    spawner = AcceleratorSpawner(_mock=True, config=config)
    inventory = spawner.inventory()
    try:
        assert inventory.namespaces == expected
    finally:
        await inventory.stop()


async def test_the_spawner_reads_its_users_group_properties_at_each_call() -> None:
    spawner = make_spawner()
    a100 = spawner.catalog.get("a100")  # the catalog restricts it to ml-experts
    group = SimpleNamespace(name="physics", properties={})
    spawner.user = SimpleNamespace(name="ada", groups=[group])
    assert not spawner.group_access().may_use(a100)
    # what the hub's REST API does to the group's ORM row:
    group.properties = {"accelhub": {"flavors": {"a100": "open"}}}
    assert spawner.group_access().may_use(a100)
    assert spawner.group_property_key == QuotaPolicy().group_property_key == GROUP_PROPERTY_KEY

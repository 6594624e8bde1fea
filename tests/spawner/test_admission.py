"""Admission policies: CapacityPolicy (no service, no quotas) and the HTTP ServicePolicy."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import tornado.web
from tornado.httpserver import HTTPServer
from traitlets.config import Config

from hub_ext.admission import AdmissionPolicy, AdmissionUnavailable, ServicePolicy
from hub_ext.capacity import NO_QUOTAS, CapacityPolicy, admission_notice
from hub_ext.catalog import AI_INFN_CATALOG, AcceleratorCatalog
from hub_ext.contract import Granted, Lease
from hub_ext.inventory import ClusterInventory
from tests.helpers.net import free_port
from tests.spawner.test_inventory_state import node, pod

CAT = AcceleratorCatalog(catalog_file=AI_INFN_CATALOG)
T4, CPU, MIG = CAT.get("t4"), CAT.get("cpu"), CAT.get("mig-1g-10gb")


def synced_inventory() -> ClusterInventory:
    """A real inventory fed by hand (no cluster): two T4s, one of them taken."""
    inventory = ClusterInventory(CAT.all(), api_factory=lambda: None)
    inventory.state.replace_nodes(
        [node("t4-1", {"nvidia.com/gpu.product": "Tesla-T4"}, {"nvidia.com/gpu": "2"})]
    )
    inventory.state.replace_pods([pod("batch", "job", {"nvidia.com/gpu": "1"}, "t4-1")])
    for event in inventory._synced.values():
        event.set()
    return inventory


async def test_capacity_policy_admits_by_free_devices_alone() -> None:
    inventory = synced_inventory()
    policy = CapacityPolicy(inventory=lambda: inventory)
    assert isinstance(policy, AdmissionPolicy)
    one = await policy.request_lease("ada", ["physics"], "", T4, 1, True)
    assert one.granted and one.lease_id is None and one.local
    two = await policy.request_lease("ada", [], "", T4, 2, False)
    assert not two.granted and two.reason == "capacity" and not two.queue_position
    assert two.message == "Only 1 of 2 NVIDIA Tesla T4 device(s) are free; you asked for 2."
    waits = await policy.request_lease("ada", [], "", T4, 2, True)  # Pending in the scheduler
    assert waits.granted
    never = await policy.request_lease("bob", [], "", MIG, 1, True)  # no MIG node at all
    assert not never.granted and never.in_use is not None and never.in_use.free == 0
    assert never.message == "The cluster has 0 A100 MIG 1g.10gb device(s); you asked for 1."
    assert (await policy.request_lease("bob", [], "", CPU, 0, False)).granted
    assert await policy.entitlements("ada", ["physics"]) == {}  # no quotas to show


async def test_capacity_policy_without_a_synced_view_leaves_it_to_the_scheduler() -> None:
    unsynced = ClusterInventory(CAT.all(), api_factory=lambda: None)
    policy = CapacityPolicy(inventory=lambda: unsynced, sync_wait_seconds=0.05)
    assert (await policy.request_lease("ada", [], "", T4, 2, False)).granted

    def broken() -> ClusterInventory:
        raise RuntimeError("no kubeconfig")

    assert (await CapacityPolicy(inventory=broken).request_lease("a", [], "", T4, 1, False)).granted


async def test_a_spawn_just_after_start_waits_for_the_first_list_before_deciding() -> None:
    inventory = ClusterInventory(CAT.all(), api_factory=lambda: None)
    policy = CapacityPolicy(inventory=lambda: inventory, sync_wait_seconds=5)
    decision = asyncio.ensure_future(policy.request_lease("ada", [], "", MIG, 1, False))
    await asyncio.sleep(0.05)
    assert not decision.done()  # no list yet: no answer from an empty view
    inventory.state.replace_nodes(
        [node("t4-1", {"nvidia.com/gpu.product": "Tesla-T4"}, {"nvidia.com/gpu": "2"})]
    )
    for event in inventory._synced.values():
        event.set()
    refused = await asyncio.wait_for(decision, 1)
    assert not refused.granted and refused.reason == "capacity"


def test_start_up_notice_names_the_setting_only_when_quotas_are_off() -> None:
    config = Config()
    assert admission_notice(config) == NO_QUOTAS
    assert "c.AcceleratorSpawner.admission_policy_class = 'hub_ext.admission.ServicePolicy'" in (
        NO_QUOTAS
    )
    config.AcceleratorSpawner.admission_policy_class = "hub_ext.admission.ServicePolicy"
    assert admission_notice(config) is None
    config.AcceleratorSpawner.admission_policy_class = CapacityPolicy
    assert admission_notice(config) == NO_QUOTAS


class FakeService:
    """A tiny real HTTP service speaking the admission contract."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.answer: dict[str, Any] = {}
        self.status = 200


def make_app(svc: FakeService) -> tornado.web.Application:
    class Handler(tornado.web.RequestHandler):
        def record(self) -> None:
            body = json.loads(self.request.body) if self.request.body else None
            auth = self.request.headers.get("Authorization")
            svc.calls.append((self.request.method or "", self.request.path, (body, auth)))

        def post(self, *_: str) -> None:
            self.record()
            self.set_status(svc.status)
            self.write(svc.answer)

        def get(self, *_: str) -> None:
            self.record()
            self.write(svc.answer)

        def delete(self, *_: str) -> None:
            self.record()
            self.set_status(204)

    return tornado.web.Application([(r"/services/accelhub/api/v1/(.*)", Handler)])


@pytest.fixture
async def service() -> AsyncIterator[tuple[FakeService, str]]:
    svc = FakeService()
    port = free_port()
    server = HTTPServer(make_app(svc))
    server.listen(port, "127.0.0.1")
    yield svc, f"http://127.0.0.1:{port}/services/accelhub/"
    server.stop()


async def test_service_policy_grant_bind_release(service: tuple[FakeService, str]) -> None:
    svc, url = service
    policy = ServicePolicy(url=url, token="secret")
    svc.answer = Granted(  # written as the service writes it: through the contract
        Lease(
            id="L1",
            group="hackers",
            reservation="R1",
            tolerations=[{"key": "accelhub.io/reservation", "operator": "Exists"}],
            node_selector={"zone": "a"},
            priority_class_name="interactive-high",
            labels={"accelhub.io/reservation": "R1"},
        )
    ).to_json()
    decision = await policy.request_lease("ada", ["physics"], "", MIG, 1, True)
    assert decision.granted and decision.lease_id == "L1"
    assert decision.reservation is not None
    assert (decision.reservation.id, decision.reservation.group) == ("R1", "hackers")
    assert decision.node_selector == {"zone": "a"}
    assert decision.priority_class_name == "interactive-high"
    method, path, (body, auth) = svc.calls[-1]
    assert (method, path) == ("POST", "/services/accelhub/api/v1/admissions")
    assert body == {"user": "ada", "server": "", "flavor": "mig-1g-10gb", "count": 1, "wait": True}
    assert auth == "token secret"
    await policy.bind_lease("L1", "accelhub", "jupyter-ada")
    assert svc.calls[-1][1].endswith("/leases/L1/bind")
    assert svc.calls[-1][2][0] == {"namespace": "accelhub", "pod": "jupyter-ada"}
    await policy.release_lease("L1")
    assert svc.calls[-1][:2] == ("DELETE", "/services/accelhub/api/v1/leases/L1")


async def test_service_policy_refusal_and_entitlements(service: tuple[FakeService, str]) -> None:
    svc, url = service
    policy = ServicePolicy(url=url)
    svc.answer = {
        "granted": False,
        "reason": "quota",
        "message": "Your group physics uses 4 of its 4 T4 GPUs.",
        "in_use": {"user": 1, "group": 4, "group_quota": 4, "user_cap": 2, "free": 0},
        "queue_position": None,
        "retry_after_seconds": None,
    }
    decision = await policy.request_lease("ada", [], "", T4, 1, False)
    assert not decision.granted and decision.reason == "quota"
    assert decision.in_use is not None and decision.in_use.group == 4
    svc.answer = {
        "flavors": {
            "t4": {
                "allowed": False,
                "reason": "quota",
                "user_in_use": 1,
                "user_cap": 2,
                "group_quota_remaining": 0,
                "reservation": None,
                "queue_position": None,
            }
        }
    }
    ents = await policy.entitlements("ada", [])
    assert ents["t4"].reason == "quota" and ents["t4"].group_quota_remaining == 0
    assert svc.calls[-1][1] == "/services/accelhub/api/v1/users/ada/entitlements"


async def test_service_down_refuses_gpu_and_fails_open_for_cpu() -> None:
    policy = ServicePolicy(url=f"http://127.0.0.1:{free_port()}/services/accelhub/")
    with pytest.raises(AdmissionUnavailable, match="cannot be reached"):
        await policy.request_lease("ada", [], "", T4, 1, False)
    decision = await policy.request_lease("ada", [], "", CPU, 0, False)
    assert decision.granted and decision.local and decision.lease_id is None
    policy.fail_open_kinds = []
    with pytest.raises(AdmissionUnavailable):
        await policy.request_lease("ada", [], "", CPU, 0, False)


async def test_service_error_is_unavailable(service: tuple[FakeService, str]) -> None:
    svc, url = service
    svc.status = 500
    with pytest.raises(AdmissionUnavailable, match="not working"):
        await ServicePolicy(url=url).request_lease("ada", [], "", T4, 1, False)

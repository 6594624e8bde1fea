"""Admission policies: the in-memory StaticPolicy and the HTTP ServicePolicy."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import tornado.web
from tornado.httpserver import HTTPServer

from hub_ext.admission import (
    AdmissionPolicy,
    AdmissionUnavailable,
    ServicePolicy,
    StaticPolicy,
)
from hub_ext.catalog import AcceleratorCatalog
from tests.helpers.net import free_port

CAT = AcceleratorCatalog()
T4, CPU, MIG = CAT.get("t4"), CAT.get("cpu"), CAT.get("mig-1g-10gb")


async def test_static_policy_caps_quotas_and_release() -> None:
    policy = StaticPolicy(
        user_caps={"t4": 1}, group_quotas={"physics": {"mig-1g-10gb": 2}}, capacity={"t4": 2}
    )
    assert isinstance(policy, AdmissionPolicy)
    first = await policy.request_lease("ada", [], "", T4, 1, False)
    assert first.granted and first.lease_id
    again = await policy.request_lease("ada", [], "gpu2", T4, 1, False)
    assert not again.granted and again.reason == "user_cap"
    other = await policy.request_lease("bob", [], "", T4, 1, False)
    assert other.granted
    third = await policy.request_lease("cy", [], "", T4, 1, False)
    assert not third.granted and third.reason == "capacity"
    assert "2/2 in use" in third.message
    await policy.release_lease(first.lease_id or "")
    assert (await policy.request_lease("cy", [], "", T4, 1, False)).granted
    outsider = await policy.request_lease("eve", ["bio"], "", MIG, 1, False)
    assert not outsider.granted and outsider.reason == "not_allowed"
    for user in ("ada", "bob"):
        assert (await policy.request_lease(user, ["physics"], "m", MIG, 1, False)).granted
    over = await policy.request_lease("cy", ["physics"], "m", MIG, 1, False)
    assert not over.granted and over.reason == "quota"
    assert over.in_use is not None and over.in_use.group_quota == 2
    ents = await policy.entitlements("cy", ["physics"])
    assert not ents["mig-1g-10gb"].allowed and ents["mig-1g-10gb"].reason == "quota"


async def test_static_policy_same_server_replaces_its_lease() -> None:
    policy = StaticPolicy(user_caps={"t4": 1})
    await policy.request_lease("ada", [], "", T4, 1, False)
    assert (await policy.request_lease("ada", [], "", T4, 1, False)).granted
    assert len(policy.leases) == 1


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
    svc.answer = {
        "granted": True,
        "lease": {
            "id": "L1",
            "tolerations": [{"key": "accelhub.io/reservation", "operator": "Exists"}],
            "node_selector": {"zone": "a"},
            "priority_class_name": "interactive-high",
            "labels": {"accelhub.io/reservation": "hack"},
            "reservation": {"id": "R1", "name": "hack", "group": "hackers", "ends_at": "x"},
        },
    }
    decision = await policy.request_lease("ada", ["physics"], "", MIG, 1, True)
    assert decision.granted and decision.lease_id == "L1"
    assert decision.reservation is not None and decision.reservation.group == "hackers"
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

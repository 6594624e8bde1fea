"""The AcceleratorSpawner with ServicePolicy against the real accelhub hub service."""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.devstack.conftest import RunningDevstack
from tests.spawner.hubstack import SpawnerHub, start_service_hub
from tests.spawner.kube import get_pod

pytestmark = pytest.mark.integration
STALE_SECONDS = 6.0  # the service drops a line entry nobody asked about for this long


@pytest.fixture(scope="module")
def service_hub(
    spawner_devstack: RunningDevstack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SpawnerHub, str]]:
    """JupyterHub + the accelhub service (static capacity) + AcceleratorSpawner(ServicePolicy)."""
    state: Path = tmp_path_factory.mktemp("service-hub")
    admin_token = secrets.token_hex(16)
    catalog = state / "catalog.yaml"  # one catalog file, read by the hub and the service
    catalog.write_text(
        "- {slug: cpu, kind: cpu, default_memory: 1Gi}\n"
        "- slug: t4\n"
        "  display_name: NVIDIA Tesla T4\n"
        "  kind: gpu\n"
        "  node_selector: {nvidia.com/gpu.product: Tesla-T4}\n"
    )
    hub, _, _ = start_service_hub(
        state,
        spawner_devstack.kubeconfig,
        f"c.AcceleratorCatalog.catalog_file = {str(catalog)!r}\n"
        "c.QuotaPolicy.group_quotas = {'physics': {'t4': {'devices': 1, 'per_user': 1}},\n"
        "  'hackers': {'t4': {'devices': 2, 'per_user': 2}}}\n"
        "c.QuotaPolicy.default_quota = {'cpu': {'devices': None, 'per_user': 5},\n"
        "  't4': {'devices': 1, 'per_user': 1}}\n"
        "c.AccelhubService.group_cache_seconds = 1.0\n"
        "c.AccelhubService.static_capacity = {'t4': 2, 'cpu': 100}\n"
        f"c.AccelhubService.queue_stale_seconds = {STALE_SECONDS}\n"
        "c.AccelhubService.tick_seconds = 0.5\n",
        "c.AcceleratorSpawner.admission_poll_seconds = 1.0\n"
        "def _short_wait(spawner):  # the server named 'short' gives up waiting after 15 s\n"
        "    if spawner.name == 'short':\n"
        "        spawner.timeout_margin = spawner.start_timeout - 15\n"
        "c.Spawner.pre_spawn_hook = _short_wait\n"
        f"c.AcceleratorCatalog.catalog_file = {str(catalog)!r}\n",
        admin_token=admin_token,
    )
    yield hub, admin_token
    hub.shutdown()


def leases(hub: SpawnerHub, admin_token: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{hub.url}/services/accelhub/api/v1/leases",
        headers={"Authorization": f"token {admin_token}"},
        timeout=30,
    )
    response.raise_for_status()
    data = response.json()
    items: list[dict[str, Any]] = data.get("leases", data) if isinstance(data, dict) else data
    return items


def test_service_grants_binds_refuses_and_releases(
    service_hub: tuple[SpawnerHub, str], spawner_devstack: RunningDevstack
) -> None:
    hub, admin_token = service_hub
    response = hub.api("POST", "/users/ada/servers/g", json={"flavor": "t4"})
    assert response.status_code in (201, 202), response.text
    try:
        model = hub.wait_ready("ada", "g")
        assert model.get("ready"), model
        pod_name = model["state"]["pod_name"]
        lease = next(x for x in leases(hub, admin_token) if x["user"] == "ada")
        assert lease["flavor"] == "t4"
        assert (lease.get("bound") or {}).get("pod") == pod_name
        refused = hub.api("POST", "/users/bob/servers/g", json={"flavor": "t4"})
        assert refused.status_code == 403, refused.text
        assert "quota" in refused.json()["message"].lower() or "physics" in refused.text
    finally:
        hub.stop("ada", "g")
    active = [x for x in leases(hub, admin_token) if x["user"] == "ada" and not x.get("ended_at")]
    assert not active, active


def service(hub: SpawnerHub, admin_token: str, method: str, path: str, **kw: Any) -> httpx.Response:
    """Call the accelhub service's API with the admin token (admins may also admit)."""
    return httpx.request(
        method,
        f"{hub.url}/services/accelhub/api/v1/{path}",
        headers={"Authorization": f"token {admin_token}"},
        timeout=30,
        **kw,
    )


def hold(hub: SpawnerHub, admin_token: str, user: str, server: str) -> str:
    """A T4 lease with no pod, to take a device from everyone else; its id."""
    body = {"user": user, "server": server, "flavor": "t4", "count": 1}
    decision = service(hub, admin_token, "POST", "admissions", json=body).json()
    assert decision["granted"], decision
    return str(decision["lease"]["id"])


def unhold(hub: SpawnerHub, admin_token: str, lease_id: str) -> None:
    assert service(hub, admin_token, "DELETE", f"leases/{lease_id}").status_code == 204


def line(hub: SpawnerHub, admin_token: str) -> list[tuple[str, str]]:
    entries = service(hub, admin_token, "GET", "queue?flavor=t4").json()["entries"]
    return [(e["user"], e["server"]) for e in entries]


def active_leases(
    hub: SpawnerHub, admin_token: str, user: str, flavor: str | None = None
) -> list[dict[str, Any]]:
    return [
        x
        for x in leases(hub, admin_token)
        if x["user"] == user and not x.get("ended_at") and flavor in (None, x["flavor"])
    ]


def wait_until(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


def progress_until(hub: SpawnerHub, user: str, server: str, text: str, seconds: float) -> str:
    """Read the server's progress event stream until a message contains ``text``."""
    url = f"{hub.url}/hub/api/users/{user}/servers/{server}/progress"
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    with (
        contextlib.suppress(httpx.ReadTimeout),
        httpx.stream(
            "GET", url, headers={"Authorization": f"token {hub.token}"}, timeout=seconds
        ) as stream,
    ):
        for raw in stream.iter_lines():
            if raw.startswith("data:"):
                seen.append(json.loads(raw[5:]).get("message", ""))
                if text in seen[-1]:
                    return seen[-1]
            if time.monotonic() > deadline:
                break
    raise AssertionError(f"no progress message with {text!r}: {seen}")


@pytest.fixture(scope="module")
def cpu_server(service_hub: tuple[SpawnerHub, str]) -> Iterator[dict[str, Any]]:
    """A server started with no options at all: the form's default row, CPU only."""
    hub, _ = service_hub
    response = hub.api("POST", "/users/fred/servers/cpu", json={})
    assert response.status_code in (201, 202), response.text
    try:
        yield hub.wait_ready("fred", "cpu")
    finally:
        hub.stop("fred", "cpu")


def test_cpu_spawn_with_no_options_runs_under_the_service(
    service_hub: tuple[SpawnerHub, str], cpu_server: dict[str, Any]
) -> None:
    hub, admin_token = service_hub
    assert cpu_server.get("ready"), cpu_server
    (lease,) = active_leases(hub, admin_token, "fred")
    assert (lease["flavor"], lease["count"]) == ("cpu", 0)
    assert (lease.get("bound") or {}).get("pod") == cpu_server["state"]["pod_name"]
    refused = service(
        hub, admin_token, "POST", "admissions", json={"user": "x", "flavor": "cpu", "count": 1}
    )
    assert refused.status_code == 422
    assert refused.json()["message"] == (
        "The flavor 'cpu' has no accelerator, so 'count' must be 0, not 1."
    )


def test_spawned_pod_knows_where_to_report_activity(
    service_hub: tuple[SpawnerHub, str],
    cpu_server: dict[str, Any],
    spawner_devstack: RunningDevstack,
) -> None:
    hub, _ = service_hub
    pod = get_pod(spawner_devstack, "accelhub", cpu_server["state"]["pod_name"])
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    assert env["ACCELHUB_ACTIVITY_URL"] == f"{hub.url}/services/accelhub/api/v1/activity"
    assert env["ACCELHUB_SERVICE_URL"].rstrip("/") == f"{hub.url}/services/accelhub"


def test_refused_and_timed_out_waits_leave_no_place_in_line(
    service_hub: tuple[SpawnerHub, str],
) -> None:
    hub, admin_token = service_hub
    quota = hold(hub, admin_token, "ada", "q")  # physics' one T4
    try:
        refused = hub.api("POST", "/users/bob/servers/q", json={"flavor": "t4", "wait": True})
        assert refused.status_code == 403 and "quota" in refused.json()["message"], refused.text
        assert ("bob", "q") not in line(hub, admin_token)
    finally:
        unhold(hub, admin_token, quota)
    held = [hold(hub, admin_token, "hal", name) for name in ("x", "y")]  # both T4s
    try:
        response = hub.api("POST", "/users/bob/servers/short", json={"flavor": "t4", "wait": True})
        assert response.status_code == 202, response.text
        wait_until(lambda: ("bob", "short") in line(hub, admin_token), 20, "bob never queued")
        hub.wait_ready("bob", "short", timeout=40)  # returns once the spawn has given up
        failed = hub.api("GET", "/users/bob").json()["servers"]
        assert "short" not in failed, failed
        assert ("bob", "short") not in line(hub, admin_token)
        unhold(hub, admin_token, held.pop())
        time.sleep(2)  # several service ticks with a device free
        assert not active_leases(hub, admin_token, "bob", "t4")
    finally:
        for lease_id in held:
            unhold(hub, admin_token, lease_id)


def test_waiting_from_the_form_shows_the_place_and_gets_the_device(
    service_hub: tuple[SpawnerHub, str],
) -> None:
    hub, admin_token = service_hub
    held = [hold(hub, admin_token, "hal", name) for name in ("x", "y")]
    browser = hub.login("ada")
    try:
        form = browser.get("/hub/spawn/ada/w")
        assert 'name="t4--wait" value="on" checked' in form.text, form.text
        posted = browser.post(
            "/hub/spawn/ada/w",
            data={"flavor": "t4", "t4--wait": "on", "_xsrf": browser.cookies.get("_xsrf", "")},
        )
        assert posted.status_code == 200, posted.text
        wait_until(lambda: line(hub, admin_token) == [("ada", "w")], 20, "ada never queued")
        response = hub.api("POST", "/users/fred/servers/w", json={"flavor": "t4", "wait": True})
        assert response.status_code == 202, response.text
        message = progress_until(hub, "fred", "w", "number 2 of 2", 20)
        expected = "Waiting in line for NVIDIA Tesla T4 GPU: number 2 of 2."
        assert message.startswith(expected), message
        unhold(hub, admin_token, held.pop())  # ada is first in line: her server gets it
        model = hub.wait_ready("ada", "w", timeout=60)
        assert model.get("ready"), model
        progress_until(hub, "fred", "w", "number 1 of 1", 20)
        hub.stop("fred", "w")  # stopping a waiting server leaves the line
        assert line(hub, admin_token) == []
        unhold(hub, admin_token, held.pop())
        time.sleep(2)  # several service ticks with a device free
        assert not active_leases(hub, admin_token, "fred", "t4")
    finally:
        browser.close()
        hub.stop("ada", "w")
        for lease_id in held:
            unhold(hub, admin_token, lease_id)

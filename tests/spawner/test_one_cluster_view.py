"""The hub's form and the service's admission read one watch-fed view of the cluster: they
agree while device-holding pods come and go in another namespace and when a node is tainted."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.devstack.conftest import RunningDevstack
from tests.spawner.hubstack import SpawnerHub, start_service_hub
from tests.spawner.kube import hold_devices, release, wait_phase
from tests.spawner.test_hub_integration import form_counts

pytestmark = pytest.mark.integration

T4 = {"nvidia.com/gpu.product": "Tesla-T4"}


@pytest.fixture(scope="module")
def watched_hub(
    spawner_devstack: RunningDevstack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SpawnerHub, str, str]]:
    """JupyterHub (ServicePolicy) + the service talking to devstack, one catalog file."""
    state: Path = tmp_path_factory.mktemp("one-view")
    admin_token = secrets.token_hex(16)
    catalog = state / "catalog.yaml"
    catalog.write_text(
        "- {slug: cpu, kind: cpu, default_memory: 1Gi}\n"
        "- {slug: t4, display_name: T4, kind: gpu, counts: [1, 2],\n"
        "   node_selector: {nvidia.com/gpu.product: Tesla-T4}}\n"
    )
    hub, url, admit_token = start_service_hub(
        state,
        spawner_devstack.kubeconfig,
        f"c.AcceleratorCatalog.catalog_file = {str(catalog)!r}\n"
        "c.QuotaPolicy.default_quota = {'*': {'devices': 10, 'per_user': 10}}\n"
        "c.AccelhubService.kubernetes = True\n"
        f"c.KubeCluster.kubeconfig = {str(spawner_devstack.kubeconfig)!r}\n",
        f"c.AcceleratorCatalog.catalog_file = {str(catalog)!r}\n",
        admin_token=admin_token,
    )
    yield hub, url, admit_token
    hub.shutdown()


def service_decision(url: str, token: str, count: int) -> str:
    """'granted' or the refusal reason for ``count`` T4s; a granted lease is given back."""
    headers = {"Authorization": f"token {token}"}
    body = {"user": "ada", "server": "probe", "flavor": "t4", "count": count, "wait": False}
    answer = httpx.post(url + "api/v1/admissions", json=body, headers=headers, timeout=30)
    answer.raise_for_status()
    data = answer.json()
    if not data.get("granted"):
        return str(data.get("reason"))
    lease_id = data["lease"]["id"]
    httpx.delete(url + f"api/v1/leases/{lease_id}", headers=headers, timeout=30)
    return "granted"


def eventually(what: str, probe: Callable[[], Any], want: Any, seconds: float = 20) -> None:
    deadline, seen = time.monotonic() + seconds, None
    while time.monotonic() < deadline:
        seen = probe()
        if seen == want:
            return
        time.sleep(0.3)
    raise AssertionError(f"{what}: saw {seen!r}, wanted {want!r}")


def agree(browser: httpx.Client, url: str, token: str, free: int) -> None:
    """The form shows ``free`` of 2 T4s free, and the service grants exactly that many:
    ``free`` devices are granted and ``free + 1`` are refused for capacity."""
    eventually("form", lambda: form_counts(browser).get("t4"), (str(free), "2"))
    if free:
        eventually("service grants free", lambda: service_decision(url, token, free), "granted")
    if free < 2:
        eventually("service refuses", lambda: service_decision(url, token, free + 1), "capacity")


def test_form_and_service_agree_as_pods_come_and_go_and_a_node_is_tainted(
    watched_hub: tuple[SpawnerHub, str, str], spawner_devstack: RunningDevstack
) -> None:
    hub, url, token = watched_hub
    browser = hub.login("ada")
    assert form_counts(browser)["t4"] == ("2", "2")
    agree(browser, url, token, 2)
    hold_devices(spawner_devstack, "hackathon", "batch-t4-a", "nvidia.com/gpu", 1, T4)
    try:
        wait_phase(spawner_devstack, "hackathon", "batch-t4-a", "Running")
        agree(browser, url, token, 1)
        hold_devices(spawner_devstack, "hackathon", "batch-t4-b", "nvidia.com/gpu", 1, T4)
        wait_phase(spawner_devstack, "hackathon", "batch-t4-b", "Running")
        agree(browser, url, token, 0)
    finally:
        release(spawner_devstack, "hackathon", "batch-t4-a")
        release(spawner_devstack, "hackathon", "batch-t4-b")
    agree(browser, url, token, 2)
    taint = "accelhub-test/maintenance=yes:NoSchedule"
    spawner_devstack.kubectl("taint", "nodes", "t4-1", taint)
    try:
        eventually("form, tainted", lambda: form_counts(browser).get("t4"), ("0", "0"))
        eventually("service, tainted", lambda: service_decision(url, token, 1), "capacity")
    finally:
        spawner_devstack.kubectl("taint", "nodes", "t4-1", "accelhub-test/maintenance-")
    agree(browser, url, token, 2)

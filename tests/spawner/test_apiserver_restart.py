"""Fault injection: devstack's API server restarts under a running hub. The spawner's inventory
watches lose their connection and come back with a resourceVersion the restarted server no
longer keeps (410), relist, and the spawn form's counts converge to the cluster's; KubeSpawner's
own reflectors resume too, so a server still starts afterwards."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.devstack.conftest import RunningDevstack, start_devstack, stop_devstack
from tests.spawner.hubstack import SpawnerHub, start_spawner_hub
from tests.spawner.kube import hold_devices, release

pytestmark = pytest.mark.integration
CONVERGE_SECONDS = 15.0  # the bound: counts match the cluster this long after the restart
T4 = {"nvidia.com/gpu.product": "Tesla-T4"}
RTX = {"nvidia.com/gpu.product": "Quadro-RTX-5000"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningDevstack, SpawnerHub]]:
    """A devstack of its own (restarting it must not disturb other suites) and a hub on it."""
    ds = start_devstack(tmp_path_factory.mktemp("restart-ds") / "state")
    try:
        hub = start_spawner_hub(tmp_path_factory.mktemp("restart-hub"), ds.kubeconfig)
    except BaseException:
        stop_devstack(ds)
        raise
    yield ds, hub
    hub.shutdown()
    stop_devstack(ds)


def free(browser: httpx.Client) -> dict[str, int]:
    """Free devices per flavor, as the spawn form shows them."""
    html = browser.get("/hub/spawn/ada/probe").text
    found = re.findall(r'data-flavor="([^"]+)".*?data-free="(\d+)"', html, re.DOTALL)
    return {slug: int(n) for slug, n in found}


def converge(browser: httpx.Client, want: dict[str, int], seconds: float) -> float:
    """Seconds until the form shows ``want``; fails after ``seconds``."""
    began = time.monotonic()
    seen: dict[str, int] = {}
    while time.monotonic() - began < seconds:
        seen = free(browser)
        if all(seen.get(k) == v for k, v in want.items()):
            return time.monotonic() - began
        time.sleep(0.3)
    raise AssertionError(f"the form shows {seen}, the cluster has {want}")


def until_serving(ds: RunningDevstack, *kubectl: str) -> None:
    """Run a kubectl command as soon as the restarted API server takes it."""
    deadline = time.monotonic() + 20
    while ds.kubectl(*kubectl, check=False).returncode != 0:
        assert time.monotonic() < deadline, "the API server did not come back"
        time.sleep(0.2)


def test_form_counts_converge_and_spawns_work_after_an_api_server_restart(
    stack: tuple[RunningDevstack, SpawnerHub],
) -> None:
    ds, hub = stack
    browser = hub.login("ada")
    try:
        before = free(browser)
        assert before["t4"] == 2 and before["rtx5000"] >= 1, before
        hold_devices(ds, "default", "holder-a", "nvidia.com/gpu", 1, T4)
        converge(browser, {"t4": 1}, CONVERGE_SECONDS)
        ds.restart_api()
        time.sleep(0.2)  # inside the restart's downtime: every connection is gone
        # Changes the hub cannot watch: it must relist (its old resourceVersion is gone).
        until_serving(ds, "delete", "pod", "-n", "default", "holder-a", "--grace-period=0")
        hold_devices(ds, "default", "holder-b", "nvidia.com/gpu", 1, RTX)
        took = converge(browser, {"t4": 2, "rtx5000": before["rtx5000"] - 1}, CONVERGE_SECONDS)
        print(f"form counts converged {took:.1f}s after the API server came back")
        log = hub.process.log_text()
        assert "inventory pods watch failed" in log  # the restart really reached the hub
        response = hub.api("POST", "/users/ada/servers/after", json={"flavor": "cpu"})
        assert response.status_code in (201, 202), response.text
        model = hub.wait_ready("ada", "after", timeout=60)
        assert model.get("ready"), model
        hub.stop("ada", "after")
    finally:
        browser.close()
        release(ds, "default", "holder-b")
        release(ds, "default", "holder-a")

"""Fault injection: the hub service is killed (SIGKILL) in the middle of a 100-spawn burst and
JupyterHub starts it again. No granted lease is lost or duplicated, no flavor is over-allocated,
and the waiting line keeps its members and their order."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.service.hubstack import Hub, start_hub

pytestmark = pytest.mark.integration

SPAWNS = 100
CAPACITY = 40  # a100 devices: 40 spawns get one, 60 wait in line
KILL_AFTER = 55  # answers received before the kill: all 40 leases and some places in line
EXTRA = (
    f"c.AccelhubService.static_capacity = {{'a100': {CAPACITY}}}\n"
    "c.QuotaPolicy.default_quota = {'*': {'devices': None, 'per_user': 1}}\n"
    "c.AccelhubService.queue_stale_seconds = 600.0\n"  # the line is checked, not abandoned
)


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    state: Path = tmp_path_factory.mktemp("hub")
    running = start_hub(state / "hub", f"sqlite:///{state / 'accelhub.sqlite'}", EXTRA)
    try:
        yield running
    finally:
        running.stop()


def service_pid(hub: Hub) -> int:
    for child in psutil.Process(hub.process.pid).children(recursive=True):
        if "hub_ext.service" in " ".join(child.cmdline()):
            return child.pid
    raise AssertionError("the accelhub service process is not running")


def wait_for_service(hub: Hub, old_pid: int, timeout: float = 90) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if service_pid(hub) != old_pid and (
                httpx.get(hub.api + "openapi.json", timeout=2).status_code == 200
            ):
                return time.monotonic() - started
        except (AssertionError, httpx.HTTPError, psutil.Error):
            pass
        time.sleep(0.3)
    raise AssertionError(f"JupyterHub did not restart the service:\n{hub.process.log_text()}")


async def test_kill_9_mid_burst_loses_and_duplicates_nothing(svc: Hub) -> None:
    headers = {"Authorization": f"token {svc.admit_token}"}
    answers: dict[str, dict] = {}  # user -> the answer received before the kill
    killed = asyncio.Event()
    pid = service_pid(svc)

    async def spawn(client: httpx.AsyncClient, user: str) -> None:
        body = {"user": user, "server": "", "flavor": "a100", "wait": True}
        try:
            response = await client.post(svc.api + "admissions", json=body, headers=headers)
        except httpx.HTTPError:
            return  # lost in the crash: asked again after the restart
        if response.status_code == 200 and not killed.is_set():
            answers[user] = response.json()
        if len(answers) >= KILL_AFTER and not killed.is_set():
            killed.set()
            os.kill(pid, signal.SIGKILL)

    users = [f"burst{i}" for i in range(SPAWNS)]
    limits = httpx.Limits(max_connections=10)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        await asyncio.gather(*(spawn(client, user) for user in users))
    assert killed.is_set() and KILL_AFTER <= len(answers) < SPAWNS
    restart_seconds = await asyncio.to_thread(wait_for_service, svc, pid)

    granted = {u: a["lease"]["id"] for u, a in answers.items() if a["granted"]}
    waiting = {u: a["queue_position"] for u, a in answers.items() if not a["granted"]}
    leases = svc.call("admit", "GET", "leases").json()["leases"]
    line = [e["user"] for e in svc.call("admit", "GET", "queue?flavor=a100").json()["entries"]]
    active = {lease["user"]: lease["id"] for lease in leases}
    lost = {u for u, lid in granted.items() if active.get(u) != lid}
    assert not lost, lost
    assert len(active) == len(leases) <= CAPACITY  # one lease per server, none over capacity
    assert [u for u in line if u in waiting] == sorted(waiting, key=waiting.__getitem__)

    async with httpx.AsyncClient(timeout=30, limits=limits) as client:  # the spawners ask again
        body = {"server": "", "flavor": "a100", "wait": True}
        again = await asyncio.gather(
            *(
                client.post(svc.api + "admissions", json={**body, "user": u}, headers=headers)
                for u in users
            )
        )
    after = {u: r.json() for u, r in zip(users, again, strict=True)}
    assert all(r.status_code == 200 for r in again)
    for user, lease_id in granted.items():
        assert after[user]["granted"] and after[user]["lease"]["id"] == lease_id
    holders = [u for u, a in after.items() if a["granted"]]
    positions = sorted(a["queue_position"] for a in after.values() if not a["granted"])
    assert len(holders) == CAPACITY and positions == list(range(1, SPAWNS - CAPACITY + 1))
    final = svc.call("admit", "GET", "leases").json()["leases"]
    assert sorted(lease["user"] for lease in final) == sorted(holders)
    print(
        f"kill -9 after {len(answers)} of {SPAWNS} answers; restarted in {restart_seconds:.1f} s;"
        f" {len(granted)} leases and {len(waiting)} places held across it; lost 0, duplicated 0,"
        f" in use {len(final)} of {CAPACITY}"
    )

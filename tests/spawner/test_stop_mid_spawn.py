"""Stopping a server in the middle of its spawn, through the real hub, service and devstack:
whatever the spawn was granted is given back, and no lease or pod outlives it."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.devstack.conftest import RunningDevstack
from tests.spawner.hubstack import SpawnerHub
from tests.spawner.test_service_integration import (
    active_leases,
    hold,
    line,
    service_hub,
    unhold,
    wait_until,
)

__all__ = ["service_hub"]  # the module-scoped fixture: this module's own hub and service
pytestmark = pytest.mark.integration
SETTLE_SECONDS = 10.0  # the bound: no lease or pod of a stopped spawn is left after this


def interrupt(
    hub: SpawnerHub,
    user: str,
    server: str,
    options: dict[str, Any],
    delay: float,
    until: Callable[[], bool] | None = None,
) -> httpx.Response:
    """POST a spawn, DELETE the server ``delay`` seconds later (or once ``until()`` holds);
    the POST's answer."""
    with ThreadPoolExecutor(1) as pool:
        post = pool.submit(hub.api, "POST", f"/users/{user}/servers/{server}", json=options)
        time.sleep(delay)
        if until is not None:
            wait_until(until, 30, f"{user}/{server} never reached the stop point")
        hub.api("DELETE", f"/users/{user}/servers/{server}")
        answer = post.result()
    hub.stop(user, server)  # waits until the server is gone
    return answer


def progress_messages(hub: SpawnerHub, user: str, server: str, seconds: float) -> list[str]:
    """Every message of the server's progress stream until the hub ends it."""
    url = f"{hub.url}/hub/api/users/{user}/servers/{server}/progress"
    headers = {"Authorization": f"token {hub.token}"}
    with httpx.stream("GET", url, headers=headers, timeout=seconds) as stream:
        return [
            json.loads(raw[5:]).get("message", "")
            for raw in stream.iter_lines()
            if raw.startswith("data:")
        ]


def uncaught(log: str, request: str) -> list[str]:
    """The tracebacks the hub logged for uncaught exceptions of ``request``."""
    traces = []
    for block in log.split("Uncaught exception ")[1:]:
        if block.startswith(request):
            lines = block.splitlines()
            body = [lines[0]]
            for line in lines[1:]:
                if line.startswith("["):
                    break
                body.append(line)
            traces.append("\n".join(body))
    return traces


def user_pods(ds: RunningDevstack, user: str) -> list[str]:
    out = ds.kubectl("get", "pods", "-n", "accelhub", "-o", "json").stdout
    return [
        p["metadata"]["name"]
        for p in json.loads(out)["items"]
        if (p["metadata"].get("annotations") or {}).get("hub.jupyter.org/username") == user
        and not p["metadata"].get("deletionTimestamp")
    ]


def test_a_spawn_stopped_during_admission_leaves_no_lease(
    service_hub: tuple[SpawnerHub, str],
) -> None:
    hub, admin_token = service_hub
    hub.api("POST", "/users/gus")
    answers = []
    for n, delay in enumerate((0.0, 0.01, 0.02, 0.03, 0.05, 0.08)):
        answers.append(interrupt(hub, "gus", f"i{n}", {"flavor": "t4"}, delay))
        wait_until(
            lambda: not active_leases(hub, admin_token, "gus"),
            SETTLE_SECONDS,
            f"a lease outlived the spawn stopped after {delay * 1000:.0f} ms",
        )
    log = hub.process.log_text()
    given_back = log.count("granted to a stopped spawn")
    traces = uncaught(log, "POST /hub/api/users/gus/")  # JupyterHub's own 500s
    assert len(traces) == sum(a.status_code == 500 for a in answers), traces
    for trace in traces:
        assert "CancelledError" in trace and "hub_ext" not in trace, trace
    print(f"{len(answers)} stops; {given_back} grants arrived after the stop and were released")
    for answer in answers:  # JupyterHub's own answer to an interrupted POST (see user guide)
        assert answer.status_code in (201, 202, 500), answer.text
        if answer.status_code == 500:
            assert answer.json()["message"] == "Internal Server Error", answer.text
    began = time.monotonic()
    admitted = hub.api("POST", "/users/gus/servers/next", json={"flavor": "t4"})
    try:
        assert admitted.status_code in (201, 202), admitted.text
        model = hub.wait_ready("gus", "next")
        assert model.get("ready"), model
        assert time.monotonic() - began < 60
    finally:
        hub.stop("gus", "next")
    assert not active_leases(hub, admin_token, "gus")


@pytest.mark.parametrize("seed", [18])
def test_stops_at_random_points_leave_no_lease_or_pod(
    service_hub: tuple[SpawnerHub, str], spawner_devstack: RunningDevstack, seed: int
) -> None:
    """10 stops: before admission, during it, once the pod exists, and at 6 random moments."""
    hub, admin_token = service_hub
    hub.api("POST", "/users/ivy")
    rng = random.Random(seed)
    points: list[tuple[float, bool]] = [(0.0, False), (0.02, False), (0.0, True), (0.5, True)]
    points += [(rng.uniform(0.0, 3.0), False) for _ in range(6)]
    for n, (delay, after_pod) in enumerate(points):
        pod = f"jupyter-ivy--r{n}"

        def pod_exists(pod: str = pod) -> bool:
            return any(name == pod for name in user_pods(spawner_devstack, "ivy"))

        flavor = rng.choice(["t4", "cpu"])
        interrupt(hub, "ivy", f"r{n}", {"flavor": flavor}, delay, pod_exists if after_pod else None)
    began = time.monotonic()
    wait_until(
        lambda: (
            not active_leases(hub, admin_token, "ivy") and not user_pods(spawner_devstack, "ivy")
        ),
        SETTLE_SECONDS,
        "a lease or pod outlived its stopped spawn",
    )
    log = hub.process.log_text()
    print(
        f"{len(points)} stops: {log.count('Deleting pod accelhub/jupyter-ivy')} after the pod "
        f"was created; nothing left {time.monotonic() - began:.1f}s after the last"
    )


def test_a_waiting_spawn_that_is_stopped_tells_the_user_and_leaves_the_line(
    service_hub: tuple[SpawnerHub, str],
) -> None:
    """What the user sees on the progress page when they stop a spawn that waits in line."""
    hub, admin_token = service_hub
    hub.api("POST", "/users/gus")
    held = [hold(hub, admin_token, "hal", name) for name in ("x", "y")]  # both T4s
    try:
        with ThreadPoolExecutor(2) as pool:
            post = pool.submit(
                hub.api, "POST", "/users/gus/servers/w", json={"flavor": "t4", "wait": True}
            )
            wait_until(lambda: ("gus", "w") in line(hub, admin_token), 20, "gus never queued")
            events = pool.submit(progress_messages, hub, "gus", "w", 30)
            time.sleep(1.5)  # the stream is open and has said where the spawn stands
            hub.api("DELETE", "/users/gus/servers/w")
            messages, answer = events.result(), post.result()
        hub.stop("gus", "w")
        assert any(m.startswith("Waiting in line for NVIDIA Tesla T4 GPU") for m in messages)
        # JupyterHub's own last word: 'Spawn cancelled', or 'Server ready at ...' because it
        # counts a cancelled spawn as ready until its stop a second later (jupyterhub#2366).
        last = messages[-1]
        assert last == "Spawn cancelled" or last.startswith("Server ready at"), messages
        assert "w" not in (hub.api("GET", "/users/gus").json().get("servers") or {})
        assert not any("Error" in m or "Traceback" in m for m in messages), messages
        assert answer.status_code == 500, answer.text  # JupyterHub's, see the user guide
        assert ("gus", "w") not in line(hub, admin_token)
        assert not active_leases(hub, admin_token, "gus")
    finally:
        for lease_id in held:
            unhold(hub, admin_token, lease_id)

"""Offload end to end through a real user server: JupyterHub, the hub service and its
gateway, the AcceleratorSpawner on devstack, devstack's InterLink sites, and the user
server's `/accelhub/api/offload` routes reached through the hub's proxy with the user's
own token."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from tests.devstack.conftest import RunningDevstack
from tests.spawner.hubstack import SpawnerHub
from tests.spawner.offload_stack import Server, cell, start_offload_hub, text_of

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def offload_hub(
    spawner_devstack: RunningDevstack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SpawnerHub]:
    """JupyterHub + the accelhub service (with its offload gateway) + AcceleratorSpawner."""
    state: Path = tmp_path_factory.mktemp("offload-hub")
    hub = start_offload_hub(state, spawner_devstack.kubeconfig)
    yield hub
    hub.shutdown()


def follow_events(server: Server, job_id: str, timeout: float = 120) -> list[dict[str, Any]]:
    """Every frame of the job's event stream until it ends."""
    url = f"{server.hub.url}/user/{server.user}/accelhub/api/offload/jobs/{job_id}/events"
    request = HTTPRequest(url.replace("http://", "ws://"), headers=server.headers)

    async def collect() -> list[dict[str, Any]]:
        connection = await websocket_connect(request)
        got: list[dict[str, Any]] = []
        while True:
            message = await asyncio.wait_for(connection.read_message(), timeout)
            if message is None:
                return got
            got.append(json.loads(message))

    return asyncio.run(collect())


def a_site(server: Server) -> str:
    sites = server.offload("GET", "sites").json()["sites"]
    ready = [s["name"] for s in sites if s.get("ready")]
    assert ready, sites
    return str(ready[0])


@pytest.fixture(scope="module")
def ada(offload_hub: SpawnerHub) -> Iterator[Server]:
    server = Server(offload_hub, "ada")
    server.start()
    yield server
    server.stop()


def test_a_parameterised_notebook_runs_and_its_copy_appears_beside_it(ada: Server) -> None:
    ada.put_notebook(
        "work/analysis.ipynb",
        cell("n = 1", "params", "parameters"),
        cell(
            "import time\nfor i in range(3):\n    print('step', i, flush=True)\n"
            "    time.sleep(0.5)",
            "steps",
        ),
        cell("print('n is', n)", "show"),
    )
    site = a_site(ada)
    response = ada.offload(
        "POST",
        "jobs",
        json={"path": "work/analysis.ipynb", "site": site, "flavor": "cpu", "parameters": {"n": 7}},
    )
    assert response.status_code == 201, response.text
    job = response.json()
    events = follow_events(ada, job["id"])
    kinds = [e["type"] for e in events]
    assert kinds[0] == "hello" and kinds[-1] == "end", kinds
    assert events[-1]["state"] == "succeeded", events[-3:]
    seqs = [e["seq"] for e in events[1:]]
    assert seqs == list(range(1, len(seqs) + 1))
    final_state = max(
        i for i, e in enumerate(events) if e["type"] == "state" and e["job"]["state"] == "succeeded"
    )
    progress = [i for i, e in enumerate(events) if e["type"] == "progress"]
    lines = [e["line"] for e in events if e["type"] == "log"]
    assert progress and progress[0] < final_state  # progress came while it ran
    assert any("step 2" in line for line in lines), lines

    fetched = ada.offload("POST", f"jobs/{job['id']}/fetch")
    assert fetched.status_code == 200, fetched.text
    path = fetched.json()["path"]
    assert path == f"work/analysis.remote-{site}-{job['id']}.ipynb"
    copy = ada.notebook(path)
    assert copy is not None
    assert "n is 7" in "".join(text_of(c) for c in copy["cells"])
    original = ada.notebook("work/analysis.ipynb")
    assert original is not None and all(not c.get("outputs") for c in original["cells"])


def test_one_cell_runs_remotely_with_its_setup_cells(ada: Server) -> None:
    ada.put_notebook(
        "cells.ipynb",
        cell("base = 40", "setup1", "setup"),
        cell("raise RuntimeError('not a setup cell')", "other"),
        cell("print('answer', base + 2)", "target"),
    )
    response = ada.offload(
        "POST",
        "jobs",
        json={
            "path": "cells.ipynb",
            "site": a_site(ada),
            "flavor": "cpu",
            "cell_id": "target",
            "setup": "tagged",
        },
    )
    assert response.status_code == 201, response.text
    job = ada.wait_final(response.json()["id"])
    assert job["state"] == "succeeded", job
    fetched = ada.offload("POST", f"jobs/{job['id']}/fetch")
    assert fetched.status_code == 200, fetched.text
    body = fetched.json()
    assert body["cell_id"] == "target"
    assert "answer 42" in text_of({"outputs": body["outputs"]})


def test_another_user_cannot_see_follow_or_cancel_a_job(
    ada: Server, offload_hub: SpawnerHub
) -> None:
    ada.put_notebook("slow.ipynb", cell("import time\ntime.sleep(20)", "s"))
    response = ada.offload(
        "POST", "jobs", json={"path": "slow.ipynb", "site": a_site(ada), "flavor": "cpu"}
    )
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    bob = Server(offload_hub, "bob")
    bob.start()
    try:
        seen = bob.offload("GET", f"jobs/{job_id}")
        assert seen.status_code == 404, seen.text
        assert "message" in seen.json()
        assert job_id not in [j["id"] for j in bob.offload("GET", "jobs").json()["jobs"]]
        assert bob.offload("DELETE", f"jobs/{job_id}").status_code == 404
        assert bob.offload("GET", f"jobs/{job_id}/events").status_code == 404
        assert bob.offload("POST", f"jobs/{job_id}/fetch").status_code == 404
    finally:
        bob.stop()
    assert ada.offload("GET", f"jobs/{job_id}").json()["state"] in ("pending", "running")
    cancelled = ada.offload("DELETE", f"jobs/{job_id}")
    assert cancelled.status_code == 200, cancelled.text
    assert ada.wait_final(job_id)["state"] == "cancelled"


def test_a_job_survives_its_users_server_stopping_and_starting(
    offload_hub: SpawnerHub, ada: Server
) -> None:
    ada.put_notebook("long.ipynb", cell("import time\ntime.sleep(6)\nprint('done')", "l"))
    response = ada.offload(
        "POST", "jobs", json={"path": "long.ipynb", "site": a_site(ada), "flavor": "cpu"}
    )
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    ada.stop()
    ada.start()
    assert job_id in [j["id"] for j in ada.offload("GET", "jobs").json()["jobs"]]
    assert ada.wait_final(job_id)["state"] == "succeeded"
    fetched = ada.offload("POST", f"jobs/{job_id}/fetch")
    assert fetched.status_code == 200, fetched.text
    copy = ada.notebook(fetched.json()["path"])
    assert copy is not None and "done" in text_of(copy["cells"][0])


def test_a_raising_cell_fails_the_job_and_the_partial_notebook_comes_back(ada: Server) -> None:
    ada.put_notebook(
        "broken.ipynb",
        cell("print('before')", "ok"),
        cell("raise ValueError('bad calibration')", "bad"),
        cell("print('never')", "after"),
    )
    response = ada.offload(
        "POST", "jobs", json={"path": "broken.ipynb", "site": a_site(ada), "flavor": "cpu"}
    )
    assert response.status_code == 201, response.text
    job = ada.wait_final(response.json()["id"])
    assert job["state"] == "failed" and job["reason"] == "failed", job
    fetched = ada.offload("POST", f"jobs/{job['id']}/fetch")
    assert fetched.status_code == 200, fetched.text
    copy = ada.notebook(fetched.json()["path"])
    assert copy is not None
    ok, bad, after = copy["cells"]
    assert "before" in text_of(ok)
    errors = [o for o in bad["outputs"] if o["output_type"] == "error"]
    assert errors and errors[0]["evalue"] == "bad calibration"
    assert not after.get("outputs")

"""Offload through real user servers: JupyterHub with the accelhub service (and its offload
gateway) and the AcceleratorSpawner on devstack, and a user's server reached through the
hub's proxy with the user's own token. Shared by the API and the browser suites."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx
from nbformat.v4 import new_code_cell, new_notebook

from hub_ext.catalog import AI_INFN_CATALOG
from hub_ext.service.auth import OFFLOAD
from tests.devstack.conftest import RunningDevstack
from tests.spawner.hubstack import SpawnerHub, start_service_hub

REPO = Path(__file__).resolve().parents[2]
FINAL = ("succeeded", "failed", "cancelled")


def start_offload_hub(
    state: Path, kubeconfig: Path, server_env: dict[str, str] | None = None
) -> SpawnerHub:
    """JupyterHub + the accelhub service (offload on) + AcceleratorSpawner; jobs and user
    servers import this checkout's code; ``server_env`` is added to every user server."""
    state.mkdir(parents=True, exist_ok=True)
    env = {"PYTHONPATH": str(REPO), **(server_env or {})}
    hub, _, _ = start_service_hub(
        state,
        kubeconfig,
        f"c.AcceleratorCatalog.catalog_file = {AI_INFN_CATALOG!r}\n"
        "c.QuotaPolicy.default_quota = {'*': {'devices': 8, 'per_user': 2}}\n"
        "c.AccelhubService.kubernetes = True\n"
        f"c.KubeCluster.kubeconfig = {str(kubeconfig)!r}\n"
        f"c.OffloadGateway.runner_command = [{sys.executable!r}, '-m', "
        "'server_ext.offload.runner']\n"
        f"c.OffloadGateway.job_env = {{'PYTHONPATH': {str(REPO)!r}}}\n",
        "c.KubeSpawner.start_timeout = 90\n"
        f"c.Spawner.environment = {{**c.Spawner.environment, **{env!r}}}\n",
        roles=[{"name": "user", "scopes": ["self", OFFLOAD]}],
    )
    return hub


class Server:
    """One user's default server, reached through the proxy with the user's own token."""

    def __init__(self, hub: SpawnerHub, user: str) -> None:
        self.hub, self.user = hub, user
        self.token = hub.api("POST", f"/users/{user}/tokens", json={}).json()["token"]
        self.headers = {"Authorization": f"token {self.token}"}

    def start(self, flavor: str = "cpu") -> None:
        response = self.hub.api("POST", f"/users/{self.user}/server", json={"flavor": flavor})
        assert response.status_code in (201, 202), response.text
        model = self.hub.wait_ready(self.user, timeout=120)
        assert model.get("ready"), model

    def stop(self) -> None:
        self.hub.stop(self.user, timeout=90)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.hub.url}/user/{self.user}/{path}",
            headers=self.headers,
            timeout=60,
            **kwargs,
        )

    def offload(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.call(method, f"accelhub/api/offload/{path}", **kwargs)

    def put_notebook(self, path: str, *cells: Any) -> None:
        nb = new_notebook(cells=list(cells))
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        folder = path.rpartition("/")[0]
        if folder:
            self.call("PUT", f"api/contents/{folder}", json={"type": "directory"})
        body = {"type": "notebook", "format": "json", "content": json.loads(json.dumps(nb))}
        response = self.call("PUT", f"api/contents/{path}", json=body)
        assert response.status_code in (200, 201), response.text

    def notebook(self, path: str) -> dict[str, Any] | None:
        response = self.call("GET", f"api/contents/{path}")
        return response.json()["content"] if response.status_code == 200 else None

    def wait_final(self, job_id: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        job: dict[str, Any] = {}
        while time.monotonic() < deadline:
            job = self.offload("GET", f"jobs/{job_id}").json()
            if job.get("state") in FINAL:
                return job
            time.sleep(0.5)
        raise TimeoutError(f"job {job_id} never ended: {job}")


def cell(source: str, cid: str, *tags: str) -> Any:
    made = new_code_cell(source, metadata={"tags": list(tags)} if tags else {})
    made["id"] = cid
    return made


def text_of(c: dict[str, Any]) -> str:
    parts = []
    for out in c.get("outputs") or []:
        if out.get("output_type") == "stream":
            text = out["text"]
            parts.append(text if isinstance(text, str) else "".join(text))
    return "".join(parts)


def site_faults(ds: RunningDevstack, node: str, **body: Any) -> None:
    """Set faults of a devstack InterLink site (``failCreate``, ``queueDelaySeconds``, ...)."""
    url = json.loads((ds.state_dir / "devstack.json").read_text())["sites"][node]
    request = urllib.request.Request(
        url + "/devstack/faults", data=json.dumps(body).encode(), method="PUT"
    )
    with urllib.request.urlopen(request, timeout=5):
        pass

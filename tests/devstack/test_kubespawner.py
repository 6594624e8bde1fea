"""An unmodified KubeSpawner in a real JupyterHub spawns a real singleuser server on devstack."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.devstack.conftest import RunningDevstack
from tests.helpers.net import free_port, wait_for_http
from tests.helpers.waiting import waiter

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
CHP_BIN = REPO / ".tools" / "node_modules" / ".bin"


until = waiter(60.0, 0.3)


class Hub:
    """A JupyterHub subprocess and a REST client with a service token."""

    def __init__(
        self, url: str, api: str, token: str, proc: subprocess.Popen[bytes], log: Path
    ) -> None:
        self.url, self.api, self.token, self.proc, self.log = url, api, token, proc, log

    def request(
        self, method: str, path: str, body: Any = None, base: str | None = None
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            (base or self.api) + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                return err.code, json.loads(raw)
            except ValueError:
                return err.code, raw.decode(errors="replace")


@pytest.fixture
def hub(devstack: RunningDevstack, tmp_path: Path) -> Iterator[tuple[Hub, str]]:
    if not (CHP_BIN / "configurable-http-proxy").exists():
        pytest.skip(
            "configurable-http-proxy is missing: "
            "npm install --prefix .tools configurable-http-proxy"
        )
    namespace = f"hub-{secrets.token_hex(3)}"
    devstack.kubectl("create", "namespace", namespace)
    token = secrets.token_hex(16)
    proxy_port, hub_port, api_port = free_port(), free_port(), free_port()
    config = tmp_path / "jupyterhub_config.py"
    config.write_text(f"""
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {proxy_port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.JupyterHub.hub_connect_url = "http://127.0.0.1:{hub_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.JupyterHub.db_url = "sqlite:///{tmp_path}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{tmp_path}/cookie_secret"
c.ConfigurableHTTPProxy.pid_file = "{tmp_path}/proxy.pid"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.services = [{{"name": "tester", "api_token": "{token}"}}]
c.JupyterHub.load_roles = [{{"name": "tester", "services": ["tester"],
    "scopes": ["admin:users", "admin:servers", "access:servers"]}}]
c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
c.KubeSpawner.namespace = "{namespace}"
c.KubeSpawner.image = "quay.io/jupyter/base-notebook:2025-01-01"
c.KubeSpawner.cmd = ["jupyterhub-singleuser"]
c.KubeSpawner.args = {["--allow-root"] if os.geteuid() == 0 else []!r}
c.KubeSpawner.environment = {{"PATH": "{VENV_BIN}:/usr/local/bin:/usr/bin:/bin"}}
c.KubeSpawner.start_timeout = 120
c.KubeSpawner.http_timeout = 90
c.KubeSpawner.delete_grace_period = 2
""")
    env = dict(devstack.env)
    env["PATH"] = os.pathsep.join([str(VENV_BIN), str(CHP_BIN), env.get("PATH", "")])
    log = tmp_path / "hub.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(VENV_BIN / "jupyterhub"), "-f", str(config)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{proxy_port}"
    try:
        wait_for_http(f"{url}/hub/api", timeout=60, ok_statuses=(200,))
        yield Hub(url, f"{url}/hub/api", token, proc, log), namespace
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        devstack.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def singleuser_pids(user: str) -> list[int]:
    """Processes running a singleuser server for `user` (found by their environment)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if "jupyterhub-singleuser" not in " ".join(proc.info["cmdline"] or []):
                continue
            if proc.environ().get("JUPYTERHUB_USER") == user:
                found.append(proc.info["pid"])
        except psutil.Error:
            continue
    return found


def test_kubespawner_spawns_and_stops(devstack: RunningDevstack, hub: tuple[Hub, str]) -> None:
    client, namespace = hub
    status, _ = client.request("POST", "/users/alice")
    assert status in (201, 409)
    status, body = client.request("POST", "/users/alice/server")
    assert status in (201, 202), body

    def ready() -> bool:
        _, user = client.request("GET", "/users/alice")
        server = (user.get("servers") or {}).get("") or {}
        return bool(server.get("ready"))

    try:
        until(ready, timeout=150, interval=1.0)
    except AssertionError:
        raise AssertionError(
            "server never became ready; hub log:\n" + client.log.read_text()[-4000:]
        ) from None
    pod = json.loads(
        devstack.kubectl("get", "pod", "-n", namespace, "jupyter-alice", "-o", "json").stdout
    )
    assert pod["status"]["phase"] == "Running"
    assert pod["status"]["podIP"].startswith("127.")
    status, body = client.request("GET", "/user/alice/api", base=client.url)
    assert status == 200, body
    assert "version" in body
    pids = singleuser_pids("alice")
    assert pids

    status, _ = client.request("DELETE", "/users/alice/server")
    assert status in (202, 204)

    def stopped() -> bool:
        _, user = client.request("GET", "/users/alice")
        return not (user.get("servers") or {})

    until(stopped, timeout=60, interval=0.5)
    until(
        lambda: (
            devstack.kubectl("get", "pod", "-n", namespace, "jupyter-alice", check=False).returncode
            != 0
        ),
        timeout=30,
    )
    until(lambda: not any(psutil.pid_exists(p) for p in pids), timeout=10)

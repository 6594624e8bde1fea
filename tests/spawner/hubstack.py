"""A real JupyterHub with the AcceleratorSpawner on a running devstack, for integration tests."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from hub_ext.catalog import AI_INFN_CATALOG
from hub_ext.service.auth import ADMIN, ADMIT, SERVICE_HUB_SCOPES
from tests.conftest import subprocess_env
from tests.helpers.net import free_port
from tests.helpers.processes import ServerProcess
from tests.helpers.service_accounts import hub_kubeconfig
from tests.helpers.waiting import server_settled

VENV_BIN = Path(sys.executable).parent
GROUPS: dict[str, Any] = {
    "physics": {"users": ["ada", "bob"]},
    "ml-experts": {"users": ["ada"]},
    "fpga-users": {"users": ["ada", "fred"]},
    "hackers": {"users": ["hal"]},
}


@dataclass
class SpawnerHub:
    """How tests reach the hub."""

    url: str
    token: str
    process: ServerProcess
    state: Path

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call the hub's REST API with the test service's admin token."""
        kwargs.setdefault("timeout", 60)
        return httpx.request(
            method,
            f"{self.url}/hub/api{path}",
            headers={"Authorization": f"token {self.token}"},
            **kwargs,
        )

    def wait_ready(self, user: str, server: str = "", timeout: float = 90) -> dict[str, Any]:
        """Wait until the server is ready (or stopped); return its model."""
        return server_settled(self.api, user, server, timeout, 0.3)

    def login(self, user: str) -> httpx.Client:
        """A browser-like client logged in as ``user`` through the login form."""
        client = httpx.Client(base_url=self.url, timeout=60, follow_redirects=True)
        client.get("/hub/login")
        xsrf = client.cookies.get("_xsrf", "")
        response = client.post(
            "/hub/login", data={"username": user, "password": "pw", "_xsrf": xsrf}
        )
        response.raise_for_status()
        return client

    def shutdown(self) -> None:
        """Stop the hub, then its proxy if the hub could not (its pid file names it)."""
        self.process.stop(timeout=45)
        pid_file = self.state / "proxy.pid"
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)

    def stop(self, user: str, server: str = "", timeout: float = 60) -> None:
        """Stop a server and wait until it is gone."""
        path = f"/users/{user}/server" if not server else f"/users/{user}/servers/{server}"
        self.api("DELETE", path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.api("GET", f"/users/{user}").json()
            if server not in (model.get("servers") or {}):
                return
            time.sleep(0.3)
        raise TimeoutError(f"{user}/{server} did not stop")


def write_config(
    state: Path,
    kubeconfig: Path,
    hub_port: int,
    token: str,
    extra: str = "",
    services: list[dict[str, Any]] | None = None,
    roles: list[dict[str, Any]] | None = None,
) -> Path:
    """The hub's config file."""
    internal = free_port()
    cfg = state / "jupyterhub_config.py"
    roles = [
        {
            "name": "test-admin",
            "services": ["test-admin"],
            "scopes": ["admin:users", "admin:servers", "tokens", "admin:groups", "read:hub"],
        },
        *(roles or []),
    ]
    all_services = [{"name": "test-admin", "api_token": token}, *(services or [])]
    cfg.write_text(
        "c.JupyterHub.ip = '127.0.0.1'\n"
        f"c.JupyterHub.port = {hub_port}\n"
        f"c.JupyterHub.hub_ip = '127.0.0.1'\n"
        f"c.JupyterHub.hub_port = {internal}\n"
        f"c.JupyterHub.hub_connect_url = 'http://127.0.0.1:{internal}'\n"
        f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{free_port()}'\n"
        f"c.ConfigurableHTTPProxy.pid_file = '{state / 'proxy.pid'}'\n"
        f"c.JupyterHub.db_url = 'sqlite:///{state / 'jupyterhub.sqlite'}'\n"
        f"c.JupyterHub.cookie_secret_file = '{state / 'cookie_secret'}'\n"
        "c.JupyterHub.authenticator_class = 'dummy'\n"
        "c.DummyAuthenticator.password = 'pw'\n"
        "c.Authenticator.allow_all = True\n"
        "c.JupyterHub.allow_named_servers = True\n"
        "c.JupyterHub.cleanup_servers = True\n"
        f"c.JupyterHub.load_groups = {GROUPS!r}\n"
        f"c.JupyterHub.load_roles = {roles!r}\n"
        f"c.JupyterHub.services = {all_services!r}\n"
        "c.JupyterHub.spawner_class = 'accelerator'\n"
        "c.KubeSpawner.namespace = 'accelhub'\n"
        f"c.KubeSpawner.cmd = [{str(VENV_BIN / 'jupyterhub-singleuser')!r}]\n"
        "c.KubeSpawner.args = ['--allow-root']\n"
        "c.KubeSpawner.start_timeout = 60\n"
        "c.KubeSpawner.http_timeout = 60\n"
        "c.AcceleratorSpawner.inventory_sync_seconds = 10\n"
        "c.AcceleratorSpawner.progress_interval = 0.5\n"
        "c.Spawner.environment = "
        "{'JUPYTERHUB_SINGLEUSER_APP': 'jupyter_server.serverapp.ServerApp'}\n"
        f"c.Spawner.default_url = '/lab'\n"
        f"c.AcceleratorCatalog.catalog_file = {AI_INFN_CATALOG!r}\n"
        + extra
        + "from hub_ext.hub_pages import use_hub_pages\n"
        + "use_hub_pages(c)\n"
        + "from hub_ext.catalog import check_config\n"
        + "check_config(c)\n"
    )
    return cfg


def start_spawner_hub(
    state: Path,
    kubeconfig: Path,
    extra: str = "",
    services: list[dict[str, Any]] | None = None,
    roles: list[dict[str, Any]] | None = None,
    hub_port: int | None = None,
) -> SpawnerHub:
    """Start JupyterHub (and its proxy) and wait until its API answers.

    The hub (and the services it runs) talk to the cluster as the `hub` ServiceAccount,
    bound by the chart's Role and `accelhub manifests` only.
    """
    state.mkdir(parents=True, exist_ok=True)
    kubeconfig = hub_kubeconfig(kubeconfig, state / "hub-kubeconfig")
    hub_port, token = hub_port or free_port(), secrets.token_hex(16)
    cfg = write_config(state, kubeconfig, hub_port, token, extra, services, roles)
    env = subprocess_env(KUBECONFIG=str(kubeconfig))
    process = ServerProcess(
        [sys.executable, "-m", "jupyterhub", "-f", str(cfg)], state / "hub.log", env=env, cwd=state
    )
    url = f"http://127.0.0.1:{hub_port}"
    process.wait_until_serving(f"{url}/hub/api/", timeout=90)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/hub/api/", timeout=5).status_code == 200:
                return SpawnerHub(url=url, token=token, process=process, state=state)
        except httpx.HTTPError:
            pass
        if process.process.poll() is not None:
            break
        time.sleep(0.2)
    process.stop()
    raise RuntimeError(f"JupyterHub did not come up:\n{process.log_text()}")


def start_service_hub(
    state: Path,
    kubeconfig: Path,
    service_config: str,
    extra: str = "",
    *,
    admin_token: str | None = None,
    roles: list[dict[str, Any]] | None = None,
) -> tuple[SpawnerHub, str, str]:
    """Start JupyterHub with the accelhub service and the AcceleratorSpawner on ServicePolicy.

    ``service_config`` is the service's config (its SQLite file in ``state`` is set here);
    ``admin_token`` adds an ``accelhub-admin`` service holding the ADMIN scope. Waits until
    the service answers; returns the hub, the service's URL through the proxy and the
    spawner's admission token.
    """
    hub_port, service_port = free_port(), free_port()
    admit_token = secrets.token_hex(16)
    service_cfg = state / "accelhub_service_config.py"
    service_cfg.write_text(
        f"c.AccelhubService.db_url = 'sqlite:///{state / 'accelhub.sqlite'}'\n" + service_config
    )
    services: list[dict[str, Any]] = [
        {
            "name": "accelhub",
            "url": f"http://127.0.0.1:{service_port}",
            "command": [sys.executable, "-m", "hub_ext.service", f"--config={service_cfg}"],
            "cwd": str(state),
        },
        {"name": "accelhub-spawner", "api_token": admit_token},
    ]
    all_roles: list[dict[str, Any]] = [
        {"name": "accelhub-service", "services": ["accelhub"], "scopes": list(SERVICE_HUB_SCOPES)},
        {"name": "accelhub-spawner", "services": ["accelhub-spawner"], "scopes": [ADMIT]},
    ]
    if admin_token is not None:
        services.append({"name": "accelhub-admin", "api_token": admin_token})
        all_roles.append(
            {"name": "accelhub-admin", "services": ["accelhub-admin"], "scopes": [ADMIN]}
        )
    url = f"http://127.0.0.1:{hub_port}/services/accelhub/"
    hub_extra = (
        "from hub_ext.service.auth import CUSTOM_SCOPES\n"
        "c.JupyterHub.custom_scopes = CUSTOM_SCOPES\n"
        "c.AcceleratorSpawner.admission_policy_class = 'hub_ext.admission.ServicePolicy'\n"
        f"c.ServicePolicy.url = {url!r}\n"
        f"c.ServicePolicy.token = {admit_token!r}\n" + extra
    )
    hub = start_spawner_hub(
        state, kubeconfig, hub_extra, services, [*all_roles, *(roles or [])], hub_port=hub_port
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "api/v1/openapi.json", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return hub, url, admit_token

"""A real JupyterHub running the accelhub service as a managed service, for integration tests."""

from __future__ import annotations

import json
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hub_ext.service.auth import (
    ADMIN,
    ADMIT,
    CUSTOM_SCOPES,
    OFFLOAD,
    ORGANISE,
    SERVICE_HUB_SCOPES,
)
from hub_ext.service.demo import service_entry
from tests.conftest import subprocess_env
from tests.helpers.net import free_port
from tests.helpers.processes import ServerProcess

FLAVORS = [
    {"slug": "cpu", "display_name": "CPU only", "kind": "cpu"},
    {
        "slug": "a100",
        "display_name": "A100",
        "kind": "gpu",
        "resource": "nvidia.com/gpu",
        "node_selector": {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB"},
        "counts": [1, 2],
    },
    {
        "slug": "t4",
        "display_name": "T4",
        "kind": "gpu",
        "resource": "nvidia.com/gpu",
        "node_selector": {"nvidia.com/gpu.product": "Tesla-T4"},
        "counts": [1],
    },
    {
        "slug": "l4",
        "display_name": "L4",
        "kind": "gpu",
        "resource": "nvidia.com/gpu",
        "node_selector": {"nvidia.com/gpu.product": "NVIDIA-L4"},
        "counts": [1],
    },
]
GROUPS: dict[str, Any] = {
    "physics": {
        "users": ["ada", "bob", "cy", "pia"],
        "properties": {"accelhub": {"quotas": {"a100": {"devices": 2, "per_user": 1}}}},
    },
    "bio": {"users": ["dee", "eve", "pia"], "properties": {}},
    "hack": {
        "users": ["h1", "h2", "h3"],
        "properties": {
            "accelhub": {"hackathon": True, "quotas": {"*": {"devices": 0, "per_user": 1}}}
        },
    },
    "idlers": {
        "users": ["idle1", "busy1", "idle2"],
        "properties": {
            "accelhub": {
                "idle_timeout_minutes": 0.05,
                "quotas": {"*": {"devices": 10, "per_user": 2}},
            }
        },
    },
}
QUEUE_STALE_SECONDS = 5.0  # a line entry nobody asks about for this long is dropped
QUOTAS = {"bio": {"*": {"devices": 3, "per_user": 2}}}


@dataclass
class Hub:
    """How tests reach the hub and the service."""

    url: str
    admin_token: str
    admit_token: str
    process: ServerProcess
    tokens: dict[str, str] = field(default_factory=dict)
    service_db: str = ""  # the service's store, for tests that seed past usage

    @property
    def service_url(self) -> str:
        return f"{self.url}/services/accelhub/"

    def stop(self) -> None:
        """Stop the hub, giving it time to stop its proxy and service first (JupyterHub starts
        them in sessions of their own, so a hub killed early leaves them running)."""
        self.process.stop(timeout=60)

    @property
    def api(self) -> str:
        return f"{self.service_url}api/v1/"

    def hub_api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.url}/hub/api{path}",
            headers={"Authorization": f"token {self.admin_token}"},
            timeout=30,
            **kwargs,
        )

    def token_for(self, user: str) -> str:
        """A (cached) API token of a user, created through the Hub API."""
        if user not in self.tokens:
            self.hub_api("POST", "/users", json={"usernames": [user]})
            response = self.hub_api("POST", f"/users/{user}/tokens", json={"note": "test"})
            response.raise_for_status()
            self.tokens[user] = response.json()["token"]
        return self.tokens[user]

    def call(self, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call the service API as a user name, or 'admit'/'hubadmin' for the service tokens."""
        token = {"admit": self.admit_token}.get(who) or self.token_for(who)
        return httpx.request(
            method,
            self.api + path,
            headers={"Authorization": f"token {token}"},
            timeout=30,
            **kwargs,
        )


def write_configs(
    state: Path,
    hub_port: int,
    service_port: int,
    admin_token: str,
    admit_token: str,
    service_db: str,
    extra_service: str = "",
) -> Path:
    catalog = state / "catalog.json"
    catalog.write_text(json.dumps(FLAVORS))
    service_cfg = state / "accelhub_service_config.py"
    service_cfg.write_text(
        f"c.AcceleratorCatalog.catalog_file = {str(catalog)!r}\n"
        + f"c.QuotaPolicy.group_quotas = {QUOTAS!r}\n"
        + "c.QuotaPolicy.default_quota = {'*': {'devices': 2, 'per_user': 1}}\n"
        + f"c.AccelhubService.db_url = {service_db!r}\n"
        + "c.AccelhubService.group_cache_seconds = 1.0\n"
        + "c.AccelhubService.reclaim_interval_seconds = 1.0\n"
        + "c.AccelhubService.idle_warning_minutes = 0.02\n"
        + "c.AccelhubService.tick_seconds = 0.5\n"
        + "c.AccelhubService.static_capacity = {'a100': 8, 't4': 4, 'l4': 1}\n"
        + f"c.AccelhubService.queue_stale_seconds = {QUEUE_STALE_SECONDS}\n"
        + extra_service
    )
    hub_cfg = state / "jupyterhub_config.py"
    roles = [
        {"name": "user", "scopes": ["self", "access:services!service=accelhub", OFFLOAD]},
        {
            "name": "accelhub-service",
            "services": ["accelhub"],
            "scopes": list(SERVICE_HUB_SCOPES),
        },
        {"name": "accelhub-spawner", "services": ["accelhub-spawner"], "scopes": [ADMIT]},
        {"name": "accelhub-admins", "users": ["boss"], "scopes": [ADMIN]},
        {"name": "accelhub-organiser-hack", "users": ["org"], "scopes": [f"{ORGANISE}!group=hack"]},
        {
            "name": "accelhub-organiser-physics",
            "users": ["org2"],
            "scopes": [f"{ORGANISE}!group=physics"],
        },
        {"name": "test-accelhub-all", "services": ["test-admin"], "scopes": [ADMIN, ADMIT]},
        {
            "name": "test-admin",
            "services": ["test-admin"],
            "scopes": ["admin:users", "tokens", "admin:groups", "admin:servers", "read:hub"],
        },
    ]
    services = [
        service_entry(service_port, service_cfg, state),
        {"name": "accelhub-spawner", "api_token": admit_token},
        {"name": "test-admin", "api_token": admin_token},
    ]
    hub_cfg.write_text(
        "c.JupyterHub.ip = '127.0.0.1'\n"
        f"c.JupyterHub.port = {hub_port}\n"
        f"c.JupyterHub.hub_port = {free_port()}\n"
        f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{free_port()}'\n"
        f"c.JupyterHub.db_url = 'sqlite:///{state / 'jupyterhub.sqlite'}'\n"
        f"c.JupyterHub.cookie_secret_file = '{state / 'cookie_secret'}'\n"
        f"c.ConfigurableHTTPProxy.pid_file = '{state / 'proxy.pid'}'\n"
        "c.JupyterHub.authenticator_class = 'dummy'\n"
        "c.DummyAuthenticator.password = 'pw'\n"
        "c.Authenticator.allow_all = True\n"
        "c.Authenticator.admin_users = {'root-admin'}\n"
        "c.JupyterHub.spawner_class = 'simple'\n"
        "c.Spawner.cmd = ['jupyterhub-singleuser']\n"
        "c.Spawner.args = ['--allow-root']\n"
        # servers stay in the hub's process group, so stopping the hub's group ends them too
        # (in their own sessions they outlived a hub stopped mid-cleanup, test after test)
        "c.LocalProcessSpawner.popen_kwargs = {'start_new_session': False}\n"
        "c.JupyterHub.allow_named_servers = True\n"
        f"c.JupyterHub.load_groups = {GROUPS!r}\n"
        f"c.JupyterHub.custom_scopes = {CUSTOM_SCOPES!r}\n"
        f"c.JupyterHub.load_roles = {roles!r}\n"
        f"c.JupyterHub.services = {services!r}\n"
    )
    return hub_cfg


def start_hub(state: Path, service_db: str, extra_service: str = "") -> Hub:
    state.mkdir(parents=True, exist_ok=True)
    hub_port, service_port = free_port(), free_port()
    admin_token, admit_token = secrets.token_hex(16), secrets.token_hex(16)
    cfg = write_configs(
        state, hub_port, service_port, admin_token, admit_token, service_db, extra_service
    )
    process = ServerProcess(
        [sys.executable, "-m", "jupyterhub", "-f", str(cfg)],
        state / "hub.log",
        env=subprocess_env(),
        cwd=state,
    )
    url = f"http://127.0.0.1:{hub_port}"
    hub = Hub(
        url=url,
        admin_token=admin_token,
        admit_token=admit_token,
        process=process,
        service_db=service_db,
    )
    process.wait_until_serving(f"{url}/hub/api/", timeout=60)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(hub.api + "openapi.json", timeout=5).status_code == 200:
                return hub
        except httpx.HTTPError:
            pass
        if process.process.poll() is not None:
            break
        time.sleep(0.3)
    raise RuntimeError(f"the accelhub service did not come up:\n{process.log_text()}")

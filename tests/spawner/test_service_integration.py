"""The AcceleratorSpawner with ServicePolicy against the real accelhub hub service."""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub_ext.service.auth import ADMIN, ADMIT, SERVICE_HUB_SCOPES
from tests.devstack.conftest import RunningDevstack
from tests.helpers.net import free_port
from tests.spawner.hubstack import SpawnerHub, start_spawner_hub

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def service_hub(
    spawner_devstack: RunningDevstack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SpawnerHub, str]]:
    """JupyterHub + the accelhub service (static capacity) + AcceleratorSpawner(ServicePolicy)."""
    state: Path = tmp_path_factory.mktemp("service-hub")
    hub_port, service_port = free_port(), free_port()
    admit_token, admin_token = secrets.token_hex(16), secrets.token_hex(16)
    service_cfg = state / "accelhub_service_config.py"
    service_cfg.write_text(
        "c.QuotaPolicy.group_quotas = {'physics': {'t4': {'devices': 1, 'per_user': 1}}}\n"
        "c.QuotaPolicy.default_quota = {'cpu': {'devices': None, 'per_user': 5}}\n"
        f"c.AccelhubService.db_url = 'sqlite:///{state / 'accelhub.sqlite'}'\n"
        "c.AccelhubService.group_cache_seconds = 1.0\n"
        "c.AccelhubService.static_capacity = {'t4': 2, 'cpu': 100}\n"
    )
    services: list[dict[str, Any]] = [
        {
            "name": "accelhub",
            "url": f"http://127.0.0.1:{service_port}",
            "command": [sys.executable, "-m", "hub_ext.service", f"--config={service_cfg}"],
            "cwd": str(state),
        },
        {"name": "accelhub-spawner", "api_token": admit_token},
        {"name": "accelhub-admin", "api_token": admin_token},
    ]
    roles: list[dict[str, Any]] = [
        {
            "name": "accelhub-service",
            "services": ["accelhub"],
            "scopes": list(SERVICE_HUB_SCOPES),
        },
        {"name": "accelhub-spawner", "services": ["accelhub-spawner"], "scopes": [ADMIT]},
        {"name": "accelhub-admin", "services": ["accelhub-admin"], "scopes": [ADMIN]},
    ]
    url = f"http://127.0.0.1:{hub_port}/services/accelhub/"
    extra = (
        "from hub_ext.service.auth import CUSTOM_SCOPES\n"
        "c.JupyterHub.custom_scopes = CUSTOM_SCOPES\n"
        "c.AcceleratorSpawner.admission_policy_class = 'hub_ext.admission.ServicePolicy'\n"
        f"c.ServicePolicy.url = {url!r}\n"
        f"c.ServicePolicy.token = {admit_token!r}\n"
        "c.AcceleratorCatalog.flavors = [\n"
        "  {'slug': 'cpu', 'kind': 'cpu', 'default_memory': '1Gi'},\n"
        "  {'slug': 't4', 'display_name': 'T4', 'kind': 'gpu',\n"
        "   'node_selector': {'nvidia.com/gpu.product': 'Tesla-T4'}},\n"
        "]\n"
    )
    hub = start_spawner_hub(
        state, spawner_devstack.kubeconfig, extra, services, roles, hub_port=hub_port
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "api/v1/openapi.json", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
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

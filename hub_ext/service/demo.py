"""Demo wiring for `make demo`: groups, quotas, roles and the service entry for JupyterHub."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from traitlets.config import LazyConfigValue

from .auth import ADMIN, ADMIT, CUSTOM_SCOPES, OFFLOAD, ORGANISE, SERVICE_HUB_SCOPES

#: Which demo user plays which part (password: anything the demo authenticator accepts).
DEMO_USERS = {"admin": "ana", "organiser": "otto", "researcher": "rita"}

DEMO_GROUPS: dict[str, dict[str, Any]] = {
    "physics": {
        "users": ["rita", "paul", "ana"],
        "properties": {
            "accelhub": {"quotas": {"*": {"devices": 4, "per_user": 2}}, "idle_timeout_minutes": 60}
        },
    },
    "biology": {
        "users": ["bea", "bruno"],
        "properties": {"accelhub": {"quotas": {"*": {"devices": 2, "per_user": 1}}}},
    },
    "hackathon": {
        "users": ["otto", "h1", "h2", "h3", "h4", "rita"],
        "properties": {"accelhub": {"hackathon": True, "quotas": {"*": {"devices": 0}}}},
    },
}


def hub_roles(spawner_service: str = "accelhub-spawner") -> list[dict[str, Any]]:
    """Roles: the service reads groups and stops servers; the spawner admits; people manage."""
    return [
        {"name": "user", "scopes": ["self", "access:services!service=accelhub", OFFLOAD]},
        {
            "name": "accelhub-service",
            "services": ["accelhub"],
            "scopes": list(SERVICE_HUB_SCOPES),
        },
        {"name": "accelhub-spawner", "services": [spawner_service], "scopes": [ADMIT]},
        {"name": "accelhub-admins", "users": [DEMO_USERS["admin"]], "scopes": [ADMIN]},
        {
            "name": "accelhub-organisers-hackathon",
            "users": [DEMO_USERS["organiser"]],
            "scopes": [f"{ORGANISE}!group=hackathon"],
        },
    ]


def _set(value: Any, empty: Any) -> Any:
    """A config value already set in the file, or ``empty`` when it is still unset (lazy)."""
    return empty if isinstance(value, LazyConfigValue) or value is None else value


def service_entry(port: int, service_config: Path, workdir: Path) -> dict[str, Any]:
    """The accelhub entry of ``c.JupyterHub.services``: a managed service on a local port."""
    return {
        "name": "accelhub",
        "url": f"http://127.0.0.1:{port}",
        "command": [sys.executable, "-m", "hub_ext.service", f"--config={service_config}"],
        "cwd": str(workdir),
        "display": True,
        "oauth_no_confirm": True,
        "oauth_client_allowed_scopes": [ADMIN, ORGANISE],
    }


def configure_hub(
    c: Any,
    service_config: Path,
    port: int,
    admission_token: str,
    workdir: Path,
    load_groups: bool = True,
) -> None:
    """Add the accelhub service, its scopes, roles and demo groups to a JupyterHub config.

    With ``load_groups`` False (the authenticator manages groups: OIDC) the hub loads no
    groups: the service creates them with their properties (`write_service_config`'s
    ``hub_groups``), for which its role gets admin:groups.
    """
    c.JupyterHub.custom_scopes = {**_set(c.JupyterHub.custom_scopes, {}), **CUSTOM_SCOPES}
    if load_groups:
        c.JupyterHub.load_groups = {**_set(c.JupyterHub.load_groups, {}), **DEMO_GROUPS}
    roles = hub_roles()
    if not load_groups:
        roles.append(
            {"name": "accelhub-group-maker", "services": ["accelhub"], "scopes": ["admin:groups"]}
        )
    c.JupyterHub.load_roles = [*_set(c.JupyterHub.load_roles, []), *roles]
    c.JupyterHub.services = [
        *_set(c.JupyterHub.services, []),
        service_entry(port, service_config, workdir),
        {"name": "accelhub-spawner", "api_token": admission_token},
    ]


def write_service_config(
    path: Path,
    catalog_file: str,
    db_url: str,
    kubeconfig: str | None,
    hackathon_flavor: str,
    hub_groups: bool = False,
) -> Path:
    """The service's own traitlets file (the hub's catalog file) with an active hackathon.

    ``hub_groups`` has the service create the demo groups with their properties, for hubs
    whose groups come from the identity provider (JupyterHub then loads none).
    """
    lines = [
        f"c.AcceleratorCatalog.catalog_file = {catalog_file!r}",
        "c.QuotaPolicy.default_quota = {'*': {'devices': 2, 'per_user': 1}}",
        f"c.AccelhubService.db_url = {db_url!r}",
        "c.AccelhubService.idle_timeout_minutes = 120",
        "c.AccelhubService.startup_reservations = ["
        f"{{'name': 'Demo hackathon', 'group': 'hackathon', 'flavor': {hackathon_flavor!r}, "
        "'per_member': True, 'hours': 8}]",
    ]
    if hub_groups:
        properties = {name: group["properties"] for name, group in DEMO_GROUPS.items()}
        lines.append(f"c.AccelhubService.hub_groups = {properties!r}")
    if kubeconfig:
        lines += [
            "c.AccelhubService.kubernetes = True",
            f"c.KubeCluster.kubeconfig = {kubeconfig!r}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def describe() -> str:
    """The lines `make demo` prints about who is who."""
    return (
        f"accelhub demo users: admin = {DEMO_USERS['admin']}, "
        f"organiser (group hackathon) = {DEMO_USERS['organiser']}, "
        f"researcher (group physics) = {DEMO_USERS['researcher']}"
    )

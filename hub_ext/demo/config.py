"""The demo hub's configuration: one function per concern, rendered into a config file."""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.oidc import OidcUser
from hub_ext.catalog import AI_INFN_CATALOG
from hub_ext.service.demo import DEMO_GROUPS, DEMO_USERS, write_service_config

#: Password of every demo user (the dummy authenticator).
PASSWORD = "accelhub"

#: Extra groups that open the restricted flavors (full A100, FPGA) to some demo users.
EXTRA_GROUPS: dict[str, dict[str, Any]] = {
    "ml-experts": {"users": [DEMO_USERS["admin"], DEMO_USERS["researcher"]]},
    "fpga-users": {"users": [DEMO_USERS["researcher"]]},
}

HACKATHON_FLAVOR = "mig-1g-10gb"

#: Seconds between the GPU activity reports of the demo's servers (the server extension's
#: default is 60): the usage charts and idle notices move while someone watches the demo.
ACTIVITY_INTERVAL = 10

#: The group whose members the OIDC login makes JupyterHub admins.
ADMINS_GROUP = "admins"


@dataclass(frozen=True)
class OidcLogin:
    """Where the demo hub logs its users in: devstack's OIDC provider and the hub's client."""

    issuer: str
    client_id: str
    client_secret: str
    crypt_key: str  # JupyterHub's CryptKeeper key (hex) encrypting the auth state


def demo_memberships() -> dict[str, list[str]]:
    """Each demo user's groups, as the identity provider states them."""
    members: dict[str, list[str]] = {}
    for name, group in {**DEMO_GROUPS, **EXTRA_GROUPS}.items():
        for user in group["users"]:
            members.setdefault(user, []).append(name)
    members[DEMO_USERS["admin"]].append(ADMINS_GROUP)
    return {user: sorted(groups) for user, groups in sorted(members.items())}


def demo_identities() -> list[OidcUser]:
    """The demo users at devstack's OIDC provider (the organiser manages the hackathon)."""
    return [
        OidcUser(
            name,
            PASSWORD,
            groups,
            roles={"hackathon": "manager"} if name == DEMO_USERS["organiser"] else {},
        )
        for name, groups in demo_memberships().items()
    ]


def login_settings(ports: DemoPorts, oidc: OidcLogin | None) -> list[tuple[str, Any]]:
    """The authenticator: OIDC through devstack's provider, or the dummy one (tests)."""
    if oidc is None:
        return [
            ("c.JupyterHub.authenticator_class", "dummy"),
            ("c.DummyAuthenticator.password", PASSWORD),
            ("c.Authenticator.allow_all", True),
            ("c.Authenticator.admin_users", {DEMO_USERS["admin"]}),
        ]
    groups = {group for user in demo_memberships().values() for group in user}
    return [
        ("c.JupyterHub.authenticator_class", "hub_ext.auth.AccelhubOAuthenticator"),
        ("c.AccelhubOAuthenticator.issuer", oidc.issuer),
        ("c.AccelhubOAuthenticator.client_id", oidc.client_id),
        ("c.AccelhubOAuthenticator.client_secret", oidc.client_secret),
        (
            "c.AccelhubOAuthenticator.oauth_callback_url",
            f"http://127.0.0.1:{ports.public}/hub/oauth_callback",
        ),
        ("c.AccelhubOAuthenticator.login_service", "devstack identity provider"),
        ("c.AccelhubOAuthenticator.allowed_groups", groups),
        ("c.AccelhubOAuthenticator.admin_groups", {ADMINS_GROUP}),
        ("c.CryptKeeper.keys", [oidc.crypt_key]),
    ]


#: Where every server mounts its user's home (the claim `claim-<user>`, shared by all the
#: user's servers, so files survive stopping, restarting and switching flavor).
HOME = "/home/jovyan"

#: Group shared areas (`hub_ext.spawner.group_volumes`): mounted into members' servers only,
#: under the home so that JupyterLab's file browser shows them.
GROUP_AREAS: dict[str, dict[str, Any]] = {
    "physics": {"claim": "shared-physics", "mount_path": f"{HOME}/shared/physics", "size": "50Gi"},
    "hackathon": {
        "claim": "shared-hackathon",
        "mount_path": f"{HOME}/shared/hackathon",
        "size": "20Gi",
        "read_only": True,
        "writers": [DEMO_USERS["organiser"]],
    },
}


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DemoPorts:
    """Where each demo component listens on 127.0.0.1."""

    public: int
    hub: int
    proxy_api: int
    service: int

    @classmethod
    def pick(cls, public: int) -> DemoPorts:
        return cls(public=public, hub=free_port(), proxy_api=free_port(), service=free_port())


def storage_settings() -> list[tuple[str, Any]]:
    """Homes on per-user claims, as z2jh's `singleuser.storage.type: dynamic` sets them."""
    return [
        ("c.KubeSpawner.storage_pvc_ensure", True),
        ("c.KubeSpawner.pvc_name_template", "claim-{username}"),
        ("c.KubeSpawner.storage_capacity", "10Gi"),
        ("c.KubeSpawner.storage_access_modes", ["ReadWriteMany"]),
        (
            "c.KubeSpawner.volumes",
            [{"name": "home", "persistentVolumeClaim": {"claimName": "{pvc_name}"}}],
        ),
        ("c.KubeSpawner.volume_mounts", [{"name": "home", "mountPath": HOME}]),
        ("c.KubeSpawner.working_dir", HOME),  # the server's root: the home
        ("c.GroupVolumes.volumes", GROUP_AREAS),
    ]


def hub_config(
    state: Path,
    kubeconfig: Path,
    ports: DemoPorts,
    admission_token: str,
    oidc: OidcLogin | None = None,
) -> str:
    """The text of the demo's jupyterhub_config.py (OIDC login when ``oidc`` is given)."""
    service_config = write_service_config(
        state / "accelhub_service_config.py",
        catalog_file=AI_INFN_CATALOG,
        db_url=f"sqlite+aiosqlite:///{state / 'accelhub.sqlite'}",
        kubeconfig=str(kubeconfig),
        hackathon_flavor=HACKATHON_FLAVOR,
        hub_groups=oidc is not None,
    )
    service_url = f"http://127.0.0.1:{ports.service}/services/accelhub/"
    singleuser = str(Path(sys.executable).parent / "jupyterhub-singleuser")
    args = ["--allow-root"] if os.geteuid() == 0 else []
    args.append(f"--TelemetryConfig.activity_interval={ACTIVITY_INTERVAL}")
    settings: list[tuple[str, Any]] = [
        ("c.JupyterHub.ip", "127.0.0.1"),
        ("c.JupyterHub.port", ports.public),
        ("c.JupyterHub.hub_ip", "127.0.0.1"),
        ("c.JupyterHub.hub_port", ports.hub),
        ("c.JupyterHub.hub_connect_url", f"http://127.0.0.1:{ports.hub}"),
        ("c.ConfigurableHTTPProxy.api_url", f"http://127.0.0.1:{ports.proxy_api}"),
        ("c.ConfigurableHTTPProxy.pid_file", str(state / "proxy.pid")),
        ("c.JupyterHub.db_url", f"sqlite:///{state / 'jupyterhub.sqlite'}"),
        ("c.JupyterHub.cookie_secret_file", str(state / "cookie_secret")),
        *login_settings(ports, oidc),
        ("c.JupyterHub.allow_named_servers", True),
        ("c.JupyterHub.cleanup_servers", True),
        ("c.JupyterHub.spawner_class", "accelerator"),
        ("c.AcceleratorCatalog.catalog_file", AI_INFN_CATALOG),
        ("c.AcceleratorSpawner.admission_policy_class", "hub_ext.admission.ServicePolicy"),
        ("c.ServicePolicy.url", service_url),
        ("c.ServicePolicy.token", admission_token),
        ("c.KubeSpawner.namespace", "accelhub"),
        ("c.KubeSpawner.cmd", [singleuser]),
        ("c.KubeSpawner.args", args),
        ("c.KubeSpawner.start_timeout", 180),
        ("c.KubeSpawner.http_timeout", 90),
        ("c.Spawner.default_url", "/lab"),
        *storage_settings(),
    ]
    lines = [f"{name} = {value!r}" for name, value in settings]
    lines += [
        "from pathlib import Path",
        "from hub_ext.catalog import check_config",
        "from hub_ext.hub_pages import use_hub_pages",
        "use_hub_pages(c)",
        "from hub_ext.service.demo import configure_hub",
        f"configure_hub(c, Path({str(service_config)!r}), {ports.service}, "
        f"{admission_token!r}, Path({str(state)!r}), load_groups={oidc is None})",
    ]
    if oidc is None:  # groups the authenticator does not manage: loaded by the hub
        lines.append(
            f"c.JupyterHub.load_groups = {{**c.JupyterHub.load_groups, **{EXTRA_GROUPS!r}}}"
        )
    lines.append("check_config(c)")
    return "\n".join(lines) + "\n"


def describe_users(oidc: OidcLogin | None = None) -> list[str]:
    """Lines telling a newcomer who to log in as (with OIDC: everyone's groups at the provider)."""
    if oidc is not None:
        who = [f"  {user:<6} {', '.join(groups)}" for user, groups in demo_memberships().items()]
        return [
            f"  log in through devstack's OIDC provider ({oidc.issuer}); who is who, with the",
            "  groups the provider gives (they set flavors, quotas and the hackathon's MIG slice):",
            *who,
            f"  {DEMO_USERS['organiser']} manages the hackathon's reservations, "
            f"{DEMO_USERS['admin']} (group {ADMINS_GROUP}) quotas and usage, "
            "at /services/accelhub/",
            f"  homes: {HOME} in every server, kept across stops and flavors",
            f"  password for everyone: {PASSWORD}",
        ]
    return [
        f"  {DEMO_USERS['researcher']:<6} researcher (groups physics, hackathon, ml-experts, "
        "fpga-users): every flavor",
        f"  {DEMO_USERS['organiser']:<6} hackathon organiser: reservations at /services/accelhub/",
        f"  {DEMO_USERS['admin']:<6} admin: quotas, usage and reservations at /services/accelhub/",
        "  h1..h4 hackathon participants: one reserved MIG 1g.10gb slice each",
        f"  homes: {HOME} in every server, kept across stops and flavors; shared areas "
        "shared/physics (group physics) and shared/hackathon (read-only but for otto) in it",
        f"  password for everyone: {PASSWORD}",
    ]

"""The login the Helm values configure, run against devstack's OIDC provider.

A JupyterHub configured from the `hub.config` of the shipped values (the base values with INFN
IAM, and the EGI Check-in overlay) logs users in through devstack's provider: only the issuer,
the client and the callback URL are swapped for the provider's, everything else (claims,
scopes, allowed and admin groups, the entitlement mapping) is the values' own.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.oidc import OidcClient, OidcProvider, OidcUser
from hub_ext.values.merge import load_values, merge_values
from tests.conftest import subprocess_env
from tests.helpers.net import free_port
from tests.helpers.processes import ServerProcess

pytestmark = [pytest.mark.integration]

VALUES = Path(__file__).resolve().parents[2] / "helm-values"
PASSWORD = "pw"

USERS = [
    OidcUser("ivo", PASSWORD, ["ai-infn", "ml-experts"]),
    OidcUser("ada", PASSWORD, ["ai-infn", "accelhub-admins"]),
    OidcUser("out", PASSWORD, ["somewhere-else"]),
    OidcUser("vera", PASSWORD, ["ml-experts"], roles={"ml-experts": "manager"}),
]


def hub_settings(*files: str) -> dict[str, Any]:
    """`hub.config` of the merged values: what z2jh's jupyterhub_config.py applies."""
    values = merge_values([load_values(str(VALUES / name)) for name in files])
    return dict(values["hub"]["config"])


#: The hubs' ports, one client of the provider each.
HUB_PORTS = {"iam": free_port(), "egi": free_port()}


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """One provider for both hubs; its entitlements name AI4EOSC's VO."""
    clients = [
        OidcClient(name, f"secret-{name}", [f"http://127.0.0.1:{port}/hub/oauth_callback"])
        for name, port in HUB_PORTS.items()
    ]
    with OidcProvider(
        tmp_path_factory.mktemp("oidc"), USERS, clients, vo="vo.ai4eosc.eu"
    ) as running:
        yield running


class ValuesHub:
    """A JupyterHub with the values' authenticator pointed at the devstack provider."""

    def __init__(self, state: Path, provider: OidcProvider, client: str, *files: str) -> None:
        self.url = f"http://127.0.0.1:{HUB_PORTS[client]}"
        self.token = secrets.token_hex(16)
        settings = hub_settings(*files)
        auth = settings["AccelhubOAuthenticator"]
        auth.update(
            issuer=provider.issuer,
            client_id=client,
            client_secret=f"secret-{client}",
            oauth_callback_url=f"{self.url}/hub/oauth_callback",
        )
        if auth.get("username_claim") == "voperson_id":
            auth["username_claim"] = "preferred_username"  # the provider sends no voperson_id
        lines = [f"c.{section}.update({cfg!r})" for section, cfg in settings.items()]
        lines += [
            "c.JupyterHub.spawner_class = 'simple'",
            f"c.JupyterHub.bind_url = {self.url + '/'!r}",
            f"c.JupyterHub.hub_port = {free_port()}",
            f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{free_port()}'",
            f"c.JupyterHub.db_url = 'sqlite:///{state / 'hub.sqlite'}'",
            f"c.JupyterHub.cookie_secret_file = {str(state / 'cookie_secret')!r}",
            f"c.CryptKeeper.keys = [{secrets.token_hex(32)!r}]",
            f"c.JupyterHub.services = [{{'name': 'check', 'api_token': {self.token!r}}}]",
            "c.JupyterHub.load_roles = [{'name': 'check', 'services': ['check'],"
            " 'scopes': ['list:users', 'read:users']}]",
        ]
        config = state / "jupyterhub_config.py"
        config.write_text("\n".join(lines) + "\n")
        self.process = ServerProcess(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)],
            state / "hub.log",
            subprocess_env(),
            state,
        )
        try:
            self.process.wait_until_serving(f"{self.url}/hub/api/", 90, require_ok=True)
        except (RuntimeError, TimeoutError):
            self.process.stop()
            raise

    def log_in(self, user: str) -> requests.Response:
        """The browser's way in: the hub's OAuth login, the provider's form, back to the hub."""
        session = requests.Session()
        form = session.get(f"{self.url}/hub/oauth_login", timeout=20)
        assert 'name="password"' in form.text, form.text[:300]
        action = form.text.split('action="', 1)[1].split('"', 1)[0]
        base = form.url.split("/interaction/", 1)[0]
        return session.post(
            base + action, data={"username": user, "password": PASSWORD}, timeout=30
        )

    def user(self, name: str) -> dict[str, Any]:
        response = requests.get(
            f"{self.url}/hub/api/users/{name}",
            headers={"Authorization": f"token {self.token}"},
            timeout=10,
        )
        response.raise_for_status()
        return dict(response.json())


@pytest.fixture
def iam_hub(tmp_path: Path, provider: OidcProvider) -> Iterator[ValuesHub]:
    hub = ValuesHub(tmp_path, provider, "iam", "values.yaml")
    yield hub
    hub.process.stop(timeout=30)


@pytest.fixture
def egi_hub(tmp_path: Path, provider: OidcProvider) -> Iterator[ValuesHub]:
    hub = ValuesHub(tmp_path, provider, "egi", "values.yaml", "egi-checkin.yaml")
    yield hub
    hub.process.stop(timeout=30)


def test_iam_values_log_in_with_groups_and_admins(iam_hub: ValuesHub) -> None:
    landed = iam_hub.log_in("ivo")
    assert landed.status_code == 200 and "/hub/" in landed.url, landed.url
    ivo = iam_hub.user("ivo")
    assert set(ivo["groups"]) == {"ai-infn", "ml-experts"} and ivo["admin"] is False

    iam_hub.log_in("ada")
    assert iam_hub.user("ada")["admin"] is True  # admin_groups: accelhub-admins

    refused = iam_hub.log_in("out")  # not in allowed_groups
    assert refused.status_code == 403


def test_egi_overlay_maps_entitlements_and_roles(egi_hub: ValuesHub) -> None:
    egi_hub.log_in("ivo")
    ivo = egi_hub.user("ivo")
    # vo.ai4eosc.eu -> ai4eosc; :ml-experts -> ml-experts; the unlisted :ai-infn is dropped.
    assert set(ivo["groups"]) == {"ai4eosc", "ml-experts"}

    egi_hub.log_in("vera")
    vera = egi_hub.user("vera")
    assert set(vera["groups"]) == {"ai4eosc", "ml-experts", "ml-experts:manager"}

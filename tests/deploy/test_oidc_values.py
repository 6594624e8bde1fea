"""The EGI Check-in overlay's login, run against devstack's OIDC provider.

A JupyterHub configured from the `hub.config` of values.yaml + egi-checkin.yaml logs users in
through devstack's provider: only the issuer, the client and the callback URL are swapped for
the provider's (and the username claim: the provider sends no `voperson_id`), everything else
(claims, scopes, allowed groups, the entitlement mapping) is the values' own. The base values'
INFN IAM login runs in the chart's own hub configuration (tests/deploy/test_chart_hub.py).
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.oidc import OidcClient, OidcProvider, OidcUser
from hub_ext.values.merge import load_values, merge_values
from tests.conftest import subprocess_env
from tests.helpers.net import free_port
from tests.helpers.oidc_login import provider_login
from tests.helpers.processes import ServerProcess

pytestmark = [pytest.mark.integration]

VALUES = Path(__file__).resolve().parents[2] / "helm-values"
PASSWORD = "pw"

USERS = [
    OidcUser("ivo", PASSWORD, ["ai-infn", "ml-experts"]),
    OidcUser("vera", PASSWORD, ["ml-experts"], roles={"ml-experts": "manager"}),
]


def hub_settings(*files: str) -> dict[str, Any]:
    """`hub.config` of the merged values: what z2jh's jupyterhub_config.py applies."""
    values = merge_values([load_values(str(VALUES / name)) for name in files])
    return dict(values["hub"]["config"])


#: The hub's port, registered with the provider as its client's callback.
HUB_PORT = free_port()


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[OidcProvider]:
    """The provider, its entitlements naming AI4EOSC's VO, with the hub as its client."""
    callback = f"http://127.0.0.1:{HUB_PORT}/hub/oauth_callback"
    client = OidcClient("egi", "secret-egi", [callback])
    with OidcProvider(tmp_path / "oidc", USERS, [client], vo="vo.ai4eosc.eu") as running:
        yield running


class ValuesHub:
    """A JupyterHub with the values' authenticator pointed at the devstack provider."""

    def __init__(self, state: Path, provider: OidcProvider, client: str, *files: str) -> None:
        self.url = f"http://127.0.0.1:{HUB_PORT}"
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

    def log_in(self, user: str) -> httpx.Response:
        """The browser's way in: the hub's OAuth login, the provider's form, back to the hub."""
        with httpx.Client(timeout=30, follow_redirects=True) as client:
            return provider_login(client, self.url, user, PASSWORD)

    def user(self, name: str) -> dict[str, Any]:
        response = httpx.get(
            f"{self.url}/hub/api/users/{name}",
            headers={"Authorization": f"token {self.token}"},
            timeout=10,
        )
        response.raise_for_status()
        return dict(response.json())


@pytest.fixture
def egi_hub(tmp_path: Path, provider: OidcProvider) -> Iterator[ValuesHub]:
    hub = ValuesHub(tmp_path, provider, "egi", "values.yaml", "egi-checkin.yaml")
    yield hub
    hub.process.stop(timeout=30)


def test_egi_overlay_maps_entitlements_and_roles(egi_hub: ValuesHub) -> None:
    landed = egi_hub.log_in("ivo")
    assert landed.status_code == 200 and landed.url.path.startswith("/hub/"), landed.url
    ivo = egi_hub.user("ivo")
    # vo.ai4eosc.eu -> ai4eosc; :ml-experts -> ml-experts; the unlisted :ai-infn is dropped.
    assert set(ivo["groups"]) == {"ai4eosc", "ml-experts"}

    egi_hub.log_in("vera")
    vera = egi_hub.user("vera")
    assert set(vera["groups"]) == {"ai4eosc", "ml-experts", "ml-experts:manager"}

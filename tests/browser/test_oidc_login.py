"""Logging in through devstack's OIDC provider: the provider's groups drive the hub.

The demo's platform (devstack, JupyterHub with the AcceleratorSpawner, the hub service with
an active hackathon reservation) with `AccelhubOAuthenticator` logging users in through the
`oidc-provider` login page. The provider's groups become the hub's groups at every login; a
change at the provider reaches the spawn form, the service's quota and the reservation's
guarantee at the next login; a user whose refresh fails has to log in again.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from devstack.oidc import OidcClient, OidcProvider
from hub_ext.catalog import AI_INFN_CATALOG, AcceleratorCatalog
from hub_ext.demo.config import (
    HACKATHON_FLAVOR,
    PASSWORD,
    DemoPorts,
    OidcLogin,
    demo_identities,
    demo_memberships,
    hub_config,
)
from tests.conftest import subprocess_env
from tests.devstack.conftest import start_devstack, stop_devstack
from tests.helpers.net import free_port
from tests.helpers.processes import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.integration]

#: Short lifetimes so that the refresh paths run within the test.
ACCESS_TOKEN_TTL = 12
AUTH_REFRESH_AGE = 3


@dataclass
class Platform:
    url: str
    service_url: str
    provider: OidcProvider
    api_token: str  # reads users, groups and auth state
    admission_token: str  # the spawner's token at the service
    db: Path

    def hub_api(self, path: str) -> Any:
        request = urllib.request.Request(
            f"{self.url}/hub/api/{path}", headers={"Authorization": f"token {self.api_token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def groups(self, user: str) -> set[str]:
        return set(self.hub_api(f"users/{user}")["groups"])

    def entitlements(self, user: str) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.service_url}api/v1/users/{user}/entitlements",
            headers={"Authorization": f"token {self.admission_token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return dict(json.load(response)["flavors"])


def extra_config(api_token: str) -> str:
    """Config lines giving the test a token that reads users, groups and auth state."""
    role = {
        "name": "oidc-test",
        "services": ["oidc-test"],
        "scopes": ["list:users", "read:users", "read:groups", "admin:auth_state"],
    }
    return (
        f"c.JupyterHub.services.append({{'name': 'oidc-test', 'api_token': {api_token!r}}})\n"
        f"c.JupyterHub.load_roles.append({role!r})\n"
        f"c.Authenticator.auth_refresh_age = {AUTH_REFRESH_AGE}\n"
    )


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    state = tmp_path_factory.mktemp("oidc-platform")
    devstack = start_devstack(state / "devstack")
    ports = DemoPorts.pick(free_port())
    client = OidcClient(
        "accelhub-test",
        secrets.token_hex(16),
        [f"http://127.0.0.1:{ports.public}/hub/oauth_callback"],
    )
    provider = OidcProvider(
        state / "oidc", demo_identities(), [client], access_token_ttl=ACCESS_TOKEN_TTL
    )
    hub: ServerProcess | None = None
    try:
        provider.start()
        oidc = OidcLogin(
            provider.issuer, client.client_id, client.client_secret, secrets.token_hex(32)
        )
        admission, api_token = secrets.token_hex(24), secrets.token_hex(24)
        config = state / "jupyterhub_config.py"
        config.write_text(
            hub_config(state, devstack.kubeconfig, ports, admission, oidc) + extra_config(api_token)
        )
        env = subprocess_env(KUBECONFIG=str(devstack.kubeconfig))
        hub = ServerProcess(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)], state / "hub.log", env, state
        )
        hub.wait_until_serving(f"http://127.0.0.1:{ports.public}/hub/api/", 120, require_ok=True)
        service_url = f"http://127.0.0.1:{ports.service}/services/accelhub/"
        hub.wait_until_serving(f"{service_url}api/v1/openapi.json", 60, require_ok=True)
        yield Platform(
            url=f"http://127.0.0.1:{ports.public}",
            service_url=service_url,
            provider=provider,
            api_token=api_token,
            admission_token=admission,
            db=state / "jupyterhub.sqlite",
        )
    finally:
        if hub is not None:
            hub.stop(timeout=60)
        provider.stop()
        stop_devstack(devstack)


def login(browser: Browser, platform: Platform, user: str) -> Page:
    """Log in as the browser does: the hub's button, then the provider's login page."""
    page = browser.new_context(viewport={"width": 1300, "height": 950}).new_page()
    page.goto(f"{platform.url}/hub/login")
    page.get_by_role("button", name=re.compile("Sign in with devstack identity provider")).click()
    expect(page.get_by_role("heading", name="devstack identity provider")).to_be_visible()
    assert page.url.startswith(platform.provider.issuer), page.url
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(rf"{re.escape(platform.url)}/hub/(spawn|home).*"))
    return page


def offered(page: Page, platform: Platform) -> set[str]:
    page.goto(f"{platform.url}/hub/spawn")
    rows = page.locator(".accelhub-flavor")
    expect(rows.first).to_be_visible()
    return {str(rows.nth(i).get_attribute("data-flavor")) for i in range(rows.count())}


def allowed_by(groups: set[str]) -> set[str]:
    return {
        f.slug for f in AcceleratorCatalog(catalog_file=AI_INFN_CATALOG).for_groups(list(groups))
    }


def eventually(check: Any, seconds: float = 30.0) -> Any:
    """``check()``'s value once it is truthy (the service caches hub groups ~10 s)."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(1)


def test_login_through_the_provider_gives_its_groups_and_their_flavors(
    browser: Browser, platform: Platform
) -> None:
    page = login(browser, platform, "ana")
    groups = set(demo_memberships()["ana"])
    assert platform.groups("ana") == groups
    assert platform.hub_api("users/ana")["admin"] is True  # the admins group
    assert offered(page, platform) == allowed_by(groups)
    assert "a100" in allowed_by(groups) and "fpga-u55c" not in allowed_by(groups)

    # The auth state (tokens, claims) is kept encrypted in the hub's database.
    auth_state = platform.hub_api("users/ana")["auth_state"]
    assert auth_state["oauth_user"]["groups"] == sorted(groups)
    with sqlite3.connect(platform.db) as db:
        (stored,) = db.execute(
            "SELECT encrypted_auth_state FROM users WHERE name = 'ana'"
        ).fetchone()
    assert stored and auth_state["access_token"].encode() not in stored


def test_wrong_password_is_refused_on_the_login_page(browser: Browser, platform: Platform) -> None:
    page = browser.new_context().new_page()
    page.goto(f"{platform.url}/hub/login")
    page.get_by_role("button", name=re.compile("Sign in with")).click()
    page.fill("#username", "ana")
    page.fill("#password", "not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Unknown user or wrong password.")


def test_group_change_at_the_provider_follows_at_the_next_login(
    browser: Browser, platform: Platform
) -> None:
    page = login(browser, platform, "rita")
    before = set(demo_memberships()["rita"])
    assert {"fpga-users", "hackathon", "ml-experts", "physics"} <= before
    assert platform.groups("rita") == before
    assert offered(page, platform) == allowed_by(before)
    assert {"a100", "fpga-u55c"} <= offered(page, platform)
    # The service reads group members from the hub through a cache of a few seconds.
    ents = eventually(lambda: platform.entitlements("rita")[HACKATHON_FLAVOR]["reservation"])
    assert ents, "rita's hackathon reservation is not in the service's entitlements"
    offered(page, platform)
    reserved = page.locator(f'.accelhub-flavor[data-flavor="{HACKATHON_FLAVOR}"] .accelhub-badge')
    expect(reserved).to_contain_text("Reserved for hackathon")
    before_ents = platform.entitlements("rita")
    assert before_ents["fpga-u55c"]["allowed"] is True  # fpga-users
    t4_before = {k: before_ents["t4"].get(k) for k in ("user_cap", "group_quota_remaining")}

    # At the provider, rita leaves every group but biology (1 device per user).
    platform.provider.set_groups("rita", ["biology"])
    page.context.close()
    page = login(browser, platform, "rita")
    assert platform.groups("rita") == {"biology"}
    assert offered(page, platform) == allowed_by({"biology"})
    assert not {"a100", "fpga-u55c"} & offered(page, platform)
    gone = eventually(lambda: not platform.entitlements("rita")[HACKATHON_FLAVOR]["reservation"])
    assert gone, "the service still gives rita the hackathon's guarantee"
    offered(page, platform)
    expect(page.locator(".accelhub-badge", has_text="Reserved for hackathon")).to_have_count(0)
    after_ents = platform.entitlements("rita")
    assert after_ents["fpga-u55c"]["allowed"] is False
    assert after_ents["fpga-u55c"]["reason"] == "not_allowed"
    # biology's quota: 2 devices for the group, 1 per member.
    t4_after = {k: after_ents["t4"].get(k) for k in ("user_cap", "group_quota_remaining")}
    assert t4_after == {"user_cap": 1, "group_quota_remaining": 2}, t4_before
    assert t4_after != t4_before


def test_tokens_refresh_and_a_failed_refresh_means_logging_in_again(
    browser: Browser, platform: Platform
) -> None:
    page = login(browser, platform, "paul")
    first = platform.hub_api("users/paul")["auth_state"]
    assert first["refresh_token"]

    # The access token expires; the hub refreshes it with the refresh token on the next visit.
    time.sleep(ACCESS_TOKEN_TTL + AUTH_REFRESH_AGE)
    page.goto(f"{platform.url}/hub/home")
    assert "/hub/home" in page.url
    refreshed = platform.hub_api("users/paul")["auth_state"]
    assert refreshed["access_token"] != first["access_token"]

    # The provider disables paul: his tokens stop working, the refresh fails, he must log in.
    platform.provider.disable("paul")
    time.sleep(AUTH_REFRESH_AGE + 1)
    page.goto(f"{platform.url}/hub/home")
    expect(page).to_have_url(re.compile(r".*/hub/login.*"))
    expect(page.get_by_role("button", name=re.compile("Sign in with"))).to_be_visible()

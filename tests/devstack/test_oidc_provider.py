"""devstack's OIDC provider on its own: discovery, JWKS, code + PKCE, refresh, user changes.

A relying party written with `requests` walks the authorization code flow through the
provider's login page, as a browser would, and uses the tokens it gets.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from devstack.oidc import DEVSTACK_VO, OidcClient, OidcProvider, OidcUser

pytestmark = [pytest.mark.integration]

CALLBACK = "http://127.0.0.1:9/hub/oauth_callback"  # never fetched: the test reads the code
CLIENT = OidcClient("hub", "s3cret", [CALLBACK])
TTL = 4


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    users = [
        OidcUser("rita", "pw", ["physics", "fpga-users"]),
        OidcUser("otto", "pw", ["hackathon"], roles={"hackathon": "manager"}),
    ]
    with OidcProvider(
        tmp_path_factory.mktemp("oidc"), users, [CLIENT], access_token_ttl=TTL
    ) as running:
        yield running


def discovery(provider: OidcProvider) -> dict[str, Any]:
    response = requests.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=10)
    response.raise_for_status()
    return dict(response.json())


def log_in(
    provider: OidcProvider, user: str, password: str = "pw", pkce: bool = True
) -> requests.Response:
    """Walk the code flow to the callback; return the token endpoint's answer."""
    meta = discovery(provider)
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    params = {
        "client_id": CLIENT.client_id,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": "openid profile email eduperson_entitlement offline_access",
        "state": "st",
    }
    if pkce:
        params |= {"code_challenge": challenge.decode(), "code_challenge_method": "S256"}
    session = requests.Session()
    page = session.get(
        meta["authorization_endpoint"], params=params, allow_redirects=False, timeout=10
    )
    if page.is_redirect and page.headers["location"].startswith(CALLBACK):
        return page  # refused at once: the error is in the redirect
    page = session.get(requests.compat.urljoin(page.url, page.headers["location"]), timeout=10)
    form = re.search(r'action="([^"]+/login)"', page.text)
    if form is None:
        raise AssertionError(f"no login form: {page.status_code} {page.text[:300]}")
    answer = session.post(
        f"{provider.issuer}{form.group(1)}",
        data={"username": user, "password": password},
        allow_redirects=False,
        timeout=10,
    )
    while answer.is_redirect and not answer.headers["location"].startswith(CALLBACK):
        answer = session.get(
            requests.compat.urljoin(answer.url, answer.headers["location"]),
            allow_redirects=False,
            timeout=10,
        )
    if not answer.is_redirect:
        return answer
    query = parse_qs(urlparse(answer.headers["location"]).query)
    assert query["state"] == ["st"]
    return requests.post(
        meta["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": CALLBACK,
            "client_id": CLIENT.client_id,
            "client_secret": CLIENT.client_secret,
            "code_verifier": verifier,
        },
        timeout=10,
    )


def userinfo(provider: OidcProvider, access_token: str) -> requests.Response:
    return requests.get(
        discovery(provider)["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=10,
    )


def refresh(provider: OidcProvider, refresh_token: str) -> requests.Response:
    return requests.post(
        discovery(provider)["token_endpoint"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": CLIENT.client_id,
            "client_secret": CLIENT.client_secret,
        },
        timeout=10,
    )


def test_discovery_and_jwks(provider: OidcProvider) -> None:
    meta = discovery(provider)
    assert meta["issuer"] == provider.issuer
    assert "S256" in meta["code_challenge_methods_supported"]
    assert {"authorization_code", "refresh_token"} <= set(meta["grant_types_supported"])
    assert {"groups", "eduperson_entitlement"} <= set(meta["claims_supported"])
    keys = requests.get(meta["jwks_uri"], timeout=10).json()["keys"]
    assert [key["kty"] for key in keys] == ["RSA"] and "d" not in keys[0]


def test_code_flow_gives_groups_in_both_claim_styles(provider: OidcProvider) -> None:
    tokens = log_in(provider, "otto").json()
    assert {"access_token", "refresh_token", "id_token"} <= set(tokens)
    claims = userinfo(provider, tokens["access_token"]).json()
    assert claims["preferred_username"] == "otto"
    assert claims["groups"] == ["hackathon"]
    assert claims["eduperson_entitlement"] == [
        f"urn:mace:egi.eu:group:{DEVSTACK_VO}:role=member#aai.egi.eu",
        f"urn:mace:egi.eu:group:{DEVSTACK_VO}:hackathon:role=manager#aai.egi.eu",
    ]


def test_pkce_is_required_and_passwords_are_checked(provider: OidcProvider) -> None:
    without_pkce = log_in(provider, "rita", pkce=False)
    refused = parse_qs(urlparse(without_pkce.headers["location"]).query)
    assert refused["error"] == ["invalid_request"]
    assert "PKCE" in refused["error_description"][0]
    wrong = log_in(provider, "rita", password="nope")
    assert wrong.status_code == 401
    assert "Unknown user or wrong password." in wrong.text


def test_refresh_and_changes_at_the_provider(provider: OidcProvider) -> None:
    tokens = log_in(provider, "rita").json()
    assert set(userinfo(provider, tokens["access_token"]).json()["groups"]) == {
        "physics",
        "fpga-users",
    }
    provider.set_groups("rita", ["physics"])
    assert userinfo(provider, tokens["access_token"]).json()["groups"] == ["physics"]

    time.sleep(TTL + 1)
    assert userinfo(provider, tokens["access_token"]).status_code == 401  # expired
    renewed = refresh(provider, tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    fresh = renewed.json()
    assert userinfo(provider, fresh["access_token"]).json()["groups"] == ["physics"]

    provider.disable("rita")
    assert userinfo(provider, fresh["access_token"]).status_code == 401
    assert refresh(provider, fresh.get("refresh_token", tokens["refresh_token"])).status_code == 400
    provider.disable("rita", False)


def test_start_fails_with_a_sentence_without_the_npm_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import devstack.oidc as oidc

    monkeypatch.setattr(oidc, "NODE_MODULES", tmp_path / "missing")
    with pytest.raises(oidc.OidcProviderError, match="make setup"):
        OidcProvider(tmp_path, [], [CLIENT]).start()


def test_cli_runs_the_provider_until_sigterm(tmp_path: Path) -> None:
    import json
    import signal
    import subprocess
    import sys

    users = tmp_path / "users.json"
    users.write_text(json.dumps({"rita": {"password": "pw", "groups": ["physics"]}}))
    argv = [sys.executable, "-m", "hub_ext.cli", "devstack", "oidc", "--users", str(users)]
    argv += ["--client", f"hub:s3cret:{CALLBACK}", "--state-dir", str(tmp_path / "state")]
    cli = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert cli.stdout is not None
        issuer = cli.stdout.readline().split("issuer: ", 1)[1].strip()
        meta = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
        assert meta["issuer"] == issuer
    finally:
        cli.send_signal(signal.SIGTERM)
        assert cli.wait(20) == 0
    bad = subprocess.run(
        [*argv[:-4], "--client", "no-secret"], capture_output=True, text=True, timeout=30
    )
    assert bad.returncode == 1
    assert (
        bad.stderr.strip()
        == "accelhub devstack oidc: --client 'no-secret': give ID:SECRET:REDIRECT_URI"
    )


def test_devstack_up_runs_the_provider_too(tmp_path: Path) -> None:
    import json
    import signal
    import subprocess
    import sys

    users = tmp_path / "users.json"
    users.write_text(json.dumps({"rita": {"password": "pw", "groups": ["physics"]}}))
    argv = [sys.executable, "-m", "hub_ext.cli", "devstack", "up", "--controllers", "none"]
    argv += ["--state-dir", str(tmp_path / "state"), "--oidc", str(users)]
    up = subprocess.Popen(
        [*argv, "--oidc-client", f"hub:s3cret:{CALLBACK}"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert up.stdout is not None
        lines = [up.stdout.readline() for _ in range(5)]
        issuer = next(ln for ln in lines if ln.startswith("OIDC provider: ")).split()[2]
        meta = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
        assert meta["issuer"] == issuer
        assert "code" in meta["response_types_supported"]
    finally:
        up.send_signal(signal.SIGTERM)
        assert up.wait(30) == 0
    with pytest.raises(requests.ConnectionError):  # stopped with devstack
        requests.get(f"{issuer}/.well-known/openid-configuration", timeout=5)
    bad = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "devstack: --oidc needs at least one --oidc-client ID:SECRET:REDIRECT_URI"
    )

"""The health route answers the owner of the server and nobody else."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from hub_ext import __version__
from tests.conftest import LabServer


def fetch(url: str, token: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def test_health_reports_version_and_features(lab_server: LabServer) -> None:
    status, body, _ = fetch(lab_server.api_url("accelhub/api/health"), lab_server.token)
    assert status == 200
    data = json.loads(body)
    assert data["name"] == "accelhub"
    assert data["version"] == __version__
    assert data["features"] == {"telemetry": True, "offload": True}


@pytest.mark.parametrize("token", [None, "not-the-token"])
def test_health_refuses_strangers(lab_server: LabServer, token: str | None) -> None:
    status, body, _ = fetch(lab_server.api_url("accelhub/api/health"), token)
    assert status == 403
    assert b"version" not in body


def test_extension_is_enabled_by_the_installed_config(lab_server: LabServer) -> None:
    status, _body, _ = fetch(lab_server.api_url("api/me"), lab_server.token)
    assert status == 200
    log = lab_server.process.log_text()
    assert "server_ext | extension was successfully loaded" in log

"""A signed-in user without ``read`` on ``accelhub`` gets no telemetry: every REST route and
the WebSocket stream answer 403, while the rest of the server still serves that user."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

from devstack.nvml.simfile import default_simulation, write_simfile
from tests.telemetry.server import TelemetryServer, start_server
from tests.telemetry.simenv import REPO_ROOT, sim_env
from tests.telemetry.test_server import connect

ROUTES = [
    "accelhub/api/telemetry",
    "accelhub/api/telemetry/history",
    "accelhub/metrics/gpu",
    "accelhub/api/health",
]


@pytest.fixture(scope="module")
def denying_server(
    nvml_lib_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TelemetryServer]:
    sim = write_simfile(default_simulation("deny-node"), tmp_path_factory.mktemp("sim") / "s.txt")
    env = sim_env(nvml_lib_dir, sim)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    running = start_server(
        tmp_path_factory.mktemp("deny"),
        env,
        "--ServerApp.authorizer_class=tests.telemetry.deny_read.DenyAccelhubRead",
    )
    yield running
    running.process.stop()


@pytest.mark.parametrize("path", ROUTES)
def test_rest_routes_need_read_on_accelhub(denying_server: TelemetryServer, path: str) -> None:
    status, body = denying_server.get(path)  # the server's own token: a signed-in user
    assert status == 403, (status, body[:200])
    assert b"uuid" not in body and b"accelhub_gpu" not in body and b"Tesla" not in body


def test_the_user_is_signed_in_and_served_elsewhere(denying_server: TelemetryServer) -> None:
    status, _ = denying_server.get("api/contents")
    assert status == 200


async def test_stream_needs_read_on_accelhub(denying_server: TelemetryServer) -> None:
    with pytest.raises(HTTPClientError) as refused:
        await connect(denying_server)
    assert refused.value.code == 403

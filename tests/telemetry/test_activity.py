"""GPU activity reports reach a (stand-in) hub service endpoint, and survive its failures."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from devstack.nvml.simfile import SimProcess, default_simulation, write_simfile
from tests.telemetry.server import TelemetryServer, start_server
from tests.telemetry.simenv import sim_env


class Receiver:
    """A loopback HTTP endpoint that records POSTs; the first one gets a 500."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], Any]] = []
        self.failures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if receiver.failures == 0:
                    receiver.failures += 1
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.posts.append((dict(self.headers), json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/services/accelhub/activity"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


@pytest.fixture(scope="module")
def reporting_server(
    nvml_lib_dir: Path, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TelemetryServer]:
    sim = default_simulation("activity-node")
    t4, rtx, a100 = sim.gpus[1], sim.gpus[2], sim.gpus[0]
    t4.util_min = t4.util_max = 80  # busy
    rtx.util_min = rtx.util_max = 0  # idle
    assert a100.mig is not None
    a100.mig[0].processes = [SimProcess(1, 4 << 30)]  # a MIG slice in use
    sim_file = write_simfile(sim, tmp_path_factory.mktemp("sim") / "sim.txt")
    env = sim_env(
        nvml_lib_dir,
        sim_file,
        JUPYTERHUB_API_TOKEN="hub-service-token",
        JUPYTERHUB_USER="alice",
        JUPYTERHUB_SERVER_NAME="gpu",
    )
    running = start_server(
        tmp_path_factory.mktemp("server"),
        env,
        "--TelemetryConfig.interval=0.25",
        f"--TelemetryConfig.hub_activity_url={receiver.url}",
        "--TelemetryConfig.activity_interval=1",
        "--TelemetryConfig.activity_window=30",
    )
    yield running
    running.process.stop()


def test_reports_arrive_after_a_failure(
    reporting_server: TelemetryServer, receiver: Receiver
) -> None:
    deadline = time.monotonic() + 20
    while not receiver.posts and time.monotonic() < deadline:
        time.sleep(0.2)
    assert receiver.failures == 1 and receiver.posts, reporting_server.process.log_text()
    assert "GPU activity report" in reporting_server.process.log_text()  # the failure, logged
    headers, report = receiver.posts[-1]
    assert headers["Authorization"] == "token hub-service-token"
    assert headers["Content-Type"] == "application/json"
    assert report["server"] == "gpu" and report["user"] == "alice"
    assert report["status"] == "ok" and report["window_seconds"] == 30
    assert report["timestamp"].endswith("Z")
    devices = {d["uuid"]: d for d in report["devices"]}
    sim = default_simulation("activity-node")
    a100, t4, rtx = sim.gpus
    assert a100.mig is not None
    assert devices[t4.uuid]["busy"] is True and devices[t4.uuid]["utilization_avg"] == 80
    assert devices[rtx.uuid]["busy"] is False and devices[rtx.uuid]["utilization_avg"] == 0
    assert devices[t4.uuid]["kind"] == "gpu" and devices[t4.uuid]["memory_used_bytes"] > 0
    used, unused = devices[a100.mig[0].uuid], devices[a100.mig[1].uuid]
    assert used["kind"] == "mig" and used["profile"] == "3g.40gb"
    assert used["utilization_avg"] is None and used["busy"] is True and used["processes"] == 1
    assert unused["busy"] is False
    # Reporting keeps the shared sampler running without any browser attached.
    sampler = reporting_server.json("accelhub/api/telemetry")["sampler"]
    assert sampler["subscribers"] >= 1

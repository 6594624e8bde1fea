"""The telemetry API of a real Jupyter Server over real nvidia-ml-py and the simulated NVML."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from devstack.nvml.simfile import SimProcess, default_simulation, write_simfile
from tests.telemetry.server import TelemetryServer, start_server
from tests.telemetry.simenv import sim_env

INTERVAL = 0.25


@pytest.fixture(scope="module")
def sim_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_simfile(
        default_simulation("server-node"), tmp_path_factory.mktemp("sim") / "sim.txt"
    )


@pytest.fixture(scope="module")
def server(
    nvml_lib_dir: Path, sim_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TelemetryServer]:
    running = start_server(
        tmp_path_factory.mktemp("server"),
        sim_env(nvml_lib_dir, sim_path),
        f"--TelemetryConfig.interval={INTERVAL}",
        "--TelemetryConfig.keep_warm_seconds=1",
    )
    yield running
    running.process.stop()


async def connect(server: TelemetryServer, token: str | None = "") -> WebSocketClientConnection:
    token = server.token if token == "" else token
    headers = {"Authorization": f"token {token}"} if token is not None else {}
    return await websocket_connect(HTTPRequest(server.ws_url, headers=headers))


async def next_frame(ws: WebSocketClientConnection, wait: float = 5.0) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.read_message(), wait)
    assert message is not None, "the server closed the stream"
    frame: dict[str, Any] = json.loads(message)
    return frame


async def next_of(ws: WebSocketClientConnection, kind: str, wait: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + wait
    while True:
        frame = await next_frame(ws, max(0.01, deadline - time.monotonic()))
        if frame["type"] == kind:
            return frame


async def close(ws: WebSocketClientConnection) -> None:
    """Close and wait for the server's close frame, so it unsubscribes before we go on."""
    ws.close()
    with contextlib.suppress(TimeoutError):
        while await asyncio.wait_for(ws.read_message(), 5) is not None:
            pass


def test_snapshot(server: TelemetryServer) -> None:
    data = server.json("accelhub/api/telemetry")
    assert data["status"] == "ok"
    assert [d["name"] for d in data["devices"]] == [
        "NVIDIA A100 80GB PCIe",
        "Tesla T4",
        "Quadro RTX 5000",
    ]
    assert len(data["devices"][0]["mig"]["devices"]) == 4
    assert data["sampler"]["interval"] == INTERVAL


@pytest.mark.parametrize(
    "path", ["accelhub/api/telemetry", "accelhub/api/telemetry/history", "accelhub/metrics/gpu"]
)
@pytest.mark.parametrize("token", [None, "not-the-token"])
def test_strangers_are_refused(server: TelemetryServer, path: str, token: str | None) -> None:
    status, body = server.get(path, token)
    assert status == 403
    assert b"uuid" not in body and b"accelhub_gpu" not in body


@pytest.mark.parametrize("token", [None, "not-the-token"])
async def test_websocket_refuses_strangers(server: TelemetryServer, token: str | None) -> None:
    with pytest.raises(HTTPClientError) as refused:
        await connect(server, token)
    assert refused.value.code == 403


def test_metrics_are_valid_prometheus_text(server: TelemetryServer) -> None:
    status, body = server.get("accelhub/metrics/gpu")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    state = {
        s.labels["accelhub_gpu_telemetry_status"]: s.value
        for s in families["accelhub_gpu_telemetry_status"].samples
    }
    assert state["ok"] == 1 and state["no_driver"] == 0
    info = families["accelhub_gpu_info"].samples
    assert sorted(s.labels["kind"] for s in info) == ["gpu"] * 3 + ["mig"] * 4
    temps = {s.labels["name"] for s in families["accelhub_gpu_temperature_celsius"].samples}
    assert temps == {"NVIDIA A100 80GB PCIe", "Tesla T4", "Quadro RTX 5000"}
    # Unsupported metrics are absent, never zero: only the RTX 5000 has a fan.
    fans = families["accelhub_gpu_fan_speed_ratio"].samples
    assert [s.labels["name"] for s in fans] == ["Quadro RTX 5000"]
    utilization = {s.labels["name"] for s in families["accelhub_gpu_utilization_ratio"].samples}
    assert "NVIDIA A100 80GB PCIe" not in utilization  # MIG mode: no utilisation from NVML
    mig_memory = [
        s for s in families["accelhub_gpu_memory_total_bytes"].samples if s.labels["kind"] == "mig"
    ]
    assert len(mig_memory) == 4


async def test_history(server: TelemetryServer) -> None:
    ws = await connect(server)  # a listener keeps the sampler going
    await asyncio.sleep(1.2)
    await close(ws)
    history = server.json("accelhub/api/telemetry/history?seconds=60")
    assert history["status"] == "ok" and history["interval"] == INTERVAL
    assert history["seconds"] == 60
    kinds = [d["kind"] for d in history["devices"]]
    assert kinds == ["gpu", "mig", "mig", "mig", "mig", "gpu", "gpu"]
    samples = history["samples"]
    assert len(samples) >= 4
    assert [s["timestamp"] for s in samples] == sorted(s["timestamp"] for s in samples)
    t4 = history["devices"][5]["uuid"]
    assert all(0 <= s["values"][t4]["utilization_gpu"] <= 100 for s in samples)
    short = server.json("accelhub/api/telemetry/history?seconds=0.5")
    assert len(short["samples"]) < len(samples)
    for bad in ("abc", "0", "-3"):
        status, body = server.get(f"accelhub/api/telemetry/history?seconds={bad}")
        assert status == 400 and b"seconds" in body


async def test_one_sampler_serves_every_client(server: TelemetryServer) -> None:
    clients = [await connect(server) for _ in range(6)]
    firsts = [await next_of(ws, "snapshot") for ws in clients]
    start = max(f["data"]["sampler"]["passes"] for f in firsts)
    await asyncio.sleep(1.5)
    lasts = []
    for ws in clients:
        frames = []
        while True:
            try:
                frames.append(await next_frame(ws, wait=0.05))
            except TimeoutError:
                break
        assert frames, "every client keeps receiving snapshots"
        lasts.append(frames[-1]["data"]["sampler"])
    for ws in clients:
        await close(ws)
    passes = max(s["passes"] for s in lasts) - start
    # 1.5 s at 0.25 s is ~6 passes whatever the number of clients (6 per-client loops: ~36).
    assert 3 <= passes <= 10
    assert max(s["subscribers"] for s in lasts) >= 6


async def test_pause_resume_interval_and_bad_messages(server: TelemetryServer) -> None:
    ws = await connect(server)
    await next_of(ws, "snapshot")
    ws.write_message(json.dumps({"action": "pause"}))
    ack = await next_of(ws, "ack")
    assert ack["paused"] is True and ack["action"] == "pause"
    with pytest.raises(TimeoutError):
        await next_frame(ws, wait=0.8)  # nothing while paused
    ws.write_message(json.dumps({"action": "resume"}))
    frames = [await next_frame(ws), await next_frame(ws)]
    assert [f["type"] for f in frames] == ["ack", "snapshot"]
    ws.write_message(json.dumps({"action": "interval", "seconds": 1.0}))
    ack = await next_of(ws, "ack")
    assert ack["interval"] == 1.0 and ack["sampler_interval"] == INTERVAL
    stamps = [(await next_of(ws, "snapshot"))["data"]["timestamp"] for _ in range(3)]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert all(gap >= 0.7 for gap in gaps), gaps
    ws.write_message(json.dumps({"action": "interval", "seconds": 0.001}))
    assert (await next_of(ws, "ack"))["interval"] == 0.5  # clamped to the configured minimum
    for bad, error in (
        ("not json", "bad_message"),
        ("[1, 2]", "bad_message"),
        (json.dumps({"action": "dance"}), "unknown_action"),
        (json.dumps({"action": "interval", "seconds": "soon"}), "bad_interval"),
        (json.dumps({"action": "interval", "seconds": True}), "bad_interval"),
    ):
        ws.write_message(bad)
        frame = await next_of(ws, "error")
        assert frame["error"] == error and frame["message"]
    assert (await next_of(ws, "snapshot"))["data"]["status"] == "ok"  # still streaming
    await close(ws)


def test_own_processes_are_marked(server: TelemetryServer, sim_path: Path) -> None:
    sim = default_simulation("server-node")
    sim.gpus[1].processes = [SimProcess(server.process.pid, 3 << 30), SimProcess(1, 1 << 30)]
    write_simfile(sim, sim_path)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        procs = server.json("accelhub/api/telemetry")["devices"][1]["processes"]
        if procs:
            break
        time.sleep(0.3)
    by_pid = {p["pid"]: p for p in procs}
    assert by_pid[server.process.pid]["own"] is True
    assert by_pid[server.process.pid]["command"]
    assert by_pid[1]["own"] is False
    write_simfile(default_simulation("server-node"), sim_path)


def test_sampler_sleeps_when_nobody_listens(server: TelemetryServer) -> None:
    first = server.json("accelhub/api/telemetry")["sampler"]["passes"]
    time.sleep(3.5)  # keep-warm is 1 s; a sampler that never slept would do ~14 passes
    second = server.json("accelhub/api/telemetry")["sampler"]["passes"]
    assert second - first <= 8

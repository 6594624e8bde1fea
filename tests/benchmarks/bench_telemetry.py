"""Benchmark: CPU cost of GPU telemetry, shared sampler vs per-connection polling.

Eight simulated GPUs (one A100 in MIG mode with four slices), sampled at 1 Hz through
real nvidia-ml-py. Two servers run side by side in this run:

* ``shared``: a real Jupyter Server with accelhub's telemetry (one sampler, fan-out);
* ``per-connection``: the jupyterlab-nvdashboard pattern, every WebSocket connection
  running its own NVML polling loop (same reader code, same JSON), in a bare Tornado
  server (so it carries less framework overhead than the Jupyter Server).

For 0, 1 and 50 connected clients the script measures each server process's CPU time
(user + system, from ``/proc`` via psutil) over a fixed window and prints a table.
The goal: sampling cost independent of the number of clients, and under 1% of one
core for 8 devices at 1 Hz. Run: ``python tests/benchmarks/bench_telemetry.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from tests.helpers.net import free_port  # noqa: E402 (needs the repo on sys.path)

INTERVAL = 1.0
WINDOW = float(os.environ.get("ACCELHUB_BENCH_WINDOW", "10"))
IDLE_WINDOW = 5.0
WARMUP = 2.0
CLIENT_COUNTS = (0, 1, 50)


# -- the per-connection-polling baseline server (runs in a child process) -------------------


def serve_baseline(port: int) -> None:
    """A Tornado server where each WebSocket connection polls NVML itself."""
    import tornado.web
    import tornado.websocket

    from server_ext.telemetry.nvml_reader import NvmlReader
    from server_ext.telemetry.processes import annotate

    reader = NvmlReader()
    reader.open()

    def sample() -> str:
        data = reader.read()
        annotate(data["devices"])
        return json.dumps({"type": "snapshot", "data": data}, separators=(",", ":"))

    class PollingHandler(tornado.websocket.WebSocketHandler):
        def open(self, *args: Any, **kwargs: Any) -> None:
            self.task = asyncio.create_task(self.poll())

        async def poll(self) -> None:
            loop = asyncio.get_running_loop()
            while True:
                frame = await loop.run_in_executor(None, sample)
                try:
                    await self.write_message(frame)
                except tornado.websocket.WebSocketClosedError:
                    return
                await asyncio.sleep(INTERVAL)

        def on_close(self) -> None:
            self.task.cancel()

    async def main() -> None:
        app = tornado.web.Application([(r"/stream", PollingHandler)])
        app.listen(port, address="127.0.0.1")
        await asyncio.Event().wait()

    asyncio.run(main())


# -- the measuring side -----------------------------------------------------------------------


def wait_port(port: int, timeout: float = 90) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on port {port}")


def eight_gpus() -> Any:
    from devstack.nvml.simfile import Simulation, make_gpu, make_migs

    models = ["a100-80gb-pcie", "a100-80gb-pcie", "t4", "t4", "t4", "rtx5000", "rtx5000", "t4"]
    gpus = [make_gpu(model, "bench", i) for i, model in enumerate(models)]
    gpus[0].mig = make_migs(gpus[0], ["3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"])
    return Simulation(gpus=gpus)


def cpu_seconds(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def measure(pid: int, url: str, headers: dict[str, str], clients: int) -> dict[str, float]:
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    conns = [await websocket_connect(HTTPRequest(url, headers=headers)) for _ in range(clients)]
    frames = 0
    stop = asyncio.Event()
    last: list[str] = [""]

    async def drain(ws: Any) -> None:
        nonlocal frames
        while not stop.is_set():
            message = await ws.read_message()
            if message is None:
                return
            if ws is conns[0]:
                last[0] = message
            if counting:
                frames += 1

    counting = False
    tasks = [asyncio.create_task(drain(ws)) for ws in conns]
    await asyncio.sleep(WARMUP if clients else 1.0)
    window = WINDOW if clients else IDLE_WINDOW
    counting = True
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    passes0 = passes_in(last[0])
    await asyncio.sleep(window)
    cpu1, t1 = cpu_seconds(pid), time.monotonic()
    passes1 = passes_in(last[0])
    counting = False
    stop.set()
    for ws in conns:
        ws.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(1.5)  # let the server notice the closes (and its keep-warm lapse)
    wall = t1 - t0
    # The shared server reports its NVML passes; in the baseline every frame is a pass.
    passes = (passes1 - passes0) / wall if passes0 is not None and passes1 is not None else None
    return {
        "cpu_percent": 100.0 * (cpu1 - cpu0) / wall,
        "frames_per_s": frames / wall,
        "passes_per_s": passes if passes is not None else frames / wall,
    }


def passes_in(message: str) -> int | None:
    """The sampler's pass counter in a shared-design snapshot frame, if any."""
    if not message:
        return None
    sampler = json.loads(message).get("data", {}).get("sampler")
    return int(sampler["passes"]) if sampler else None


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )


async def run_all(shared: tuple[int, str, dict[str, str]], baseline: tuple[int, str]) -> list[Any]:
    rows = []
    for clients in CLIENT_COUNTS:
        pid, url, headers = shared
        rows.append(("shared", clients, await measure(pid, url, headers, clients)))
        pid, url = baseline
        rows.append(("per-connection", clients, await measure(pid, url, {}, clients)))
    return rows


def main() -> int:
    from devstack.nvml.env import nvml_env

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="accelhub-bench-") as tmp:
        state = Path(tmp)
        env = {**os.environ, **nvml_env(state, simulation=eight_gpus())}
        env.pop("NVIDIA_VISIBLE_DEVICES", None)
        env["PYTHONPATH"] = str(REPO_ROOT)
        env["JUPYTER_RUNTIME_DIR"] = str(state / "runtime")
        token = secrets.token_hex(16)
        shared_port, baseline_port = free_port(), free_port()
        (state / "root").mkdir()
        shared = start(
            [
                sys.executable,
                "-m",
                "jupyter_server",
                "--allow-root",
                "--no-browser",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={shared_port}",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={state / 'root'}",
                f"--TelemetryConfig.interval={INTERVAL}",
                "--TelemetryConfig.keep_warm_seconds=0",
            ],
            env,
            state / "shared.log",
        )
        baseline = start(
            [sys.executable, __file__, "--baseline-server", str(baseline_port)],
            env,
            state / "baseline.log",
        )
        try:
            wait_port(shared_port)
            wait_port(baseline_port)
            rows = asyncio.run(
                run_all(
                    (
                        shared.pid,
                        f"ws://127.0.0.1:{shared_port}/accelhub/api/telemetry/stream",
                        {"Authorization": f"token {token}"},
                    ),
                    (baseline.pid, f"ws://127.0.0.1:{baseline_port}/stream"),
                )
            )
        finally:
            for proc in (shared, baseline):
                proc.terminate()
                proc.wait(10)
    report(rows, time.monotonic() - started)
    return 0


def report(rows: list[Any], elapsed: float) -> None:
    cpu = {(design, clients): m["cpu_percent"] for design, clients, m in rows}
    print(f"telemetry: 8 simulated GPUs (+4 MIG) at {INTERVAL:g} Hz, {WINDOW:g} s windows")
    header = ("design", "clients", "CPU % of 1 core", "over idle %", "frames/s", "NVML passes/s")
    print(
        f"{header[0]:<16}{header[1]:>8}{header[2]:>17}{header[3]:>13}{header[4]:>10}{header[5]:>15}"
    )
    for design, clients, m in rows:
        cost = m["cpu_percent"] - cpu[(design, 0)]
        print(
            f"{design:<16}{clients:>8}{m['cpu_percent']:>17.2f}{cost:>13.2f}"
            f"{m['frames_per_s']:>10.1f}{m['passes_per_s']:>15.1f}"
        )
    shared_1 = cpu[("shared", 1)] - cpu[("shared", 0)]
    shared_50 = cpu[("shared", 50)] - cpu[("shared", 0)]
    polling_50 = cpu[("per-connection", 50)] - cpu[("per-connection", 0)]
    print("(CPU time comes from /proc in 10 ms ticks: +-0.1 points over a 10 s window)")
    print(f"shared sampler, sampling cost with 1 client:   {shared_1:.2f}% of one core (goal < 1%)")
    print(f"shared sampler, 50 clients vs 1 client:        {shared_50 / max(shared_1, 1e-3):.1f}x")
    print(
        f"per-connection / shared CPU at 50 clients:     {polling_50 / max(shared_50, 1e-3):.1f}x"
    )
    print(f"(benchmark took {elapsed:.0f} s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-server", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.baseline_server:
        serve_baseline(options.baseline_server)
    else:
        sys.exit(main())

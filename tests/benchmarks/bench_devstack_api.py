"""Benchmark of the devstack API server through kubernetes_asyncio.

Run: `python tests/benchmarks/bench_devstack_api.py`. Starts `accelhub devstack up` (API
server only) in a subprocess, then measures, through a real client over HTTPS:

- create throughput for 2,000 pods (no scheduler: they stay Pending),
- list latency at 2,000 pods (full list and a label-selected 1/20th),
- watch fan-out: N = 1, 10, 50 concurrent watchers opened at the resourceVersion from
  before the creates, timed until every watcher has seen all 2,000 ADDED events.

Baselines measured side by side in the same run: the same operations on the emulator's
raw in-process `ObjectStore` (create, list), and N=1 for fan-out.
"""

from __future__ import annotations

import asyncio
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

PODS = 2000
CONCURRENCY = 32
FANOUT = (1, 10, 50)


def _pod(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"bench-{i:05d}", "labels": {"app": "bench", "group": f"g{i % 20}"}},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "busybox:1.36",
                    "command": ["sleep", "3600"],
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                }
            ]
        },
    }


def _start(state: Path) -> tuple[subprocess.Popen[bytes], Path]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hub_ext.cli",
            "devstack",
            "up",
            "--quiet",
            "--controllers",
            "none",
            "--state-dir",
            str(state),
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not (state / "devstack.json").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("devstack did not start")
        time.sleep(0.05)
    return proc, Path(json.loads((state / "devstack.json").read_text())["kubeconfig"])


async def _timed(coro: Any) -> float:
    start = time.perf_counter()
    await coro
    return time.perf_counter() - start


async def _create_all(create: Any, namespace: str) -> float:
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with sem:
            await create(namespace, _pod(i))

    return await _timed(asyncio.gather(*(one(i) for i in range(PODS))))


async def _http(kubeconfig: Path) -> dict[str, float]:
    from kubernetes_asyncio import client, config

    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    cfg.connection_pool_maxsize = 64
    out: dict[str, float] = {}
    async with client.ApiClient(cfg) as api:
        core = client.CoreV1Api(api)
        await core.create_namespace({"metadata": {"name": "bench"}})
        start_rv = (await core.list_namespaced_pod("bench")).metadata.resource_version
        secs = await _create_all(core.create_namespaced_pod, "bench")
        out["create"] = PODS / secs
        full, selected = [], []
        for _ in range(5):
            full.append(await _timed(core.list_namespaced_pod("bench", _preload_content=False)))
            selected.append(
                await _timed(
                    core.list_namespaced_pod(
                        "bench", label_selector="group=g7", _preload_content=False
                    )
                )
            )
        out["list"] = statistics.median(full) * 1000
        out["list_selected"] = statistics.median(selected) * 1000
        for n in FANOUT:
            out[f"fanout{n}"] = await _fanout(core, n, start_rv)
    return out


async def _fanout(core: Any, n: int, rv: str) -> float:
    async def watcher() -> None:
        resp = await core.list_namespaced_pod(
            "bench", watch=True, resource_version=rv, timeout_seconds=60, _preload_content=False
        )
        seen = 0
        async for line in resp.content:
            if line.startswith(b'{"type":"ADDED"'):
                seen += 1
                if seen == PODS:
                    break
        resp.release()
        if seen != PODS:
            raise RuntimeError(f"watcher saw {seen} of {PODS} events")

    return await _timed(asyncio.gather(*(watcher() for _ in range(n))))


async def _in_process() -> dict[str, float]:
    from devstack.apiserver.store import ObjectStore

    store = ObjectStore()
    await store.create("namespaces", {"metadata": {"name": "bench"}})
    secs = await _create_all(lambda ns, pod: store.create("pods", pod, ns), "bench")
    out = {"create": PODS / secs}
    full, selected = [], []
    for _ in range(5):
        t0 = time.perf_counter()
        items, _ = store.list_raw("pods", "bench")
        json.dumps({"items": items})
        full.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        items, _ = store.list_raw("pods", "bench", label_selector="group=g7")
        json.dumps({"items": items})
        selected.append(time.perf_counter() - t0)
    out["list"] = statistics.median(full) * 1000
    out["list_selected"] = statistics.median(selected) * 1000
    return out


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        proc, kubeconfig = _start(Path(tmp) / "state")
        try:
            http = asyncio.run(_http(kubeconfig))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
    base = asyncio.run(_in_process())
    rows = [
        ("create 2,000 pods (objects/s)", http["create"], base["create"]),
        ("list 2,000 pods (ms, median)", http["list"], base["list"]),
        ("list label-selected 100 (ms)", http["list_selected"], base["list_selected"]),
    ]
    print("devstack API: kubernetes_asyncio over HTTPS vs in-process ObjectStore baseline")
    print(f"{'metric':34} {'HTTP':>10} {'baseline':>10} {'ratio':>8}")
    for name, value, ref in rows:
        print(f"{name:34} {value:10.1f} {ref:10.1f} {value / ref:8.2f}")
    print(f"\nwatch fan-out, {PODS} ADDED events replayed to every watcher (baseline: N=1)")
    print(f"{'watchers':34} {'seconds':>10} {'events/s':>10} {'vs N=1':>8}")
    one = http["fanout1"]
    for n in FANOUT:
        secs = http[f"fanout{n}"]
        print(f"{'N=' + str(n):34} {secs:10.2f} {n * PODS / secs:10.0f} {secs / one:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: AcceleratorSpawner against its baselines, on devstack, in one run.

1. Spawner overhead: median ``start()`` time of AcceleratorSpawner vs unmodified
   KubeSpawner starting the same server (same command, cpu and memory) on the AI_INFN
   devstack, alternating, ``ACCELHUB_BENCH_SPAWNS`` each. Goal: ratio <= 1.05.
2. Spawn-form latency with 100 nodes and 200 / 2,000 / 20,000 pods: AcceleratorSpawner's
   form (watch-driven inventory, read from memory) vs the AI_INFN way (list every node and
   pod on each render, then count and render the same template). Goal: >= 20x faster at
   2,000 pods, and flat as pods grow.

Run: ``python tests/benchmarks/bench_spawner.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

SPAWNS = int(os.environ.get("ACCELHUB_BENCH_SPAWNS", "100"))
RENDERS = int(os.environ.get("ACCELHUB_BENCH_RENDERS", "15"))
POD_COUNTS = tuple(
    int(x) for x in os.environ.get("ACCELHUB_BENCH_PODS", "200,2000,20000").split(",")
)
NODES = 100


class BenchUser:
    """The little a spawner needs of a JupyterHub user outside a hub."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.id = abs(hash(name)) % 100000
        self.url = f"/user/{name}/"
        self.groups: list[Any] = []


def big_cluster_file(path: Path) -> Path:
    """100 nodes: MIG (mixed), T4, RTX 5000 and CPU nodes."""
    nodes = []
    for i in range(NODES):
        node: dict[str, Any] = {
            "name": f"node-{i:03d}",
            "capacity": {"cpu": "64", "memory": "256Gi", "pods": "500"},
        }
        kind = i % 4
        if kind == 0:
            node["migStrategy"] = "mixed"
            node["gpus"] = [
                {
                    "model": "a100-80gb-pcie",
                    "uuid": f"GPU-{i:08d}-0000-0000-0000-000000000000",
                    "mig": [
                        {
                            "profile": "1g.10gb",
                            "uuid": f"MIG-{i:08d}-{j:04d}-0000-0000-000000000000",
                        }
                        for j in range(7)
                    ],
                }
            ]
        elif kind == 1:
            node["gpus"] = [
                {"model": "t4", "uuid": f"GPU-{i:08d}-{j:04d}-0000-0000-000000000000"}
                for j in range(4)
            ]
        elif kind == 2:
            node["gpus"] = [
                {"model": "rtx5000", "uuid": f"GPU-{i:08d}-{j:04d}-0000-0000-000000000000"}
                for j in range(4)
            ]
        nodes.append(node)
    doc = {"name": "bench", "namespaces": ["accelhub", "batch"], "nodes": nodes}
    path.write_text(json.dumps(doc))
    return path


def bench_pod(i: int) -> dict[str, Any]:
    """A bound pod; every fourth holds a GPU or MIG slice."""
    node = i % NODES
    limits: dict[str, str] = {"cpu": "100m"}
    if i % 4 == 0:
        limits[["nvidia.com/mig-1g.10gb", "nvidia.com/gpu", "nvidia.com/gpu", "cpu"][node % 4]] = (
            "1"
        )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"p-{i:05d}", "namespace": "batch"},
        "spec": {
            "nodeName": f"node-{node:03d}",
            "containers": [{"name": "c", "image": "x", "resources": {"limits": limits}}],
        },
        "status": {"phase": "Running"},
    }


async def fill(core: Any, have: int, want: int) -> None:
    """Create pods ``have .. want-1`` with bounded concurrency."""
    queue = list(range(have, want))

    async def worker() -> None:
        while queue:
            i = queue.pop()
            await core.create_namespaced_pod("batch", bench_pod(i))

    await asyncio.gather(*(worker() for _ in range(16)))


async def timed(fn: Callable[[], Awaitable[Any]], n: int) -> list[float]:
    """Wall times of ``n`` awaited calls, in seconds."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - t0)
    return times


async def form_bench(kubeconfig: Path) -> list[tuple[int, float, float]]:
    """Median render time (ours, baseline) per pod count."""
    from kubernetes_asyncio import client, config
    from traitlets.config import Config

    from hub_ext.inventory import InventoryState
    from hub_ext.spawner import AcceleratorSpawner
    from hub_ext.spawner.form import build_rows, render_form

    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    async with client.ApiClient(configuration) as api_client:
        core = client.CoreV1Api(api_client)
        spawner = AcceleratorSpawner(_mock=True, user=BenchUser("reader"), config=Config())
        catalog = spawner.catalog
        inventory = spawner.inventory()
        assert await inventory.wait_synced(60), "inventory did not sync"

        async def ours() -> str:
            return await spawner._render_options_form_async()

        async def listing_baseline() -> str:
            """The AI_INFN way: list nodes and pods on every render."""
            nodes: Any = await core.list_node(_preload_content=False)
            pods: Any = await core.list_pod_for_all_namespaces(_preload_content=False)
            state = InventoryState(catalog.all())
            state.replace_nodes(json.loads(await nodes.read())["items"])
            state.replace_pods(json.loads(await pods.read())["items"])
            nodes.release()
            pods.release()
            flavors = catalog.for_groups([])
            return render_form(build_rows(flavors, state.all_counts(), {}, spawner.image))

        results = []
        have = 0
        for want in POD_COUNTS:
            await fill(core, have, want)
            have = want
            deadline = time.monotonic() + 120
            while len(inventory.state.pods) < want and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
            assert await ours() == await ours()
            mine = statistics.median(await timed(ours, RENDERS))
            base = statistics.median(await timed(listing_baseline, max(3, RENDERS // 3)))
            results.append((want, mine, base))
            print(
                f"  {want:>6} pods: accelhub {mine * 1000:8.2f} ms   "
                f"list-per-render {base * 1000:9.1f} ms   speed-up {base / mine:7.0f}x",
                flush=True,
            )
        await inventory.stop()
        return results


async def spawn_bench() -> tuple[float, float]:
    """Median start() seconds: (AcceleratorSpawner, KubeSpawner)."""
    from kubespawner import KubeSpawner
    from traitlets.config import Config

    from hub_ext.spawner import AcceleratorSpawner

    config = Config()
    for section in ("KubeSpawner", "AcceleratorSpawner"):
        getattr(config, section).namespace = "accelhub"
    config.KubeSpawner.cmd = ["sleep", "3600"]
    config.KubeSpawner.start_timeout = 60
    config.KubeSpawner.events_enabled = False
    # the same server: the cpu flavor's default cpu/memory, given to plain KubeSpawner too
    config.KubeSpawner.cpu_limit = config.KubeSpawner.cpu_guarantee = 1.0
    config.KubeSpawner.mem_limit = config.KubeSpawner.mem_guarantee = "4G"
    config.KubeSpawner.priority_class_name = "interactive"
    config.KubeSpawner.image = "quay.io/jupyter/scipy-notebook:2025-03-17"
    config.AcceleratorCatalog.flavors = [
        {
            "slug": "cpu",
            "kind": "cpu",
            "default_cpu": 1,
            "default_memory": "4Gi",
            "images": [config.KubeSpawner.image],
            "priority_class_name": "interactive",
        }
    ]
    times: dict[str, list[float]] = {"accel": [], "kube": [], "control": []}
    kinds: list[tuple[str, type[KubeSpawner]]] = [
        ("accel", AcceleratorSpawner),
        ("kube", KubeSpawner),
        ("control", KubeSpawner),  # a second KubeSpawner: the A/A noise floor
    ]
    for round_ in range(SPAWNS + 1):
        order = kinds[round_ % 3 :] + kinds[: round_ % 3]
        for label, cls in order:
            spawner = cls(_mock=True, user=BenchUser(f"{label}{round_}"), config=config)
            spawner.api_token = "x"
            spawner.user_options = {"flavor": "cpu"} if label == "accel" else {}
            t0 = time.perf_counter()
            await spawner.start()
            elapsed = time.perf_counter() - t0
            await spawner.stop(now=True)
            if round_ > 0:  # round 0 warms reflectors and clients up
                times[label].append(elapsed)
    own = {}
    control = statistics.median(times["control"]) / statistics.median(times["kube"])
    print(f"  noise floor: KubeSpawner vs KubeSpawner ratio {control:.3f}", flush=True)
    for label, cls in kinds[:2]:  # the spawner's own work per start, without the cluster
        spawner = cls(_mock=True, user=BenchUser(f"{label}-own"), config=config)
        spawner.user_options = {"flavor": "cpu"} if label == "accel" else {}

        async def own_work(s: Any = spawner, accel: bool = label == "accel") -> None:
            await s.load_user_options()
            if accel:
                s._lease = await s._admit(s._selection, time.monotonic() + 60)
                await s._release()
            await s.get_pod_manifest()

        own[label] = statistics.median(await timed(own_work, 200))
    print(
        f"  own work per start (options, admission, manifest): AcceleratorSpawner "
        f"{own['accel'] * 1000:.2f} ms, KubeSpawner {own['kube'] * 1000:.2f} ms",
        flush=True,
    )
    kube_median = statistics.median(times["kube"])
    derived = (kube_median + own["accel"] - own["kube"]) / kube_median
    print(f"  ratio from own work over KubeSpawner's median start(): {derived:.4f}", flush=True)
    return statistics.median(times["accel"]), kube_median


def run_spawn_part(root: Path) -> None:
    """Part 1, in its own process (KubeSpawner loads one kubeconfig per process)."""
    from kubernetes_asyncio.config import kube_config

    from tests.devstack.conftest import start_devstack, stop_devstack

    print("Spawner overhead on the AI_INFN devstack (median start(), same server):", flush=True)
    ds = start_devstack(root / "ai-infn")
    try:
        kube_config.KUBE_CONFIG_DEFAULT_LOCATION = str(ds.kubeconfig)
        accel, kube = asyncio.run(spawn_bench())
    finally:
        stop_devstack(ds)
    ratio = accel / kube
    verdict = "ok" if ratio <= 1.05 else "ABOVE GOAL"
    print(
        f"  AcceleratorSpawner {accel:.3f} s   KubeSpawner {kube:.3f} s   "
        f"ratio {ratio:.3f} (goal <= 1.05: {verdict})"
    )


def run_form_part(root: Path) -> None:
    """Part 2, in its own process."""
    from kubernetes_asyncio.config import kube_config

    from tests.devstack.conftest import start_devstack, stop_devstack

    print(f"Spawn-form render, {NODES} nodes (median of {RENDERS}):", flush=True)
    cluster = big_cluster_file(root / "bench-cluster.json")
    ds = start_devstack(root / "big", "none", str(cluster), "--history-size", "50000")
    try:
        kube_config.KUBE_CONFIG_DEFAULT_LOCATION = str(ds.kubeconfig)
        results = asyncio.run(form_bench(ds.kubeconfig))
    finally:
        stop_devstack(ds)
    by_pods = {pods: (mine, base) for pods, mine, base in results}
    if 2000 in by_pods:
        mine, base = by_pods[2000]
        goal = "ok" if base / mine >= 20 else "BELOW GOAL"
        print(f"  at 2,000 pods: {base / mine:.0f}x faster (goal >= 20x: {goal})")
    mines = [m for _, m, _ in results]
    spread = max(mines) / min(mines)
    print(f"  accelhub render, slowest / fastest across pod counts: {spread:.2f}x (flat = ~1)")


def main() -> int:
    import subprocess

    if len(sys.argv) == 3:
        part, root = sys.argv[1], Path(sys.argv[2])
        {"spawn": run_spawn_part, "form": run_form_part}[part](root)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-spawner-") as tmp:
        for part in ("spawn", "form"):
            (Path(tmp) / part).mkdir()
            done = subprocess.run([sys.executable, __file__, part, str(Path(tmp) / part)])
            if done.returncode:
                return done.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())

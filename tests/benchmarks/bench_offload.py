"""Benchmark of the offload gateway: 200 concurrent jobs on two devstack InterLink sites.

Run: `python tests/benchmarks/bench_offload.py [--jobs 200] [--short 2] [--long 20]`.
Starts `accelhub devstack up` with two virtual nodes (each with devstack's local plugin),
then runs the service's gateway and tracker in this process over the real Kubernetes client
(the same objects the service wires), twice: jobs lasting `--short` seconds, then `--long`.
A job is a shell command that sleeps and prints a real result frame (`frames.py`), so the
site's processes stay cheap and the measurement is the gateway's.

Reported per round:

- Kubernetes API requests per job, counted at the service's client (every request, a watch
  or log stream counting once); the baseline is the short round: a gateway that followed
  jobs by polling would make more requests per job in the long round, watches make the same;
- the delay from the bridge writing a pod's completion (seen by a separate watch in this
  process) to the job's end being visible to the API (the gateway's record ended, result
  stored): median, p95, max;
- the CPU time of this process per job (gateway, tracker, store, and this benchmark's own
  submit loop and watch).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from kubernetes_asyncio import client, watch  # noqa: E402

from hub_ext.contract import JOB_LABEL, JobRequest  # noqa: E402
from hub_ext.flavors import Flavor  # noqa: E402
from hub_ext.service.directory import StaticDirectory  # noqa: E402
from hub_ext.service.kube import KubeCluster  # noqa: E402
from hub_ext.service.offload.gateway import OffloadGateway  # noqa: E402
from hub_ext.service.offload.tracker import JobTracker  # noqa: E402
from hub_ext.service.policy import QuotaPolicy  # noqa: E402
from hub_ext.service.store import Repository, make_engine, migrate  # noqa: E402
from hub_ext.service.store.jobs import JobStore  # noqa: E402
from server_ext.offload import frames  # noqa: E402

CLUSTER = """
name: offload-bench
namespaces: [accelhub]
nodes:
  - name: vk-site-a
    capacity: {cpu: "1000", memory: 4Ti, ephemeral-storage: 10Ti, pods: "1000"}
    virtual: {site: site-a, queueDelaySeconds: 0, failureRate: 0.0}
  - name: vk-site-b
    capacity: {cpu: "1000", memory: 4Ti, ephemeral-storage: 10Ti, pods: "1000"}
    virtual: {site: site-b, queueDelaySeconds: 0, failureRate: 0.0}
"""
CPU = Flavor(slug="cpu", display_name="CPU", kind="cpu", default_cpu=0.01, default_memory="16Mi")
NOTEBOOK = {
    "nbformat": 4,
    "nbformat_minor": 5,
    "metadata": {},
    "cells": [
        {
            "cell_type": "code",
            "id": "c1",
            "metadata": {},
            "source": "1",
            "outputs": [],
            "execution_count": None,
        }
    ],
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def round_(kubeconfig: Path, work: Path, jobs: int, seconds: float) -> dict[str, Any]:
    frame = work / "frame.txt"
    frame.write_text("\n".join(frames.encode_result(NOTEBOOK, "succeeded")) + "\n")
    cluster = KubeCluster(flavors={"cpu": CPU}, kubeconfig=str(kubeconfig))
    await cluster.start()
    requests: Counter[str] = Counter()
    rest = cluster.api.rest_client
    original = rest.request

    async def counted(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        segments = url.split("?")[0].split("/api/v1/")[-1].split("/")
        if segments[0] == "namespaces" and len(segments) > 2:
            segments = segments[2:]  # resource[/name[/subresource]]
        kind = "/".join([segments[0], *segments[2:3]])
        watching = (
            "watch=True" in url
            or "watch=true" in url
            or (kwargs.get("query_params") and ("watch", True) in kwargs["query_params"])
        )
        requests[f"{method} {kind}{' (watch)' if watching else ''}"] += 1
        return await original(method, url, *args, **kwargs)

    rest.request = counted
    engine = make_engine(f"sqlite:///{work / f'bench-{seconds:g}.sqlite'}")
    await migrate(engine)
    policy = QuotaPolicy(default_offload_quota={"jobs": None})
    gateway = OffloadGateway(
        {"cpu": CPU},
        policy,
        StaticDirectory(),
        JobStore(Repository(engine)),
        cluster,
        runner_command=["sh", "-c", f"sleep {seconds:g}; cat {frame}"],
    )
    await gateway.load()
    tracker = JobTracker(gateway)
    tracker.start()
    shown: dict[str, float] = {}
    finish = gateway.finish

    async def timed_finish(job: Any, *args: Any, **kwargs: Any) -> None:
        await finish(job, *args, **kwargs)
        shown.setdefault(job.pod, time.perf_counter())

    gateway.finish = timed_finish  # type: ignore[method-assign]
    completed: dict[str, float] = {}
    observer_api = client.ApiClient()  # the observer's requests are not counted

    async def observe() -> None:
        core = client.CoreV1Api(observer_api)
        while True:
            async with watch.Watch().stream(
                core.list_namespaced_pod, "accelhub", label_selector=JOB_LABEL, timeout_seconds=600
            ) as stream:
                async for event in stream:
                    pod = event["object"]
                    if pod.status and pod.status.phase == "Succeeded":
                        completed.setdefault(pod.metadata.name, time.perf_counter())

    observer = asyncio.create_task(observe())
    await asyncio.sleep(0.5)
    before = sum(requests.values())
    requests.clear()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    limit = asyncio.Semaphore(20)

    async def submit(i: int) -> str:
        async with limit:
            request = JobRequest(notebook=NOTEBOOK, flavor="cpu", name=f"b{i}.ipynb")
            return (await gateway.submit(f"user{i % 10}", request)).id

    ids = await asyncio.gather(*(submit(i) for i in range(jobs)))
    submitted = time.perf_counter() - wall0
    while gateway.jobs:
        async with tracker.changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tracker.changed.wait(), 1.0)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    states = Counter([(await gateway.store.get(i)).state for i in ids])  # type: ignore[union-attr]
    per_site = Counter([(await gateway.store.get(i)).site for i in ids])  # type: ignore[union-attr]
    await asyncio.sleep(1.0)  # the last deletions
    delays = [shown[p] - completed[p] for p in shown if p in completed]
    observer.cancel()
    await tracker.stop()
    await cluster.stop()
    await observer_api.close()
    await engine.dispose()
    total = sum(requests.values())
    return {
        "job_seconds": seconds,
        "jobs": jobs,
        "states": dict(states),
        "sites": dict(per_site),
        "submit_seconds": round(submitted, 2),
        "wall_seconds": round(wall, 2),
        "requests_before_submit": before,
        "requests_per_job": round(total / jobs, 2),
        "requests": dict(sorted(requests.items())),
        "delay_ms": {
            "n": len(delays),
            "median": round(1000 * statistics.median(delays), 1) if delays else None,
            "p95": round(1000 * percentile(delays, 0.95), 1) if delays else None,
            "max": round(1000 * max(delays), 1) if delays else None,
        },
        "cpu_ms_per_job": round(1000 * cpu / jobs, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--short", type=float, default=2.0)
    parser.add_argument("--long", type=float, default=20.0)
    args = parser.parse_args()
    from tests.devstack.conftest import start_devstack, stop_devstack

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "cluster.yaml").write_text(CLUSTER)
        ds = start_devstack(work / "state", None, str(work / "cluster.yaml"), "--site-poll", "1")
        try:
            results = [
                asyncio.run(round_(ds.kubeconfig, work, args.jobs, args.short)),
                asyncio.run(round_(ds.kubeconfig, work, args.jobs, args.long)),
            ]
        finally:
            stop_devstack(ds)
    for result in results:
        print(json.dumps(result, indent=1))
    short, long = results
    print(
        f"requests per job: {short['requests_per_job']} ({args.short:g}-s jobs, baseline) vs "
        f"{long['requests_per_job']} ({args.long:g}-s jobs): ratio "
        f"{long['requests_per_job'] / short['requests_per_job']:.2f} (goal: 1.00, no polling)"
    )
    print(
        f"completion -> API: median {long['delay_ms']['median']} ms, p95 "
        f"{long['delay_ms']['p95']} ms (goal < 1000 ms); CPU per job "
        f"{long['cpu_ms_per_job']} ms"
    )


if __name__ == "__main__":
    main()

"""The kubelet in-process: fast restart back-off, the LogSource hook, no orphans on stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from devstack.apiserver.errors import ApiError
from devstack.apiserver.store import ObjectStore
from devstack.controllers.kubelet import ProcessKubelet
from devstack.controllers.rootca import RootCaPublisher
from devstack.controllers.scheduler import Scheduler

GPU_NODE_DEVICES = '[{"uuid":"GPU-1","kind":"gpu","resource":"nvidia.com/gpu"}]'


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[tuple[ObjectStore, ProcessKubelet]]:
    store = ObjectStore()
    cap = {"cpu": "8", "memory": "16Gi", "pods": "110", "nvidia.com/gpu": "1"}
    await store.create(
        "nodes",
        {
            "metadata": {
                "name": "n1",
                "annotations": {"devstack.accelhub/devices": GPU_NODE_DEVICES},
            },
            "status": {"capacity": cap, "allocatable": cap},
        },
    )
    sched = Scheduler(backoff_initial=0.05, backoff_max=0.2)
    kubelet = ProcessKubelet(
        tmp_path / "kubelet",
        backoff_base=0.1,
        backoff_max=0.8,
        gpu_env={"ACCELHUB_NVML_SIM_FILE": "/sim.json", "LD_LIBRARY_PATH": "/opt/simnvml"},
        ld_library_path=["/opt/extra"],
    )
    publisher = RootCaPublisher()  # the token volume reads kube-root-ca.crt
    await publisher.start(store)
    await sched.start(store)
    await kubelet.start(store)
    yield store, kubelet
    await kubelet.stop()
    await sched.stop()
    await publisher.stop()
    store.close()


def pod(name: str, script: str, restart: str = "Always", **resources: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": restart,
            "containers": [
                {
                    "name": "c",
                    "image": "python:3.11",
                    "command": ["python", "-u", "-c", script],
                    "resources": {"limits": dict(resources)},
                }
            ],
        },
    }


async def until(check: Callable[[], Any], limit: float = 20.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


def status_of(store: ObjectStore, name: str) -> dict[str, Any]:
    return store.get_raw("pods", name, "default").get("status") or {}


def container(store: ObjectStore, name: str) -> dict[str, Any]:
    return (status_of(store, name).get("containerStatuses") or [{}])[0]


async def read(kubelet: ProcessKubelet, name: str, **kw: Any) -> bytes:
    out = b""
    async for chunk in kubelet.read_logs("default", name, "c", **kw):
        out += chunk
    return out


async def test_restart_backoff_grows(parts: tuple[ObjectStore, ProcessKubelet]) -> None:
    store, kubelet = parts
    await store.create("pods", pod("loop", "import sys; print('run'); sys.exit(1)"))
    await until(lambda: container(store, "loop").get("restartCount", 0) >= 3)
    st = container(store, "loop")
    assert st["lastState"]["terminated"]["exitCode"] == 1
    assert await read(kubelet, "loop", previous=True) == b"run\n"
    # The waiting message names the growing back-off, capped at backoff_max.
    messages: set[str] = set()

    def collect() -> bool:
        waiting = container(store, "loop")["state"].get("waiting") or {}
        if waiting.get("reason") == "CrashLoopBackOff":
            messages.add(waiting["message"].split()[1])
        return "800ms" in messages

    await until(collect)
    await asyncio.sleep(1.0)
    collect()
    assert messages <= {"400ms", "800ms"}, messages  # doubling, capped at backoff_max


async def test_log_source_follow_and_errors(parts: tuple[ObjectStore, ProcessKubelet]) -> None:
    store, kubelet = parts
    script = "import time\nfor i in range(3):\n    print(i)\n    time.sleep(0.2)\n"
    await store.create("pods", pod("counter", script, restart="Never"))
    await until(
        lambda: (
            kubelet.has_pod("default", "counter")
            and container(store, "counter").get("state", {}).get("running")
        )
    )
    assert await read(kubelet, "counter", follow=True) == b"0\n1\n2\n"
    with pytest.raises(ApiError) as err:
        await read(kubelet, "counter", previous=True)
    assert err.value.status == 400
    assert err.value.message == 'previous terminated container "c" in pod "counter" not found'
    stamped = await read(kubelet, "counter", timestamps=True, tail_lines=1)
    assert stamped.endswith(b"Z 2\n")
    with pytest.raises(ApiError):
        async for _ in kubelet.read_logs("default", "counter", "nope"):
            pass


async def test_gpu_env_and_no_orphans_after_stop(
    parts: tuple[ObjectStore, ProcessKubelet], tmp_path: Path
) -> None:
    store, kubelet = parts
    pids = tmp_path / "pids"
    script = (
        "import os, subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "print(os.environ['NVIDIA_VISIBLE_DEVICES'], os.environ['ACCELHUB_NVML_SIM_FILE'],\n"
        "      os.environ['LD_LIBRARY_PATH'])\n"
        "child.wait()\n"
    )
    await store.create("pods", pod("gpu", script, **{"nvidia.com/gpu": "1"}))
    await until(lambda: pids.exists() and len(pids.read_text().split()) == 2)
    await until(lambda: kubelet.has_pod("default", "gpu"))
    assert (await read(kubelet, "gpu")).strip() == b"GPU-1 /sim.json /opt/extra:/opt/simnvml"
    procs = [int(p) for p in pids.read_text().split()]
    assert all(psutil.pid_exists(p) for p in procs)
    await kubelet.stop()
    assert not any(
        psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in procs
    )


async def test_liveness_probe_restarts(parts: tuple[ObjectStore, ProcessKubelet]) -> None:
    store, _ = parts
    spec = pod("sick", "import time; time.sleep(60)")
    spec["spec"]["terminationGracePeriodSeconds"] = 1
    spec["spec"]["containers"][0]["livenessProbe"] = {
        "exec": {"command": ["python", "-c", "import sys; print('bad'); sys.exit(1)"]},
        "periodSeconds": 1,
        "failureThreshold": 1,
    }
    await store.create("pods", spec)
    await until(lambda: container(store, "sick").get("restartCount", 0) >= 1, limit=20)
    events, _ = store.list("events", "default")
    reasons = {(e["reason"], e["message"]) for e in events if e["involvedObject"]["name"] == "sick"}
    assert ("Unhealthy", "Liveness probe failed: bad\n") in reasons
    assert ("Killing", "Container c failed liveness probe, will be restarted") in reasons

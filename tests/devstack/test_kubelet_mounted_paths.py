"""Commands and arguments naming files in a volume run from the pod's sandbox (item 6)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devstack.apiserver.store import ObjectStore
from devstack.controllers.kubelet import ProcessKubelet
from devstack.controllers.kubelet_volumes import mounted_argv
from devstack.controllers.rootca import RootCaPublisher
from devstack.controllers.scheduler import Scheduler


def test_mounted_argv_maps_only_paths_under_mounts() -> None:
    root = Path("/sb/rootfs")
    argv = [
        "/etc/app/run.sh",
        "--config=/usr/local/etc/jupyterhub/jupyterhub_config.py",
        "/etc/application/other",
        "/etc/app",
        "relative/etc/app/x",
        "--flag",
        "/usr/bin/python",
    ]
    mounts = ["/etc/app/", "/usr/local/etc/jupyterhub/jupyterhub_config.py"]
    assert mounted_argv(argv, mounts, root) == [
        "/sb/rootfs/etc/app/run.sh",
        "--config=/sb/rootfs/usr/local/etc/jupyterhub/jupyterhub_config.py",
        "/etc/application/other",
        "/sb/rootfs/etc/app",
        "relative/etc/app/x",
        "--flag",
        "/usr/bin/python",
    ]


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[tuple[ObjectStore, ProcessKubelet]]:
    store = ObjectStore()
    cap = {"cpu": "8", "memory": "16Gi", "pods": "110"}
    await store.create("nodes", {"metadata": {"name": "n1"}, "status": {"capacity": cap}})
    sched = Scheduler()
    kubelet = ProcessKubelet(tmp_path / "kubelet")
    publisher = RootCaPublisher()  # the token volume reads kube-root-ca.crt
    await publisher.start(store)
    await sched.start(store)
    await kubelet.start(store)
    yield store, kubelet
    await kubelet.stop()
    await sched.stop()
    await publisher.stop()
    store.close()


async def test_script_and_config_from_volumes(
    parts: tuple[ObjectStore, ProcessKubelet],
) -> None:
    """z2jh's hub runs `--config /usr/local/etc/jupyterhub/jupyterhub_config.py` from a Secret."""
    store, kubelet = parts
    script = f"#!{sys.executable}\nimport sys\nprint('config says', open(sys.argv[2]).read())\n"
    await store.create(
        "configmaps", {"metadata": {"name": "app", "namespace": "default"}, "data": {"run": script}}
    )
    await store.create(
        "secrets",
        {
            "metadata": {"name": "hub", "namespace": "default"},
            "stringData": {"jupyterhub_config.py": "c = 1"},
        },
    )
    mounts = [
        {"name": "app", "mountPath": "/opt/app"},
        {
            "name": "hub",
            "mountPath": "/usr/local/etc/jupyterhub/jupyterhub_config.py",
            "subPath": "jupyterhub_config.py",
        },
    ]
    await store.create(
        "pods",
        {
            "metadata": {"name": "hub", "namespace": "default"},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "c",
                        "image": "hub",
                        "command": ["/opt/app/run"],
                        "args": ["--config", "/usr/local/etc/jupyterhub/jupyterhub_config.py"],
                        "volumeMounts": mounts,
                    }
                ],
                "volumes": [
                    {"name": "app", "configMap": {"name": "app", "defaultMode": 0o755}},
                    {"name": "hub", "secret": {"secretName": "hub"}},
                ],
            },
        },
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while loop.time() < deadline:
        status = store.get_raw("pods", "hub", "default").get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            break
        await asyncio.sleep(0.05)
    assert status.get("phase") == "Succeeded", status
    out = b""
    async for chunk in kubelet.read_logs("default", "hub", "c"):
        out += chunk
    assert out == b"config says c = 1\n"

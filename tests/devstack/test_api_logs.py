"""Pod logs through the LogSource hook, in-process Devstack, and the controller contract."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from conftest import RunningDevstack, kubectl_path
from kubernetes_asyncio import client, config

from devstack.apiserver.errors import ApiError
from devstack.apiserver.store import ObjectStore
from devstack.controllers.events import record_event
from devstack.runtime import Devstack


class ScriptedLogs:
    """A LogSource double: fixed lines, then (when following) lines pushed by the test."""

    def __init__(self) -> None:
        self.lines = [b"one\n", b"two\n", b"three\n"]
        self.live: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.calls: list[dict[str, Any]] = []

    def has_pod(self, namespace: str, pod: str) -> bool:
        return pod != "foreign"

    async def read_logs(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        follow: bool = False,
        tail_lines: int | None = None,
        since_seconds: int | None = None,
        timestamps: bool = False,
        previous: bool = False,
        limit_bytes: int | None = None,
    ) -> AsyncIterator[bytes]:
        self.calls.append(
            {
                "pod": pod,
                "container": container,
                "follow": follow,
                "tail": tail_lines,
                "since": since_seconds,
                "timestamps": timestamps,
                "previous": previous,
            }
        )
        if previous:
            raise ApiError(
                400,
                "BadRequest",
                f'previous terminated container "{container}" in pod "{pod}" not found',
            )
        lines = self.lines[-tail_lines:] if tail_lines is not None else self.lines
        for line in lines:
            yield (b"2026-01-01T00:00:00.000000000Z " + line) if timestamps else line
        while follow:
            item = await self.live.get()
            if item is None:
                return
            yield item


class RecordingController:
    """A controller double that records the contract calls."""

    def __init__(self) -> None:
        self.events: list[str] = []

    async def start(self, store: ObjectStore) -> None:
        nodes, _ = store.list("nodes")
        self.events.append(f"start:{len(nodes)}")

    async def stop(self) -> None:
        self.events.append("stop")


async def test_logs_and_controller_contract(tmp_path: Path) -> None:
    source = ScriptedLogs()
    controller = RecordingController()
    async with Devstack(state_dir=tmp_path, controllers=[controller]) as ds:
        assert ds.store is not None and controller.events == ["start:12"]
        ds.store.register_log_source(source)
        state = json.loads((tmp_path / "devstack.json").read_text())
        assert state["url"] == ds.url
        pod = {
            "metadata": {"name": "lp"},
            "spec": {
                "nodeName": "cpu-1",
                "containers": [
                    {"name": "a", "image": "busybox"},
                    {"name": "b", "image": "busybox"},
                ],
            },
        }
        await ds.store.create("pods", pod, "default")
        cfg = client.Configuration()
        await config.load_kube_config(config_file=str(ds.kubeconfig_path), client_configuration=cfg)
        async with client.ApiClient(cfg) as api:
            core = client.CoreV1Api(api)
            with pytest.raises(client.ApiException) as info:
                await core.read_namespaced_pod_log("lp", "default")
            assert json.loads(info.value.body)["message"] == (
                "a container name must be specified for pod lp, choose one of: [a b]"
            )
            text = await core.read_namespaced_pod_log(
                "lp", "default", container="b", tail_lines=2, timestamps=True
            )
            assert text.splitlines() == [
                "2026-01-01T00:00:00.000000000Z two",
                "2026-01-01T00:00:00.000000000Z three",
            ]
            assert source.calls[-1]["container"] == "b" and source.calls[-1]["tail"] == 2
            with pytest.raises(client.ApiException) as info:
                await core.read_namespaced_pod_log("lp", "default", container="a", previous=True)
            assert info.value.status == 400
            resp = await core.read_namespaced_pod_log(
                "lp", "default", container="a", follow=True, _preload_content=False
            )
            got = [await resp.content.readline() for _ in range(3)]
            assert got == [b"one\n", b"two\n", b"three\n"]
            await source.live.put(b"live\n")
            assert await asyncio.wait_for(resp.content.readline(), 5) == b"live\n"
            await source.live.put(None)
            assert await asyncio.wait_for(resp.content.read(), 5) == b""
            resp.release()
    assert controller.events == ["start:12", "stop"]
    assert not (tmp_path / "devstack.json").exists()


async def test_record_event_deduplicates(tmp_path: Path) -> None:
    async with Devstack(state_dir=tmp_path, controllers=[]) as ds:
        store = ds.store
        assert store is not None
        pod = await store.create(
            "pods",
            {"metadata": {"name": "ev"}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
            "default",
        )
        for _ in range(3):
            await record_event(
                store,
                pod,
                "FailedScheduling",
                "0/12 nodes are available",
                type="Warning",
                source_component="default-scheduler",
            )
        await record_event(store, pod, "Scheduled", "ok", source_component="default-scheduler")
        events, _ = store.list("events", "default", field_selector="involvedObject.name=ev")
        by_reason = {e["reason"]: e for e in events}
        assert by_reason["FailedScheduling"]["count"] == 3
        assert by_reason["FailedScheduling"]["source"] == {"component": "default-scheduler"}
        assert by_reason["Scheduled"]["count"] == 1
        assert by_reason["Scheduled"]["involvedObject"]["uid"] == pod["metadata"]["uid"]
        # The scheduler may bind with a merge patch in-process (not over HTTP).
        bound = await store.patch(
            "pods", "ev", {"spec": {"nodeName": "cpu-3"}}, "merge", namespace="default"
        )
        assert bound["spec"]["nodeName"] == "cpu-3"
        with pytest.raises(ApiError) as info:
            await store.bind_pod("default", "ev", "cpu-2")
        assert info.value.status == 409


def test_kubectl_logs_follow_with_kubelet(devstack: RunningDevstack, tmp_path: Path) -> None:
    """`kubectl logs -f` of a pod run by the process kubelet (when it is available)."""
    state = json.loads((devstack.state_dir / "devstack.json").read_text())
    if "ProcessKubelet" not in state["controllers"]:
        pytest.skip("the process kubelet is not available yet")
    pod = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: talker}\nspec:\n"
        "  restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox\n"
        "    command: [sh, -c, 'for i in 1 2 3; do echo line-$i; sleep 0.2; done']\n"
    )
    devstack.kubectl("apply", "-f", "-", input=pod)
    out = subprocess.run(
        [kubectl_path(), "wait", "--for=condition=Ready=false", "pod/talker", "--timeout=20s"],
        env=devstack.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    logs = ""
    for _ in range(40):
        res = devstack.kubectl("logs", "-f", "talker", check=False, timeout=30)
        logs = res.stdout
        if "line-3" in logs:
            break
        import time

        time.sleep(0.25)
    assert logs.split() == ["line-1", "line-2", "line-3"]

"""The bridge's requests and the local plugin's replies have interLink's exact shapes.

The expected field names are written out here from interLink's Go types
(`pkg/interlink/types.go`: RetrievedPodData, RetrievedContainer, CreateStruct,
PodStatus, LogStruct, ContainerLogOpts, PingResponse, AcceleratorResponse), not taken
from `devstack.interlink.protocol`, so a drift in that module fails here.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from devstack.controllers.interlink import InterLinkBridge
from devstack.interlink.server import LocalPlugin
from devstack.interlink.site import SiteSettings
from devstack.runtime import Devstack
from tests.devstack.conftest import REPO
from tests.helpers.net import free_port

RETRIEVED_POD_DATA = {"pod", "container", "jobConfig"}  # jobScript is omitempty
RETRIEVED_CONTAINER = {"name", "configMaps", "projectedvolumemaps", "secrets", "emptyDirs"}
CREATE_STRUCT = {"PodUID", "PodJID"}
POD_STATUS = {"name", "UID", "namespace", "JID", "containers", "initContainers"}
LOG_STRUCT = {"Namespace", "PodUID", "PodName", "ContainerName", "Opts"}
LOG_OPTS = {"Tail", "Bytes", "Timestamps", "Follow", "Previous", "SinceSeconds", "SinceTime"}
ACCELERATOR = {"resourceType", "available"}
NODE = "vk-leonardo-cineca"


def pod(name: str, script: str, **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {"name": "main", "image": "python:3.12", "command": ["python", "-u", "-c", script]}
            ],
            **extra,
        },
    }


# -- the local plugin's replies ----------------------------------------------------------------
@pytest.fixture
async def plugin(tmp_path: Path) -> AsyncIterator[LocalPlugin]:
    p = LocalPlugin(
        SiteSettings(name="t", capacity={"cpu": "8", "nvidia.com/gpu": "2"}, state_dir=tmp_path)
    )
    await p.start()
    yield p
    await p.stop()


async def call(p: LocalPlugin, method: str, path: str, body: Any) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, p.url + path, data=json.dumps(body)) as resp,
    ):
        return resp.status, await resp.read()


async def test_plugin_replies_have_interlink_shapes(plugin: LocalPlugin) -> None:
    job = pod("shape", "print('hi from the site')")
    job["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": "1"}}
    container = {
        "name": "main",
        "configMaps": [],
        "projectedvolumemaps": [],
        "secrets": [],
        "emptyDirs": [],
    }
    status, body = await call(plugin, "POST", "/create", {"pod": job, "container": [container]})
    assert status == 200
    created = json.loads(body)
    assert set(created) == CREATE_STRUCT and created["PodUID"] == "uid-shape"

    status, body = await call(plugin, "GET", "/status", [])
    ping = json.loads(body)
    assert status == 200 and ping["status"] == "ok"
    accs = ping["resources"]["accelerators"]
    assert all(set(a) == ACCELERATOR for a in accs)
    # the whole capacity: the scheduler already counts the job's GPU on the node
    assert accs == [{"resourceType": "nvidia.com/gpu", "available": "2"}]
    assert ping["resources"]["cpu"] == "8"

    for _ in range(100):
        status, body = await call(plugin, "GET", "/status", [job])
        entries = json.loads(body)
        assert isinstance(entries, list) and len(entries) == 1
        assert set(entries[0]) == POD_STATUS and entries[0]["JID"] == created["PodJID"]
        if "terminated" in entries[0]["containers"][0]["state"]:
            break
        await asyncio.sleep(0.1)
    assert entries[0]["containers"][0]["state"]["terminated"]["exitCode"] == 0

    opts = dict.fromkeys(LOG_OPTS, 0) | {"SinceTime": "0001-01-01T00:00:00Z"}
    logs = {
        "Namespace": "default",
        "PodUID": "uid-shape",
        "PodName": "shape",
        "ContainerName": "main",
        "Opts": opts,
    }
    status, body = await call(plugin, "GET", "/getLogs", logs)
    assert (status, body) == (200, b"hi from the site\n")
    status, body = await call(
        plugin, "GET", "/getLogs", logs | {"Opts": opts | {"Tail": 1, "Bytes": 5}}
    )
    assert status == 400 and b"Both Tail and LimitBytes set" in body

    status, body = await call(plugin, "POST", "/delete", job)
    assert status == 200
    status, body = await call(plugin, "GET", "/status", [job])
    assert json.loads(body) == []


async def test_plugin_rejects_bad_bodies_with_a_sentence(plugin: LocalPlugin) -> None:
    status, body = await call(plugin, "POST", "/create", [{"pod": {}}])
    assert status == 400 and body == b"the /create body must be a JSON object"
    status, body = await call(plugin, "GET", "/status", {"pods": []})
    assert status == 400 and body == b"the /status body must be a JSON list"


async def test_fail_create_answers_like_sbatch(plugin: LocalPlugin) -> None:
    plugin.site.settings.faults.fail_create = "Invalid account or account/partition combination"
    status, body = await call(plugin, "POST", "/create", {"pod": pod("x", "pass"), "container": []})
    assert status == 500
    assert body == (
        b"sbatch: error: Batch job submission failed: "
        b"Invalid account or account/partition combination"
    )


# -- the bridge's requests ------------------------------------------------------------------------
class Recorder(RequestHandler):
    """A plugin that records every request and answers with interLink's shapes."""

    def initialize(self, seen: list[tuple[str, str, Any]]) -> None:
        self.seen = seen

    def _record(self) -> Any:
        body = json.loads(self.request.body)
        self.seen.append((self.request.method or "", self.request.path, body))
        return body

    def post(self) -> None:
        body = self._record()
        if self.request.path == "/create":
            self.finish({"PodUID": body["pod"]["metadata"]["uid"], "PodJID": "4242"})
        else:
            self.finish("deleted")

    def get(self) -> None:
        body = self._record()
        if self.request.path == "/getLogs":
            self.finish("line one\n")
            return
        if not body:
            self.finish(
                {
                    "status": "ok",
                    "resources": {
                        "accelerators": [{"resourceType": "nvidia.com/gpu", "available": "7"}]
                    },
                }
            )
            return
        running = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
        self.set_header("Content-Type", "application/json")
        self.finish(
            json.dumps(
                [
                    {
                        "name": p["metadata"]["name"],
                        "UID": p["metadata"]["uid"],
                        "namespace": p["metadata"]["namespace"],
                        "JID": "4242",
                        "containers": [{"name": "main", "state": running}],
                        "initContainers": [],
                    }
                    for p in body
                ]
            )
        )


async def test_bridge_requests_have_interlink_shapes(tmp_path: Path) -> None:
    seen: list[tuple[str, str, Any]] = []
    app = Application([(r"/(?:create|status|getLogs|delete)", Recorder, {"seen": seen})])
    server = HTTPServer(app)
    [sock] = bind_sockets(0, "127.0.0.1")
    server.add_sockets([sock])
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    bridge = InterLinkBridge(
        tmp_path / "il", sites={NODE: url}, status_period=0.2, ping_period=0.2, local_plugins=False
    )
    try:
        async with Devstack(state_dir=tmp_path, controllers=["scheduler", bridge]) as ds:
            store = ds.store
            assert store is not None
            await store.create(
                "configmaps",
                {"metadata": {"name": "nb"}, "data": {"a.ipynb": "{}"}},
                namespace="default",
            )
            job = pod(
                "bridged",
                "pass",
                nodeSelector={"kubernetes.io/hostname": NODE},
                tolerations=[
                    {
                        "key": "virtual-node.interlink/no-schedule",
                        "operator": "Exists",
                        "effect": "NoSchedule",
                    }
                ],
                volumes=[
                    {"name": "nb", "configMap": {"name": "nb"}},
                    {"name": "scratch", "emptyDir": {}},
                ],
            )
            job["metadata"].pop("uid")
            job["spec"]["containers"][0]["volumeMounts"] = [
                {"name": "nb", "mountPath": "/nb"},
                {"name": "scratch", "mountPath": "/scratch"},
            ]
            await store.create("pods", job, namespace="default")
            for _ in range(100):
                live = store.get_raw("pods", "bridged", "default")
                if (live.get("status") or {}).get("phase") == "Running":
                    break
                await asyncio.sleep(0.05)
            assert live["status"]["phase"] == "Running"
            node = store.get_raw("nodes", NODE)
            assert node["status"]["allocatable"]["nvidia.com/gpu"] == "7"
            chunks = [c async for c in bridge.read_logs("default", "bridged", "main", tail_lines=3)]
            assert b"".join(chunks) == b"line one\n"
            await store.delete("pods", "bridged", namespace="default")
            for _ in range(100):
                if any(path == "/delete" for _, path, _ in seen):
                    break
                await asyncio.sleep(0.05)
    finally:
        server.stop()

    creates = [b for m, p, b in seen if p == "/create"]
    assert len(creates) == 1 and [m for m, p, _ in seen if p == "/create"] == ["POST"]
    assert set(creates[0]) == RETRIEVED_POD_DATA
    assert creates[0]["pod"]["metadata"]["name"] == "bridged"
    [container] = creates[0]["container"]
    assert set(container) == RETRIEVED_CONTAINER
    assert [cm["metadata"]["name"] for cm in container["configMaps"]] == ["nb"]
    assert container["configMaps"][0]["data"] == {"a.ipynb": "{}"}
    assert container["emptyDirs"] == ["scratch"]

    statuses = [(m, b) for m, p, b in seen if p == "/status"]
    assert ("GET", []) in statuses  # the ping
    polls = [b for m, b in statuses if b]
    assert polls and all(m == "GET" for m, _ in statuses)
    assert polls[0][0]["metadata"]["name"] == "bridged"  # whole v1.Pod objects

    [(method, logs)] = [(m, b) for m, p, b in seen if p == "/getLogs"]
    assert method == "GET" and set(logs) == LOG_STRUCT and set(logs["Opts"]) == LOG_OPTS
    assert logs["Opts"]["Tail"] == 3 and logs["PodName"] == "bridged"

    deletes = [(m, b) for m, p, b in seen if p == "/delete"]
    assert deletes and deletes[0][0] == "POST"
    assert deletes[0][1]["metadata"]["name"] == "bridged"


async def test_more_gpus_than_the_site_has_is_refused_like_slurm(plugin: LocalPlugin) -> None:
    job = pod("greedy", "pass")
    job["metadata"]["annotations"] = {"slurm-job.vk.io/flags": "--gres=gpu:a100:3 --mem=8G"}
    status, body = await call(plugin, "POST", "/create", {"pod": job, "container": []})
    assert (status, body) == (
        500,
        b"sbatch: error: Batch job submission failed: "
        b"Requested node configuration is not available",
    )
    job["metadata"]["annotations"] = {"slurm-job.vk.io/flags": "--gres=gpu:2"}
    status, _ = await call(plugin, "POST", "/create", {"pod": job, "container": []})
    assert status == 200


def test_cli_plugin_with_fail_create_and_bad_site_option(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hub_ext.cli",
            "devstack",
            "interlink-plugin",
            "--port",
            str(port),
            "--fail-create",
            "Job violates accounting/QOS policy",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip().endswith(f"http://127.0.0.1:{port}")
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/create",
            data=json.dumps({"pod": pod("x", "pass"), "container": []}).encode(),
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=10)
        assert info.value.code == 500
        assert info.value.read() == (
            b"sbatch: error: Batch job submission failed: Job violates accounting/QOS policy"
        )
    finally:
        proc.terminate()
        proc.wait(10)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "hub_ext.cli",
            "devstack",
            "up",
            "--state-dir",
            str(tmp_path / "s"),
            "--site",
            "no-such-node=http://127.0.0.1:1",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr.strip() == "devstack: --site names no virtual node: no-such-node"

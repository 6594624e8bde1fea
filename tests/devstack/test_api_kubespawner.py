"""KubeSpawner 7's own reflectors (list + watch with label/field selectors) on the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from conftest import RunningDevstack
from kubernetes_asyncio import client, config
from kubespawner.reflector import ResourceReflector
from kubespawner.spawner import EventReflector, PodReflector


async def _until(pred: Callable[[], bool], limit: float = 10) -> None:
    """Poll the reflector's cache (it offers no change notification)."""
    deadline = asyncio.get_running_loop().time() + limit
    while not pred():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_pod_and_event_reflectors(devstack_api: RunningDevstack, namespace: str) -> None:
    await config.load_kube_config(config_file=str(devstack_api.kubeconfig))
    pods = PodReflector(namespace=namespace, labels={"component": "singleuser-server"})
    events = EventReflector(namespace=namespace, fields={"involvedObject.kind": "Pod"})
    reflectors: list[ResourceReflector] = [pods, events]
    cfg = client.Configuration()
    await config.load_kube_config(
        config_file=str(devstack_api.kubeconfig), client_configuration=cfg
    )
    async with client.ApiClient(cfg) as api:
        core = client.CoreV1Api(api)
        await core.create_namespaced_pod(
            namespace,
            {
                "metadata": {"name": "jupyter-ada", "labels": {"component": "singleuser-server"}},
                "spec": {"containers": [{"name": "notebook", "image": "jupyter/base"}]},
            },
        )
        await core.create_namespaced_pod(
            namespace,
            {
                "metadata": {"name": "other", "labels": {"component": "else"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            },
        )
        try:
            for r in reflectors:
                await r.start()
            await asyncio.wait_for(pods.first_load_future, 10)
            await asyncio.wait_for(events.first_load_future, 10)
            assert list(pods.pods) == [f"{namespace}/jupyter-ada"]
            await core.patch_namespaced_pod_status(
                "jupyter-ada", namespace, {"status": {"phase": "Running", "podIP": "127.0.0.5"}}
            )
            await _until(
                lambda: pods.pods[f"{namespace}/jupyter-ada"]["status"]["phase"] == "Running"
            )
            await core.create_namespaced_event(
                namespace,
                {
                    "metadata": {"name": "jupyter-ada.1"},
                    "involvedObject": {
                        "kind": "Pod",
                        "name": "jupyter-ada",
                        "namespace": namespace,
                    },
                    "reason": "Scheduled",
                    "message": "Successfully assigned",
                    "type": "Normal",
                },
            )
            await core.create_namespaced_event(
                namespace,
                {
                    "metadata": {"name": "node.1"},
                    "involvedObject": {"kind": "Node", "name": "cpu-1"},
                    "reason": "Ignored",
                    "message": "not a pod",
                    "type": "Normal",
                },
            )
            await _until(lambda: len(events.events) == 1)
            assert events.events[0]["reason"] == "Scheduled"
            await core.delete_namespaced_pod("jupyter-ada", namespace)
            await _until(lambda: not pods.pods)
        finally:
            for r in reflectors:
                await r.stop()

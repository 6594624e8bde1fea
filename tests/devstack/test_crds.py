"""CustomResourceDefinitions: kubectl applies a CRD and its resources, discovery serves
them, the schema refuses bad ones, status is a subresource, and watches see changes."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator

import pytest
from conftest import RunningDevstack
from kubernetes_asyncio import client, config, watch

pytestmark = pytest.mark.integration

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: queues.batch.example.org}
spec:
  group: batch.example.org
  scope: Namespaced
  names: {plural: queues, singular: queue, kind: Queue, shortNames: [q]}
  versions:
    - name: v1beta1
      served: true
      storage: true
      subresources: {status: {}}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [weight]
              properties:
                weight: {type: integer, minimum: 1}
                mode: {type: string, enum: [fifo, fair]}
            status:
              type: object
              properties:
                pending: {type: integer}
"""


@pytest.fixture
def ns(devstack_api: RunningDevstack) -> Iterator[str]:
    name = f"cr-{os.urandom(3).hex()}"
    devstack_api.kubectl("create", "namespace", name)
    devstack_api.kubectl("apply", "-f", "-", input=CRD)
    yield name
    devstack_api.kubectl("delete", "namespace", name, "--wait=false", check=False)
    devstack_api.kubectl("delete", "crd", "queues.batch.example.org", check=False)


def _queue(ns: str, name: str, spec: str) -> str:
    return (
        "apiVersion: batch.example.org/v1beta1\nkind: Queue\n"
        f"metadata: {{name: {name}, namespace: {ns}}}\nspec: {spec}\n"
    )


def test_crd_resources_through_kubectl(devstack_api: RunningDevstack, ns: str) -> None:
    ds = devstack_api
    ds.kubectl("wait", "--for=condition=established", "crd/queues.batch.example.org")
    assert "queues" in ds.kubectl("api-resources", "--api-group=batch.example.org").stdout
    out = ds.kubectl(
        "apply", "-f", "-", input=_queue(ns, "gpu", "{weight: 2, mode: fair, junk: 1}")
    )
    assert out.stdout == "queue.batch.example.org/gpu created\n"
    got = json.loads(ds.kubectl("get", "q", "gpu", "-n", ns, "-o", "json").stdout)
    assert got["spec"] == {"weight": 2, "mode": "fair"}  # unknown fields pruned
    bad = ds.kubectl(
        "apply", "-f", "-", input=_queue(ns, "bad", "{weight: 0, mode: lifo}"), check=False
    )
    assert bad.returncode == 1
    assert 'The Queue "bad" is invalid' in bad.stderr
    assert (
        "spec.weight: Invalid value: 0: spec.weight in body should be greater than or equal to 1"
        in bad.stderr
    )
    assert 'spec.mode: Unsupported value: "lifo": supported values: "fifo", "fair"' in bad.stderr
    missing = ds.kubectl("apply", "-f", "-", input=_queue(ns, "m", "{mode: fifo}"), check=False)
    assert "spec.weight: Required value" in missing.stderr
    # status is a subresource: the main resource ignores it, the subresource sets it.
    ds.kubectl("patch", "q", "gpu", "-n", ns, "--type=merge", "-p", '{"status": {"pending": 3}}')
    got = json.loads(ds.kubectl("get", "q", "gpu", "-n", ns, "-o", "json").stdout)
    assert "status" not in got
    ds.kubectl(
        "patch", "q", "gpu", "-n", ns, "--subresource=status", "--type=merge",
        "-p", '{"status": {"pending": 3}}',
    )  # fmt: skip
    got = json.loads(ds.kubectl("get", "q", "gpu", "-n", ns, "-o", "json").stdout)
    assert got["status"] == {"pending": 3}
    ds.kubectl("delete", "crd", "queues.batch.example.org")
    gone = ds.kubectl("get", "queues.batch.example.org", "-n", ns, check=False)
    assert gone.returncode == 1


async def test_custom_objects_watch(devstack_api: RunningDevstack, ns: str) -> None:
    cfg = client.Configuration()
    await config.load_kube_config(
        config_file=str(devstack_api.kubeconfig), client_configuration=cfg
    )
    async with client.ApiClient(cfg) as api:
        custom = client.CustomObjectsApi(api)
        args = ("batch.example.org", "v1beta1", ns, "queues")
        listed = await custom.list_namespaced_custom_object(*args)
        w = watch.Watch()
        seen: list[tuple[str, int]] = []

        async def follow() -> None:
            async for ev in w.stream(
                custom.list_namespaced_custom_object,
                *args,
                resource_version=listed["metadata"]["resourceVersion"],
            ):
                seen.append((ev["type"], ev["object"]["spec"]["weight"]))
                if len(seen) == 2:
                    return

        task = asyncio.create_task(follow())
        body = {
            "apiVersion": "batch.example.org/v1beta1",
            "kind": "Queue",
            "metadata": {"name": "w"},
            "spec": {"weight": 1},
        }
        await custom.create_namespaced_custom_object(*args, body)
        await custom.patch_namespaced_custom_object(
            *args, "w", {"spec": {"weight": 5}}, _content_type="application/merge-patch+json"
        )
        await asyncio.wait_for(task, 10)
        assert seen == [("ADDED", 1), ("MODIFIED", 5)]

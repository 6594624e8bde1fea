"""The real kubectl against the emulator: get, describe, apply, delete, watch, explain."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

from conftest import RunningDevstack, kubectl_path

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: web, tier: {tier}}}
spec:
  containers:
  - name: main
    image: busybox:1.36
    command: ["sleep", "3600"]
    env: [{{name: MODE, value: "{mode}"}}]
"""


def _pod(name: str, tier: str = "front", mode: str = "a") -> str:
    return POD.format(name=name, tier=tier, mode=mode)


def test_get_nodes_json(devstack_api: RunningDevstack) -> None:
    out = devstack_api.kubectl("get", "nodes", "-o", "json").stdout
    nodes = {n["metadata"]["name"]: n for n in json.loads(out)["items"]}
    assert len(nodes) == 12
    single = nodes["a100-1"]["metadata"]["labels"]
    assert single["nvidia.com/mig.strategy"] == "single"
    assert single["nvidia.com/gpu.product"] == "NVIDIA-A100-80GB-PCIe-MIG-1g.10gb"
    assert nodes["a100-1"]["status"]["allocatable"]["nvidia.com/gpu"] == "7"
    assert nodes["a100-2"]["status"]["capacity"]["nvidia.com/mig-1g.10gb"] == "2"
    fpga = nodes["fpga-u55c-1"]["status"]["capacity"]
    assert fpga["amd.com/xilinx_u55c_gen3x16_xdma_base_3-0"] == "1"
    vk = nodes["vk-leonardo-cineca"]
    assert vk["metadata"]["labels"]["type"] == "virtual-kubelet"
    assert {
        "key": "virtual-node.interlink/no-schedule",
        "value": "true",
        "effect": "NoSchedule",
    } in vk["spec"]["taints"]
    assert nodes["cpu-1"]["status"]["addresses"][0] == {
        "type": "InternalIP",
        "address": "127.0.0.1",
    }


def test_table_output_and_selectors(devstack_api: RunningDevstack, namespace: str) -> None:
    devstack_api.kubectl("apply", "-n", namespace, "-f", "-", input=_pod("web-1"))
    devstack_api.kubectl("apply", "-n", namespace, "-f", "-", input=_pod("web-2", "back"))
    table = devstack_api.kubectl("get", "pods", "-n", namespace).stdout
    assert table.split("\n")[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert "Pending" in table
    names = devstack_api.kubectl(
        "get", "pods", "-n", namespace, "-l", "tier in (back)", "-o", "name"
    ).stdout.split()
    assert names == ["pod/web-2"]
    names = devstack_api.kubectl(
        "get",
        "pods",
        "-A",
        "--field-selector",
        f"metadata.namespace={namespace},metadata.name!=web-2",
        "-o",
        "name",
    ).stdout.split()
    assert names == ["pod/web-1"]
    bad = devstack_api.kubectl("get", "pods", "--field-selector", "spec.bogus=1", check=False)
    assert bad.returncode != 0
    assert "field label not supported: spec.bogus" in bad.stderr


def test_describe_pod(devstack_api: RunningDevstack, namespace: str) -> None:
    devstack_api.kubectl("apply", "-n", namespace, "-f", "-", input=_pod("desc"))
    out = devstack_api.kubectl("describe", "pod", "desc", "-n", namespace).stdout
    assert "Name:             desc" in out
    assert "busybox:1.36" in out
    assert re.search(r"^QoS Class: +BestEffort$", out, re.M)
    assert re.search(r"^ +ConfigMapName: +kube-root-ca.crt$", out, re.M)  # the token volume


def test_apply_client_side_and_server_side(devstack_api: RunningDevstack, namespace: str) -> None:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: '1', b: '2'}\n"
    assert "created" in devstack_api.kubectl("apply", "-n", namespace, "-f", "-", input=cm).stdout
    # Removing a key from the applied file removes it from the object (3-way merge).
    cm2 = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: '3'}\n"
    assert (
        "configured" in devstack_api.kubectl("apply", "-n", namespace, "-f", "-", input=cm2).stdout
    )
    got = json.loads(devstack_api.kubectl("get", "cm", "cfg", "-n", namespace, "-o", "json").stdout)
    assert got["data"] == {"a": "3"}
    out = devstack_api.kubectl(
        "apply", "--server-side", "-n", namespace, "-f", "-", input=cm2.replace("'3'", "'4'")
    ).stdout
    assert "serverside-applied" in out
    got = json.loads(devstack_api.kubectl("get", "cm", "cfg", "-n", namespace, "-o", "json").stdout)
    assert got["data"]["a"] == "4"
    # Unknown fields are rejected with kubectl's default strict validation.
    bad = devstack_api.kubectl(
        "apply", "-n", namespace, "-f", "-", check=False, input=cm2 + "bogus: 1\n"
    )
    assert bad.returncode != 0
    assert 'unknown field "bogus"' in bad.stderr


def test_pod_spec_is_immutable(devstack_api: RunningDevstack, namespace: str) -> None:
    devstack_api.kubectl("apply", "-n", namespace, "-f", "-", input=_pod("imm"))
    res = devstack_api.kubectl(
        "apply", "-n", namespace, "-f", "-", check=False, input=_pod("imm", mode="b")
    )
    assert res.returncode != 0
    assert 'The Pod "imm" is invalid: spec: Forbidden: pod updates may not change' in res.stderr
    # The image may change.
    devstack_api.kubectl("set", "image", "pod/imm", "main=busybox:1.37", "-n", namespace)


def test_delete_and_not_found(devstack_api: RunningDevstack, namespace: str) -> None:
    devstack_api.kubectl("apply", "-n", namespace, "-f", "-", input=_pod("gone"))
    out = devstack_api.kubectl("delete", "pod", "gone", "-n", namespace).stdout
    assert 'pod "gone" deleted' in out
    res = devstack_api.kubectl("get", "pod", "gone", "-n", namespace, check=False)
    assert res.returncode == 1
    assert 'pods "gone" not found' in res.stderr
    res = devstack_api.kubectl("create", "configmap", "x", "-n", "no-such-ns", check=False)
    assert 'namespaces "no-such-ns" not found' in res.stderr


def test_get_watch(devstack_api: RunningDevstack, namespace: str, tmp_path: Path) -> None:
    out = (tmp_path / "watch.out").open("w")
    proc = subprocess.Popen(
        [
            kubectl_path(),
            "get",
            "pods",
            "-n",
            namespace,
            "-w",
            "-o",
            "json",
            "--output-watch-events",
        ],
        env=devstack_api.env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        time.sleep(0.7)
        devstack_api.kubectl("apply", "-n", namespace, "-f", "-", input=_pod("w1"))
        devstack_api.kubectl("label", "pod", "w1", "-n", namespace, "extra=yes")
        devstack_api.kubectl("delete", "pod", "w1", "-n", namespace)
        deadline = time.monotonic() + 10
        text = ""
        while time.monotonic() < deadline:
            text = (tmp_path / "watch.out").read_text()
            if '"DELETED"' in text:
                break
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(5)
    decoder = json.JSONDecoder()
    events, pos = [], 0
    text = text.strip()
    while pos < len(text):
        obj, end = decoder.raw_decode(text, pos)
        events.append(obj["type"])
        pos = end
        while pos < len(text) and text[pos].isspace():
            pos += 1
    assert events[0] == "ADDED"
    assert "MODIFIED" in events
    assert events[-1] == "DELETED"


def test_explain_and_api_resources(devstack_api: RunningDevstack) -> None:
    out = devstack_api.kubectl("explain", "pod.spec.containers.resources").stdout
    assert "FIELD: resources <ResourceRequirements>" in out
    out = devstack_api.kubectl("api-resources").stdout
    for name in ("pods", "priorityclasses", "jobs", "leases"):
        assert name in out
    assert "po " in out  # short names come from the registry


def test_priority_class_admission(devstack_api: RunningDevstack, namespace: str) -> None:
    pod = _pod("prio").replace("spec:\n", "spec:\n  priorityClassName: interactive\n")
    devstack_api.kubectl("apply", "-n", namespace, "-f", "-", input=pod)
    got = json.loads(
        devstack_api.kubectl("get", "pod", "prio", "-n", namespace, "-o", "json").stdout
    )
    assert got["spec"]["priority"] == 1000
    res = devstack_api.kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        check=False,
        input=_pod("noprio").replace("spec:\n", "spec:\n  priorityClassName: nope\n"),
    )
    assert 'pods "noprio" is forbidden: no PriorityClass with name nope was found' in res.stderr


def test_kubectl_logs_without_kubelet(devstack_api: RunningDevstack, namespace: str) -> None:
    devstack_api.kubectl("apply", "-n", namespace, "-f", "-", input=_pod("nolog"))
    res = devstack_api.kubectl("logs", "nolog", "-n", namespace, check=False)
    assert res.returncode != 0
    assert 'container "main" in pod "nolog" is waiting to start: ContainerCreating' in res.stderr


def test_server_side_apply_removes_dropped_fields(
    devstack_api: RunningDevstack, namespace: str
) -> None:
    cm = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa, labels: {a: '1', b: '2'}}\n"
        "data: {x: '1', y: '2'}\n"
    )
    devstack_api.kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=cm)
    devstack_api.kubectl("label", "cm", "ssa", "-n", namespace, "other=kept")
    trimmed = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa, labels: {a: '1'}}\ndata: {x: '1'}\n"
    )
    devstack_api.kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=trimmed)
    got = json.loads(devstack_api.kubectl("get", "cm", "ssa", "-n", namespace, "-o", "json").stdout)
    assert got["data"] == {"x": "1"}
    # Fields set by another manager (kubectl label) stay.
    assert got["metadata"]["labels"] == {"a": "1", "other": "kept"}


def test_typed_create_commands_send_protobuf(devstack_api: RunningDevstack, namespace: str) -> None:
    devstack_api.kubectl("create", "configmap", "pb", "--from-literal=k=v", "-n", namespace)
    devstack_api.kubectl(
        "create", "secret", "generic", "pbs", "--from-literal=p=q", "-n", namespace
    )
    devstack_api.kubectl(
        "create", "job", "pbj", "--image=busybox", "-n", namespace, "--", "echo", "hi"
    )
    devstack_api.kubectl("create", "serviceaccount", "pbsa", "-n", namespace)
    cm = json.loads(devstack_api.kubectl("get", "cm", "pb", "-n", namespace, "-o", "json").stdout)
    assert cm["data"] == {"k": "v"}
    secret = json.loads(
        devstack_api.kubectl("get", "secret", "pbs", "-n", namespace, "-o", "json").stdout
    )
    assert secret["data"] == {"p": "cQ=="} and secret["type"] == "Opaque"
    job = json.loads(
        devstack_api.kubectl("get", "job", "pbj", "-n", namespace, "-o", "json").stdout
    )
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["echo", "hi"] and container["image"] == "busybox"
    assert devstack_api.kubectl("auth", "can-i", "delete", "pods").stdout.strip() == "yes"


def test_unserved_kinds_and_openapi_v2(devstack_api: RunningDevstack) -> None:
    ingress = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: d}\nspec: {}\n"
    res = devstack_api.kubectl("apply", "-f", "-", input=ingress, check=False)
    assert 'no matches for kind "Ingress" in version "networking.k8s.io/v1"' in res.stderr
    # kubectl reads /openapi/v2 as gnostic protobuf for this output format.
    out = devstack_api.kubectl(
        "explain", "pods.spec.restartPolicy", "--output=plaintext-openapiv2"
    ).stdout
    assert "FIELD:    restartPolicy <string>" in out

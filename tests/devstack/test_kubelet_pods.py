"""The process kubelet through kubectl: env, volumes, logs, exit codes, probes, deletion."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from tests.devstack.conftest import (
    RunningDevstack,
    scratch_namespace,
    start_devstack,
    stop_devstack,
)
from tests.helpers.waiting import waiter

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevstack]:
    """A devstack of our own, so other suites' pods never change what we observe."""
    running = start_devstack(tmp_path_factory.mktemp("kubelet") / "state")
    yield running
    stop_devstack(running)


@pytest.fixture
def ns(ds: RunningDevstack) -> Iterator[str]:
    with scratch_namespace(ds, "k") as name:
        yield name


def apply(ds: RunningDevstack, ns: str, *objs: dict[str, Any]) -> None:
    ds.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all(objs))


def get(ds: RunningDevstack, ns: str, kind: str, name: str) -> dict[str, Any]:
    return json.loads(ds.kubectl("get", "-n", ns, kind, name, "-o", "json").stdout)


until = waiter(20.0, 0.2, (subprocess.CalledProcessError, KeyError, IndexError))


def phase(ds: RunningDevstack, ns: str, name: str) -> str:
    return str(get(ds, ns, "pod", name)["status"].get("phase"))


def pod(name: str, script: str, restart: str = "Never", **container: Any) -> dict[str, Any]:
    spec_extra = container.pop("pod_spec", {})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": restart,
            "terminationGracePeriodSeconds": 5,
            "containers": [
                {
                    "name": "main",
                    "image": "python:3.11",
                    "command": ["python", "-u", "-c", script],
                    **container,
                }
            ],
            **spec_extra,
        },
    }


def test_env_value_from_and_volumes(ds: RunningDevstack, ns: str) -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg"},
        "data": {"greeting": "hello", "site.toml": "x = 1\n", "other": "o"},
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds"},
        "stringData": {"token": "s3cret"},
    }
    script = """
import json, os, stat
root = os.environ["DEVSTACK_ROOTFS"]
cfg = os.path.join(root, "etc/accelhub/conf/site.toml")
out = {k: v for k, v in os.environ.items() if k.startswith(("E_", "CM_"))}
out["file"] = open(cfg).read()
out["mode"] = oct(stat.S_IMODE(os.stat(cfg).st_mode))
out["listing"] = sorted(os.listdir(os.path.join(root, "etc/accelhub")))
out["cwd"] = os.getcwd()
out["scratch"] = os.path.isdir(os.path.join(root, "scratch"))
print(json.dumps(out))
"""
    env = [
        {"name": "E_PLAIN", "value": "v"},
        {"name": "E_EXPANDED", "value": "$(E_PLAIN)-x-$$(E_PLAIN)"},
        {"name": "E_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "E_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "E_UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
        {"name": "E_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "E_NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "E_SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
        {"name": "E_LABEL", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {
            "name": "E_NOTE",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['note']"}},
        },
        {
            "name": "E_MEM",
            "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
        },
        {
            "name": "E_GREETING",
            "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "greeting"}},
        },
        {"name": "E_TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
        {
            "name": "E_OPTIONAL",
            "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k", "optional": True}},
        },
    ]
    p = pod(
        "envpod",
        script,
        env=env,
        envFrom=[{"configMapRef": {"name": "cfg"}, "prefix": "CM_"}],
        workingDir="/work/dir",
        resources={"limits": {"memory": "256Mi", "cpu": "1"}},
        volumeMounts=[
            {"name": "conf", "mountPath": "/etc/accelhub/conf"},
            {"name": "scratch", "mountPath": "/scratch"},
        ],
        pod_spec={
            "volumes": [
                {
                    "name": "conf",
                    "configMap": {
                        "name": "cfg",
                        "defaultMode": 0o600,
                        "items": [{"key": "site.toml", "path": "site.toml"}],
                    },
                },
                {"name": "scratch", "emptyDir": {}},
            ]
        },
    )
    p["metadata"]["labels"] = {"app": "demo"}
    p["metadata"]["annotations"] = {"note": "n1"}
    apply(ds, ns, cm, secret, p)
    until(lambda: phase(ds, ns, "envpod") == "Succeeded")
    out = json.loads(ds.kubectl("logs", "-n", ns, "envpod").stdout)
    obj = get(ds, ns, "pod", "envpod")
    assert out["E_PLAIN"] == "v" and out["E_EXPANDED"] == "v-x-$(E_PLAIN)"
    assert out["E_NAME"] == "envpod" and out["E_NS"] == ns
    assert out["E_UID"] == obj["metadata"]["uid"]
    assert out["E_IP"] == obj["status"]["podIP"] and out["E_IP"].startswith("127.")
    assert out["E_NODE"] == obj["spec"]["nodeName"] and out["E_SA"] == "default"
    assert out["E_LABEL"] == "demo" and out["E_NOTE"] == "n1"
    assert out["E_MEM"] == "256"
    assert out["E_GREETING"] == "hello" and out["E_TOKEN"] == "s3cret"
    assert "E_OPTIONAL" not in out
    assert out["CM_greeting"] == "hello" and out["CM_other"] == "o"
    assert out["file"] == "x = 1\n" and out["mode"] == "0o600"
    assert out["listing"] == ["conf"]
    assert out["cwd"].endswith("/rootfs/work/dir") and out["scratch"] is True


def test_missing_configmap_waits_then_runs(ds: RunningDevstack, ns: str) -> None:
    p = pod(
        "late",
        "import os; print(os.environ['E'])",
        env=[{"name": "E", "valueFrom": {"configMapKeyRef": {"name": "later", "key": "k"}}}],
    )
    apply(ds, ns, p)

    def waiting() -> str:
        st = get(ds, ns, "pod", "late")["status"]["containerStatuses"][0]["state"]
        return str(st.get("waiting", {}).get("reason", ""))

    assert until(lambda: waiting() == "CreateContainerConfigError")
    msg = get(ds, ns, "pod", "late")["status"]["containerStatuses"][0]["state"]["waiting"]
    assert msg["message"] == 'configmap "later" not found'
    apply(
        ds,
        ns,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "later"},
            "data": {"k": "arrived"},
        },
    )
    until(lambda: phase(ds, ns, "late") == "Succeeded")
    assert ds.kubectl("logs", "-n", ns, "late").stdout == "arrived\n"


def test_logs_follow_tail_timestamps(ds: RunningDevstack, ns: str) -> None:
    script = "import time\nfor i in range(6):\n    print('line', i)\n    time.sleep(0.3)\n"
    apply(ds, ns, pod("talker", script))
    until(lambda: phase(ds, ns, "talker") in ("Running", "Succeeded"))
    follow = ds.kubectl("logs", "-f", "-n", ns, "talker", timeout=30)
    assert follow.stdout == "".join(f"line {i}\n" for i in range(6))
    assert ds.kubectl("logs", "-n", ns, "talker", "--tail=2").stdout == "line 4\nline 5\n"
    stamped = ds.kubectl("logs", "-n", ns, "talker", "--timestamps").stdout.splitlines()
    assert len(stamped) == 6 and stamped[0].endswith("Z line 0")
    assert stamped[0][:4].isdigit() and "T" in stamped[0].split()[0]
    assert ds.kubectl("logs", "-n", ns, "talker", "--limit-bytes=7").stdout == "line 0\n"
    assert ds.kubectl("logs", "-n", ns, "talker", "--since=1h").stdout.count("\n") == 6


def test_exit_codes_and_restart_backoff(ds: RunningDevstack, ns: str) -> None:
    apply(
        ds,
        ns,
        pod("fails", "import sys; print('bye'); sys.exit(3)"),
        pod("crashes", "import sys; print('crash'); sys.exit(2)", restart="OnFailure"),
        pod("missing", "", command=["definitely-not-a-program"]),
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "nocmd"},
            "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]},
        },
    )
    until(lambda: phase(ds, ns, "fails") == "Failed")
    term = get(ds, ns, "pod", "fails")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 3 and term["reason"] == "Error"

    def crashloop() -> dict[str, Any] | None:
        st = get(ds, ns, "pod", "crashes")["status"]["containerStatuses"][0]
        reason = st["state"].get("waiting", {}).get("reason")
        return st if reason == "CrashLoopBackOff" else None

    st = until(crashloop)
    assert st["restartCount"] >= 1
    assert st["lastState"]["terminated"]["exitCode"] == 2
    uid = get(ds, ns, "pod", "crashes")["metadata"]["uid"]
    assert st["state"]["waiting"]["message"] == (
        f"back-off 10s restarting failed container=main pod=crashes_{ns}({uid})"
    )
    assert ds.kubectl("logs", "-n", ns, "crashes", "--previous").stdout == "crash\n"
    events = ds.kubectl(
        "get",
        "events",
        "-n",
        ns,
        "--field-selector",
        "involvedObject.name=crashes,reason=BackOff",
        "-o",
        "json",
    ).stdout
    assert json.loads(events)["items"][0]["message"] == (
        f"Back-off restarting failed container main in pod crashes_{ns}({uid})"
    )

    until(lambda: phase(ds, ns, "missing") == "Failed")
    term = get(ds, ns, "pod", "missing")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["reason"] == "StartError" and term["exitCode"] == 128
    assert (
        'exec: "definitely-not-a-program": executable file not found in $PATH' in (term["message"])
    )

    def nocmd() -> dict[str, Any]:
        return dict(
            get(ds, ns, "pod", "nocmd")["status"]["containerStatuses"][0]["state"].get(
                "waiting", {}
            )
        )

    waiting = until(lambda: nocmd().get("reason") == "CreateContainerError" and nocmd())
    assert "entrypoint and default command are unknown" in waiting["message"]
    assert phase(ds, ns, "nocmd") == "Pending"


def test_graceful_deletion_sigterm(ds: RunningDevstack, ns: str, tmp_path: Path) -> None:
    marker = tmp_path / "sigterm"
    pidfile = tmp_path / "pid"
    script = f"""
import os, signal, sys, time
open({str(pidfile)!r}, "w").write(str(os.getpid()))
def term(*_):
    open({str(marker)!r}, "w").write("terminated")
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
while True:
    time.sleep(0.1)
"""
    stubborn = (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"open({str(tmp_path / 'pid2')!r}, 'w').write(str(__import__('os').getpid()))\n"
        "while True: time.sleep(0.1)\n"
    )
    slow = pod("stubborn", stubborn, pod_spec={"terminationGracePeriodSeconds": 1})
    slow["spec"]["terminationGracePeriodSeconds"] = 1
    apply(ds, ns, pod("trapper", script), slow)
    until(lambda: pidfile.exists() and (tmp_path / "pid2").exists())
    until(lambda: phase(ds, ns, "trapper") == "Running")
    ds.kubectl("delete", "-n", ns, "pod", "trapper", timeout=30)
    assert marker.read_text() == "terminated"
    assert not psutil.pid_exists(int(pidfile.read_text()))
    events = json.loads(
        ds.kubectl(
            "get",
            "events",
            "-n",
            ns,
            "--field-selector",
            "involvedObject.name=trapper,reason=Killing",
            "-o",
            "json",
        ).stdout
    )["items"]
    assert events[0]["message"] == "Stopping container main"

    started = time.monotonic()
    ds.kubectl("delete", "-n", ns, "pod", "stubborn", timeout=30)
    assert time.monotonic() - started >= 0.9
    assert not psutil.pid_exists(int((tmp_path / "pid2").read_text()))


def test_readiness_probe_and_pod_ip(ds: RunningDevstack, ns: str) -> None:
    script = """
import http.server, time
time.sleep(3)
http.server.HTTPServer(("0.0.0.0", 8080), http.server.SimpleHTTPRequestHandler).serve_forever()
"""
    p = pod(
        "web",
        script,
        ports=[{"containerPort": 8080, "name": "http"}],
        readinessProbe={"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
    )
    apply(ds, ns, p)

    def ready() -> bool:
        conds = get(ds, ns, "pod", "web")["status"].get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

    until(lambda: phase(ds, ns, "web") == "Running")
    assert not ready()
    until(ready)
    ip = get(ds, ns, "pod", "web")["status"]["podIP"]
    with urllib.request.urlopen(f"http://{ip}:8080/", timeout=5) as resp:
        assert resp.status == 200
    events = json.loads(
        ds.kubectl(
            "get",
            "events",
            "-n",
            ns,
            "--field-selector",
            "involvedObject.name=web,reason=Unhealthy",
            "-o",
            "json",
        ).stdout
    )["items"]
    assert events and events[0]["message"].startswith(
        f'Readiness probe failed: Get "http://{ip}:8080/": dial tcp {ip}:8080: connect: '
        "connection refused"
    )


def test_oom_killed(ds: RunningDevstack, ns: str) -> None:
    script = (
        "import time\nblob = bytearray(300 * 1024 * 1024)\nblob[::4096] = b'x' * "
        "len(blob[::4096])\ntime.sleep(30)\n"
    )
    apply(ds, ns, pod("hog", script, resources={"limits": {"memory": "100Mi"}}))
    until(lambda: phase(ds, ns, "hog") == "Failed")
    term = get(ds, ns, "pod", "hog")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["reason"] == "OOMKilled" and term["exitCode"] == 137


def test_init_containers_run_first(ds: RunningDevstack, ns: str) -> None:
    p = pod(
        "withinit",
        "import os; print(open(os.environ['DEVSTACK_ROOTFS'] + '/shared/msg').read())",
        volumeMounts=[{"name": "shared", "mountPath": "/shared"}],
        pod_spec={
            "volumes": [{"name": "shared", "emptyDir": {}}],
            "initContainers": [
                {
                    "name": "prep",
                    "image": "python:3.11",
                    "command": [
                        "python",
                        "-c",
                        "import os; open(os.environ["
                        "'DEVSTACK_ROOTFS'] + '/shared/msg', 'w').write('ok')",
                    ],
                    "volumeMounts": [{"name": "shared", "mountPath": "/shared"}],
                }
            ],
        },
    )
    apply(ds, ns, p)
    until(lambda: phase(ds, ns, "withinit") == "Succeeded")
    assert ds.kubectl("logs", "-n", ns, "withinit").stdout == "ok\n"
    st = get(ds, ns, "pod", "withinit")["status"]
    assert st["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"


def test_gpu_devices_never_overlap(ds: RunningDevstack, ns: str) -> None:
    node = get(ds, "default", "node", "a100-1")
    devices = json.loads(node["metadata"]["annotations"]["devstack.accelhub/devices"])
    uuids = {d["uuid"] for d in devices if d["resource"] == "nvidia.com/gpu"}
    assert len(uuids) == 7
    script = "import os, time; print(os.environ.get('NVIDIA_VISIBLE_DEVICES')); time.sleep(60)"
    pods = []
    for i in range(8):
        p = pod(
            f"gpu-{i}",
            script,
            resources={"limits": {"nvidia.com/gpu": "1"}},
            pod_spec={"nodeSelector": {"kubernetes.io/hostname": "a100-1"}},
        )
        p["spec"]["terminationGracePeriodSeconds"] = 0
        pods.append(p)
    apply(ds, ns, *pods)

    def seen() -> dict[str, str]:
        out = {}
        for i in range(8):
            text = ds.kubectl("logs", "-n", ns, f"gpu-{i}", check=False).stdout.strip()
            if text:
                out[f"gpu-{i}"] = text
        return out

    got = until(lambda: len(seen()) == 7 and seen(), timeout=30)
    assert set(got.values()) == uuids
    pending = next(f"gpu-{i}" for i in range(8) if f"gpu-{i}" not in got)
    assert phase(ds, ns, pending) == "Pending"
    victim = next(iter(got))
    ds.kubectl("delete", "-n", ns, "pod", victim, timeout=30)
    freed = got[victim]
    until(
        lambda: ds.kubectl("logs", "-n", ns, pending, check=False).stdout.strip() == freed,
        timeout=30,
    )
    fpga = pod(
        "fpga",
        "import os; print(os.environ['DEVSTACK_FPGA_DEVICES'])",
        resources={"limits": {"amd.com/xilinx_u55c_gen3x16_xdma_base_3-0": "1"}},
    )
    apply(ds, ns, fpga)
    until(lambda: phase(ds, ns, "fpga") == "Succeeded")
    assert ds.kubectl("logs", "-n", ns, "fpga").stdout == "XFL1U55C0001\n"

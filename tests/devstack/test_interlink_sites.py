"""InterLink sites through kubectl: pods run by the site's plugin, logs, rejections, sites
going away, deletion. One site is devstack's own local plugin (`vk-leonardo-cineca`), the
other an external `accelhub devstack interlink-plugin` reached with `--site`."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from typing import Any

import psutil
import pytest
import yaml

from tests.devstack.conftest import (
    REPO,
    RunningDevstack,
    scratch_namespace,
    start_devstack,
    stop_devstack,
)
from tests.helpers.net import free_port
from tests.helpers.waiting import waiter

pytestmark = pytest.mark.integration
LOCAL, EXTERNAL = "vk-leonardo-cineca", "vk-infn-cloud-bologna"
SBATCH = "sbatch: error: Batch job submission failed: "


@pytest.fixture(scope="module")
def external(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`accelhub devstack interlink-plugin` in its own process."""
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
            "--name",
            "external",
            "--accelerator",
            "nvidia.com/gpu=2",
            "--state-dir",
            str(tmp_path_factory.mktemp("external-site")),
        ],
        cwd=REPO,
    )
    url = f"http://127.0.0.1:{port}"
    until(lambda: _answers(url), timeout=20)
    yield url, proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def ds(
    tmp_path_factory: pytest.TempPathFactory, external: tuple[str, subprocess.Popen[bytes]]
) -> Iterator[RunningDevstack]:
    running = start_devstack(
        tmp_path_factory.mktemp("interlink") / "state",
        None,
        None,
        "--site-poll",
        "0.3",
        "--site",
        f"{EXTERNAL}={external[0]}",
    )
    yield running
    stop_devstack(running)


@pytest.fixture
def ns(ds: RunningDevstack) -> Iterator[str]:
    with scratch_namespace(ds, "il") as name:
        yield name


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url + "/status", data=b"[]", method="GET"), timeout=2
        ):
            return True
    except OSError:
        return False


until = waiter(20.0, 0.2, (subprocess.CalledProcessError, KeyError, IndexError, ValueError))


def site_url(ds: RunningDevstack, node: str) -> str:
    return str(json.loads((ds.state_dir / "devstack.json").read_text())["sites"][node])


def faults(ds: RunningDevstack, node: str, **body: Any) -> None:
    req = urllib.request.Request(
        site_url(ds, node) + "/devstack/faults", data=json.dumps(body).encode(), method="PUT"
    )
    with urllib.request.urlopen(req, timeout=5):
        pass


def remote_pod(name: str, node: str, script: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 3,
            "nodeSelector": {"kubernetes.io/hostname": node},
            "tolerations": [
                {
                    "key": "virtual-node.interlink/no-schedule",
                    "operator": "Exists",
                    "effect": "NoSchedule",
                }
            ],
            "containers": [
                {"name": "main", "image": "python:3.12", "command": ["python", "-u", "-c", script]}
            ],
            **spec,
        },
    }


def apply(ds: RunningDevstack, ns: str, *objs: dict[str, Any]) -> None:
    ds.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all(objs))


def pod_json(ds: RunningDevstack, ns: str, name: str) -> dict[str, Any]:
    return dict(json.loads(ds.kubectl("get", "-n", ns, "pod", name, "-o", "json").stdout))


def node_ready(ds: RunningDevstack, node: str) -> dict[str, Any]:
    obj = json.loads(ds.kubectl("get", "node", node, "-o", "json").stdout)
    return next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")


def test_pod_runs_through_the_plugin_with_its_configmap_and_logs(
    ds: RunningDevstack, ns: str
) -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "nb"},
        "data": {"job.txt": "notebook from a configmap"},
    }
    script = "import os; print(open(os.environ['DEVSTACK_ROOTFS'] + '/job/job.txt').read())"
    job = remote_pod("ok", LOCAL, script, volumes=[{"name": "nb", "configMap": {"name": "nb"}}])
    job["spec"]["containers"][0]["volumeMounts"] = [{"name": "nb", "mountPath": "/job"}]
    apply(ds, ns, cm, job)
    queued = until(lambda: pod_json(ds, ns, "ok")["status"].get("containerStatuses"), 10)
    assert queued[0]["state"]["waiting"]["reason"] == "Queued"  # queueDelaySeconds: 2
    until(lambda: pod_json(ds, ns, "ok")["status"]["phase"] == "Succeeded", 20)
    assert ds.kubectl("logs", "-n", ns, "ok").stdout == "notebook from a configmap\n"


def test_rejected_create_fails_the_pod_with_the_sites_message(ds: RunningDevstack, ns: str) -> None:
    faults(ds, LOCAL, failCreate="Invalid qos specification")
    try:
        apply(ds, ns, remote_pod("refused", LOCAL, "print('never')"))
        status = until(
            lambda: (s := pod_json(ds, ns, "refused")["status"])["phase"] == "Failed" and s
        )
    finally:
        faults(ds, LOCAL, failCreate=None)
    assert status["reason"] == "ProviderFailed"
    assert status["message"] == SBATCH + "Invalid qos specification"
    term = status["containerStatuses"][0]["state"]["terminated"]
    assert term["reason"] == "ProviderFailed" and term["message"] == status["message"]
    events = ds.kubectl("get", "events", "-n", ns, "-o", "json").stdout
    assert "ProviderFailed" in events and "Invalid qos specification" in events


def test_failure_at_run_reaches_the_container_status(ds: RunningDevstack, ns: str) -> None:
    faults(ds, LOCAL, failRun="slurmstepd: error: *** JOB CANCELLED DUE TO NODE FAILURE ***")
    try:
        apply(ds, ns, remote_pod("broken", LOCAL, "print('never')"))
        status = until(
            lambda: (s := pod_json(ds, ns, "broken")["status"])["phase"] == "Failed" and s
        )
    finally:
        faults(ds, LOCAL, failRun=None)
    term = status["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 1 and "NODE FAILURE" in term["message"]


def test_delete_stops_the_process_at_an_external_site(ds: RunningDevstack, ns: str) -> None:
    script = "import os, time; print(os.getpid(), flush=True); time.sleep(300)"
    apply(ds, ns, remote_pod("long", EXTERNAL, script))
    until(lambda: pod_json(ds, ns, "long")["status"]["phase"] == "Running")
    pid = int(until(lambda: ds.kubectl("logs", "-n", ns, "long").stdout.strip()))
    assert psutil.pid_exists(pid)
    ds.kubectl("delete", "-n", ns, "pod", "long", "--wait=true", timeout=30)
    until(
        lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
        10,
    )


def test_kubectl_logs_follows_a_running_remote_pod(ds: RunningDevstack, ns: str) -> None:
    script = "import time\nfor i in range(3):\n    print('tick', i, flush=True); time.sleep(0.5)"
    apply(ds, ns, remote_pod("ticks", EXTERNAL, script))
    until(lambda: pod_json(ds, ns, "ticks")["status"]["phase"] in ("Running", "Succeeded"))
    out = ds.kubectl("logs", "-f", "-n", ns, "ticks", timeout=30).stdout
    assert out == "tick 0\ntick 1\ntick 2\n"


def test_a_site_that_goes_away_turns_its_node_not_ready(ds: RunningDevstack) -> None:
    assert until(lambda: node_ready(ds, LOCAL)["status"] == "True")
    faults(ds, LOCAL, unreachableSeconds=3)
    cond = until(lambda: (c := node_ready(ds, LOCAL))["status"] == "False" and c, 5)
    assert "does not answer" in cond["message"] and site_url(ds, LOCAL) in cond["message"]
    until(lambda: node_ready(ds, LOCAL)["status"] == "True", 10)


def test_external_site_process_gone_turns_node_not_ready(
    ds: RunningDevstack, external: tuple[str, subprocess.Popen[bytes]]
) -> None:
    assert node_ready(ds, EXTERNAL)["status"] == "True"
    obj = json.loads(ds.kubectl("get", "node", EXTERNAL, "-o", "json").stdout)
    assert obj["status"]["allocatable"]["nvidia.com/gpu"] == "2"  # from the plugin's ping
    external[1].terminate()
    external[1].wait(10)
    cond = until(lambda: (c := node_ready(ds, EXTERNAL))["status"] == "False" and c, 5)
    assert external[0] in cond["message"]


def test_runner_pod_on_a_site_returns_its_notebook_through_the_logs(
    ds: RunningDevstack, ns: str
) -> None:
    from nbformat.v4 import new_code_cell, new_notebook

    from server_ext.offload import frames

    params = new_code_cell("n = 1", metadata={"tags": ["parameters"]})
    work = new_code_cell("print(sum(range(n)))")
    nb = new_notebook(cells=[params, work])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "job-nb"},
        "data": {"notebook.ipynb": json.dumps(nb)},
    }
    job = remote_pod(
        "runner",
        LOCAL,
        "",
        volumes=[{"name": "job", "configMap": {"name": "job-nb"}}],
    )
    container = job["spec"]["containers"][0]
    container["command"] = ["python", "-m", "server_ext.offload.runner"]
    container["args"] = ["--notebook", "notebook.ipynb", "--parameters", '{"n": 5}']
    container["workingDir"] = "/job"
    container["volumeMounts"] = [{"name": "job", "mountPath": "/job"}]
    container["env"] = [{"name": "PYTHONPATH", "value": str(REPO)}]
    apply(ds, ns, cm, job)
    until(lambda: pod_json(ds, ns, "runner")["status"]["phase"] in ("Succeeded", "Failed"), 60)
    logs = ds.kubectl("logs", "-n", ns, "runner").stdout
    assert pod_json(ds, ns, "runner")["status"]["phase"] == "Succeeded", logs
    result = frames.decode_result(logs.splitlines())
    assert result.state == "succeeded"
    last = result.notebook["cells"][-1]
    assert last["outputs"][0]["text"] == "10\n"  # sum(range(5)): the parameter was injected
    progress = [e for e in map(frames.parse_progress, logs.splitlines()) if e]
    assert [(e["event"], e["cell"]) for e in progress][-2:] == [("start", 3), ("end", 3)]

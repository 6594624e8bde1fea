"""The Job controller: through kubectl on the shared devstack, and in-process for limits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.apiserver.store import ObjectStore
from devstack.controllers.jobs import JobController
from devstack.controllers.kubelet import ProcessKubelet
from devstack.controllers.rootca import RootCaPublisher
from devstack.controllers.scheduler import Scheduler
from tests.devstack.conftest import RunningDevstack, scratch_namespace


def job(name: str, script: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            **spec,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        {
                            "name": "work",
                            "image": "python:3.11",
                            "command": ["python", "-c", script],
                        }
                    ],
                }
            },
        },
    }


# -- through kubectl ---------------------------------------------------------------------


@pytest.fixture
def ns(devstack: RunningDevstack) -> Iterator[str]:
    with scratch_namespace(devstack, "j") as name:
        yield name


@pytest.mark.integration
def test_job_completes_with_parallelism(devstack: RunningDevstack, ns: str) -> None:
    spec = job("pi", "import time; time.sleep(0.3); print('ok')", completions=3, parallelism=2)
    devstack.kubectl("create", "-n", ns, "-f", "-", input=yaml.safe_dump(spec))
    devstack.kubectl(
        "wait", "-n", ns, "--for=condition=complete", "job/pi", "--timeout=30s", timeout=40
    )
    obj = json.loads(devstack.kubectl("get", "-n", ns, "job", "pi", "-o", "json").stdout)
    status = obj["status"]
    assert status["succeeded"] == 3 and "active" not in status
    assert status["startTime"] and status["completionTime"]
    types = [c["type"] for c in status["conditions"]]
    assert types == ["SuccessCriteriaMet", "Complete"]
    assert status["conditions"][1]["reason"] == "CompletionsReached"
    pods = json.loads(
        devstack.kubectl("get", "-n", ns, "pods", "-l", "job-name=pi", "-o", "json").stdout
    )["items"]
    assert len(pods) == 3
    uid = obj["metadata"]["uid"]
    for p in pods:
        labels = p["metadata"]["labels"]
        assert labels["batch.kubernetes.io/job-name"] == "pi"
        assert labels["batch.kubernetes.io/controller-uid"] == uid
        assert labels["controller-uid"] == uid
        ref = p["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == ("Job", "pi", uid, True)
        assert devstack.kubectl("logs", "-n", ns, p["metadata"]["name"]).stdout == "ok\n"
    events = json.loads(
        devstack.kubectl(
            "get", "events", "-n", ns, "--field-selector", "involvedObject.kind=Job", "-o", "json"
        ).stdout
    )
    messages = {(e["reason"], e["message"]) for e in events["items"]}
    for p in pods:
        assert ("SuccessfulCreate", f"Created pod: {p['metadata']['name']}") in messages
    assert ("Completed", "Job completed") in messages


@pytest.mark.integration
def test_job_backoff_limit_zero_fails(devstack: RunningDevstack, ns: str) -> None:
    spec = job("bad", "import sys; sys.exit(1)", backoffLimit=0)
    devstack.kubectl("create", "-n", ns, "-f", "-", input=yaml.safe_dump(spec))
    devstack.kubectl(
        "wait", "-n", ns, "--for=condition=failed", "job/bad", "--timeout=30s", timeout=40
    )
    status = json.loads(devstack.kubectl("get", "-n", ns, "job", "bad", "-o", "json").stdout)[
        "status"
    ]
    assert status["failed"] == 1
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"
    assert failed["message"] == "Job has reached the specified backoff limit"


# -- in-process, with fast back-off ----------------------------------------------------------


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[ObjectStore]:
    store = ObjectStore()
    cap = {"cpu": "8", "memory": "16Gi", "pods": "110"}
    await store.create(
        "nodes",
        {"metadata": {"name": "n1", "labels": {}}, "status": {"capacity": cap, "allocatable": cap}},
    )
    controllers: list[Any] = [
        RootCaPublisher(),
        Scheduler(backoff_initial=0.05, backoff_max=0.2),
        ProcessKubelet(tmp_path / "kubelet", backoff_base=0.1, backoff_max=0.4),
        JobController(backoff_base=0.1, backoff_max=0.4),
    ]
    for c in controllers:
        await c.start(store)
    yield store
    for c in reversed(controllers):
        await c.stop()
    store.close()


async def until(check: Callable[[], Any], limit: float = 20.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


def condition(store: ObjectStore, name: str, ctype: str) -> dict[str, Any] | None:
    status = store.get_raw("jobs", name, "default").get("status") or {}
    return next((c for c in status.get("conditions") or [] if c["type"] == ctype), None)


async def test_backoff_limit_after_retries(cluster: ObjectStore) -> None:
    await cluster.create("jobs", job("flaky", "import sys; sys.exit(2)", backoffLimit=2))
    failed = await until(lambda: condition(cluster, "flaky", "Failed"))
    assert failed["reason"] == "BackoffLimitExceeded"
    assert condition(cluster, "flaky", "FailureTarget") is not None
    status = cluster.get_raw("jobs", "flaky", "default")["status"]
    assert status["failed"] == 3 and "active" not in status


async def test_active_deadline(cluster: ObjectStore) -> None:
    await cluster.create(
        "jobs", job("slow", "import time; time.sleep(60)", activeDeadlineSeconds=1)
    )
    failed = await until(lambda: condition(cluster, "slow", "Failed"), limit=15)
    assert failed["reason"] == "DeadlineExceeded"
    assert failed["message"] == "Job was active longer than specified deadline"
    pods, _ = cluster.list("pods", "default", label_selector="job-name=slow")
    assert pods == []


async def test_indexed_completions_and_ttl(cluster: ObjectStore) -> None:
    script = "import os; print(os.environ['JOB_COMPLETION_INDEX'])"
    await cluster.create(
        "jobs",
        job(
            "idx",
            script,
            completions=3,
            parallelism=3,
            completionMode="Indexed",
            ttlSecondsAfterFinished=1,
        ),
    )
    await until(lambda: condition(cluster, "idx", "Complete"))
    status = cluster.get_raw("jobs", "idx", "default")["status"]
    assert status["completedIndexes"] == "0-2"

    def gone() -> bool:
        try:
            cluster.get_raw("jobs", "idx", "default")
        except Exception:
            return True
        return False

    await until(gone, limit=10)


async def test_suspend_and_resume(cluster: ObjectStore) -> None:
    await cluster.create("jobs", job("later", "print('hi')", suspend=True))
    suspended = await until(lambda: condition(cluster, "later", "Suspended"))
    assert suspended["status"] == "True" and suspended["reason"] == "JobSuspended"
    assert cluster.list("pods", "default", label_selector="job-name=later")[0] == []
    await cluster.patch("jobs", "later", {"spec": {"suspend": False}}, "merge", namespace="default")
    await until(lambda: condition(cluster, "later", "Complete"))
    resumed = condition(cluster, "later", "Suspended")
    assert resumed is not None and resumed["status"] == "False"
    assert resumed["reason"] == "JobResumed"

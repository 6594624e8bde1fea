"""The offload gateway end to end: a real JupyterHub, the hub service (kubernetes on) and
devstack with three InterLink sites (tests/service/offload_hub.py) run by devstack's local
plugins. Users call the service's job API with their own JupyterHub tokens."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from hub_ext.mig import PRODUCT_LABEL
from tests.devstack.conftest import RunningDevstack, start_devstack, stop_devstack
from tests.helpers.service_accounts import hub_kubeconfig
from tests.service.hubstack import Hub, start_hub
from tests.service.offload_hub import (
    CLUSTER,
    CPU_SITE,
    GPU_SITE,
    MIG_PRODUCT,
    MIG_SITE,
    SBATCH,
    ended,
    gone,
    job,
    notebook,
    pod_exists,
    service_config,
    submit,
    until,
)
from tests.spawner.offload_stack import site_faults as faults

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevstack]:
    base = tmp_path_factory.mktemp("offload")
    (base / "cluster.yaml").write_text(CLUSTER)
    running = start_devstack(base / "state", None, str(base / "cluster.yaml"), "--site-poll", "0.3")
    yield running
    stop_devstack(running)


@pytest.fixture(scope="module")
def hub(ds: RunningDevstack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    state = tmp_path_factory.mktemp("offload-hub")
    # The service acts as the hub's ServiceAccount with exactly the RBAC admins are told to
    # grant (the chart's Role and `accelhub manifests`), enforced by devstack.
    kubeconfig = hub_kubeconfig(ds.kubeconfig, state / "hub-kubeconfig")
    running = start_hub(
        state / "hub", f"sqlite:///{state / 'accelhub.sqlite'}", service_config(kubeconfig)
    )
    running.state = state  # type: ignore[attr-defined]
    yield running
    running.stop()


def test_sites_come_from_virtual_nodes(hub: Hub) -> None:
    data = until(
        lambda: (
            (r := hub.call("ada", "GET", "sites").json())
            and len(r.get("sites", [])) == 3
            and all(s["ready"] for s in r["sites"])
            and r
        ),
        30,
    )
    by_name = {s["name"]: s for s in data["sites"]}
    assert set(by_name) == {GPU_SITE, CPU_SITE, MIG_SITE}  # cpu-1 is no site
    assert by_name[GPU_SITE]["accelerators"] == {"nvidia.com/gpu": 4}
    assert by_name[CPU_SITE]["accelerators"] == {}
    assert by_name[GPU_SITE]["last_seen"]


def test_sites_tell_automatics_pick_and_the_callers_flavors(hub: Hub) -> None:
    data = hub.call("ada", "GET", "sites?flavor=a100").json()
    flavors = {f["slug"]: f for f in data["flavors"]}
    assert set(flavors) == {"cpu", "a100", "t4", "l4", "mig"}  # not a100-bio: ada is not in bio
    assert flavors["a100"] == {
        "slug": "a100",
        "display_name": "A100",
        "accelerator": {"resource": "nvidia.com/gpu", "count": 1},
    }
    assert flavors["cpu"]["accelerator"] is None
    automatic = data["automatic"]
    assert automatic["site"] == GPU_SITE and automatic["reason"].startswith("chosen: offers")
    # The preview is the submission's own choice, reason included.
    created = submit(hub, "ada", notebook("1"), flavor="a100").json()
    assert (created["site"], created["site_reason"]) == (automatic["site"], automatic["reason"])
    ended(hub, "ada", created["id"])

    dee = hub.call("dee", "GET", "sites").json()
    assert "a100-bio" in {f["slug"] for f in dee["flavors"]} and dee["automatic"] is None
    refused = hub.call("ada", "GET", "sites?flavor=a100-bio")
    assert refused.status_code == 403
    assert refused.json()["message"] == "A100 (bio) is only for members of bio."
    unknown = hub.call("ada", "GET", "sites?flavor=h100")
    assert (unknown.status_code, unknown.json()["message"]) == (
        422,
        "There is no flavor named 'h100'.",
    )


def test_notebook_with_parameters_runs_on_the_site_offering_gpus(
    hub: Hub, ds: RunningDevstack
) -> None:
    nb = notebook("print('total', n * 2)", parameters="n = 1")
    response = submit(hub, "ada", nb, parameters={"n": 21})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["site"] == GPU_SITE  # auto: the only site offering nvidia.com/gpu
    assert created["site_reason"].startswith("chosen: offers nvidia.com/gpu, 4 free")
    assert CPU_SITE in created["site_reason"]  # skipped, and why
    pod = f"accelhub-job-{created['id'][-16:]}"
    spec = json.loads(ds.kubectl("get", "pod", "-n", "accelhub", pod, "-o", "json").stdout)
    assert spec["metadata"]["annotations"]["slurm-job.vk.io/flags"] == "--gres=gpu:1"
    assert spec["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert spec["metadata"]["labels"]["accelhub.io/job"] == created["id"]
    cm = json.loads(ds.kubectl("get", "configmap", "-n", "accelhub", pod, "-o", "json").stdout)
    assert cm["metadata"]["ownerReferences"][0]["uid"] == spec["metadata"]["uid"]

    done = ended(hub, "ada", created["id"])
    assert done["state"] == "succeeded", done
    assert done["has_result"] and done["progress"] == {"cell": 3, "of": 3}
    prov = done["provenance"]
    assert prov["parameters"] == {"n": 21} and prov["site"] == GPU_SITE
    assert prov["started_at"] and prov["finished_at"] and len(prov["input_sha256"]) == 64
    result = hub.call("ada", "GET", f"jobs/{created['id']}/result").json()
    assert result["cells"][-1]["outputs"][0]["text"] == "total 42\n"  # injected n = 21
    logs = hub.call("ada", "GET", f"jobs/{created['id']}/logs").text
    assert "@@accelhub:progress" in logs and "total 42" in logs
    until(lambda: not pod_exists(ds, pod), 20)  # the finished pod (and its ConfigMap) go
    again = hub.call("ada", "POST", f"jobs/{created['id']}/rerun")
    assert again.status_code == 201, again.text
    rerun = again.json()
    assert rerun["id"] != created["id"]
    same = ("input_sha256", "parameters", "site", "flavor")
    assert {k: rerun["provenance"][k] for k in same} == {k: prov[k] for k in same}
    assert ended(hub, "ada", rerun["id"])["state"] == "succeeded"


def test_a_mig_job_goes_to_the_site_offering_the_slice_in_the_single_strategys_shape(
    hub: Hub, ds: RunningDevstack
) -> None:
    single = "nvidia.com/gpu labelled nvidia.com/gpu.product=" + MIG_PRODUCT[PRODUCT_LABEL]
    data = hub.call("ada", "GET", "sites?flavor=mig").json()
    offers = {s["name"]: s["offers"] for s in data["sites"]}
    assert offers[MIG_SITE]["mig"] == single
    assert "mig" not in offers[GPU_SITE]  # whole GPUs, no MIG product: not the slice
    assert "a100" not in offers[MIG_SITE]  # its product label is no A100 40GB
    assert data["automatic"]["site"] == MIG_SITE
    response = submit(hub, "ada", notebook("print('on a slice')"), flavor="mig")
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["site"] == MIG_SITE
    assert created["site_reason"].startswith(f"chosen: offers {single}, 2 free")
    pod = f"accelhub-job-{created['id'][-16:]}"
    spec = json.loads(ds.kubectl("get", "pod", "-n", "accelhub", pod, "-o", "json").stdout)
    assert spec["spec"]["nodeSelector"] == {"kubernetes.io/hostname": MIG_SITE, **MIG_PRODUCT}
    assert spec["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert ended(hub, "ada", created["id"])["state"] == "succeeded"
    # A site offering neither shape is refused with a sentence naming both.
    refused = submit(hub, "ada", notebook("1"), flavor="mig", site=GPU_SITE)
    assert refused.status_code == 409, refused.text
    assert refused.json()["message"] == (
        f"The site {GPU_SITE} cannot take the job (no 1 nvidia.com/mig-1g.10gb or {single})."
    )


def test_progress_and_logs_arrive_while_the_job_runs(hub: Hub) -> None:
    nb = notebook("print('first', flush=True)", "import time; time.sleep(4)", "print('last')")
    response = submit(hub, "ada", nb, flavor="cpu")
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    # Follow from the start: the stream waits while the job is pending, ends when it ends.
    token = hub.token_for("ada")
    lines: list[str] = []
    with httpx.stream(
        "GET",
        hub.api + f"jobs/{job_id}/logs?follow=1",
        headers={"Authorization": f"token {token}"},
        timeout=90,
    ) as stream:
        assert stream.status_code == 200
        for line in stream.iter_lines():
            lines.append(line)
            if line.startswith("@@accelhub:progress") and '"event":"start","cell":2' in line:
                running = job(hub, "ada", job_id)  # mid-job: cell 1 done, cell 2 running
                assert running["state"] == "running"
                assert running["progress"] == {"cell": 1, "of": 3}, running
    assert "first" in lines and "last" in lines
    assert any(x.startswith("@@accelhub:result-end") for x in lines)
    assert ended(hub, "ada", job_id)["state"] == "succeeded"


def test_cell_job_runs_one_cell_with_its_setup(hub: Hub) -> None:
    setup = new_code_cell("base = 40", metadata={"tags": ["setup"]})
    other = new_code_cell("raise RuntimeError('not this one')")
    target = new_code_cell("print(base + 2)")
    nb = json.loads(json.dumps(new_notebook(cells=[setup, other, target])))
    nb["metadata"]["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    response = submit(hub, "ada", nb, flavor="cpu", cell_id=target.id, setup="tagged")
    assert response.status_code == 201, response.text
    done = ended(hub, "ada", response.json()["id"])
    assert done["state"] == "succeeded", done
    assert done["cell_id"] == target.id
    result = hub.call("ada", "GET", f"jobs/{done['id']}/result").json()
    texts = [o.get("text") for c in result["cells"] for o in c.get("outputs", [])]
    assert "42\n" in texts


def test_raising_cell_fails_with_the_partial_notebook(hub: Hub) -> None:
    nb = notebook("x = 1", "1 / 0", "print('never')")
    response = submit(hub, "ada", nb, flavor="cpu")
    assert response.status_code == 201, response.text
    done = ended(hub, "ada", response.json()["id"])
    assert (done["state"], done["reason"]) == ("failed", "failed")
    assert "ZeroDivisionError" in done["message"]
    assert done["has_result"]
    result = hub.call("ada", "GET", f"jobs/{done['id']}/result").json()
    assert any(o.get("ename") == "ZeroDivisionError" for o in result["cells"][1]["outputs"])


def test_site_rejection_reaches_the_user_word_for_word(hub: Hub, ds: RunningDevstack) -> None:
    faults(ds, GPU_SITE, failCreate="Invalid qos specification")
    try:
        response = submit(hub, "ada", notebook("1"), site=GPU_SITE)
        assert response.status_code == 201, response.text
        done = ended(hub, "ada", response.json()["id"])
    finally:
        faults(ds, GPU_SITE, failCreate=None)
    assert (done["state"], done["reason"]) == ("failed", "site-rejected")
    assert done["message"] == SBATCH + "Invalid qos specification"
    result = hub.call("ada", "GET", f"jobs/{done['id']}/result")
    assert result.status_code == 409 and "no result" in result.json()["message"]


def test_cancel_deletes_the_pod_and_stops_the_site_process(hub: Hub, ds: RunningDevstack) -> None:
    cell = "import os, time\nprint('pids', os.getppid(), os.getpid(), flush=True)\ntime.sleep(120)"
    response = submit(hub, "ada", notebook(cell), flavor="cpu")
    assert response.status_code == 201, response.text
    created = response.json()
    until(lambda: job(hub, "ada", created["id"])["state"] == "running", 60)
    # The runner (the kernel's parent) streams the cell's output: our logs show it running.
    line = until(
        lambda: next(
            (
                x
                for x in hub.call("ada", "GET", f"jobs/{created['id']}/logs").text.splitlines()
                if x.startswith("pids ")
            ),
            None,
        ),
        30,
    )
    runner, kernel = (int(x) for x in line.split()[1:3])
    assert not gone(runner) and not gone(kernel)
    # Another user cannot see, follow or cancel it.
    for method, path in [
        ("GET", f"jobs/{created['id']}"),
        ("DELETE", f"jobs/{created['id']}"),
        ("GET", f"jobs/{created['id']}/logs?follow=1"),
        ("GET", f"jobs/{created['id']}/result"),
        ("POST", f"jobs/{created['id']}/rerun"),
    ]:
        other = hub.call("bob", method, path)
        assert other.status_code == 404, (method, path, other.text)
    assert created["id"] not in {j["id"] for j in hub.call("bob", "GET", "jobs").json()["jobs"]}
    cancelled = hub.call("ada", "DELETE", f"jobs/{created['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    until(lambda: not pod_exists(ds, f"accelhub-job-{created['id'][-16:]}"), 30)
    until(lambda: gone(runner) and gone(kernel), 30)  # the site stopped it


def test_over_the_group_offload_quota_is_refused_with_a_sentence(hub: Hub) -> None:
    first = submit(hub, "dee", notebook("import time; time.sleep(60)"), flavor="cpu")
    assert first.status_code == 201, first.text
    try:
        second = submit(hub, "dee", notebook("1"), flavor="cpu")
        assert second.status_code == 403, second.text
        assert second.json()["message"].startswith("Over the offload quota: the group bio")
    finally:
        hub.call("dee", "DELETE", f"jobs/{first.json()['id']}")


def test_bad_submissions_get_sentences(hub: Hub) -> None:
    big = notebook("x = '" + "a" * 1_000_000 + "'")
    assert submit(hub, "ada", big).status_code == 413
    bad = submit(hub, "ada", {"nbformat": 4, "cells": "nope"})
    assert bad.status_code == 422 and "nbformat" in bad.json()["message"]
    assert submit(hub, "ada", notebook("1"), flavor="h100").status_code == 422
    unknown_site = submit(hub, "ada", notebook("1"), site="nowhere")
    assert unknown_site.status_code == 422 and "nowhere" in unknown_site.json()["message"]
    no_cell = submit(hub, "ada", notebook("1"), cell_id="missing")
    assert no_cell.status_code == 422


def test_auto_skips_a_site_that_stopped_answering(hub: Hub, ds: RunningDevstack) -> None:
    long = submit(hub, "ada", notebook("import time; time.sleep(60)"), site=GPU_SITE)
    assert long.status_code == 201, long.text
    until(lambda: job(hub, "ada", long.json()["id"])["state"] == "running", 60)
    faults(ds, GPU_SITE, unreachableSeconds=8)
    until(
        lambda: (
            not next(
                s for s in hub.call("ada", "GET", "sites").json()["sites"] if s["name"] == GPU_SITE
            )["ready"]
        ),
        20,
    )
    response = submit(hub, "ada", notebook("1"), flavor="cpu")
    assert response.status_code == 201, response.text
    assert response.json()["site"] == CPU_SITE
    assert f"{GPU_SITE} (not ready)" in response.json()["site_reason"]
    refused = submit(hub, "ada", notebook("1"), flavor="a100")
    assert refused.status_code == 409 and "No ready site offers" in refused.json()["message"]
    # The job running there fails, naming the site and why (grace: 1 s in this test).
    lost = ended(hub, "ada", long.json()["id"], timeout=30)
    assert (lost["state"], lost["reason"]) == ("failed", "site-unreachable")
    assert lost["message"].startswith(f"The site {GPU_SITE} stopped answering")
    until(
        lambda: next(
            s for s in hub.call("ada", "GET", "sites").json()["sites"] if s["name"] == GPU_SITE
        )["ready"],
        30,
    )


def test_a_job_survives_a_service_restart(hub: Hub, tmp_path: Path) -> None:
    response = submit(
        hub, "ada", notebook("import time; time.sleep(4)", "print('after')"), flavor="cpu"
    )
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    until(lambda: job(hub, "ada", job_id)["state"] == "running", 60)
    service = next(
        p
        for p in psutil.process_iter(["cmdline"])
        if "hub_ext.service" in " ".join(p.info["cmdline"] or [])
        and str(hub.state) in " ".join(p.info["cmdline"] or [])  # type: ignore[attr-defined]
    )
    service.kill()  # JupyterHub starts its managed service again (it polls every 30 s)
    until(lambda: hub.call("ada", "GET", "sites").status_code == 200, 90)
    done = ended(hub, "ada", job_id, timeout=120)
    assert done["state"] == "succeeded", done
    result = hub.call("ada", "GET", f"jobs/{job_id}/result").json()
    assert result["cells"][-1]["outputs"][0]["text"] == "after\n"

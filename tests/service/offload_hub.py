"""The offload gateway's test platform: devstack with three InterLink sites (one offering GPUs,
one CPUs only, one single-strategy MIG slices), the service's config for it, and the calls
the tests make."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx
import psutil
from nbformat.v4 import new_code_cell, new_notebook

from tests.devstack.conftest import REPO, RunningDevstack
from tests.helpers.waiting import waiter
from tests.service.hubstack import FLAVORS, Hub

GPU_SITE, CPU_SITE, MIG_SITE = "vk-gpu-site", "vk-cpu-site", "vk-mig-site"
# The MIG site's device plugin runs the single strategy: its slices are nvidia.com/gpu on a
# node labelled with the MIG product (no site offers nvidia.com/mig-1g.10gb, the mixed shape).
MIG_PRODUCT = {"nvidia.com/gpu.product": "NVIDIA-A100-80GB-PCIe-MIG-1g.10gb"}
SBATCH = "sbatch: error: Batch job submission failed: "
CLUSTER = f"""
name: offload-test
namespaces: [accelhub]
nodes:
  - name: cpu-1
    capacity: {{cpu: "8", memory: 32Gi, ephemeral-storage: 100Gi, pods: "110"}}
  - name: {GPU_SITE}
    capacity: {{cpu: "100", memory: 1Ti, ephemeral-storage: 1Ti, pods: "1000", nvidia.com/gpu: "4"}}
    virtual: {{site: gpu-site, queueDelaySeconds: 0, failureRate: 0.0}}
  - name: {CPU_SITE}
    capacity: {{cpu: "100", memory: 1Ti, ephemeral-storage: 1Ti, pods: "1000"}}
    virtual: {{site: cpu-site, queueDelaySeconds: 0, failureRate: 0.0}}
  - name: {MIG_SITE}
    capacity: {{cpu: "100", memory: 1Ti, ephemeral-storage: 1Ti, pods: "1000", nvidia.com/gpu: "2"}}
    labels: {json.dumps(MIG_PRODUCT)}
    virtual: {{site: mig-site, queueDelaySeconds: 0, failureRate: 0.0}}
"""

# The test catalog plus a GPU flavor only the group bio may use.
BIO_FLAVOR = {**FLAVORS[1], "slug": "a100-bio", "display_name": "A100 (bio)", "groups": ["bio"]}
# A MIG slice served by either device-plugin strategy, mixed preferred.
MIG_FLAVOR = {
    "slug": "mig",
    "display_name": "A100 MIG 1g.10gb",
    "kind": "mig",
    "mig_profile": "1g.10gb",
    "mig_strategy": ["mixed", "single"],
}


def service_config(kubeconfig: Path) -> str:
    runner = [sys.executable, "-m", "server_ext.offload.runner"]
    catalog = kubeconfig.parent / "offload-catalog.json"
    catalog.write_text(json.dumps([*FLAVORS, BIO_FLAVOR, MIG_FLAVOR]))
    return (
        f"c.AcceleratorCatalog.catalog_file = {str(catalog)!r}\n"
        "c.AccelhubService.kubernetes = True\n"
        f"c.KubeCluster.kubeconfig = {str(kubeconfig)!r}\n"
        f"c.OffloadGateway.runner_command = {runner!r}\n"
        f"c.OffloadGateway.job_env = {{'PYTHONPATH': {str(REPO)!r}}}\n"
        "c.JobTracker.unreachable_grace_seconds = 1.0\n"
        "c.JobTracker.tick_seconds = 0.5\n"
        "c.QuotaPolicy.offload_quotas = {'bio': {'jobs': 1}}\n"
    )


until = waiter(60.0, 0.2)


def notebook(*sources: str, parameters: str | None = None) -> dict[str, Any]:
    cells = []
    if parameters is not None:
        cells.append(new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    cells += [new_code_cell(src) for src in sources]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    return json.loads(json.dumps(nb))


def submit(hub: Hub, user: str, nb: dict[str, Any], **fields: Any) -> httpx.Response:
    body = {"notebook": nb, "name": "analysis.ipynb", "site": "auto", "flavor": "a100", **fields}
    return hub.call(user, "POST", "jobs", json=body)


def job(hub: Hub, user: str, job_id: str) -> dict[str, Any]:
    response = hub.call(user, "GET", f"jobs/{job_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def ended(hub: Hub, user: str, job_id: str, timeout: float = 90.0) -> dict[str, Any]:
    return dict(
        until(
            lambda: (j := job(hub, user, job_id))["state"] not in ("pending", "running") and j,
            timeout,
        )
    )


def pod_exists(ds: RunningDevstack, name: str) -> bool:
    out = ds.kubectl("get", "pods", "-n", "accelhub", "-o", "name", check=False).stdout
    return f"pod/{name}" in out


def gone(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE

"""The Kubernetes objects of a job: the pod on the site's virtual node and its notebook's
ConfigMap. Pure: manifests in, nothing sent."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ...contract import FLAVOR_LABEL, JOB_LABEL, USER_LABEL, label_value
from ...flavors import Flavor, Placement
from ...mig import device_labels
from .record import JobRecord
from .sites import HOSTNAME_LABEL, TAINT_KEY

MOUNT = "/job"
NOTEBOOK_FILE = "notebook.ipynb"
PARAMETERS_FILE = "parameters.json"
CONTAINER = "runner"


def labels(job: JobRecord) -> dict[str, str]:
    return {
        JOB_LABEL: job.id,
        USER_LABEL: label_value(job.user),
        FLAVOR_LABEL: label_value(job.flavor),
    }


def resources(flavor: Flavor, placement: Placement, count: int) -> dict[str, Any]:
    """Requests and limits: the flavor's CPU and memory, and its devices in the resource of
    the placement the site offers."""
    requests: dict[str, str] = {"cpu": f"{flavor.default_cpu:g}", "memory": flavor.default_memory}
    limits: dict[str, str] = {"memory": flavor.memory_limit or flavor.default_memory}
    if placement.resource and count:
        requests[placement.resource] = limits[placement.resource] = str(count)
    return {"requests": requests, "limits": limits}


def site_annotations(
    templates: Mapping[str, str], count: int, user: str, flavor: str
) -> dict[str, str]:
    """The site's annotations, e.g. ``slurm-job.vk.io/flags: --gres=gpu:{count}``; templates
    naming {count} are left out for jobs without devices."""
    out = {"hub.jupyter.org/username": user}
    for key, template in templates.items():
        if "{count}" in template and not count:
            continue
        out[key] = template.format(count=count, user=user, flavor=flavor)
    return out


def configmap(job: JobRecord, notebook: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": job.pod, "namespace": job.namespace, "labels": labels(job)},
        "data": {
            NOTEBOOK_FILE: json.dumps(notebook),
            PARAMETERS_FILE: json.dumps(job.parameters),
        },
    }


def runner_args(job: JobRecord) -> list[str]:
    args = ["--notebook", NOTEBOOK_FILE, "--parameters-file", PARAMETERS_FILE]
    if job.cell_id:
        args += ["--cell-id", job.cell_id, "--setup", job.setup]
    return args


def pod(
    job: JobRecord,
    command: Sequence[str],
    site_annotations: Mapping[str, str],
    env: Mapping[str, str],
    placement: Placement,
) -> dict[str, Any]:
    """The job's pod: on the site's virtual node (with the placement's device labels, e.g. a
    single-strategy MIG slice's product), tolerating its taint, the notebook mounted."""
    selector = {HOSTNAME_LABEL: job.site}
    selector.update(device_labels(placement.strategy, placement.node_selector))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": job.pod,
            "namespace": job.namespace,
            "labels": labels(job),
            "annotations": dict(site_annotations),
        },
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "nodeSelector": selector,
            "tolerations": [{"key": TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [
                {
                    "name": CONTAINER,
                    "image": job.image,
                    "command": list(command),
                    "args": runner_args(job),
                    "workingDir": MOUNT,
                    "env": [{"name": k, "value": v} for k, v in env.items()],
                    "resources": job.resources,
                    "volumeMounts": [{"name": "job", "mountPath": MOUNT, "readOnly": True}],
                }
            ],
            "volumes": [{"name": "job", "configMap": {"name": job.pod}}],
        },
    }


def owner_patch(pod_name: str, uid: str) -> dict[str, Any]:
    """Make the ConfigMap belong to the pod: it goes when the pod goes."""
    return {
        "metadata": {
            "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": pod_name, "uid": uid}]
        }
    }

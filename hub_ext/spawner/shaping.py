"""Pod shaping: resources, placement, labels and env for a validated selection and its lease."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio.client import V1EnvVar, V1ResourceRequirements, V1Toleration

from ..admission import LeaseDecision
from ..contract import FLAVOR_LABEL, KIND_LABEL, LEASE_LABEL
from ..flavors import Placement
from ..quantity import ceil
from .options import Selection


def cpu_quantity(cores: float) -> str:
    """A Kubernetes CPU quantity (``2``, ``500m``)."""
    return f"{cores:g}" if float(cores).is_integer() else f"{round(cores * 1000)}m"


def selection_env(
    selection: Selection, decision: LeaseDecision | None, placement: Placement | None = None
) -> dict[str, str]:
    """What the notebook needs to know about what it got (``placement``: the flavor's first)."""
    flavor = selection.flavor
    placement = placement or flavor.placements[0]
    env = {
        "ACCELHUB_FLAVOR": flavor.slug,
        "ACCELHUB_FLAVOR_NAME": flavor.display_name,
        "ACCELHUB_ACCELERATOR_KIND": flavor.kind,
        "ACCELHUB_DEVICE_COUNT": str(selection.count),
        "CPU_GUARANTEE": f"{selection.cpu:g}",
        "CPU_LIMIT": f"{selection.cpu:g}",
        "MEM_GUARANTEE": str(ceil(selection.memory)),
        "MEM_LIMIT": str(ceil(selection.memory)),
    }
    if placement.resource:
        env["ACCELHUB_RESOURCE"] = placement.resource
    if flavor.device_memory:
        env["ACCELHUB_DEVICE_MEMORY"] = flavor.device_memory
    if flavor.mig_profile:
        env["ACCELHUB_MIG_PROFILE"] = flavor.mig_profile
        env["ACCELHUB_MIG_STRATEGY"] = placement.strategy or ""
    if flavor.kind == "cpu":
        # The NVIDIA container runtime shows no GPU to a pod that asks for none.
        env["NVIDIA_VISIBLE_DEVICES"] = "void"
    if decision is not None and decision.lease_id:
        env["ACCELHUB_LEASE_ID"] = decision.lease_id
    if decision is not None and decision.reservation is not None:
        env["ACCELHUB_RESERVATION"] = decision.reservation.name or decision.reservation.id
    env.update(flavor.env)
    return env


def shape_pod(
    pod: Any,
    selection: Selection,
    decision: LeaseDecision | None,
    placement: Placement | None = None,
) -> Any:
    """Apply the selection and the lease to KubeSpawner's V1Pod (in place; also returned);
    ``placement`` is the flavor's shape chosen for this pod (default: its first)."""
    flavor = selection.flavor
    placement = placement or flavor.placements[0]
    spec = pod.spec
    container = spec.containers[0]
    if selection.image:
        container.image = selection.image
    requests = dict((container.resources.requests if container.resources else None) or {})
    limits = dict((container.resources.limits if container.resources else None) or {})
    requests["cpu"] = limits["cpu"] = cpu_quantity(selection.cpu)
    requests["memory"] = limits["memory"] = selection.memory
    if placement.resource:
        requests[placement.resource] = limits[placement.resource] = str(selection.count)
    container.resources = V1ResourceRequirements(requests=requests, limits=limits)

    selector = dict(spec.node_selector or {})
    selector.update(placement.node_selector)
    if decision is not None:
        selector.update(decision.node_selector)
    spec.node_selector = selector or None

    tolerations = list(spec.tolerations or [])
    extra = list(flavor.tolerations) + (list(decision.tolerations) if decision else [])
    for tol in extra:
        model = V1Toleration(
            key=tol.get("key"),
            operator=tol.get("operator"),
            value=tol.get("value"),
            effect=tol.get("effect"),
            toleration_seconds=tol.get("tolerationSeconds"),
        )
        if model not in tolerations:
            tolerations.append(model)
    spec.tolerations = tolerations or None

    priority = (decision.priority_class_name if decision else None) or flavor.priority_class_name
    if priority:
        spec.priority_class_name = priority

    labels = dict(pod.metadata.labels or {})
    labels[FLAVOR_LABEL] = flavor.slug
    labels[KIND_LABEL] = flavor.kind
    if decision is not None:
        labels.update(decision.labels)
        if decision.lease_id:
            labels[LEASE_LABEL] = decision.lease_id
    pod.metadata.labels = labels

    env = selection_env(selection, decision, placement)
    kept = [e for e in container.env or [] if e.name not in env]
    container.env = kept + [V1EnvVar(name=k, value=v) for k, v in env.items()]
    return pod

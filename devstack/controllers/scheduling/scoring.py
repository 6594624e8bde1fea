"""Score plugins: preferred node affinity, PreferNoSchedule taints, least allocated."""

from __future__ import annotations

from collections.abc import Sequence

from devstack.controllers.scheduling.model import NodeInfo, PodView
from devstack.controllers.scheduling.predicates import term_matches, untolerated
from devstack.controllers.scheduling.resources import CPU, MEMORY

MAX_SCORE = 100
WEIGHT_TAINTS = 3
WEIGHT_AFFINITY = 2
WEIGHT_FIT = 1


def preferred_affinity(pod: PodView, node: NodeInfo) -> int:
    """Sum of the weights of matching preferred node-affinity terms."""
    total = 0
    for pref in pod.preferred_terms:
        if term_matches(pref.get("preference") or {}, node.labels, node.name):
            total += int(pref.get("weight") or 0)
    return total


def intolerable_soft_taints(pod: PodView, node: NodeInfo) -> int:
    """How many PreferNoSchedule taints the pod does not tolerate."""
    tolerations = [
        t for t in pod.tolerations if (t.get("effect") or "PreferNoSchedule") == "PreferNoSchedule"
    ]
    return len(untolerated(node.taints, tolerations, ("PreferNoSchedule",)))


def least_allocated(pod: PodView, node: NodeInfo) -> float:
    """Mean free fraction of cpu and memory after placing the pod (0..100)."""
    scores = []
    for name in (CPU, MEMORY):
        alloc = node.allocatable.get(name, 0)
        if alloc <= 0:
            continue
        used = node.requested.get(name, 0) + pod.requests.get(name, 0)
        scores.append(max(0.0, (alloc - used) * MAX_SCORE / alloc))
    return sum(scores) / len(scores) if scores else 0.0


def pick_node(pod: PodView, nodes: Sequence[NodeInfo]) -> NodeInfo:
    """The best feasible node: weighted, normalised scores; ties go to the first name."""
    affinity = [preferred_affinity(pod, n) for n in nodes]
    taints = [intolerable_soft_taints(pod, n) for n in nodes]
    max_aff, max_taint = max(affinity), max(taints)
    best: tuple[float, str] | None = None
    chosen = nodes[0]
    for i, node in enumerate(nodes):
        score = WEIGHT_FIT * least_allocated(pod, node)
        if max_aff:
            score += WEIGHT_AFFINITY * affinity[i] * MAX_SCORE / max_aff
        if max_taint:
            score += WEIGHT_TAINTS * (MAX_SCORE - taints[i] * MAX_SCORE / max_taint)
        else:
            score += WEIGHT_TAINTS * MAX_SCORE
        key = (-score, node.name)
        if best is None or key < best:
            best, chosen = key, node
    return chosen

"""Filter plugins in the default profile's order, worded as kube-scheduler words them."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from devstack.controllers.scheduling.model import NodeInfo, PodView
from devstack.controllers.scheduling.resources import CPU, EPHEMERAL, MEMORY, PODS, Resources

UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
REASON_TOO_MANY_PODS = "Too many pods"


class Code(enum.Enum):
    """Filter outcome: fits, could fit after preemption, or cannot fit on this node at all."""

    SUCCESS = "Success"
    UNSCHEDULABLE = "Unschedulable"
    UNRESOLVABLE = "UnschedulableAndUnresolvable"


@dataclass(frozen=True)
class Status:
    """A filter's verdict and its reasons (each counted once per node in the message)."""

    code: Code
    reasons: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the node passed."""
        return self.code is Code.SUCCESS


SUCCESS = Status(Code.SUCCESS)


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """Whether one toleration tolerates one taint (the API's `ToleratesTaint`)."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    return op == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated(
    taints: Iterable[Mapping[str, Any]],
    tolerations: Sequence[Mapping[str, Any]],
    effects: tuple[str, ...],
) -> list[Mapping[str, Any]]:
    """Taints with one of `effects` that no toleration tolerates, in node order."""
    return [
        t
        for t in taints
        if t.get("effect") in effects and not any(tolerates(tol, t) for tol in tolerations)
    ]


def _match_expression(expr: Mapping[str, Any], value: str | None) -> bool:
    op = expr.get("operator")
    values = list(expr.get("values") or [])
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and len(values) == 1:
        try:
            have, want = int(value), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def term_matches(term: Mapping[str, Any], labels: Mapping[str, str], node_name: str) -> bool:
    """A NodeSelectorTerm: its expressions and fields ANDed; an empty term matches nothing."""
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    for expr in exprs:
        if not _match_expression(expr, labels.get(expr.get("key", ""))):
            return False
    for expr in fields:
        value = node_name if expr.get("key") == "metadata.name" else None
        if not _match_expression(expr, value):
            return False
    return True


def matches_node_affinity(pod: PodView, node: NodeInfo) -> bool:
    """nodeSelector and required node affinity (terms ORed)."""
    for key, value in pod.node_selector.items():
        if node.labels.get(key) != value:
            return False
    if pod.required_terms is None:
        return True
    return any(term_matches(t, node.labels, node.name) for t in pod.required_terms)


def node_unschedulable(pod: PodView, node: NodeInfo) -> Status:
    """NodeUnschedulable: cordoned nodes reject pods that don't tolerate the cordon taint."""
    if not node.unschedulable:
        return SUCCESS
    taint = {"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}
    if any(tolerates(t, taint) for t in pod.tolerations):
        return SUCCESS
    return Status(Code.UNRESOLVABLE, (REASON_UNSCHEDULABLE,))


def taint_toleration(pod: PodView, node: NodeInfo) -> Status:
    """TaintToleration: the first untolerated NoSchedule/NoExecute taint."""
    bad = untolerated(node.taints, pod.tolerations, ("NoSchedule", "NoExecute"))
    if not bad:
        return SUCCESS
    taint = bad[0]
    reason = f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '')}}}"
    return Status(Code.UNRESOLVABLE, (reason,))


def node_affinity(pod: PodView, node: NodeInfo) -> Status:
    """NodeAffinity: nodeSelector plus required terms."""
    if matches_node_affinity(pod, node):
        return SUCCESS
    return Status(Code.UNRESOLVABLE, (REASON_AFFINITY,))


def _resource_order(requests: Resources) -> list[str]:
    first = [CPU, MEMORY, EPHEMERAL]
    rest = sorted(k for k in requests if k not in first and k != PODS)
    return [r for r in first if r in requests] + rest


def resources_fit(pod: PodView, node: NodeInfo, extra: Resources | None = None) -> Status:
    """NodeResourcesFit: pod count then each requested resource.

    A request larger than the node's whole allocatable makes the node unresolvable
    (preemption cannot help), as recent kube-scheduler versions report.
    """
    extra = extra or {}
    reasons: list[str] = []
    unresolvable = False
    used_pods = node.requested.get(PODS, 0) + extra.get(PODS, 0)
    if used_pods + 1 > node.allocatable.get(PODS, 0):
        reasons.append(REASON_TOO_MANY_PODS)
    for name in _resource_order(pod.requests):
        want = pod.requests[name]
        if want <= 0:
            continue
        alloc = node.allocatable.get(name, 0)
        used = node.requested.get(name, 0) + extra.get(name, 0)
        if want > alloc - used:
            reasons.append(f"Insufficient {name}")
            if want > alloc:
                unresolvable = True
    if not reasons:
        return SUCCESS
    return Status(Code.UNRESOLVABLE if unresolvable else Code.UNSCHEDULABLE, tuple(reasons))


def static_filters(pod: PodView, node: NodeInfo) -> Status:
    """The filters that don't depend on other pods, in plugin order."""
    for check in (node_unschedulable, taint_toleration, node_affinity):
        status = check(pod, node)
        if not status.ok:
            return status
    return SUCCESS


def filter_node(pod: PodView, node: NodeInfo, extra: Resources | None = None) -> Status:
    """Run every filter in order; the first failing plugin decides (as the framework does)."""
    status = static_filters(pod, node)
    if not status.ok:
        return status
    return resources_fit(pod, node, extra)

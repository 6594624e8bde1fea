"""Incremental cluster accounting and the one-pod scheduling decision."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devstack.controllers.scheduling import messages
from devstack.controllers.scheduling.model import NodeInfo, PodView
from devstack.controllers.scheduling.predicates import Code, Status, filter_node
from devstack.controllers.scheduling.preemption import find_candidates, pick_candidate
from devstack.controllers.scheduling.resources import PODS, Resources, add_into
from devstack.controllers.scheduling.scoring import pick_node


@dataclass
class Decision:
    """The outcome of one scheduling attempt.

    `node` is set when the pod fits. Otherwise `message` is the FitError text, and when
    preemption found a node, `nominate` names it and `victims` lists the pods to evict.
    """

    node: str | None = None
    message: str = ""
    nominate: str | None = None
    victims: list[PodView] = field(default_factory=list)
    unresolvable: bool = False
    statuses: dict[str, Status] = field(default_factory=dict)


@dataclass
class ClusterState:
    """Nodes with the pods accounted on them, updated one event at a time."""

    nodes: dict[str, NodeInfo] = field(default_factory=dict)
    pod_nodes: dict[str, str] = field(default_factory=dict)
    nominations: dict[str, tuple[str, PodView]] = field(default_factory=dict)
    _orphans: dict[str, PodView] = field(default_factory=dict)

    # -- nodes -------------------------------------------------------------------------
    def upsert_node(self, node: Mapping[str, Any]) -> NodeInfo:
        """Add a node or refresh its labels, taints and capacity."""
        name = (node.get("metadata") or {}).get("name", "")
        info = self.nodes.get(name)
        if info is None:
            info = NodeInfo.from_node(node)
            self.nodes[name] = info
            for key, pod in list(self._orphans.items()):
                if pod.node_name == name:
                    del self._orphans[key]
                    info.add_pod(pod)
        else:
            info.update_node(node)
        return info

    def remove_node(self, name: str) -> None:
        """Forget a node; its pods wait in case it comes back."""
        info = self.nodes.pop(name, None)
        if info is not None:
            self._orphans.update(info.pods)

    # -- pods --------------------------------------------------------------------------
    def account_pod(self, pod: PodView) -> None:
        """Track a pod's use of its node: bound and not terminal means it holds resources."""
        self.forget_pod(pod.key, keep_nomination=True)
        if not pod.node_name or pod.terminal:
            return
        self.nominations.pop(pod.key, None)
        self.pod_nodes[pod.key] = pod.node_name
        info = self.nodes.get(pod.node_name)
        if info is None:
            self._orphans[pod.key] = pod
        else:
            info.add_pod(pod)

    def forget_pod(self, key: str, keep_nomination: bool = False) -> None:
        """Stop accounting a pod (deleted, finished, or about to be re-accounted)."""
        node = self.pod_nodes.pop(key, None)
        if node is not None and node in self.nodes:
            self.nodes[node].remove_pod(key)
        self._orphans.pop(key, None)
        if not keep_nomination:
            self.nominations.pop(key, None)

    def nominate(self, pod: PodView, node: str) -> None:
        """Reserve room on `node` for a preemptor until it binds."""
        self.nominations[pod.key] = (node, pod)

    def nominated_load(self, node: str, pod: PodView) -> Resources:
        """Requests of other pods nominated to `node` with priority at least the pod's."""
        extra: Resources = {}
        for key, (where, other) in self.nominations.items():
            if where == node and key != pod.key and other.priority >= pod.priority:
                add_into(extra, other.requests)
                extra[PODS] = extra.get(PODS, 0) + 1
        return extra

    # -- decisions ---------------------------------------------------------------------
    def schedule(self, pod: PodView) -> Decision:
        """Filter, score, and if nothing fits, try preemption; never mutates the state."""
        if not self.nodes:
            return Decision(message=messages.NO_NODES, unresolvable=False)
        statuses: dict[str, Status] = {}
        feasible: list[NodeInfo] = []
        loads: dict[str, Resources] = {}
        nominated_first = self.nodes.get(pod.nominated_node)
        ordered = list(self.nodes.values())
        if nominated_first is not None:
            ordered.remove(nominated_first)
            ordered.insert(0, nominated_first)
        for info in ordered:
            load = self.nominated_load(info.name, pod) if self.nominations else {}
            loads[info.name] = load
            status = filter_node(pod, info, load)
            if status.ok:
                if info is nominated_first:
                    return Decision(node=info.name)
                feasible.append(info)
            else:
                statuses[info.name] = status
        if feasible:
            return Decision(node=pick_node(pod, feasible).name)
        unresolvable = all(s.code is Code.UNRESOLVABLE for s in statuses.values())
        decision = self._preempt(pod, statuses, loads, unresolvable)
        decision.statuses = statuses
        return decision

    def _preempt(
        self,
        pod: PodView,
        statuses: dict[str, Status],
        loads: dict[str, Resources],
        unresolvable: bool,
    ) -> Decision:
        total = len(self.nodes)
        if pod.preemption_policy == "Never":
            return Decision(
                message=messages.fit_error(total, statuses, messages.NEVER),
                unresolvable=unresolvable,
            )
        nominated = self.nodes.get(pod.nominated_node)
        if (
            nominated is not None
            and statuses.get(nominated.name, Status(Code.SUCCESS)).code is not Code.UNRESOLVABLE
            and any(p.terminating and p.priority < pod.priority for p in nominated.pods.values())
        ):
            return Decision(message=messages.fit_error(total, statuses, messages.TERMINATING))
        candidates, verdicts = find_candidates(pod, self.nodes, statuses, loads)
        if not candidates:
            post = messages.fit_error(total, verdicts)
            return Decision(
                message=messages.fit_error(total, statuses, post), unresolvable=unresolvable
            )
        best = pick_candidate(candidates)
        return Decision(
            message=messages.fit_error(total, statuses), nominate=best.node, victims=best.victims
        )

"""DefaultPreemption: victims per node (with reprieve) and the best node to preempt on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from devstack.controllers.scheduling.messages import NO_VICTIMS, NOT_HELPFUL
from devstack.controllers.scheduling.model import NodeInfo, PodView
from devstack.controllers.scheduling.predicates import Code, Status, resources_fit
from devstack.controllers.scheduling.resources import PODS, Resources, add_into

_PRIORITY_OFFSET = 2**31


@dataclass
class Candidate:
    """A node and the pods that must go for the preemptor to fit there."""

    node: str
    victims: list[PodView]


def _importance(pod: PodView) -> tuple[int, str]:
    """Sort key: more important (higher priority, then older) first."""
    return (-pod.priority, pod.start_time)


def _with_pod(extra: Resources, pod: PodView, sign: int) -> None:
    add_into(extra, pod.requests, sign)
    extra[PODS] = extra.get(PODS, 0) + sign


def select_victims(
    pod: PodView, node: NodeInfo, nominated: Resources
) -> tuple[list[PodView], Status]:
    """Remove every lower-priority pod, then reprieve as many as still let the pod fit."""
    potential = sorted(
        (p for p in node.pods.values() if p.priority < pod.priority), key=_importance
    )
    if not potential:
        return [], Status(Code.UNRESOLVABLE, (NO_VICTIMS,))
    extra = dict(nominated)
    for victim in potential:
        _with_pod(extra, victim, -1)
    status = resources_fit(pod, node, extra)
    if not status.ok:
        return [], status
    victims: list[PodView] = []
    for candidate in potential:
        _with_pod(extra, candidate, 1)
        if not resources_fit(pod, node, extra).ok:
            _with_pod(extra, candidate, -1)
            victims.append(candidate)
    return victims, status


def _node_rank(candidate: Candidate) -> tuple[int, int, int, str]:
    victims = candidate.victims
    if not victims:
        return (-_PRIORITY_OFFSET, 0, 0, "")
    highest = max(v.priority for v in victims)
    total = sum(v.priority + _PRIORITY_OFFSET for v in victims)
    earliest_top = min(v.start_time for v in victims if v.priority == highest)
    # A later start time of the most important victims is better: negate by inverting order.
    return (highest, total, len(victims), _invert(earliest_top))


def _invert(text: str) -> str:
    return "".join(chr(0x10FFFF - ord(c)) for c in text)


def pick_candidate(candidates: Sequence[Candidate]) -> Candidate:
    """Lowest top victim priority, then lowest priority sum, fewest victims, newest victims."""
    return min(candidates, key=lambda c: (_node_rank(c), c.node))


def find_candidates(
    pod: PodView,
    nodes: Mapping[str, NodeInfo],
    statuses: Mapping[str, Status],
    nominated: Mapping[str, Resources],
) -> tuple[list[Candidate], dict[str, Status]]:
    """Try every node that preemption might help; return candidates and per-node verdicts."""
    candidates: list[Candidate] = []
    verdicts: dict[str, Status] = {}
    for name, node in nodes.items():
        status = statuses.get(name)
        if status is None or status.code is Code.UNRESOLVABLE:
            verdicts[name] = Status(Code.UNRESOLVABLE, (NOT_HELPFUL,))
            continue
        victims, verdict = select_victims(pod, node, dict(nominated.get(name, {})))
        if verdict.ok:
            candidates.append(Candidate(name, victims))
        else:
            verdicts[name] = verdict
    return candidates, verdicts

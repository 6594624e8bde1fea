"""Plain-words progress and refusal messages for a spawn that waits for an accelerator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..admission import LeaseDecision
from ..catalog import Flavor
from ..contract import WAITABLE
from ..inventory import FlavorCounts

UNIT = {"cpu": "CPU core", "gpu": "GPU", "mig": "slice", "fpga": "FPGA card"}


def ordinal(n: int) -> str:
    """1 -> 1st, 2 -> 2nd, 11 -> 11th."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def device_name(flavor: Flavor) -> str:
    """``MIG 1g.10gb slice``, ``NVIDIA Tesla T4 GPU``, ``... FPGA card``."""
    if flavor.kind == "mig":
        return f"MIG {flavor.mig_profile} slice"
    if flavor.kind == "gpu" and "gpu" not in flavor.display_name.lower():
        return f"{flavor.display_name} GPU"
    return flavor.display_name


def availability(flavor: Flavor, counts: FlavorCounts | None, queue: int | None = None) -> str:
    """``No MIG 1g.10gb slice is free: 7/7 in use; you are 2nd in line``."""
    if counts is None:
        return f"Waiting for a {device_name(flavor)}"
    if counts.capacity == 0:
        text = f"The cluster has no {device_name(flavor)} right now"
    elif counts.free <= 0:
        text = f"No {device_name(flavor)} is free: {counts.in_use}/{counts.capacity} in use"
    else:
        text = f"{counts.free}/{counts.capacity} {device_name(flavor)}(s) free"
    if queue:
        text += f"; you are {ordinal(queue)} in line"
    elif counts.pending:
        text += f"; {counts.pending} more wanted by pending pods"
    return text


# Refusals a wait in line can cure: the service's own rule, the only ones it queues.
WAIT_CURES = WAITABLE


def in_line(flavor: Flavor, decision: LeaseDecision) -> str:
    """``Waiting in line for NVIDIA Tesla T4 GPU: number 2 of 3. ...``"""
    position = decision.queue_position
    of = f" of {decision.queue_length}" if decision.queue_length else ""
    return (
        f"Waiting in line for {device_name(flavor)}: number {position}{of}. No estimate: a "
        "device frees when someone stops a server. Stop this server to leave the line."
    )


def refusal(flavor: Flavor, decision: LeaseDecision) -> str:
    """The sentence a user reads when admission says no."""
    reason = decision.reason or "capacity"
    base = decision.message.strip()
    use = decision.in_use
    if not base:
        if reason == "quota" and use is not None and use.group_quota is not None:
            base = (
                f"Your group's quota for {flavor.display_name} is used up "
                f"({use.group}/{use.group_quota} in use)"
            )
        elif reason == "user_cap" and use is not None and use.user_cap is not None:
            base = f"You already hold {use.user} of your {use.user_cap} {device_name(flavor)}(s)"
        elif reason == "reservation":
            base = f"Every {device_name(flavor)} is reserved for a hackathon right now"
        elif reason == "not_allowed":
            base = f"You may not use {flavor.display_name}"
        elif reason == "unknown_flavor":
            base = f"The hub service does not know the flavor {flavor.slug!r}"
        else:
            base = f"No {device_name(flavor)} is free right now"
    text = base.rstrip(".") + "."
    if decision.queue_position:
        text += f" You are {ordinal(decision.queue_position)} in line."
    if decision.retry_after_seconds:
        text += f" Try again in about {_duration(decision.retry_after_seconds)}."
    return text


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{int(seconds)} seconds"
    if seconds < 5400:
        return f"{round(seconds / 60)} minutes"
    return f"{round(seconds / 3600)} hours"


def scheduler_message(events: Sequence[Mapping[str, Any]]) -> str | None:
    """The latest FailedScheduling message, as ``Waiting for the scheduler: 0/9 nodes ...``."""
    for event in reversed(events):
        if event.get("reason") == "FailedScheduling" and event.get("message"):
            return f"Waiting for the scheduler: {event['message']}"
    return None


def pod_phase_message(pod: Mapping[str, Any] | None, flavor: Flavor) -> str | None:
    """What the pod is doing, once it exists."""
    if pod is None:
        return None
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    node = spec.get("nodeName")
    if not node:
        return None
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") and waiting.get("reason") != "ContainerCreating":
            return f"On node {node}: container {waiting['reason']}: {waiting.get('message', '')}"
    what = f" with {device_name(flavor)}" if flavor.resource else ""
    return f"Placed on node {node}{what}; starting your server"


def timeout_message(
    flavor: Flavor, count: int, seconds: float, last: str | None, node: str | None
) -> str:
    """Why the spawn gave up, saying what was waited for."""
    what = f"{count} x {device_name(flavor)}" if flavor.resource else "a CPU-only server"
    waited = f"your server to start on node {node}" if node else f"a node with {what}"
    text = f"Gave up after {int(seconds)} seconds waiting for {waited}."
    if last:
        text += f" Last status: {last.rstrip('.')}."
    return text


def pod_waiting(
    pod: Mapping[str, Any],
    flavor: Flavor,
    count: int,
    counts: FlavorCounts | None,
    events: Sequence[Mapping[str, Any]],
) -> str:
    """What an existing pod waits for: its phase, else the devices in short supply and the
    scheduler's latest word."""
    placed = pod_phase_message(pod, flavor)
    if placed:
        return placed
    parts = []
    if flavor.resource and counts is not None and counts.free < count:
        parts.append(availability(flavor, counts))
    parts.append(scheduler_message(events) or "Waiting for the scheduler to place your server")
    return "; ".join(parts)

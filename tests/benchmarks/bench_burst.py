"""Benchmark: a hackathon burst on devstack. 1,000 participants of a per-member reservation and
200 outsiders start at once, on a cluster with enough devices for everyone.

The service's admission core (``AdmissionCore`` over the store's ``Repository``) and its cluster
side (``KubeCluster``, fed by the shared watch-fed inventory) run in this process against a
devstack cluster, as in ``bench_admission.py``'s smaller burst; the hub's part, creating the
pods, runs in a child process as it would in the hub. The reservation's placeholders hold the
participants' devices first; then every person, at the same instant, is admitted, gets a pod
(a light command: ``sleep``) created, and the lease is bound to it. Participants' pods preempt
the placeholders.

Per person: the time spent in admission (``core.admit``) and the time from the common start to
the pod's Running (seen through the inventory's watch). Reported: participants admitted and
running, outsiders admitted and refused (with the reasons), over-allocation (devices beyond a
node's capacity, or leases beyond the total: must be 0), median and p95 time to Running, median
admission time, and admission's share of the median time to Running (goal: under 5%).

Run: python tests/benchmarks/bench_burst.py [--participants N] [--outsiders N]
[--outsider-quota N] [--gpus-per-node N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from hub_ext.contract import PLACEHOLDER_LABEL, USER_LABEL  # noqa: E402
from hub_ext.service.core import AdmissionCore  # noqa: E402
from hub_ext.service.directory import GroupInfo, StaticDirectory  # noqa: E402
from hub_ext.service.ledger import Grant  # noqa: E402
from hub_ext.service.policy import QuotaPolicy  # noqa: E402
from hub_ext.service.store import Repository, make_engine, migrate  # noqa: E402
from tests.service.helpers import T4  # noqa: E402

GOAL_SHARE = 0.05


def cluster_yaml(gpus: int, per_node: int) -> str:
    """Enough T4 nodes of ``per_node`` GPUs for ``gpus`` devices."""
    lines = ["name: burst", "namespaces: [accelhub, users]", "nodes:"]
    for n in range(math.ceil(gpus / per_node)):
        lines += [
            f"  - name: gpu-{n:03d}",
            '    capacity: {cpu: "256", memory: 2Ti, ephemeral-storage: 1Ti, pods: "250"}',
            '    allocatable: {cpu: "254", memory: 2Ti}',
            "    labels: {accelhub.infn.it/accelerator: t4}",
            "    gpus:",
        ]
        lines += [
            f"      - {{model: t4, uuid: GPU-{n:08x}-0000-0000-0000-{g:012x}}}"
            for g in range(per_node)
        ]
    return "\n".join(lines) + "\n"


def pod_body(user: str, labels: Mapping[str, str], priority: str | None) -> dict[str, Any]:
    """A notebook pod as the spawner shapes it, running a light command."""
    spec: dict[str, Any] = {
        "nodeSelector": dict(T4.node_selector),
        "terminationGracePeriodSeconds": 0,
        "containers": [
            {
                "name": "notebook",
                "image": "jupyter",
                "command": ["sleep", "900"],
                "resources": {"limits": {"nvidia.com/gpu": "1"}},
            }
        ],
    }
    if priority:
        spec["priorityClassName"] = priority
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"jupyter-{user}",
            "labels": dict(labels),
            "annotations": {"hub.jupyter.org/username": user, "hub.jupyter.org/servername": ""},
        },
        "spec": spec,
    }


class HubSide:
    """The hub's part of a spawn, in a process of its own as in a deployment: it creates the
    pods it is sent (one JSON body a line on stdin) and answers each pod's name when created."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.waiting: dict[str, asyncio.Future[None]] = {}
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, kubeconfig: Path) -> HubSide:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--hub-side",
            str(kubeconfig),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        if await proc.stdout.readline() != b"ready\n":
            raise RuntimeError("the hub side did not start")
        return cls(proc)

    async def create(self, body: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        done = asyncio.get_running_loop().create_future()
        self.waiting[body["metadata"]["name"]] = done
        self.proc.stdin.write(json.dumps(body).encode() + b"\n")
        await done

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            name, _, error = line.decode().strip().partition(" ")
            done = self.waiting.pop(name)
            if error:
                done.set_exception(RuntimeError(f"creating {name}: {error}"))
            else:
                done.set_result(None)

    async def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        await self.proc.wait()
        self.reader.cancel()


async def hub_side(kubeconfig: str) -> None:
    """The child of HubSide: read pod bodies from stdin, create them concurrently."""
    from kubernetes_asyncio import client, config

    await config.load_kube_config(config_file=kubeconfig)
    api_client = client.ApiClient()
    api = client.CoreV1Api(api_client)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks = set()
    await api.list_namespaced_pod("users", limit=1)  # connected before the burst
    sys.stdout.write("ready\n")
    sys.stdout.flush()

    async def create(body: dict[str, Any]) -> None:
        name = body["metadata"]["name"]
        try:
            await api.create_namespaced_pod("users", body)
            answer = name
        except Exception as error:  # reported to the parent, which fails the person
            answer = f"{name} {type(error).__name__}"
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()

    async for line in reader:
        task = asyncio.create_task(create(json.loads(line)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    await api_client.close()


@dataclass
class Person:
    user: str
    participant: bool
    admission: float = 0.0
    created: float | None = None  # seconds from the common start to the pod's creation
    refused: str | None = None
    running: float | None = None  # seconds from the common start


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(args: argparse.Namespace) -> int:
    from kubernetes_asyncio import client

    from hub_ext.service.kube import KubeCluster
    from hub_ext.service.shape import labels_of
    from tests.devstack.conftest import start_devstack, stop_devstack

    members = [f"p{i:04d}" for i in range(args.participants)]
    outsiders = [f"o{i:04d}" for i in range(args.outsiders)]
    groups = {"hack": GroupInfo("hack", members, {}), "lab": GroupInfo("lab", outsiders, {})}
    policy = QuotaPolicy()
    policy.group_quotas = {
        "hack": {"t4": {"devices": 0, "per_user": 1}},
        "lab": {"t4": {"devices": args.outsider_quota, "per_user": 1}},
    }
    gpus = args.participants + args.outsiders
    people = {u: Person(u, True) for u in members} | {u: Person(u, False) for u in outsiders}
    with tempfile.TemporaryDirectory(prefix="accelhub-burst-") as tmp:
        cluster_file = Path(tmp) / "cluster.yaml"
        cluster_file.write_text(cluster_yaml(gpus, args.gpus_per_node))
        ds = start_devstack(Path(tmp) / "state", cluster=str(cluster_file))
        engine = make_engine(f"sqlite:///{tmp}/burst.sqlite")
        await migrate(engine)
        cluster = KubeCluster(
            flavors={"t4": T4},
            kubeconfig=str(ds.kubeconfig),
            reconcile_seconds=3600,
            sync_timeout=120,
        )
        t0 = 0.0
        hub: HubSide | None = None
        try:
            await cluster.start()
            assert cluster.inventory is not None
            core = AdmissionCore(
                Repository(engine), {"t4": T4}, policy, StaticDirectory(groups), cluster
            )
            await core.load()
            cluster.attach(core)
            api = client.CoreV1Api(cluster.api)
            capacity = cluster.capacity("t4")
            assert capacity is not None
            total = capacity.total
            placeholders: set[str] = set()

            def watch(kind: str, etype: str, obj: Mapping[str, Any]) -> None:
                """Note when each person's pod, or a placeholder, is first seen Running."""
                if kind != "pods" or etype == "DELETED":
                    return
                meta = obj.get("metadata") or {}
                labels = meta.get("labels") or {}
                phase = (obj.get("status") or {}).get("phase")
                if phase != "Running" or meta.get("deletionTimestamp"):
                    placeholders.discard(meta.get("name", ""))
                    return
                if PLACEHOLDER_LABEL in labels:
                    placeholders.add(meta.get("name", ""))
                person = people.get(labels.get(USER_LABEL, ""))
                if person is not None and t0 and person.running is None:
                    person.running = time.perf_counter() - t0

            cluster.inventory.listeners.append(watch)
            now = datetime.now(UTC)
            hold_start = time.perf_counter()
            await core.create_reservation(
                "hackathon",
                "hack",
                "t4",
                None,
                True,
                now - timedelta(minutes=1),
                now + timedelta(hours=1),
                "org",
            )
            while len(placeholders) < args.participants:
                await asyncio.sleep(0.5)
                if time.perf_counter() - hold_start > args.timeout:
                    print(f"only {len(placeholders)} placeholders ran in {args.timeout:g} s")
                    return 1
            hold_seconds = time.perf_counter() - hold_start

            hub = await HubSide.start(ds.kubeconfig)

            async def start(person: Person) -> None:
                started = time.perf_counter()
                decision = await core.admit(person.user, "", "t4", 1)
                person.admission = time.perf_counter() - started
                if not isinstance(decision, Grant):
                    person.refused = decision.reason
                    return
                priority = "accelhub-reserved" if person.participant else None
                body = pod_body(person.user, labels_of(decision.lease), priority)
                await hub.create(body)
                person.created = time.perf_counter() - t0
                await core.bind(decision.lease.id, "users", body["metadata"]["name"])

            t0 = time.perf_counter()
            await asyncio.gather(*(start(p) for p in people.values()))
            requests_done = time.perf_counter() - t0
            admitted = [p for p in people.values() if p.refused is None]
            while any(p.running is None for p in admitted):
                await asyncio.sleep(0.25)
                if time.perf_counter() - t0 > args.timeout:
                    break
            over = await over_allocation(api, core, total)
        finally:
            if hub is not None:
                await hub.stop()
            await cluster.stop()
            await engine.dispose()
            stop_devstack(ds)
    return report(args, people, total, hold_seconds, requests_done, over)


async def over_allocation(api: Any, core: AdmissionCore, total: int) -> int:
    """Devices beyond a node's allocatable among live pods, plus leases beyond the total."""
    nodes = (await api.list_node()).items
    pods = (await api.list_pod_for_all_namespaces()).items
    used: Counter[str] = Counter()
    for p in pods:
        live = p.status.phase in ("Pending", "Running") and p.metadata.deletion_timestamp is None
        if p.spec.node_name and live:
            for c in p.spec.containers:
                limits = (c.resources.limits if c.resources else None) or {}
                used[p.spec.node_name] += int(limits.get("nvidia.com/gpu", "0"))
    over = 0
    for node in nodes:
        cap = int((node.status.allocatable or {}).get("nvidia.com/gpu", "0"))
        over += max(used[node.metadata.name] - cap, 0)
    return over + max(core.ledger.flavor_used.get("t4", 0) - total, 0)


def report(
    args: argparse.Namespace,
    people: Mapping[str, Person],
    total: int,
    hold_seconds: float,
    requests_done: float,
    over: int,
) -> int:
    part = [p for p in people.values() if p.participant]
    outs = [p for p in people.values() if not p.participant]
    admitted = [p for p in people.values() if p.refused is None]
    running = [p.running for p in admitted if p.running is not None]
    part_ok = sum(1 for p in part if p.refused is None)
    part_running = sum(1 for p in part if p.running is not None)
    out_ok = sum(1 for p in outs if p.refused is None)
    reasons = Counter(p.refused for p in outs if p.refused)
    admission = [p.admission for p in people.values()]
    print(
        f"hackathon burst on devstack: {total} GPUs on {math.ceil(total / args.gpus_per_node)} "
        f"nodes; {len(part)} participants (per-member reservation), {len(outs)} outsiders "
        f"(group quota {args.outsider_quota})"
    )
    print(f"  placeholders holding the {len(part)} reserved GPUs after {hold_seconds:.1f} s")
    print(f"  all {len(people)} requests decided and pods created in {requests_done:.1f} s")
    print(f"  participants: {part_ok}/{len(part)} admitted, {part_running} running")
    print(
        f"  outsiders: {out_ok} admitted, {len(outs) - out_ok} refused"
        + "".join(f"; {n} {reason}" for reason, n in reasons.items())
    )
    print(f"  over-allocation: {over} (devices beyond node capacity or leases beyond {total})")
    if not running:
        print("  no pod reached Running")
        return 1
    median_running = statistics.median(running)
    median_admission = statistics.median(admission)
    share = median_admission / median_running
    print(
        f"  time to Running: median {median_running:.2f} s, p95 {quantile(running, 0.95):.2f} s"
        f" ({len(running)} pods)"
    )
    print(
        f"  admission: median {1000 * median_admission:.1f} ms, "
        f"p95 {1000 * quantile(admission, 0.95):.1f} ms"
    )
    created = [p.created for p in admitted if p.created is not None]
    print(f"  pod created: median {statistics.median(created):.2f} s after the start")
    verdict = "meets" if share < GOAL_SHARE else "misses"
    print(
        f"  admission's share of the median time to Running: {100 * share:.2f}% "
        f"({verdict} the {100 * GOAL_SHARE:.0f}% goal)"
    )
    failed = (
        over
        or part_ok < len(part)
        or part_running < len(part)
        or len(running) < len(admitted)
        or out_ok != min(len(outs), args.outsider_quota)
    )
    return 1 if failed else 0


def main() -> int:
    if sys.argv[1:2] == ["--hub-side"]:
        asyncio.run(hub_side(sys.argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--participants", type=int, default=1000, help="reservation members")
    parser.add_argument("--outsiders", type=int, default=200, help="members of another group")
    parser.add_argument(
        "--outsider-quota", type=int, default=150, help="the outsiders' group quota of devices"
    )
    parser.add_argument("--gpus-per-node", type=int, default=8, help="devices per node")
    parser.add_argument("--timeout", type=float, default=600, help="seconds for each phase")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())

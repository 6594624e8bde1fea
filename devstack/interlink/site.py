"""A local InterLink site: jobs run as processes by devstack's own process kubelet.

The site keeps a private object store with one worker node and a `ProcessKubelet`
watching it, so a job's containers run exactly as on devstack's real nodes (sandbox,
volumes as files, env, logs). A created pod is queued for `queue_delay` seconds (its
containers wait with reason `Queued`), then written into the private store with the
ConfigMaps and Secrets that came with it. `Faults` inject a rejected submission, a job
that fails when it starts, or (see `server.py`) a site that stops answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import logging
import random
import re
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.apiserver.errors import ApiError
from devstack.apiserver.serviceaccounts import TOKEN_VOLUME_PREFIX
from devstack.apiserver.store import ObjectStore
from devstack.cluster import NodeSpec
from devstack.controllers.kubelet import ProcessKubelet
from devstack.interlink import protocol

log = logging.getLogger(__name__)
Obj = dict[str, Any]
SBATCH_ERROR = "sbatch: error: Batch job submission failed: "
DEFAULT_REJECTION = "Requested node configuration is not available"
TRAVELLING_VOLUMES = ("configMap", "secret", "emptyDir", "projected", "downwardAPI")
BASE_RESOURCES = ("cpu", "memory", "pods", "ephemeral-storage")
SLURM_FLAGS = "slurm-job.vk.io/flags"
GRES_GPU = re.compile(r"--gres[= ]gpu(?::[\w.-]+)?:(\d+)")
GPU = "nvidia.com/gpu"


class SubmissionRejected(Exception):
    """The site refused the job; the text is the batch system's own message."""


@dataclass
class Faults:
    """Failure injection: `fail_create`/`failure_rate` reject at submission, `fail_run`
    makes a job fail as it starts (exit code 1, the message as its termination message).

    Independently of faults, a job asking for more GPUs than the site has (limits or
    `slurm-job.vk.io/flags` `--gres=gpu:N`) is refused as SLURM refuses it.
    """

    fail_create: str | None = None
    failure_rate: float = 0.0
    fail_run: str | None = None


@dataclass
class Job:
    """One submitted pod."""

    jid: str
    pod: Obj
    fail_run: str | None
    queued_until: float
    started: bool = False
    failed_at: str = ""
    task: asyncio.Task[None] | None = None

    @property
    def uid(self) -> str:
        return str(self.pod["metadata"]["uid"])

    @property
    def namespace(self) -> str:
        return str(self.pod["metadata"].get("namespace") or "default")

    @property
    def name(self) -> str:
        return str(self.pod["metadata"]["name"])


@dataclass
class SiteSettings:
    """How a local site behaves."""

    name: str = "local-site"
    queue_delay: float = 0.0
    capacity: dict[str, str] = field(default_factory=lambda: {"cpu": "1000", "memory": "4Ti"})
    faults: Faults = field(default_factory=Faults)
    state_dir: Path | None = None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _extended(limits: Obj) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, value in (limits or {}).items():
        if "/" in key and str(value).isdigit():
            out[key] = int(value)
    return out


def requested_gpus(pod: Obj) -> int:
    """GPUs a job asks for: its `nvidia.com/gpu` limits or SLURM `--gres=gpu:N` flags."""
    limits = sum(
        _extended((c.get("resources") or {}).get("limits") or {}).get(GPU, 0)
        for c in (pod.get("spec") or {}).get("containers") or []
    )
    flags = ((pod.get("metadata") or {}).get("annotations") or {}).get(SLURM_FLAGS, "")
    gres = sum(int(n) for n in GRES_GPU.findall(flags))
    return max(limits, gres)


def local_pod(pod: Obj, node: str) -> Obj:
    """The copy of a submitted pod that the site's kubelet runs on its worker node.

    Only volumes that travel through InterLink are kept, and no ServiceAccount token (a
    site's job holds no credentials for the cluster); extended resources are the
    site's business (its batch system allocates them), so they are dropped here.
    """
    spec = copy.deepcopy(pod.get("spec") or {})
    volumes = [
        v
        for v in spec.get("volumes") or []
        if any(kind in v for kind in TRAVELLING_VOLUMES)
        and not str(v.get("name", "")).startswith(TOKEN_VOLUME_PREFIX)
    ]
    spec["automountServiceAccountToken"] = False
    kept = {v["name"] for v in volumes}
    for group in ("initContainers", "containers"):
        for c in spec.get(group) or []:
            c["volumeMounts"] = [m for m in c.get("volumeMounts") or [] if m.get("name") in kept]
            for section in ("limits", "requests"):
                res = (c.get("resources") or {}).get(section)
                if res:
                    for key in [k for k in res if "/" in k]:
                        del res[key]
    spec["volumes"] = volumes
    spec["nodeName"] = node
    for key in ("nodeSelector", "affinity", "tolerations", "schedulerName", "priority"):
        spec.pop(key, None)
    md = pod.get("metadata") or {}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": md["name"],
            "namespace": md.get("namespace") or "default",
            "labels": dict(md.get("labels") or {}),
            "annotations": dict(md.get("annotations") or {}),
        },
        "spec": spec,
    }


class LocalSite:
    """The jobs of one site and the private kubelet that runs them."""

    def __init__(self, settings: SiteSettings) -> None:
        self.settings = settings
        self.jobs: dict[str, Job] = {}  # by pod uid
        self._ids = itertools.count(random.randint(1000, 9000) * 100)
        self.store: ObjectStore | None = None
        self.kubelet: ProcessKubelet | None = None
        self.node = f"{settings.name}-worker"

    async def start(self) -> None:
        """Create the private store, its worker node and kubelet."""
        state = self.settings.state_dir or Path(tempfile.mkdtemp(prefix="devstack-site-"))
        self.store = ObjectStore()
        node = NodeSpec(name=self.node, capacity={"cpu": "1000", "memory": "4Ti", "pods": "1000"})
        await self.store.create("nodes", node.to_node())
        self.kubelet = ProcessKubelet(state)
        await self.kubelet.start(self.store)

    async def stop(self) -> None:
        """Stop every job's processes."""
        for job in self.jobs.values():
            if job.task is not None:
                job.task.cancel()
        if self.kubelet is not None:
            await self.kubelet.stop()
        if self.store is not None:
            self.store.close()

    # -- create ------------------------------------------------------------------------
    async def create(self, pod: Obj, containers: list[Obj]) -> str:
        """Queue a job; returns its id or raises SubmissionRejected."""
        faults = self.settings.faults
        if faults.fail_create is not None:
            raise SubmissionRejected(SBATCH_ERROR + faults.fail_create)
        if faults.failure_rate and random.random() < faults.failure_rate:
            raise SubmissionRejected(SBATCH_ERROR + DEFAULT_REJECTION)
        gpus = requested_gpus(pod)
        if gpus > int(self.settings.capacity.get(GPU, "0") or 0):
            raise SubmissionRejected(SBATCH_ERROR + DEFAULT_REJECTION)
        uid = str(pod["metadata"]["uid"])
        if uid in self.jobs:
            return self.jobs[uid].jid
        job = Job(
            jid=str(next(self._ids)),
            pod=pod,
            fail_run=faults.fail_run,
            queued_until=time.monotonic() + self.settings.queue_delay,
        )
        self.jobs[uid] = job
        job.task = asyncio.create_task(self._run(job, containers))
        return job.jid

    async def _run(self, job: Job, containers: list[Obj]) -> None:
        await asyncio.sleep(max(0.0, job.queued_until - time.monotonic()))
        if job.fail_run is not None:
            job.failed_at = _now()
            return
        assert self.store is not None
        await self._ensure_namespace(job.namespace)
        for c in containers:
            for cm in (c.get("configMaps") or []) + (c.get("projectedvolumemaps") or []):
                await self._upsert("configmaps", job.namespace, cm)
            for secret in c.get("secrets") or []:
                await self._upsert("secrets", job.namespace, secret)
        try:
            await self.store.create("pods", local_pod(job.pod, self.node))
        except ApiError as exc:
            job.fail_run = f"the site could not start the job: {exc}"
            job.failed_at = _now()
            return
        job.started = True

    async def _ensure_namespace(self, namespace: str) -> None:
        assert self.store is not None
        with contextlib.suppress(ApiError):
            await self.store.create("namespaces", {"metadata": {"name": namespace}})

    async def _upsert(self, resource: str, namespace: str, obj: Obj) -> None:
        assert self.store is not None
        md = obj.get("metadata") or {}
        clean = {k: v for k, v in obj.items() if k in ("data", "binaryData", "type")}
        clean["metadata"] = {"name": md.get("name"), "namespace": namespace}
        try:
            await self.store.create(resource, clean, namespace=namespace)
        except ApiError as exc:
            if exc.status != 409:
                raise
            await self.store.replace(resource, clean, namespace=namespace)

    # -- status --------------------------------------------------------------------------
    def status(self, uid: str) -> Obj | None:
        """The `PodStatus` of a job (None for pods this site does not know)."""
        job = self.jobs.get(uid)
        if job is None:
            return None
        spec = job.pod.get("spec") or {}
        mains = [c["name"] for c in spec.get("containers") or []]
        inits = [c["name"] for c in spec.get("initContainers") or []]
        if job.fail_run is not None and job.failed_at:
            term = {
                "terminated": {
                    "exitCode": 1,
                    "reason": "Error",
                    "message": job.fail_run,
                    "startedAt": job.failed_at,
                    "finishedAt": job.failed_at,
                }
            }
            conts = [_cstatus(n, term) for n in mains]
            return protocol.pod_status(job.name, uid, job.namespace, job.jid, conts)
        local = self._local(job) if job.started else None
        if local is None:
            waiting = {"waiting": {"reason": "Queued", "message": f"job {job.jid} is queued"}}
            return protocol.pod_status(
                job.name,
                uid,
                job.namespace,
                job.jid,
                [_cstatus(n, waiting) for n in mains],
                [_cstatus(n, waiting) for n in inits],
            )
        status = local.get("status") or {}
        conts = status.get("containerStatuses") or [
            _cstatus(n, {"waiting": {"reason": "ContainerCreating"}}) for n in mains
        ]
        return protocol.pod_status(
            job.name, uid, job.namespace, job.jid, conts, status.get("initContainerStatuses")
        )

    def _local(self, job: Job) -> Obj | None:
        assert self.store is not None
        with contextlib.suppress(ApiError):
            return self.store.get_raw("pods", job.name, job.namespace)
        return None

    def resources(self) -> Obj:
        """The ping's `resources`: the site's capacity, accelerators included.

        interLink's virtual kubelet sets the node's capacity and allocatable from it,
        and the scheduler subtracts the pods it placed there, so the site reports its
        whole capacity, not what is left (which would count this cluster's jobs twice).
        """
        cap = self.settings.capacity
        out: Obj = {k: cap[k] for k in ("cpu", "memory", "pods") if k in cap}
        out["accelerators"] = [
            protocol.accelerator(k, int(v))
            for k, v in sorted(cap.items())
            if "/" in k and str(v).isdigit()
        ]
        return out

    # -- logs and delete -------------------------------------------------------------------
    async def logs(self, request: Obj) -> AsyncIterator[bytes]:
        """A container's log (raises LookupError while the job has not started)."""
        uid = str(request.get("PodUID") or "")
        job = self.jobs.get(uid) or next(
            (
                j
                for j in self.jobs.values()
                if j.name == request["PodName"] and j.namespace == request["Namespace"]
            ),
            None,
        )
        if job is None:
            raise LookupError(f"pod {request['PodName']} is not known at this site")
        if job.fail_run is not None and job.failed_at:
            yield (job.fail_run + "\n").encode()
            return
        if not job.started:
            raise LookupError(f"job {job.jid} is still queued")
        assert self.kubelet is not None
        opts = request.get("Opts") or {}
        async for chunk in self.kubelet.read_logs(
            job.namespace,
            job.name,
            request["ContainerName"],
            follow=bool(opts.get("Follow")),
            tail_lines=int(opts["Tail"]) if opts.get("Tail") else None,
            since_seconds=int(opts["SinceSeconds"]) if opts.get("SinceSeconds") else None,
            timestamps=bool(opts.get("Timestamps")),
            previous=bool(opts.get("Previous")),
            limit_bytes=int(opts["Bytes"]) if opts.get("Bytes") else None,
        ):
            yield chunk

    async def delete(self, pod: Obj) -> bool:
        """Cancel a job and stop its processes; False when the site does not know it."""
        md = pod.get("metadata") or {}
        job = self.jobs.pop(str(md.get("uid") or ""), None)
        if job is None:
            return False
        if job.task is not None:
            job.task.cancel()
        if job.started and self.store is not None:
            grace = (job.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
            with contextlib.suppress(ApiError):
                await self.store.delete(
                    "pods", job.name, namespace=job.namespace, grace_period_seconds=int(grace)
                )
        return True


def _cstatus(name: str, state: Obj) -> Obj:
    done = "terminated" in state
    return {
        "name": name,
        "state": state,
        "ready": False,
        "restartCount": 0,
        "image": "",
        "imageID": "",
        "started": not (done or "waiting" in state),
    }

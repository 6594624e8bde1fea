"""The Job controller: pods from a template until completions succeed or limits are hit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from devstack.apiserver.errors import ApiError
from devstack.apiserver.meta import parse_timestamp, timestamp
from devstack.controllers.events import record_event
from devstack.controllers.informer import Informer, Obj, obj_key

log = logging.getLogger(__name__)
COMPONENT = "job-controller"
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
MSG_BACKOFF = "Job has reached the specified backoff limit"
MSG_DEADLINE = "Job was active longer than specified deadline"
MSG_COMPLETE = "Reached expected number of succeeded pods"


@dataclass
class _Tally:
    """What a job's pods did, remembered after the pods are gone."""

    succeeded: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    done_indexes: set[int] = field(default_factory=set)
    expected: set[str] = field(default_factory=set)  # created, not yet seen by the watch
    last_failure: float = 0.0


def _owner_uid(pod: Obj) -> str | None:
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == "Job" and ref.get("controller"):
            return str(ref.get("uid"))
    return None


def _condition(job: Obj, ctype: str) -> bool:
    return any(
        c.get("type") == ctype and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


def _new_condition(ctype: str, reason: str, message: str) -> Obj:
    now = timestamp()
    return {
        "type": ctype,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastProbeTime": now,
        "lastTransitionTime": now,
    }


def _pod_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _compress(indexes: set[int]) -> str:
    """`1,3-5,7`: the completedIndexes format."""
    out: list[str] = []
    ordered = sorted(indexes)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(out)


class JobController:
    """Reconciles batch/v1 Jobs: creates pods, counts outcomes, sets conditions.

    `backoff_base` is the delay before re-creating pods after a failure (doubling per
    failure, at most `backoff_max`), like the real controller's pod failure back-off.
    """

    def __init__(self, *, backoff_base: float = 10.0, backoff_max: float = 360.0) -> None:
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.store: Any = None
        self.pods_by_job: dict[str, dict[str, Obj]] = {}
        self.tallies: dict[str, _Tally] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._informers: list[Informer] = []
        self._jobs: Informer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._timers: dict[str, asyncio.TimerHandle] = {}

    async def start(self, store: Any) -> None:
        """Watch jobs and pods and reconcile."""
        self.store = store
        self._jobs = Informer(store, "jobs", self._on_job)
        self._informers = [Informer(store, "pods", self._on_pod), self._jobs]
        for inf in self._informers:
            inf.start()
            await inf.synced.wait()
        self._tasks = [asyncio.create_task(self._loop(), name="job-controller")]

    async def stop(self) -> None:
        """Stop reconciling."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for inf in self._informers:
            await inf.stop()

    # -- events ------------------------------------------------------------------------
    def _enqueue(self, key: str) -> None:
        self._dirty.add(key)
        self._wake.set()

    def _enqueue_later(self, key: str, delay: float) -> None:
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()
        self._timers[key] = asyncio.get_running_loop().call_later(
            max(0.0, delay), self._enqueue, key
        )

    def _on_job(self, etype: str, obj: Obj) -> None:
        if etype == "DELETED":
            self.tallies.pop(obj["metadata"].get("uid", ""), None)
            return
        self._enqueue(obj_key(obj))

    def _on_pod(self, etype: str, obj: Obj) -> None:
        uid = _owner_uid(obj)
        if uid is None:
            return
        pods = self.pods_by_job.setdefault(uid, {})
        key = obj_key(obj)
        tally = self.tallies.setdefault(uid, _Tally())
        tally.expected.discard(obj["metadata"]["name"])
        if etype == "DELETED":
            pods.pop(key, None)
        else:
            pods[key] = obj
            self._count(tally, obj)
        job_key = self._job_key(obj, uid)
        if job_key:
            self._enqueue(job_key)

    def _job_key(self, pod: Obj, uid: str) -> str | None:
        for ref in pod["metadata"].get("ownerReferences") or []:
            if ref.get("uid") == uid:
                return f"{pod['metadata'].get('namespace', 'default')}/{ref.get('name')}"
        return None

    def _count(self, tally: _Tally, pod: Obj) -> None:
        phase = (pod.get("status") or {}).get("phase")
        uid = pod["metadata"].get("uid", "")
        if phase == "Succeeded" and uid not in tally.succeeded:
            tally.succeeded.add(uid)
            index = (pod["metadata"].get("annotations") or {}).get(INDEX_ANNOTATION)
            if index is not None and str(index).isdigit():
                tally.done_indexes.add(int(index))
        elif phase == "Failed" and uid not in tally.failed:
            tally.failed.add(uid)
            tally.last_failure = time.monotonic()

    # -- reconcile loop ----------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._dirty:
                key = self._dirty.pop()
                assert self._jobs is not None
                job = self._jobs.objects.get(key)
                if job is None:
                    continue
                try:
                    await self._sync(job)
                except ApiError as exc:
                    log.info("job %s sync failed: %s", key, exc)
                    self._enqueue_later(key, 1.0)
                except Exception:
                    log.exception("job %s sync failed", key)
                    self._enqueue_later(key, 5.0)

    async def _event(self, job: Obj, reason: str, message: str, type: str = "Normal") -> None:
        with contextlib.suppress(ApiError):
            await record_event(
                self.store, job, reason, message, type=type, source_component=COMPONENT
            )

    async def _sync(self, job: Obj) -> None:
        md = job["metadata"]
        key = obj_key(job)
        uid = md["uid"]
        spec = job.get("spec") or {}
        status = dict(job.get("status") or {})
        if md.get("deletionTimestamp"):
            return
        if _condition(job, "Complete") or _condition(job, "Failed"):
            await self._ttl(job, status)
            return
        tally = self.tallies.setdefault(uid, _Tally())
        pods = list(self.pods_by_job.get(uid, {}).values())
        for pod in pods:
            self._count(tally, pod)
        live = [
            p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        ]
        active = [p for p in live if not p["metadata"].get("deletionTimestamp")]
        terminating = len(live) - len(active)
        completions = spec.get("completions")
        parallelism = int(spec.get("parallelism", 1))
        indexed = spec.get("completionMode") == "Indexed"
        succeeded = len(tally.done_indexes) if indexed else len(tally.succeeded)
        failed = len(tally.failed)
        if not status.get("startTime") and not spec.get("suspend"):
            status["startTime"] = timestamp()
        conditions = list(status.get("conditions") or [])
        finished: tuple[str, str, str] | None = None  # (condition, reason, message)
        target = next(
            (c for c in conditions if c.get("type") in ("FailureTarget", "SuccessCriteriaMet")),
            None,
        )
        if target is not None:
            finished = (
                "Failed" if target["type"] == "FailureTarget" else "Complete",
                target["reason"],
                target["message"],
            )
        elif failed > int(spec.get("backoffLimit", 6)):
            finished = ("Failed", "BackoffLimitExceeded", MSG_BACKOFF)
        elif self._past_deadline(spec, status):
            finished = ("Failed", "DeadlineExceeded", MSG_DEADLINE)
        elif (completions is not None and succeeded >= int(completions)) or (
            completions is None and succeeded > 0 and not active
        ):
            finished = ("Complete", "CompletionsReached", MSG_COMPLETE)
        if finished is not None:
            ctype, reason, message = finished
            interim = "FailureTarget" if ctype == "Failed" else "SuccessCriteriaMet"
            if target is None:
                conditions.append(_new_condition(interim, reason, message))
            if active or terminating:
                # The final condition waits until every pod has terminated.
                for pod in active:
                    await self._delete_pod(job, pod)
                active = []
            else:
                conditions.append(_new_condition(ctype, reason, message))
                if ctype == "Complete":
                    status["completionTime"] = timestamp()
                    await self._event(job, "Completed", "Job completed")
                else:
                    await self._event(job, reason, message, "Warning")
        else:
            conditions = await self._suspension(job, conditions, bool(spec.get("suspend")))
            if spec.get("suspend"):
                for pod in active:
                    await self._delete_pod(job, pod)
                active = []
            else:
                active = await self._scale(
                    job, key, tally, active, completions, parallelism, succeeded, indexed
                )
        status.update(
            {
                "active": len(active),
                "succeeded": succeeded,
                "failed": failed,
                "terminating": terminating,
                "ready": sum(1 for p in active if _pod_ready(p)),
                "conditions": conditions,
                "uncountedTerminatedPods": {},
            }
        )
        if indexed:
            status["completedIndexes"] = _compress(tally.done_indexes)
        for zero in ("active", "succeeded", "failed", "conditions"):
            if not status[zero]:
                status[zero] = None  # merge patch: remove the field
        current = job.get("status") or {}
        if any(current.get(k) != v for k, v in status.items()):
            with contextlib.suppress(ApiError):
                updated = await self.store.patch(
                    "jobs",
                    md["name"],
                    {"status": status},
                    "merge",
                    namespace=md["namespace"],
                    subresource="status",
                )
                assert self._jobs is not None
                self._jobs.objects[key] = updated
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None and status.get("startTime") and finished is None:
            left = float(deadline) - (
                time.time() - parse_timestamp(status["startTime"]).timestamp()
            )
            self._enqueue_later(key, left + 0.05)

    async def _suspension(self, job: Obj, conditions: list[Obj], suspend: bool) -> list[Obj]:
        """Maintain the `Suspended` condition (and its events) for `spec.suspend`."""
        current = next((c for c in conditions if c.get("type") == "Suspended"), None)
        if suspend and (current is None or current.get("status") != "True"):
            cond = _new_condition("Suspended", "JobSuspended", "Job suspended")
            await self._event(job, "Suspended", "Job suspended")
        elif not suspend and current is not None and current.get("status") == "True":
            cond = _new_condition("Suspended", "JobResumed", "Job resumed")
            cond["status"] = "False"
            await self._event(job, "Resumed", "Job resumed")
        else:
            return conditions
        return [c for c in conditions if c.get("type") != "Suspended"] + [cond]

    def _past_deadline(self, spec: Obj, status: Obj) -> bool:
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is None or not status.get("startTime"):
            return False
        started = parse_timestamp(status["startTime"]).timestamp()
        return time.time() - started >= float(deadline)

    async def _scale(
        self,
        job: Obj,
        key: str,
        tally: _Tally,
        active: list[Obj],
        completions: Any,
        parallelism: int,
        succeeded: int,
        indexed: bool,
    ) -> list[Obj]:
        remaining = parallelism if completions is None else int(completions) - succeeded
        wanted = max(0, min(parallelism, remaining))
        have = len(active) + len(tally.expected)
        if have > wanted:
            for pod in active[wanted:]:
                await self._delete_pod(job, pod)
            return active[:wanted]
        if have == wanted:
            return active
        if tally.failed:
            delay = min(self.backoff_base * 2 ** (len(tally.failed) - 1), self.backoff_max)
            wait = tally.last_failure + delay - time.monotonic()
            if wait > 0:
                self._enqueue_later(key, wait)
                return active
        busy = {
            int(i)
            for p in active
            if (i := (p["metadata"].get("annotations") or {}).get(INDEX_ANNOTATION)) is not None
            and str(i).isdigit()
        }
        free_indexes = (
            [
                i
                for i in range(int(completions or 0))
                if i not in tally.done_indexes and i not in busy
            ]
            if indexed
            else []
        )
        for n in range(wanted - have):
            index = free_indexes[n] if indexed and n < len(free_indexes) else None
            if indexed and index is None:
                break
            await self._create_pod(job, tally, index)
        return active

    async def _create_pod(self, job: Obj, tally: _Tally, index: int | None) -> None:
        md = job["metadata"]
        template = (job.get("spec") or {}).get("template") or {}
        tmd = dict(template.get("metadata") or {})
        labels = dict(tmd.get("labels") or {})
        labels.setdefault("batch.kubernetes.io/controller-uid", md["uid"])
        labels.setdefault("controller-uid", md["uid"])
        labels.setdefault("batch.kubernetes.io/job-name", md["name"])
        labels.setdefault("job-name", md["name"])
        annotations = dict(tmd.get("annotations") or {})
        pod_spec = dict(template.get("spec") or {})
        name_prefix = f"{md['name']}-"
        if index is not None:
            labels[INDEX_ANNOTATION] = str(index)
            annotations[INDEX_ANNOTATION] = str(index)
            name_prefix = f"{md['name']}-{index}-"
            pod_spec.setdefault("hostname", f"{md['name']}-{index}")
            pod_spec["containers"] = [
                {
                    **c,
                    "env": [
                        *(c.get("env") or []),
                        {
                            "name": "JOB_COMPLETION_INDEX",
                            "valueFrom": {
                                "fieldRef": {
                                    "fieldPath": f"metadata.annotations['{INDEX_ANNOTATION}']"
                                }
                            },
                        },
                    ],
                }
                for c in pod_spec.get("containers") or []
            ]
        pod = {
            "metadata": {
                "generateName": name_prefix,
                "namespace": md["namespace"],
                "labels": labels,
                "annotations": annotations,
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": md["name"],
                        "uid": md["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": pod_spec,
        }
        try:
            created = await self.store.create("pods", pod, namespace=md["namespace"])
        except ApiError as exc:
            await self._event(job, "FailedCreate", f"Error creating: {exc.message}", "Warning")
            raise
        tally.expected.add(created["metadata"]["name"])
        await self._event(job, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")

    async def _delete_pod(self, job: Obj, pod: Obj) -> None:
        pmd = pod["metadata"]
        with contextlib.suppress(ApiError):
            await self.store.delete("pods", pmd["name"], namespace=pmd["namespace"])
            await self._event(job, "SuccessfulDelete", f"Deleted pod: {pmd['name']}")

    async def _ttl(self, job: Obj, status: Obj) -> None:
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if ttl is None:
            return
        finished_at = status.get("completionTime") or next(
            (
                c.get("lastTransitionTime")
                for c in status.get("conditions") or []
                if c.get("type") in ("Complete", "Failed")
            ),
            None,
        )
        if not finished_at:
            return
        left = float(ttl) - (time.time() - parse_timestamp(finished_at).timestamp())
        md = job["metadata"]
        if left > 0:
            self._enqueue_later(obj_key(job), left + 0.05)
            return
        with contextlib.suppress(ApiError):
            await self.store.delete(
                "jobs", md["name"], namespace=md["namespace"], propagation_policy="Background"
            )

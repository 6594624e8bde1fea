"""Following jobs: their pods' changes come from the inventory's watch (no polling); a job's
end is read from its pod's logs (the runner's result frame), its progress from a bounded log
follow while it runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException
from traitlets import Bool, Float, Int
from traitlets.config import Configurable

from server_ext.offload import frames

from ...cluster_state import TERMINAL_PHASES, PodView
from ...contract import JOB_LABEL
from ..timeutil import parse_time, utcnow
from .gateway import OffloadGateway, api_reason
from .pods import CONTAINER
from .record import JobRecord

log = logging.getLogger("accelhub.offload")


class JobTracker(Configurable):
    """Moves jobs through their states as their pods change."""

    unreachable_grace_seconds = Float(
        60.0,
        config=True,
        help="How long a job's site may be NotReady before the job fails as site-unreachable.",
    )
    pod_gone_grace_seconds = Float(
        30.0, config=True, help="How long after submission a job may have no pod in the watch."
    )
    max_follows = Int(
        100,
        config=True,
        help="Running jobs whose logs are followed for per-cell progress at once (one stream "
        "each); others get their progress when they end.",
    )
    log_reads = Int(16, config=True, help="Finished jobs' logs read at once.")
    follow_wait_seconds = Float(
        2.0,
        config=True,
        help="How long a finished job's log follow may take to reach its end; its lines then "
        "give the result and the log is not read again.",
    )
    max_log_chars = Int(
        256 * 1024, config=True, help="Log text kept per finished job (its last characters)."
    )
    delete_finished_pods = Bool(
        True, config=True, help="Delete a job's pod (and its ConfigMap) once its end is read."
    )
    tick_seconds = Float(
        5.0, config=True, help="Interval of the in-memory check for unreachable sites."
    )

    def __init__(self, gateway: OffloadGateway, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gateway = gateway
        self.inventory = gateway.cluster.inventory
        self._busy: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._follows: dict[str, asyncio.Task[None]] = {}
        self._followed: set[str] = set()  # one follow per job, never renewed
        self._streamed: dict[str, list[str]] = {}  # lines of follows that reached their end
        self._reads = asyncio.Semaphore(self.log_reads)
        self._unreachable_since: dict[str, datetime] = {}
        self._tick: asyncio.Task[None] | None = None
        self.changed = asyncio.Condition()  # notified on every job change (log follows)

    def start(self) -> None:
        """Listen to the inventory, and reconcile every open job once now."""
        self.inventory.listeners.append(self._on_change)
        for job_id in list(self.gateway.jobs):
            self.kick(job_id, reconcile=True)
        self._tick = asyncio.create_task(self._ticks())

    async def stop(self) -> None:
        tasks = [*self._busy.values(), *self._follows.values()]
        if self._tick is not None:
            tasks.append(self._tick)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _on_change(self, kind: str, etype: str, obj: Mapping[str, Any]) -> None:
        if etype == "RELISTED":
            for job_id in list(self.gateway.jobs):
                self.kick(job_id)
            return
        meta = obj.get("metadata") or {}
        if kind == "pods":
            job_id = str((meta.get("labels") or {}).get(JOB_LABEL, ""))
            if job_id in self.gateway.jobs:
                self.kick(job_id)
        else:
            name = meta.get("name")
            for job in list(self.gateway.jobs.values()):
                if job.site == name:
                    self.kick(job.id)

    async def _ticks(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            for job_id in list(self.gateway.jobs):
                self.kick(job_id)

    def kick(self, job_id: str, reconcile: bool = False) -> None:
        """Look at a job again (once at a time per job; a change meanwhile runs it again)."""
        if job_id in self._busy:
            self._again.add(job_id)
            return
        self._busy[job_id] = asyncio.create_task(self._run(job_id, reconcile))

    async def _run(self, job_id: str, reconcile: bool) -> None:
        try:
            while True:
                self._again.discard(job_id)
                job = self.gateway.jobs.get(job_id)
                if job is not None:
                    try:
                        await self.sync(job, reconcile)
                    except Exception:
                        log.exception("tracking job %s failed", job_id)
                if job_id not in self._again:
                    break
        finally:
            del self._busy[job_id]
        async with self.changed:
            self.changed.notify_all()

    # -- one job ------------------------------------------------------------------------

    async def sync(self, job: JobRecord, reconcile: bool = False) -> None:
        """Bring a job up to date with its pod and its site's node."""
        state = self.inventory.state
        pod = state.pods.get(f"{job.namespace}/{job.pod}")
        now = utcnow()
        if pod is None:
            if reconcile or (now - job.submitted_at).total_seconds() > self.pod_gone_grace_seconds:
                await self.gateway.finish(
                    job, "failed", "failed", "The job's pod was deleted before the job ended."
                )
            return
        if pod.phase in TERMINAL_PHASES:
            await self._ended(job, pod)
            return
        node = state.nodes.get(job.site)
        if node is not None and node.ready is False:
            since = self._unreachable_since.setdefault(job.id, now)
            if (now - since).total_seconds() >= self.unreachable_grace_seconds:
                message = f"The site {job.site} stopped answering"
                if node.ready_message:
                    message += f": {node.ready_message}"
                await self._end(job, "failed", "site-unreachable", message + ".")
                await self.gateway.delete_pod(job)
            return
        self._unreachable_since.pop(job.id, None)
        if pod.phase == "Running" and job.state == "pending":
            job.state = "running"
            job.started_at = parse_time(pod.started) if pod.started else now
            await self.gateway.store.save(job)
        if job.state == "running":
            self._follow(job)

    async def _end(
        self,
        job: JobRecord,
        state: str,
        reason: str | None,
        message: str | None,
        result: dict[str, Any] | None = None,
        logs: str | None = None,
    ) -> None:
        self._unreachable_since.pop(job.id, None)
        follow = self._follows.pop(job.id, None)
        if follow is not None:
            follow.cancel()
        self._followed.discard(job.id)
        self._streamed.pop(job.id, None)
        await self.gateway.finish(job, state, reason, message, result, logs)

    async def _ended(self, job: JobRecord, pod: PodView) -> None:
        """A finished pod: a site's refusal verbatim, or the result frame from its logs."""
        job.exit = f"{pod.phase}" + (
            f" (exit code {pod.exit_code})" if pod.exit_code is not None else ""
        )
        if pod.reason == "ProviderFailed":
            await self._end(
                job, "failed", "site-rejected", pod.message or "The site refused the job."
            )
            await self._cleanup(job)
            return
        if pod.started and job.started_at is None:
            job.started_at = parse_time(pod.started)
        try:
            lines = await self._followed_lines(job)
            if lines is None:
                async with self._reads:
                    lines = (await self.read_logs(job)).splitlines()
        except ApiException as error:
            await self._end(
                job,
                "failed",
                "failed",
                f"The job ended ({pod.phase}) but its logs could not be read: {api_reason(error)}",
            )
            return
        self._progress(job, lines)
        kept = "\n".join(line for line in lines if not line.startswith(frames.DATA))
        kept = kept[-self.max_log_chars :]
        try:
            result = frames.decode_result(lines)
        except frames.FrameError as error:
            message = pod.exit_message or pod.message or f"The job ended without a result: {error}."
            await self._end(job, "failed", "failed", message, None, kept)
        else:
            job.energy_wh = result.energy_wh
            if pod.phase == "Succeeded" and result.state == "succeeded":
                await self._end(job, "succeeded", None, None, result.notebook, kept)
            else:
                await self._end(
                    job, "failed", "failed", describe_error(result, pod), result.notebook, kept
                )
        await self._cleanup(job)

    async def _cleanup(self, job: JobRecord) -> None:
        if self.delete_finished_pods:
            await self.gateway.delete_pod(job)

    async def read_logs(self, job: JobRecord) -> str:
        api: Any = client.CoreV1Api(self.gateway.cluster.api)
        text = await api.read_namespaced_pod_log(job.pod, job.namespace, container=CONTAINER)
        return str(text)

    @staticmethod
    def _progress(job: JobRecord, lines: list[str]) -> None:
        for line in lines:
            event = frames.parse_progress(line)
            if event is not None:
                cell = int(event.get("cell", 0))
                job.progress = (
                    cell - 1 if event["event"] == "start" else cell,
                    int(event.get("of", 0)),
                )

    async def _followed_lines(self, job: JobRecord) -> list[str] | None:
        """The whole log from the job's follow, once it reached the end with a result frame."""
        task = self._follows.get(job.id)
        if task is not None:
            await asyncio.wait({task}, timeout=self.follow_wait_seconds)
        lines = self._streamed.get(job.id)
        if lines is None or (task is not None and not task.done()):
            return None
        try:
            frames.decode_result(lines)
        except frames.FrameError:
            return None
        return lines

    # -- progress while running -----------------------------------------------------------

    def _follow(self, job: JobRecord) -> None:
        if job.id in self._followed or len(self._follows) >= self.max_follows:
            return
        self._followed.add(job.id)
        self._follows[job.id] = asyncio.create_task(self._follow_logs(job))

    async def _follow_logs(self, job: JobRecord) -> None:
        lines: list[str] = []
        try:
            async for line in self.stream_logs(job):
                lines.append(line)
                event = frames.parse_progress(line)
                if event is not None:
                    self._progress(job, [line])
                    async with self.changed:
                        self.changed.notify_all()
            if job.id in self._followed:
                self._streamed[job.id] = lines  # the stream reached the log's end
        except (TimeoutError, ApiException, OSError) as error:
            log.info("log follow of job %s ended: %s", job.id, error)
        finally:
            if self._follows.get(job.id) is asyncio.current_task():
                del self._follows[job.id]
            if not job.open:  # ended elsewhere (a cancel): keep nothing of it
                self._followed.discard(job.id)
                self._streamed.pop(job.id, None)

    async def stream_logs(self, job: JobRecord) -> AsyncIterator[str]:
        """The pod's log lines as they come (one stream)."""
        api: Any = client.CoreV1Api(self.gateway.cluster.api)
        response = await api.read_namespaced_pod_log(
            job.pod, job.namespace, container=CONTAINER, follow=True, _preload_content=False
        )
        try:
            while True:
                line = await response.content.readline()
                if not line:
                    return
                yield line.decode(errors="replace").rstrip("\n")
        finally:
            response.release()


def describe_error(result: frames.Result, pod: PodView) -> str:
    """A sentence naming the failing cell and its error."""
    error = result.error or {}
    if error.get("ename"):
        where = f"Cell {error['cell']}" if error.get("cell") is not None else "The job"
        return f"{where} raised {error['ename']}: {error.get('evalue', '')}".rstrip(": ")
    return pod.exit_message or f"The job failed on its site ({pod.phase})."

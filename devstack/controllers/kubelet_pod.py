"""One pod's life on the process kubelet: sandbox, init containers, containers, deletion."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import time
from typing import Any

from devstack.apiserver.errors import ApiError
from devstack.apiserver.meta import object_ref, timestamp
from devstack.controllers.events import record_event
from devstack.controllers.kubelet_container import ContainerRunner, drain, group_gone
from devstack.controllers.kubelet_devices import AllocationError
from devstack.controllers.kubelet_process import exit_code, group_alive, signal_group
from devstack.controllers.kubelet_services import COMPONENT, KubeletServices, Obj
from devstack.controllers.kubelet_status import (
    Conditions,
    ContainerRecord,
    incomplete_message,
    not_ready_message,
)
from devstack.controllers.kubelet_volumes import VolumeError, Volumes
from devstack.controllers.scheduling.resources import MEMORY, container_requests

log = logging.getLogger(__name__)


class PodWorker:
    """Runs one pod and keeps its status current until the pod is gone."""

    def __init__(self, services: KubeletServices, pod: Obj) -> None:
        self.svc = services
        self.pod = pod
        md = pod["metadata"]
        self.namespace: str = md.get("namespace", "default")
        self.name: str = md["name"]
        self.uid: str = md.get("uid", "")
        self.key = f"{self.namespace}/{self.name}"
        self.alloc_key = self.uid or self.key
        self.node_name: str = pod["spec"]["nodeName"]
        pods_dir = services.settings.state_dir / "pods"
        self.sandbox = pods_dir / f"{self.namespace}_{self.name}_{self.uid}"
        self.volumes = Volumes(self.sandbox, services.settings.state_dir / "pvcs")
        spec = pod.get("spec") or {}
        self.restart_policy: str = spec.get("restartPolicy") or "Always"
        self.records: dict[str, ContainerRecord] = {}
        for c in spec.get("initContainers") or []:
            self.records[c["name"]] = self._record(c, True)
        for c in spec.get("containers") or []:
            self.records[c["name"]] = self._record(c, False)
        self.conditions = Conditions()
        self.pod_ip = ""
        self.start_time = ""
        self.initialized = not spec.get("initContainers")
        self.init_failed = False
        self.sandbox_ready = False
        self.phase = (pod.get("status") or {}).get("phase") or "Pending"
        self.finished = self.phase in ("Succeeded", "Failed")
        self._dirty = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._main: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._terminating: asyncio.Task[None] | None = None
        self.gone = asyncio.Event()
        self.runner = ContainerRunner(self)

    @staticmethod
    def _record(spec: Obj, init: bool) -> ContainerRecord:
        rec = ContainerRecord(
            name=spec["name"], image=str(spec.get("image") or ""), init=init, spec=spec
        )
        rec.memory_limit = container_requests(
            {"resources": {"requests": ((spec.get("resources") or {}).get("limits") or {})}}
        ).get(MEMORY, 0)
        if init:
            rec.set_waiting("PodInitializing")
        return rec

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Begin running the pod (or just serve a finished pod's deletion)."""
        self._writer = self._spawn(self._status_writer())
        if not self.finished:
            self._main = self._spawn(self._run())

    @property
    def terminating(self) -> bool:
        """True once the pod is being deleted."""
        return self._terminating is not None

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run a task owned by this pod (cancelled when the pod goes)."""
        return self._spawn(coro)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def update(self, pod: Obj) -> None:
        """A newer version of the pod arrived from the watch."""
        self.pod = pod
        if pod["metadata"].get("deletionTimestamp") and self._terminating is None:
            self._terminating = self._spawn(self._terminate(confirm=True))

    def deleted(self) -> None:
        """The pod vanished from the store (force deletion): stop without confirming."""
        if self._terminating is None:
            self._terminating = self._spawn(self._terminate(confirm=False))

    async def kill_all(self) -> None:
        """Kill every process now and wait (kubelet shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        procs = [r.proc for r in self.records.values() if r.proc is not None]
        for proc in procs:
            signal_group(proc.pid, signal.SIGKILL)
        for proc in procs:
            with contextlib.suppress(Exception):
                await proc.wait()
        await asyncio.gather(*(group_gone(p.pid) for p in procs))
        for rec in self.records.values():
            await drain(rec)
            for lg in rec.logs:
                lg.finish()
        self._release()

    def _release(self) -> None:
        self.svc.devices.release(self.alloc_key)

    # -- events and status -------------------------------------------------------------
    async def event(
        self, reason: str, message: str, type: str = "Normal", container: str | None = None
    ) -> None:
        """Record an event from this node's kubelet."""
        ref = object_ref(self.pod)
        if container is not None:
            rec = self.records.get(container)
            group = "initContainers" if rec is not None and rec.init else "containers"
            ref["fieldPath"] = f"spec.{group}{{{container}}}"
        with contextlib.suppress(ApiError):
            await record_event(
                self.svc.store,
                ref,
                reason,
                message,
                type=type,
                source_component=COMPONENT,
                source_host=self.node_name,
            )

    def dirty(self) -> None:
        """Ask the status writer for an update."""
        self._dirty.set()

    def _compute_phase(self) -> str:
        if self.init_failed:
            return "Failed"
        main = [r for r in self.records.values() if not r.init]
        if not self.initialized:
            return "Pending"
        if all(r.done for r in main):
            return "Succeeded" if all(r.succeeded for r in main) else "Failed"
        if any(not r.ever_ran and not r.done for r in main):
            return "Pending"
        return "Running"

    def build_status(self) -> Obj:
        """The pod status this kubelet reports now."""
        phase = self._compute_phase()
        self.phase = phase
        main = [r for r in self.records.values() if not r.init]
        inits = [r for r in self.records.values() if r.init]
        terminal = phase in ("Succeeded", "Failed")
        self.conditions.set("PodReadyToStartContainers", self.sandbox_ready and not terminal)
        if self.initialized:
            self.conditions.set(
                "Initialized", True, "PodCompleted" if terminal and phase == "Succeeded" else ""
            )
        else:
            pending = [r.name for r in inits if not r.succeeded]
            self.conditions.set(
                "Initialized", False, "ContainersNotInitialized", incomplete_message(pending)
            )
        unready = [r.name for r in main if not r.ready]
        if terminal and phase == "Succeeded":
            self.conditions.set("Ready", False, "PodCompleted")
            self.conditions.set("ContainersReady", False, "PodCompleted")
        elif unready:
            self.conditions.set("Ready", False, "ContainersNotReady", not_ready_message(unready))
            self.conditions.set(
                "ContainersReady", False, "ContainersNotReady", not_ready_message(unready)
            )
        else:
            self.conditions.set("Ready", True)
            self.conditions.set("ContainersReady", True)
        existing = (self.pod.get("status") or {}).get("conditions") or []
        status: Obj = {
            "phase": phase,
            "conditions": self.conditions.merged(existing),
            "hostIP": self.host_ip(),
            "hostIPs": [{"ip": self.host_ip()}],
            "containerStatuses": [r.status() for r in main],
        }
        if inits:
            status["initContainerStatuses"] = [r.status() for r in inits]
        if self.pod_ip:
            status["podIP"] = self.pod_ip
            status["podIPs"] = [{"ip": self.pod_ip}]
        if self.start_time:
            status["startTime"] = self.start_time
        old = self.pod.get("status") or {}
        for keep in ("qosClass", "nominatedNodeName"):
            if keep in old:
                status[keep] = old[keep]
        return status

    def host_ip(self) -> str:
        """The node's InternalIP (127.0.0.1 when it has none)."""
        node = self.svc.node(self.node_name) or {}
        for addr in (node.get("status") or {}).get("addresses") or []:
            if addr.get("type") == "InternalIP":
                return str(addr.get("address"))
        return "127.0.0.1"

    async def _status_writer(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(0.02)
            self._dirty.clear()
            status = self.build_status()
            if status == self.pod.get("status"):
                continue
            try:
                self.pod = await self.svc.store.patch(
                    "pods",
                    self.name,
                    {"status": status},
                    "merge",
                    namespace=self.namespace,
                    subresource="status",
                )
            except ApiError as exc:
                if exc.status == 404:
                    return
                log.warning("status update of %s failed: %s", self.key, exc)

    async def flush(self) -> None:
        """Write the status now."""
        status = self.build_status()
        with contextlib.suppress(ApiError):
            self.pod = await self.svc.store.patch(
                "pods",
                self.name,
                {"status": status},
                "merge",
                namespace=self.namespace,
                subresource="status",
            )

    # -- running -----------------------------------------------------------------------
    async def _run(self) -> None:
        await self._prepare()
        inits = [r for r in self.records.values() if r.init]
        for rec in inits:
            if rec.spec.get("restartPolicy") == "Always":
                self._spawn(self.runner.supervise(rec, "Always"))
                await rec.up.wait()
                continue
            policy = "Never" if self.restart_policy == "Never" else "OnFailure"
            await self.runner.supervise(rec, policy)
            if not rec.succeeded:
                self.init_failed = True
                for other in self.records.values():
                    other.done = True
                self.dirty()
                await self._finish()
                return
        self.initialized = True
        self.dirty()
        mains = [r for r in self.records.values() if not r.init]
        await asyncio.gather(*(self.runner.supervise(r, self.restart_policy) for r in mains))
        await self._finish()

    async def _finish(self) -> None:
        """All containers are done for good: release devices, report the final phase."""
        for rec in self.records.values():
            if rec.init and rec.spec.get("restartPolicy") == "Always" and rec.proc is not None:
                rec.stopping = True
                signal_group(rec.proc.pid, signal.SIGTERM)
        self.finished = True
        self._release()
        self.dirty()

    async def _prepare(self) -> None:
        """Sandbox, IP, devices and volumes; retried until volumes can be set up."""
        self.start_time = timestamp()
        self.pod_ip = self.svc.ips.allocate(self.alloc_key)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.svc.devices.allocate(self.alloc_key, self.node_name, self.pod)
                break
            except AllocationError as exc:
                # A deleted pod's processes may still be dying: its devices free up soon.
                if time.monotonic() > deadline:
                    await self.event(
                        "UnexpectedAdmissionError",
                        f"Allocate failed due to {exc}, which is unexpected",
                        "Warning",
                    )
                    break
                await asyncio.sleep(0.1)
        while True:
            try:
                await self.volumes.setup(self.svc.store, self.pod)
                break
            except VolumeError as exc:
                await self.event("FailedMount", str(exc), "Warning")
                self.dirty()
                await asyncio.sleep(self.svc.settings.config_retry)
        await asyncio.to_thread(self.volumes.rootfs.mkdir, parents=True, exist_ok=True)
        self.sandbox_ready = True
        self.dirty()

    # -- memory ------------------------------------------------------------------------
    def memory_watch(self) -> list[tuple[ContainerRecord, int]]:
        """Running containers with a memory limit: (record, pid)."""
        return [
            (r, r.proc.pid)
            for r in self.records.values()
            if r.memory_limit and r.proc is not None and r.running
        ]

    def oom_kill(self, rec: ContainerRecord) -> None:
        """The container went over its memory limit: kill it like the OOM killer."""
        if rec.proc is not None:
            rec.oom = True
            signal_group(rec.proc.pid, signal.SIGKILL)

    # -- deletion ----------------------------------------------------------------------
    async def _terminate(self, confirm: bool) -> None:
        md = self.pod["metadata"]
        grace = md.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = (self.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        grace = float(grace)
        if not confirm:
            grace = min(grace, 2.0)
        if self._main is not None:
            self._main.cancel()
            await asyncio.gather(self._main, return_exceptions=True)
        running = [r for r in self.records.values() if r.proc is not None]
        for rec in running:
            rec.stopping = True
            await self.event("Killing", f"Stopping container {rec.name}", container=rec.name)
        for rec in running:
            assert rec.proc is not None
            signal_group(rec.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for rec in running:
            assert rec.proc is not None
            proc = rec.proc
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    await proc.wait()
            except TimeoutError:
                signal_group(proc.pid, signal.SIGKILL)
                await proc.wait()
            started = (rec.state.get("running") or {}).get("startedAt")
            code = exit_code(proc.returncode)
            rec.set_terminated(code, "Completed" if code == 0 else "Error", started_at=started)
            rec.proc = None
            await drain(rec)
            # Stragglers left in the group get no second chance.
            if group_alive(proc.pid):
                signal_group(proc.pid, signal.SIGKILL)
                await group_gone(proc.pid)
        for rec in self.records.values():
            rec.done = True
        self.finished = True
        self._release()
        if confirm:
            self.sandbox_ready = False
            await self.flush()
            with contextlib.suppress(ApiError):
                await self.svc.store.delete(
                    "pods",
                    self.name,
                    namespace=self.namespace,
                    grace_period_seconds=0,
                    preconditions={"uid": self.uid},
                )
        self.gone.set()

    async def cleanup(self) -> None:
        """After the pod left the store: free its IP and remove its sandbox."""
        for task in list(self._tasks):
            if task is not self._terminating:
                task.cancel()
        self.svc.ips.release(self.alloc_key)
        self._release()
        await asyncio.to_thread(self.volumes.unmount)
        await asyncio.to_thread(shutil.rmtree, self.sandbox, True)

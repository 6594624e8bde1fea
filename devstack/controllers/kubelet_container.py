"""One container's runs: environment, start, restart back-off, probes, log draining."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from devstack.controllers.kubelet_devices import device_env
from devstack.controllers.kubelet_env import ConfigError, EnvResolver, expand
from devstack.controllers.kubelet_logs import ContainerLog
from devstack.controllers.kubelet_probes import ProbeTarget, probe_loop
from devstack.controllers.kubelet_process import (
    StartError,
    exit_code,
    group_alive,
    signal_group,
    spawn,
)
from devstack.controllers.kubelet_services import KubeletServices, Obj, pod_label
from devstack.controllers.kubelet_status import ContainerRecord, new_container_id
from devstack.controllers.kubelet_volumes import Volumes, mounted_argv, rootfs_path


class PodContext(Protocol):
    """What a container runner needs from its pod worker."""

    svc: KubeletServices
    pod: Obj
    pod_ip: str
    name: str
    node_name: str
    alloc_key: str
    sandbox: Path
    volumes: Volumes
    restart_policy: str
    records: dict[str, ContainerRecord]

    @property
    def terminating(self) -> bool:
        """True once the pod is being deleted."""
        ...

    def host_ip(self) -> str:
        """The node's address."""
        ...

    def dirty(self) -> None:
        """Ask for a status update."""
        ...

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run a task owned by the pod."""
        ...

    def event(
        self, reason: str, message: str, type: str = "Normal", container: str | None = None
    ) -> Awaitable[None]:
        """Record an event about the pod."""
        ...


class ContainerRunner:
    """Runs a pod's containers under their restart policy."""

    def __init__(self, ctx: PodContext) -> None:
        self.ctx = ctx

    def _base_env(self) -> dict[str, str]:
        s = self.ctx.svc.settings
        rootfs = self.ctx.volumes.rootfs
        env = {
            "PATH": s.host_path or os.environ.get("PATH", os.defpath),
            "HOSTNAME": self.ctx.name,
            "HOME": str(rootfs / "root"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "DEVSTACK_ROOTFS": str(rootfs),
            "DEVSTACK_SANDBOX": str(self.ctx.sandbox),
            "DEVSTACK_POD_IP": self.ctx.pod_ip,
            "DEVSTACK_NODE_NAME": self.ctx.node_name,
        }
        env.update(s.extra_env)
        return env

    def _device_env(self, env: dict[str, str]) -> dict[str, str]:
        devices = self.ctx.svc.devices.assigned(self.ctx.alloc_key)
        extra = device_env(devices)
        if "NVIDIA_VISIBLE_DEVICES" in extra:
            gpu_env = dict(self.ctx.svc.settings.gpu_env)
            # A LD_LIBRARY_PATH in gpu_env (e.g. devstack.nvml's env) is prepended too.
            parts = [*self.ctx.svc.settings.ld_library_path]
            if gpu_env.get("LD_LIBRARY_PATH"):
                parts.append(gpu_env.pop("LD_LIBRARY_PATH"))
            extra.update(gpu_env)
            if parts:
                if env.get("LD_LIBRARY_PATH"):
                    parts.append(env["LD_LIBRARY_PATH"])
                extra["LD_LIBRARY_PATH"] = os.pathsep.join(parts)
        if self.ctx.svc.settings.bind_shim is not None:
            parts = [str(self.ctx.svc.settings.bind_shim)]
            if env.get("PYTHONPATH"):
                parts.append(env["PYTHONPATH"])
            extra["PYTHONPATH"] = os.pathsep.join(parts)
        return extra

    def _workdir(self, rec: ContainerRecord) -> Path:
        wd = rec.spec.get("workingDir")
        return rootfs_path(self.ctx.volumes.rootfs, str(wd)) if wd else self.ctx.volumes.rootfs

    async def _container_env(self, rec: ContainerRecord) -> dict[str, str]:
        node = self.ctx.svc.node(self.ctx.node_name) or {}
        alloc = (node.get("status") or {}).get("allocatable") or {}
        status = dict(self.ctx.pod.get("status") or {})
        status.update(
            {
                "podIP": self.ctx.pod_ip,
                "podIPs": [{"ip": self.ctx.pod_ip}],
                "hostIP": self.ctx.host_ip(),
                "hostIPs": [{"ip": self.ctx.host_ip()}],
            }
        )
        resolver = EnvResolver(self.ctx.svc.store, {**self.ctx.pod, "status": status}, alloc)
        env = await resolver.resolve(rec.spec, self._base_env())
        env.update(self._device_env(env))
        return env

    def _backoff(self, restarts: int) -> float:
        s = self.ctx.svc.settings
        if restarts <= 0:
            return 0.0
        return float(min(s.backoff_base * 2 ** (restarts - 1), s.backoff_max))

    async def supervise(self, rec: ContainerRecord, policy: str) -> None:
        """Run a container, restarting it under `policy` with back-off, until done."""
        try:
            await self._supervise_loop(rec, policy)
        finally:
            rec.up.set()

    async def _supervise_loop(self, rec: ContainerRecord, policy: str) -> None:
        crashes = 0
        while True:
            ran_for = await self._run_once(rec)
            if ran_for is None:  # never started (config error retries inside, or no command)
                return
            if self.ctx.terminating or rec.stopping:
                rec.done = True
                return
            failed = not rec.succeeded
            if policy == "Never" or (policy == "OnFailure" and not failed):
                rec.done = True
                self.ctx.dirty()
                return
            if ran_for > 2 * self.ctx.svc.settings.backoff_max:
                crashes = 0
            delay = self._backoff(crashes)
            crashes += 1
            if delay > 0:
                rec.last_state = rec.state
                rec.set_waiting(
                    "CrashLoopBackOff",
                    f"back-off {duration(delay)} restarting failed container={rec.name} "
                    f"pod={pod_label(self.ctx.pod)}",
                )
                self.ctx.dirty()
                await self.ctx.event(
                    "BackOff",
                    f"Back-off restarting failed container {rec.name} "
                    f"in pod {pod_label(self.ctx.pod)}",
                    "Warning",
                    rec.name,
                )
                await asyncio.sleep(delay)
                if self.ctx.terminating:
                    rec.state = rec.last_state
                    rec.done = True
                    return
            else:
                rec.last_state = rec.state
            rec.restart_count += 1

    async def _run_once(self, rec: ContainerRecord) -> float | None:
        """Start the container and wait for it; returns how long it ran (None: not started)."""
        command = [str(a) for a in rec.spec.get("command") or []]
        args = [str(a) for a in rec.spec.get("args") or []]
        while True:
            try:
                env = await self._container_env(rec)
                break
            except ConfigError as exc:
                rec.set_waiting("CreateContainerConfigError", str(exc))
                self.ctx.dirty()
                await self.ctx.event("Failed", f"Error: {exc}", "Warning", rec.name)
                await asyncio.sleep(self.ctx.svc.settings.config_retry)
                if self.ctx.terminating:
                    return None
        if not command and not args:
            message = (
                f'devstack cannot run image "{rec.image}": the container has no command '
                f"or args and devstack does not pull images, so the image's entrypoint "
                f"and default command are unknown"
            )
            rec.set_waiting("CreateContainerError", message)
            self.ctx.dirty()
            await self.ctx.event("Failed", f"Error: {message}", "Warning", rec.name)
            return None
        mount_paths = [str(vm.get("mountPath", "")) for vm in rec.spec.get("volumeMounts") or []]
        argv = mounted_argv(
            [expand(a, env) for a in command + args], mount_paths, self.ctx.volumes.rootfs
        )
        self.ctx.volumes.mount(rec.spec)
        workdir = self._workdir(rec)
        await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(
            (self.ctx.volumes.rootfs / "root").mkdir, parents=True, exist_ok=True
        )
        if rec.restart_count == 0 and not rec.logs:
            await self.ctx.event(
                "Pulled",
                f'Container image "{rec.image}" already present on machine',
                container=rec.name,
            )
        logfile = ContainerLog(self.ctx.sandbox / "logs" / rec.name / f"{rec.restart_count}.log")
        rec.logs.append(logfile)
        rec.container_id = new_container_id()
        rec.oom = False
        await self.ctx.event("Created", f"Created container: {rec.name}", container=rec.name)
        started = time.monotonic()
        try:
            proc, pumps = await spawn(argv, env, str(workdir), logfile)
        except StartError as exc:
            logfile.finish()
            rec.set_terminated(128, "StartError", str(exc))
            rec.ever_ran = True
            self.ctx.dirty()
            await self.ctx.event("Failed", f"Error: {exc}", "Warning", rec.name)
            return 0.0
        rec.proc = proc
        rec.pumps = pumps
        rec.set_running()
        started_at = rec.state["running"]["startedAt"]
        rec.started = not rec.spec.get("startupProbe")
        rec.ready = rec.started and not rec.spec.get("readinessProbe") and not rec.init
        self.ctx.dirty()
        await self.ctx.event("Started", f"Started container {rec.name}", container=rec.name)
        probes = self._start_probes(rec, env, str(workdir))
        try:
            returncode = await proc.wait()
        finally:
            for task in probes:
                task.cancel()
        await drain(rec)
        code = exit_code(returncode)
        reason = "OOMKilled" if rec.oom else "Completed" if code == 0 else "Error"
        rec.set_terminated(code, reason, started_at=started_at)
        rec.proc = None
        self.ctx.dirty()
        return time.monotonic() - started

    # -- probes ------------------------------------------------------------------------
    def _start_probes(
        self, rec: ContainerRecord, env: dict[str, str], cwd: str
    ) -> list[asyncio.Task[None]]:
        ports = {
            str(p.get("name")): int(p.get("containerPort", 0))
            for p in rec.spec.get("ports") or []
            if p.get("name")
        }
        target = ProbeTarget(self.ctx.pod_ip, ports, env, cwd)
        tasks = []
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = rec.spec.get(kind)
            if probe:
                tasks.append(
                    self.ctx.spawn(
                        probe_loop(
                            probe,
                            target,
                            self._on_probe_change(rec, kind),
                            self._on_probe_failure(rec, kind),
                        )
                    )
                )
        return tasks

    def _on_probe_change(self, rec: ContainerRecord, kind: str) -> Callable[[bool, str], Any]:
        async def changed(ok: bool, message: str) -> None:
            if not rec.running:
                return
            if kind == "readinessProbe":
                rec.readiness = ok
                rec.ready = ok and rec.started
            elif kind == "startupProbe":
                if ok:
                    rec.started = True
                    rec.ready = not rec.spec.get("readinessProbe") or bool(rec.readiness)
                else:
                    await self._kill_for_probe(rec, "startup")
            elif kind == "livenessProbe" and not ok:
                await self._kill_for_probe(rec, "liveness")
            self.ctx.dirty()

        return changed

    def _on_probe_failure(self, rec: ContainerRecord, kind: str) -> Callable[[bool, str], Any]:
        label = {
            "readinessProbe": "Readiness",
            "livenessProbe": "Liveness",
            "startupProbe": "Startup",
        }[kind]

        async def failed(_ok: bool, message: str) -> None:
            if rec.running:
                await self.ctx.event(
                    "Unhealthy", f"{label} probe failed: {message}", "Warning", rec.name
                )

        return failed

    async def _kill_for_probe(self, rec: ContainerRecord, which: str) -> None:
        if rec.proc is None:
            return
        await self.ctx.event(
            "Killing",
            f"Container {rec.name} failed {which} probe, will be restarted",
            container=rec.name,
        )
        signal_group(rec.proc.pid, signal.SIGTERM)
        grace = float((self.ctx.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
        self.ctx.spawn(self._kill_after(rec.proc, grace))

    async def _kill_after(self, proc: asyncio.subprocess.Process, grace: float) -> None:
        try:
            async with asyncio.timeout(grace):
                await proc.wait()
        except TimeoutError:
            signal_group(proc.pid, signal.SIGKILL)


async def group_gone(pgid: int, limit: float = 2.0) -> None:
    """Wait (briefly) until every process of a killed group has exited."""
    for _ in range(int(limit / 0.01)):
        if not group_alive(pgid):
            return
        await asyncio.sleep(0.01)


async def drain(rec: ContainerRecord) -> None:
    """Let the log pumps read what the process wrote, then close its log."""
    pumps, rec.pumps = rec.pumps, []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            await asyncio.gather(*pumps, return_exceptions=True)
    for task in pumps:
        task.cancel()
    if rec.logs:
        rec.logs[-1].finish()


def duration(seconds: float) -> str:
    """Go's time.Duration formatting for whole-ish seconds: `10s`, `1m20s`, `5m0s`, `200ms`."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    total = round(seconds)
    minutes, secs = divmod(total, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"

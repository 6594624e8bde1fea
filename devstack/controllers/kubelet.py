"""The process kubelet: runs the pods bound to devstack's real (non-virtual) nodes.

Each pod gets a sandbox directory under `<state_dir>/pods/`, a loopback IP, its
volumes as files (see `kubelet_volumes`), and its containers as local processes in
their own process groups. The kubelet also serves `pods/log` to the API server.

Images are recorded, never pulled: their entrypoint is taken to pass its arguments
through (`exec "$@"`, as tini and most entrypoint scripts do), so a container runs
`command + args`, or `args` alone when it has no command (KubeSpawner's way); with
neither it waits in `CreateContainerError`.

Memory limits are enforced by polling each container's resident set size (process
tree, via psutil) every `memory_poll` seconds; a container over its limit is killed
with SIGKILL and reported as `OOMKilled` (exit code 137), like the kernel OOM killer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from devstack.controllers.informer import Informer, Obj
from devstack.controllers.kubelet_devices import DeviceManager
from devstack.controllers.kubelet_ips import IpPool
from devstack.controllers.kubelet_logs import bad_request, read_container_log
from devstack.controllers.kubelet_pod import PodWorker
from devstack.controllers.kubelet_process import tree_rss, write_bind_shim
from devstack.controllers.kubelet_services import KubeletServices, KubeletSettings

log = logging.getLogger(__name__)
VIRTUAL_LABEL = ("type", "virtual-kubelet")


def random_pod_network() -> str:
    """A /16 inside 127.64.0.0/10, so two devstacks on one machine rarely share pod IPs."""
    return f"127.{random.randint(64, 127)}.0.0/16"


def is_virtual(node: Obj) -> bool:
    """InterLink virtual nodes are served elsewhere."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    return labels.get(VIRTUAL_LABEL[0]) == VIRTUAL_LABEL[1]


class ProcessKubelet:
    """Runs pods as processes for every non-virtual node; implements `LogSource`.

    `backoff_base`/`backoff_max` set the restart back-off (10 s doubling to 5 min, as a
    real kubelet); `gpu_env` is added to containers that hold NVIDIA devices, with
    `ld_library_path` prepended to their `LD_LIBRARY_PATH`; `bind_shim` narrows
    wildcard binds of Python servers to the pod IP. `pod_network` (a subnet of
    127.0.0.0/8) defaults to a random /16 of 127.64.0.0/10.
    """

    def __init__(
        self,
        state_dir: Path | str | None = None,
        *,
        gpu_env: dict[str, str] | None = None,
        ld_library_path: list[str] | None = None,
        backoff_base: float = 10.0,
        backoff_max: float = 300.0,
        pod_network: str | None = None,
        bind_shim: bool = True,
        extra_env: dict[str, str] | None = None,
        memory_poll: float = 1.0,
        config_retry: float = 2.0,
    ) -> None:
        self.state_dir = (
            Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="devstack-kubelet-"))
        )
        self.settings = KubeletSettings(
            state_dir=self.state_dir,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            config_retry=config_retry,
            gpu_env=dict(gpu_env or {}),
            ld_library_path=list(ld_library_path or []),
            extra_env=dict(extra_env or {}),
            host_path=os.environ.get("PATH", os.defpath),
        )
        self._want_shim = bind_shim
        self.memory_poll = memory_poll
        self.ips = IpPool(pod_network or random_pod_network())
        self.devices = DeviceManager()
        self.nodes: dict[str, Obj] = {}
        self.workers: dict[str, PodWorker] = {}  # by pod uid
        self.store: Any = None
        self._informers: list[Informer] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self, store: Any) -> None:
        """Watch nodes and pods, register as a log source."""
        self.store = store
        await asyncio.to_thread((self.state_dir / "pods").mkdir, parents=True, exist_ok=True)
        if self._want_shim:
            self.settings.bind_shim = await asyncio.to_thread(write_bind_shim, self.state_dir)
        self.services = KubeletServices(
            store, self.settings, self.ips, self.devices, self.nodes.get
        )
        self._informers = [
            Informer(store, "nodes", self._on_node),
            Informer(store, "pods", self._on_pod),
        ]
        for inf in self._informers:
            inf.start()
            await inf.synced.wait()
        store.register_log_source(self)
        self._spawn(self._memory_loop())

    async def stop(self) -> None:
        """Stop watching and kill every container process, waiting for them."""
        if self.store is not None:
            with contextlib.suppress(Exception):
                self.store.unregister_log_source(self)
        for inf in self._informers:
            await inf.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(w.kill_all() for w in self.workers.values()), return_exceptions=True)
        for worker in self.workers.values():
            self.ips.release(worker.alloc_key)
        self.workers.clear()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- watch handlers ----------------------------------------------------------------
    def _on_node(self, etype: str, obj: Obj) -> None:
        name = obj["metadata"]["name"]
        if etype == "DELETED":
            self.nodes.pop(name, None)
            return
        self.nodes[name] = obj
        self.devices.set_node(obj)

    def _runs_here(self, obj: Obj) -> bool:
        node = self.nodes.get((obj.get("spec") or {}).get("nodeName") or "")
        return node is not None and not is_virtual(node)

    def _on_pod(self, etype: str, obj: Obj) -> None:
        uid = obj["metadata"].get("uid", "")
        worker = self.workers.get(uid)
        if etype == "DELETED":
            if worker is not None:
                worker.deleted()
                self._spawn(self._reap(worker))
            return
        if worker is not None:
            worker.update(obj)
            return
        if not self._runs_here(obj):
            return
        worker = PodWorker(self.services, obj)
        self.workers[uid] = worker
        worker.start()
        worker.update(obj)

    async def _reap(self, worker: PodWorker) -> None:
        await worker.gone.wait()
        await worker.cleanup()
        if self.workers.get(worker.uid) is worker:
            del self.workers[worker.uid]

    # -- memory limits -----------------------------------------------------------------
    async def _memory_loop(self) -> None:
        while True:
            await asyncio.sleep(self.memory_poll)
            watched = [
                (w, rec, pid) for w in list(self.workers.values()) for rec, pid in w.memory_watch()
            ]
            if not watched:
                continue
            pids = [pid for _, _, pid in watched]
            sizes = await asyncio.to_thread(_sizes, pids)
            for (worker, rec, _), rss in zip(watched, sizes, strict=True):
                if rss > rec.memory_limit:
                    log.info(
                        "%s/%s uses %d bytes over its %d limit: OOM kill",
                        worker.key,
                        rec.name,
                        rss,
                        rec.memory_limit,
                    )
                    worker.oom_kill(rec)

    # -- LogSource ---------------------------------------------------------------------
    def _worker(self, namespace: str, pod: str) -> PodWorker | None:
        found = [w for w in self.workers.values() if w.namespace == namespace and w.name == pod]
        if not found:
            return None
        live = [w for w in found if not w.gone.is_set()]
        return (live or found)[-1]

    async def exec(
        self, namespace: str, pod: str, container: str, command: list[str], tty: bool, stdin: bool
    ) -> Any:
        """Start a command in a running container (`pods/exec`); see `kubelet_exec`."""
        from devstack.controllers.kubelet_exec import start_exec

        worker = self._worker(namespace, pod)
        if worker is None:
            raise bad_request(f'pod "{pod}" is not running on this kubelet')
        return await start_exec(worker, container, command, tty, stdin)

    def has_pod(self, namespace: str, pod: str) -> bool:
        """Whether this kubelet runs (or ran) that pod."""
        return self._worker(namespace, pod) is not None

    async def read_logs(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        follow: bool = False,
        tail_lines: int | None = None,
        since_seconds: int | None = None,
        timestamps: bool = False,
        previous: bool = False,
        limit_bytes: int | None = None,
    ) -> AsyncIterator[bytes]:
        """Yield a container's log, as `kubectl logs` shows it."""
        worker = self._worker(namespace, pod)
        if worker is None:
            raise bad_request(f'pods "{pod}" not found')
        mains = [r.name for r in worker.records.values() if not r.init]
        if not container:
            if len(mains) != 1:
                raise bad_request(
                    f"a container name must be specified for pod {pod}, "
                    f"choose one of: [{' '.join(mains)}]"
                )
            container = mains[0]
        rec = worker.records.get(container)
        if rec is None:
            raise bad_request(f"container {container} is not valid for pod {pod}")
        if previous:
            if len(rec.logs) < 2:
                raise bad_request(
                    f'previous terminated container "{container}" in pod "{pod}" not found'
                )
            logfile = rec.logs[-2]
        else:
            if not rec.logs:
                reason = (rec.state.get("waiting") or {}).get("reason", "ContainerCreating")
                raise bad_request(
                    f'container "{container}" in pod "{pod}" is waiting to start: {reason}'
                )
            logfile = rec.logs[-1]
        async for chunk in read_container_log(
            logfile,
            follow=follow,
            tail_lines=tail_lines,
            since_seconds=since_seconds,
            timestamps=timestamps,
            limit_bytes=limit_bytes,
        ):
            yield chunk


def _sizes(pids: list[int]) -> list[int]:
    return [tree_rss(pid) for pid in pids]

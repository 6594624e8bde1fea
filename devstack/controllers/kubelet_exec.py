"""`exec` into a running container: a process with the container's env, working directory
and volume paths, in its own session (a pty when a terminal is asked for)."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

from devstack.apiserver.errors import ApiError, bad_request
from devstack.controllers.kubelet_process import StartError, resolve_executable
from devstack.controllers.kubelet_volumes import mounted_argv


@dataclass
class ExecProcess:
    """A started exec: the process and, with a terminal, the pty's master side."""

    proc: asyncio.subprocess.Process
    master: int | None = None


async def start_exec(
    worker: Any, container: str, command: list[str], tty: bool, stdin: bool
) -> ExecProcess:
    """Start `command` in a container of a pod worker (400 when it is not running)."""
    name = container or next(iter(r for r in worker.records.values() if not r.init)).name
    rec = worker.records.get(name)
    if rec is None:
        raise bad_request(f"container {name} is not valid for pod {worker.name}")
    if rec.proc is None or rec.proc.returncode is not None:
        raise bad_request(f'container "{name}" in pod "{worker.name}" is not running')
    if not command:
        raise bad_request("you must specify at least 1 command")
    runner = worker.runner
    env = await runner._container_env(rec)
    cwd = str(runner._workdir(rec))
    mounts = [str(vm.get("mountPath", "")) for vm in rec.spec.get("volumeMounts") or []]
    argv = mounted_argv(command, mounts, worker.volumes.rootfs)
    try:
        exe = resolve_executable(argv[0], env, cwd)
    except StartError as exc:
        raise ApiError(500, "InternalError", str(exc).replace("create", "exec", 1)) from None
    if tty:
        master, slave = os.openpty()
        proc = await asyncio.create_subprocess_exec(
            exe,
            *argv[1:],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**env, "TERM": env.get("TERM", "xterm")},
            cwd=cwd,
            start_new_session=True,
        )
        os.close(slave)
        return ExecProcess(proc, master)
    proc = await asyncio.create_subprocess_exec(
        exe,
        *argv[1:],
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    return ExecProcess(proc)

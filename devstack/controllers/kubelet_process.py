"""Container processes: start in their own process group, signal, and watch memory."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

from devstack.controllers.kubelet_logs import ContainerLog

SHIM_DIR_NAME = "bindshim"
SHIM_SOURCE = '''"""devstack bind shim: a server binding 0.0.0.0 binds its pod IP instead.

Each devstack pod has its own loopback address but shares the host's network stack,
so wildcard binds are narrowed to the pod IP, as a network namespace would isolate them.
The Python Kubernetes clients' in-cluster config finds the pod's token volume in the rootfs.
"""
import os as _os
import socket as _socket

_POD_IP = _os.environ.get("DEVSTACK_POD_IP")
if _POD_IP:
    _bind = _socket.socket.bind

    def _devstack_bind(self, address):
        if (self.family == _socket.AF_INET and isinstance(address, tuple)
                and address and address[0] in ("", "0.0.0.0")):
            address = (_POD_IP, *address[1:])
        return _bind(self, address)

    _socket.socket.bind = _devstack_bind

_ROOTFS = _os.environ.get("DEVSTACK_ROOTFS")
_SA_DIR = "var/run/secrets/kubernetes.io/serviceaccount"
if _ROOTFS and _os.path.isdir(_os.path.join(_ROOTFS, _SA_DIR)):
    import importlib.abc as _abc
    import importlib.machinery as _machinery
    import sys as _sys

    class _InClusterPaths(_abc.MetaPathFinder):
        """The Python clients' in-cluster config reads the token volume in the rootfs."""

        names = (
            "kubernetes.config.incluster_config",
            "kubernetes_asyncio.config.incluster_config",
        )

        def find_spec(self, name, path, target=None):
            if name not in self.names:
                return None
            spec = _machinery.PathFinder.find_spec(name, path)
            if spec is None or spec.loader is None:
                return spec
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                base = _os.path.join(_ROOTFS, _SA_DIR)
                module.SERVICE_TOKEN_FILENAME = _os.path.join(base, "token")
                module.SERVICE_CERT_FILENAME = _os.path.join(base, "ca.crt")

            spec.loader.exec_module = exec_module
            return spec

    _sys.meta_path.insert(0, _InClusterPaths())


def _chain():
    """Run the sitecustomize this shim shadows, if there is one."""
    import importlib.machinery
    import importlib.util
    import sys

    here = _os.path.dirname(_os.path.abspath(__file__))
    rest = [p for p in sys.path if _os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


_chain()
'''


class StartError(Exception):
    """The runtime could not start the process (missing executable, bad workingDir...)."""


def write_bind_shim(state_dir: Path) -> Path:
    """Write the `sitecustomize` bind shim once; returns the directory to put on PYTHONPATH."""
    target = state_dir / SHIM_DIR_NAME
    target.mkdir(parents=True, exist_ok=True)
    (target / "sitecustomize.py").write_text(SHIM_SOURCE)
    return target


def resolve_executable(argv0: str, env: Mapping[str, str], cwd: str) -> str:
    """Find the program like runc does, or raise StartError with containerd's wording."""
    if "/" in argv0:
        path = argv0 if os.path.isabs(argv0) else os.path.join(cwd, argv0)
        if os.access(path, os.X_OK) and os.path.isfile(path):
            return path
        raise StartError(_oci_error(f'exec: "{argv0}": stat {argv0}: no such file or directory'))
    found = shutil.which(argv0, path=env.get("PATH", os.defpath))
    if found is None:
        raise StartError(_oci_error(f'exec: "{argv0}": executable file not found in $PATH'))
    return found


def _oci_error(detail: str) -> str:
    return (
        "failed to create containerd task: failed to create shim task: OCI runtime create "
        f"failed: runc create failed: unable to start container process: {detail}: unknown"
    )


async def spawn(
    argv: Sequence[str], env: Mapping[str, str], cwd: str, log: ContainerLog
) -> tuple[asyncio.subprocess.Process, list[asyncio.Task[None]]]:
    """Start a process in a new session with stdout/stderr pumped into `log`."""
    exe = resolve_executable(argv[0], env, cwd)
    try:
        proc = await asyncio.create_subprocess_exec(
            exe,
            *argv[1:],
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        raise StartError(_oci_error(f'exec: "{argv[0]}": {exc.strerror}')) from None
    assert proc.stdout is not None and proc.stderr is not None
    pumps = [
        asyncio.create_task(log.pump(proc.stdout, "stdout")),
        asyncio.create_task(log.pump(proc.stderr, "stderr")),
    ]
    return proc, pumps


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal a process group (the container); ignores groups that are gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def group_alive(pid: int) -> bool:
    """Whether any process of the group is left."""
    try:
        os.killpg(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def exit_code(returncode: int | None) -> int:
    """A container exit code: signals become 128 + signal number."""
    if returncode is None:
        return 0
    return 128 - returncode if returncode < 0 else returncode


def tree_rss(pid: int) -> int:
    """Resident memory of a process and its descendants, in bytes (blocking: use a thread)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total

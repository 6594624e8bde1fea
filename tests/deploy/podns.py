"""Run a test as if in the hub pod: its own network namespace (the pod's fixed ports 8081,
8000, 8001, 10101 free, the Service names `hub`, `proxy-api` resolving to it), its own mount
namespace (the chart's files at /usr/local/etc, the ServiceAccount at /run/secrets, the hub's
volume at /srv) and its own PID namespace, with nothing outside the test's temporary directory
touched."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

FLAG = "ACCELHUB_IN_HUB_POD"
REPO = Path(__file__).resolve().parents[2]
#: How long one re-run may take, start to end.
RUN_TIMEOUT = 540
HOSTS = ("hub", "proxy-api", "proxy-public", "postgres.db.svc.cluster.local")


def inside() -> bool:
    """True in the re-run of a test inside the namespaces."""
    return os.environ.get(FLAG) == "1"


def can_enter() -> bool:
    """Whether this machine has what entering the namespaces takes (util-linux, iproute2)."""
    return shutil.which("unshare") is not None and shutil.which("ip") is not None


@dataclass
class Run:
    """One re-run of a test inside its own namespaces, and where it kept its files."""

    nodeid: str
    basetemp: str
    done: subprocess.CompletedProcess[str]


def run_inside(nodeid: str, timeout: float = RUN_TIMEOUT) -> Run:
    """Run the test ``nodeid`` again in fresh network, mount and PID namespaces.

    Each run has namespaces and a base temp of its own, so several may run at once."""
    env = dict(os.environ, **{FLAG: "1"})
    # A base temp of its own: other pytest sessions on the machine prune pytest-of-<user>.
    basetemp = tempfile.mkdtemp(prefix="accelhub-hub-pod-")
    inner = (
        f"ip link set lo up && exec {sys.executable} -m pytest -q -x -p no:cacheprovider "
        f"--basetemp={basetemp} --timeout={int(timeout - 20)} '{nodeid}'"
    )
    # A PID namespace of its own too: whatever the hub started (its managed services, the
    # culler) ends with the test instead of outliving it.
    argv = [
        "unshare",
        "--mount",
        "--net",
        "--pid",
        "--fork",
        "--mount-proc",
        "--propagation",
        "private",
        "sh",
        "-c",
        inner,
    ]
    if os.geteuid() != 0:
        argv[1:1] = ["--map-root-user"]
    done = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    return Run(nodeid=nodeid, basetemp=basetemp, done=done)


def check(run: Run) -> None:
    """Fail with the re-run's output if it failed; else remove its files."""
    if run.done.returncode != 0:
        pytest.fail(
            f"inside the hub pod's namespaces (logs kept in {run.basetemp}):\n"
            f"{run.done.stdout[-20000:]}\n{run.done.stderr}"
        )
    shutil.rmtree(run.basetemp, ignore_errors=True)


def bind(source: Path, target: str) -> None:
    """Bind-mount ``source`` over ``target`` (only inside the test's mount namespace)."""
    if not inside():
        raise RuntimeError("bind mounts are only made inside the test's own namespaces")
    subprocess.run(["mount", "--bind", str(source), target], check=True, capture_output=True)


def hosts_file(path: Path) -> Path:
    """/etc/hosts with the Service names on the loopback address."""
    path.write_text(f"127.0.0.1 localhost {' '.join(HOSTS)}\n::1 localhost\n")
    return path

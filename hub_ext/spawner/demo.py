"""The spawner demo: devstack plus a real JupyterHub running the AcceleratorSpawner.

``python -m hub_ext.spawner.demo`` starts the AI_INFN-like devstack and JupyterHub on
http://127.0.0.1:8000 (``ACCELHUB_DEMO_PORT``) with dummy authentication, prints the demo
users, and on Ctrl-C stops the hub (which deletes its pods) and then devstack.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

PASSWORD = "accelhub"
USERS: dict[str, list[str]] = {
    "alice": ["physics"],
    "bob": ["physics", "ml-experts"],
    "carla": ["fpga-users"],
    "hack1": ["hackers"],
    "hack2": ["hackers"],
}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _groups() -> dict[str, dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    for user, names in USERS.items():
        for name in names:
            groups.setdefault(name, {"users": []})["users"].append(user)
    return groups


def hub_config(state: Path, port: int) -> str:
    """The demo hub's jupyterhub_config.py."""
    internal = _free_port()
    singleuser = str(Path(sys.executable).parent / "jupyterhub-singleuser")
    args = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    return "\n".join(
        [
            "c.JupyterHub.ip = '127.0.0.1'",
            f"c.JupyterHub.port = {port}",
            "c.JupyterHub.hub_ip = '127.0.0.1'",
            f"c.JupyterHub.hub_port = {internal}",
            f"c.JupyterHub.hub_connect_url = 'http://127.0.0.1:{internal}'",
            f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{_free_port()}'",
            f"c.ConfigurableHTTPProxy.pid_file = {str(state / 'proxy.pid')!r}",
            f"c.JupyterHub.db_url = 'sqlite:///{state / 'jupyterhub.sqlite'}'",
            f"c.JupyterHub.cookie_secret_file = {str(state / 'cookie_secret')!r}",
            "c.JupyterHub.authenticator_class = 'dummy'",
            f"c.DummyAuthenticator.password = {PASSWORD!r}",
            "c.Authenticator.allow_all = True",
            "c.Authenticator.admin_users = {'bob'}",
            "c.JupyterHub.allow_named_servers = True",
            "c.JupyterHub.cleanup_servers = True",
            f"c.JupyterHub.load_groups = {_groups()!r}",
            "c.JupyterHub.spawner_class = 'accelerator'",
            "c.KubeSpawner.namespace = 'accelhub'",
            f"c.KubeSpawner.cmd = [{singleuser!r}]",
            f"c.KubeSpawner.args = {args!r}",
            "c.KubeSpawner.start_timeout = 120",
            "c.KubeSpawner.http_timeout = 90",
            "c.Spawner.default_url = '/lab'",
            "c.StaticPolicy.user_caps = {'t4': 1, 'rtx5000': 2}",
            "c.StaticPolicy.group_quotas = {'hackers': {'mig-1g-10gb': 2}, "
            "'physics': {'mig-1g-10gb': 3}}",
            "from hub_ext.catalog import check_config",
            "check_config(c)",
            "",
        ]
    )


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {seconds:.0f}s; see {log}")


def _stop(proc: subprocess.Popen[bytes] | None, grace: float = 20.0) -> None:
    """SIGTERM a child's whole process group, SIGKILL it after ``grace`` seconds."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    except ProcessLookupError:
        pass


def main() -> int:
    """Run devstack and the hub until Ctrl-C."""
    repo = Path(__file__).resolve().parents[2]
    port = int(os.environ.get("ACCELHUB_DEMO_PORT", "8000"))
    state = Path(os.environ.get("ACCELHUB_DEMO_STATE", ".demo/spawner")).resolve()
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    env = dict(os.environ)
    bins = [str(Path(sys.executable).parent), str(repo / ".tools" / "node_modules" / ".bin")]
    env["PATH"] = os.pathsep.join([*bins, env.get("PATH", "")])
    devstack: subprocess.Popen[bytes] | None = None
    hub: subprocess.Popen[bytes] | None = None
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        print("accelhub demo: starting devstack (AI_INFN cluster) ...", flush=True)
        ds_log = state / "devstack.log"
        devstack = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hub_ext.cli",
                "devstack",
                "up",
                "--quiet",
                "--state-dir",
                str(state / "devstack"),
            ],
            stdout=ds_log.open("wb"),
            stderr=subprocess.STDOUT,
            env=env,
            cwd=repo,
            start_new_session=True,
        )
        info = state / "devstack" / "devstack.json"
        deadline = time.monotonic() + 60
        while not info.exists():
            if devstack.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"devstack did not start; see {ds_log}")
            time.sleep(0.1)
        env["KUBECONFIG"] = json.loads(info.read_text())["kubeconfig"]
        config = state / "jupyterhub_config.py"
        config.write_text(hub_config(state, port))
        print("accelhub demo: starting JupyterHub with the AcceleratorSpawner ...", flush=True)
        hub_log = state / "hub.log"
        hub = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)],
            stdout=hub_log.open("wb"),
            stderr=subprocess.STDOUT,
            env=env,
            cwd=state,
            start_new_session=True,
        )
        _wait_http(f"http://127.0.0.1:{port}/hub/api/", hub, hub_log, 90)
        print(f"\naccelhub demo: open http://127.0.0.1:{port}/hub/login", flush=True)
        print(f"  password for every user: {PASSWORD}")
        for user, groups in USERS.items():
            print(f"  {user:<6} groups: {', '.join(groups)}")
        print(f"  logs: {hub_log} and {ds_log}")
        print("Stop it with Ctrl-C.", flush=True)
        while hub.poll() is None and devstack.poll() is None:
            time.sleep(0.5)
        print("accelhub demo: a component exited; stopping.", flush=True)
        return 1
    except KeyboardInterrupt:
        print("\naccelhub demo: stopping ...", flush=True)
        return 0
    except RuntimeError as err:
        print(f"accelhub demo: {err}", file=sys.stderr)
        return 1
    finally:
        _stop(hub)
        _stop(devstack)


if __name__ == "__main__":
    sys.exit(main())

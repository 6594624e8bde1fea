"""Run the demo in the foreground; Ctrl-C stops every process it started."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType

from devstack.oidc import OidcClient, OidcProvider, OidcProviderError
from devstack.processes import stop_group

from .config import DemoPorts, OidcLogin, demo_identities, describe_users, hub_config

REPO = Path(__file__).resolve().parents[2]


class DemoError(RuntimeError):
    """A component of the demo failed to start; the message names its log."""


def start(argv: list[str], log: Path, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    """Start a component in its own process group, its output in ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )


def stop(process: subprocess.Popen[bytes] | None, grace: float = 30.0) -> None:
    """SIGTERM a component's process group, SIGKILL it after ``grace`` seconds."""
    stop_group(process, grace)


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    """Wait until ``url`` answers 200, failing early if ``process`` exits."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoError(f"exited with status {process.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise DemoError(f"{url} did not answer within {seconds:.0f} s; see {log}")


def start_devstack(state: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    """Start devstack with the AI_INFN cluster; return it and its kubeconfig."""
    log = state / "devstack.log"
    argv = [sys.executable, "-m", "hub_ext.cli", "devstack", "up", "--quiet"]
    process = start([*argv, "--state-dir", str(state / "devstack")], log, env, REPO)
    info = state / "devstack" / "devstack.json"
    deadline = time.monotonic() + 120
    while not info.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise DemoError(f"devstack did not start; see {log}")
        time.sleep(0.2)
    return process, Path(json.loads(info.read_text())["kubeconfig"])


def start_identity_provider(state: Path, ports: DemoPorts) -> tuple[OidcProvider, OidcLogin]:
    """Start devstack's OIDC provider with the demo users and the hub as its client."""
    client = OidcClient(
        "accelhub-demo",
        secrets.token_hex(24),
        [f"http://127.0.0.1:{ports.public}/hub/oauth_callback"],
    )
    provider = OidcProvider(state / "oidc", demo_identities(), [client])
    try:
        provider.start()
    except OidcProviderError as error:
        raise DemoError(str(error)) from None
    login = OidcLogin(
        provider.issuer, client.client_id, client.client_secret, crypt_key=secrets.token_hex(32)
    )
    return provider, login


def raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    """Start devstack, then JupyterHub (which starts the hub service); wait for Ctrl-C."""
    port = int(os.environ.get("ACCELHUB_DEMO_PORT", "8000"))
    state = Path(os.environ.get("ACCELHUB_DEMO_STATE", REPO / ".demo")).resolve()
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    env = dict(os.environ)
    tools = [str(Path(sys.executable).parent), str(REPO / ".tools" / "node_modules" / ".bin")]
    env["PATH"] = os.pathsep.join([*tools, env.get("PATH", "")])
    devstack: subprocess.Popen[bytes] | None = None
    hub: subprocess.Popen[bytes] | None = None
    provider: OidcProvider | None = None
    signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        print("accelhub demo: starting devstack (AI_INFN-like cluster) ...", flush=True)
        devstack, kubeconfig = start_devstack(state, env)
        env["KUBECONFIG"] = str(kubeconfig)
        ports = DemoPorts.pick(port)
        print("accelhub demo: starting the OIDC identity provider ...", flush=True)
        provider, oidc = start_identity_provider(state, ports)
        config = state / "jupyterhub_config.py"
        config.write_text(hub_config(state, kubeconfig, ports, secrets.token_hex(24), oidc))
        print("accelhub demo: starting JupyterHub and the accelhub service ...", flush=True)
        hub_log = state / "hub.log"
        hub = start([sys.executable, "-m", "jupyterhub", "-f", str(config)], hub_log, env, state)
        wait_for(f"http://127.0.0.1:{port}/hub/api/", hub, hub_log, 120)
        wait_for(
            f"http://127.0.0.1:{ports.service}/services/accelhub/api/v1/openapi.json",
            hub,
            hub_log,
            60,
        )
        print(f"\naccelhub demo is ready: open http://127.0.0.1:{port}/hub/login", flush=True)
        print("\n".join(describe_users(oidc)))
        print(f"  kubectl: export KUBECONFIG={kubeconfig}")
        print(f"  logs: {hub_log}, {state / 'devstack.log'}, {provider.log_path}")
        print("Stop it with Ctrl-C.", flush=True)
        while hub.poll() is None and devstack.poll() is None:
            time.sleep(0.5)
        print("accelhub demo: a component exited; stopping the rest.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\naccelhub demo: stopping ...", flush=True)
        return 0
    except DemoError as error:
        print(f"accelhub demo: {error}", file=sys.stderr)
        return 1
    finally:
        stop(hub)
        if provider is not None:
            provider.stop()
        stop(devstack)


if __name__ == "__main__":
    sys.exit(main())

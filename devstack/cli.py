"""`accelhub devstack up|status|down`: run the single-machine cluster in the foreground."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the devstack subcommands."""
    sub = parser.add_subparsers(dest="devstack_command", metavar="ACTION")
    up = sub.add_parser("up", help="run devstack in the foreground (Ctrl-C stops it)")
    up.add_argument("--cluster", metavar="FILE", help="cluster file (default: AI_INFN-like)")
    up.add_argument("--port", type=int, default=0, help="API server port (default: a free one)")
    up.add_argument("--state-dir", metavar="DIR", help="where the kubeconfig and state live")
    up.add_argument(
        "--controllers",
        metavar="LIST",
        help="comma-separated controllers to run (default: all available; "
        "'none' for the API server alone)",
    )
    up.add_argument("--token", help="bearer token clients must send (default: random)")
    up.add_argument(
        "--insecure-http",
        action="store_true",
        help="serve plain HTTP instead of HTTPS (kubectl then sends no token)",
    )
    up.add_argument(
        "--history-size",
        type=int,
        default=5000,
        help="watch events kept per resource for resuming (older versions get 410)",
    )
    up.add_argument(
        "--bookmark-interval",
        type=float,
        default=10.0,
        help="seconds between watch BOOKMARK events",
    )
    up.add_argument(
        "--site",
        action="append",
        default=[],
        metavar="NODE=URL",
        help="send the pods of InterLink virtual node NODE to the plugin at URL "
        "instead of a local plugin (repeatable)",
    )
    up.add_argument(
        "--site-poll",
        type=float,
        default=2.0,
        metavar="S",
        help="seconds between the InterLink bridge's status polls and pings",
    )
    up.add_argument(
        "--restart-downtime",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds the API server refuses connections when restarted (SIGHUP, restart-api)",
    )
    up.add_argument("--quiet", action="store_true", help="print only the kubeconfig path")
    from devstack.oidc.cli import add_up_oidc_arguments

    add_up_oidc_arguments(up)
    status = sub.add_parser("status", help="report whether devstack is running")
    status.add_argument("--state-dir", metavar="DIR")
    down = sub.add_parser("down", help="stop a devstack started with `up`")
    down.add_argument("--state-dir", metavar="DIR")
    restart = sub.add_parser(
        "restart-api",
        help="restart the API server of a running devstack (connections drop, objects stay, "
        "old watches get 410)",
    )
    restart.add_argument("--state-dir", metavar="DIR")
    plugin = sub.add_parser(
        "interlink-plugin",
        help="run a local InterLink plugin alone (pods run as local processes)",
    )
    from devstack.interlink.cli import add_plugin_arguments

    add_plugin_arguments(plugin)
    nvml = sub.add_parser(
        "nvml-env",
        help="build the simulated NVML library and print the exports that use it",
    )
    from devstack.nvml.cli import add_nvml_env_arguments

    add_nvml_env_arguments(nvml)
    oidc = sub.add_parser(
        "oidc",
        help="run devstack's OpenID Connect provider (login page, code + PKCE, refresh tokens)",
    )
    from devstack.oidc.cli import add_oidc_arguments

    add_oidc_arguments(oidc)


def run(args: argparse.Namespace) -> int:
    """Run the chosen subcommand; returns the exit status."""
    command = getattr(args, "devstack_command", None)
    if command == "up":
        return _up(args)
    if command == "status":
        return _status(args)
    if command == "down":
        return _down(args)
    if command == "restart-api":
        return _restart_api(args)
    if command == "interlink-plugin":
        from devstack.interlink.cli import plugin_main

        return plugin_main(args)
    if command == "nvml-env":
        from devstack.nvml.cli import nvml_env_main

        return nvml_env_main(args)
    if command == "oidc":
        from devstack.oidc.cli import oidc_main

        return oidc_main(args)
    print(
        "usage: accelhub devstack {up,status,down,restart-api,interlink-plugin,nvml-env,oidc} "
        "[options]",
        file=sys.stderr,
    )
    return 2


def _state_dir(args: argparse.Namespace) -> Path:
    from devstack.runtime import default_state_dir

    return Path(args.state_dir) if getattr(args, "state_dir", None) else default_state_dir()


def _up(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from devstack.cluster import ClusterError
    from devstack.oidc import OidcProviderError
    from devstack.oidc.cli import provider_for_up
    from devstack.runtime import Devstack

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    controllers: list[Any] | None = None
    if args.controllers:
        controllers = (
            []
            if args.controllers == "none"
            else [c.strip() for c in args.controllers.split(",") if c.strip()]
        )
    sites: dict[str, str] = {}
    for item in args.site:
        node, sep, url = item.partition("=")
        if not sep or not node or not url.startswith(("http://", "https://")):
            print(
                f"devstack: --site wants NODE=URL with an http(s) URL, not {item!r}",
                file=sys.stderr,
            )
            return 2
        sites[node] = url
    try:
        provider = provider_for_up(args, _state_dir(args))
    except OidcProviderError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 2
    devstack = Devstack(
        cluster=args.cluster,
        port=args.port,
        state_dir=_state_dir(args),
        controllers=controllers,
        token=args.token,
        tls=not args.insecure_http,
        history_size=args.history_size,
        bookmark_interval=args.bookmark_interval,
        controller_options={
            "interlink": {
                "sites": sites,
                "status_period": args.site_poll,
                "ping_period": args.site_poll,
            }
        },
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        restarts: set[asyncio.Task[None]] = set()

        def restart_api() -> None:  # SIGHUP: `accelhub devstack restart-api`
            task = loop.create_task(devstack.restart_api(args.restart_downtime))
            restarts.add(task)
            task.add_done_callback(restarts.discard)

        loop.add_signal_handler(signal.SIGHUP, restart_api)
        async with devstack:
            if args.quiet:
                print(devstack.kubeconfig_path, flush=True)
            else:
                nodes = len(devstack.cluster.nodes) if devstack.cluster else 0
                names = ", ".join(type(c).__name__ for c in devstack.controllers) or "none"
                oidc = f"OIDC provider: {provider.issuer} (users {args.oidc})\n" if provider else ""
                print(
                    f"devstack is up: API server {devstack.url}, {nodes} nodes, "
                    f"controllers: {names}\n"
                    f"  export KUBECONFIG={devstack.kubeconfig_path}\n"
                    f"  kubectl get nodes\n"
                    f"{oidc}"
                    f"Press Ctrl-C to stop.",
                    flush=True,
                )
            await stop.wait()

    try:
        if provider is not None:
            provider.start()
        asyncio.run(main())
    except OidcProviderError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    except ClusterError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"devstack: cannot start: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 2
    finally:
        if provider is not None:
            provider.stop()
    return 0


def _read_state(state_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((state_dir / "devstack.json").read_text())
    except (OSError, ValueError):
        return None
    pid = data.get("pid")
    if not isinstance(pid, int):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return dict(data)


def _status(args: argparse.Namespace) -> int:
    state_dir = _state_dir(args)
    data = _read_state(state_dir)
    if data is None:
        print(f"devstack is not running (state dir {state_dir})")
        return 1
    counts = _counts(Path(data["kubeconfig"]))
    print(
        f"devstack is running: pid {data['pid']}, API server {data['url']}\n"
        f"  kubeconfig: {data['kubeconfig']}\n  {counts}"
    )
    return 0


def _counts(kubeconfig: Path) -> str:
    import base64
    import ssl
    import tempfile
    import urllib.request

    try:
        config = json.loads(kubeconfig.read_text())
        cluster = config["clusters"][0]["cluster"]
        token = config["users"][0]["user"]["token"]
        ctx = None
        if "certificate-authority-data" in cluster:
            with tempfile.NamedTemporaryFile("wb", suffix=".crt", delete=False) as fh:
                fh.write(base64.b64decode(cluster["certificate-authority-data"]))
            ctx = ssl.create_default_context(cafile=fh.name)
            os.unlink(fh.name)
        out = []
        for what, path in (("nodes", "/api/v1/nodes"), ("pods", "/api/v1/pods")):
            req = urllib.request.Request(
                cluster["server"] + path, headers={"Authorization": f"Bearer {token}"}
            )
            with urllib.request.urlopen(req, context=ctx, timeout=5) as resp:
                out.append(f"{len(json.load(resp)['items'])} {what}")
        return ", ".join(out)
    except (OSError, ValueError, KeyError) as exc:
        return f"(could not query the API server: {exc})"


def _down(args: argparse.Namespace) -> int:
    import time

    state_dir = _state_dir(args)
    data = _read_state(state_dir)
    if data is None:
        print(f"devstack is not running (state dir {state_dir})")
        return 1
    os.kill(data["pid"], signal.SIGTERM)
    for _ in range(100):
        if _read_state(state_dir) is None:
            print("devstack stopped")
            return 0
        time.sleep(0.1)
    print("devstack did not stop within 10 seconds", file=sys.stderr)
    return 1


def _restart_api(args: argparse.Namespace) -> int:
    state_dir = _state_dir(args)
    data = _read_state(state_dir)
    if data is None:
        print(f"devstack is not running (state dir {state_dir})")
        return 1
    os.kill(data["pid"], signal.SIGHUP)
    print(f"restarting the API server at {data['url']}")
    return 0

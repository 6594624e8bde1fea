"""`accelhub devstack interlink-plugin`: a local InterLink plugin in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path


def add_plugin_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the plugin subcommand."""
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: free)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--name", default="local-site", help="the site's name")
    parser.add_argument(
        "--queue-delay", type=float, default=0.0, metavar="S", help="seconds a job waits queued"
    )
    parser.add_argument(
        "--fail-create",
        metavar="MSG",
        help="refuse every job with 'sbatch: error: Batch job submission failed: MSG'",
    )
    parser.add_argument("--fail-run", metavar="MSG", help="every job fails as it starts, with MSG")
    parser.add_argument(
        "--accelerator",
        action="append",
        default=[],
        metavar="RESOURCE=N",
        help="an accelerator the site offers, e.g. nvidia.com/gpu=4 (repeatable)",
    )
    parser.add_argument("--state-dir", metavar="DIR", help="where job sandboxes live")


def plugin_main(args: argparse.Namespace) -> int:
    """Run the plugin until SIGINT/SIGTERM."""
    from devstack.interlink.server import LocalPlugin
    from devstack.interlink.site import Faults, SiteSettings

    capacity = {"cpu": "1000", "memory": "4Ti", "pods": "1000"}
    for item in args.accelerator:
        resource, sep, count = item.partition("=")
        if not sep or not count.isdigit():
            print(
                f"interlink-plugin: --accelerator wants RESOURCE=N, not {item!r}", file=sys.stderr
            )
            return 2
        capacity[resource] = count
    settings = SiteSettings(
        name=args.name,
        queue_delay=args.queue_delay,
        capacity=capacity,
        faults=Faults(fail_create=args.fail_create, fail_run=args.fail_run),
        state_dir=Path(args.state_dir) if args.state_dir else None,
    )
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")

    async def main() -> None:
        plugin = LocalPlugin(settings, host=args.host, port=args.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await plugin.start()
        print(f"InterLink plugin {args.name} listening on {plugin.url}", flush=True)
        try:
            await stop.wait()
        finally:
            await plugin.stop()

    try:
        asyncio.run(main())
    except OSError as exc:
        print(f"interlink-plugin: cannot start: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0

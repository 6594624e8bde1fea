"""`accelhub service`: run the hub service (JupyterHub starts it as a managed service)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "options",
        nargs=argparse.REMAINDER,
        help="traitlets options, e.g. --config=accelhub_service_config.py "
        "--db-url=postgresql://... --AccelhubService.idle_timeout_minutes=60",
    )
    # `accelhub` hands this command the options argparse does not know (all of them).
    parser.set_defaults(passthrough=True)


def run(args: argparse.Namespace) -> int:
    from .app import main

    main(list(args.options or []))
    return 0

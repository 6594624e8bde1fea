"""The ``accelhub`` command line: one entry point, one subcommand per concern."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from ._version import __version__

# Subcommand name -> module that provides ``add_arguments(parser)`` and ``run(args)``.
# Each module keeps its heavy imports inside ``run`` so building the parser stays cheap.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "devstack": ("devstack.cli", "run the single-machine Kubernetes stand-in"),
    "service": ("hub_ext.service.cli", "run the accelhub hub service"),
    "reservations": ("hub_ext.service.reservations_cli", "manage hackathon reservations"),
    "manifests": (
        "hub_ext.manifests",
        "print the RBAC and PriorityClasses to apply beside the z2jh chart",
    ),
    "values": ("hub_ext.values.check", "check Helm values for the z2jh chart and accelhub"),
}


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="accelhub",
        description="accelhub: accelerators, quotas and offload for JupyterHub on Kubernetes.",
    )
    parser.add_argument("--version", action="version", version=f"accelhub {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        module = importlib.import_module(module_name)
        module.add_arguments(sub)
        runner: Callable[[argparse.Namespace], int] = module.run
        sub.set_defaults(handler=runner)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return int(handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

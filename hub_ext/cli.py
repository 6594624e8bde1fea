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

OWN_PACKAGES = frozenset({"hub_ext", "server_ext"})

# What to install when a subcommand's modules are missing (each image installs one side).
INSTALL_HINTS: dict[str, str] = {
    "devstack": "devstack is not part of the accelhub wheel: in a source checkout run "
    "`pip install -e ./devstack-dist` (or `make setup`)",
    "service": "the hub service runs from the hub side: pip install 'accelhub[hub]'",
}


def _missing(name: str, error: ModuleNotFoundError) -> Callable[[argparse.Namespace], int]:
    """A handler that explains, in one sentence, what to install for ``name``."""
    hint = INSTALL_HINTS.get(name, "install accelhub with the extra for this side")

    def explain(args: argparse.Namespace) -> int:
        print(f"accelhub {name}: module {error.name!r} is not installed; {hint}.", file=sys.stderr)
        return 2

    return explain


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
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            sub.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            sub.set_defaults(handler=_missing(name, error))
            continue
        module.add_arguments(sub)
        runner: Callable[[argparse.Namespace], int] = module.run
        sub.set_defaults(handler=runner)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # argparse's REMAINDER does not take a leading `--option`: commands that pass
        # traitlets options on (`accelhub service --config=...`) get them here.
        if not getattr(args, "passthrough", False):
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        args.options = [*unknown, *(args.options or [])]
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except ModuleNotFoundError as error:  # a side's dependency, imported when the command runs
        if (error.name or "hub_ext").partition(".")[0] in OWN_PACKAGES:
            raise
        return _missing(args.command, error)(args)


if __name__ == "__main__":
    sys.exit(main())

"""``accelhub devstack nvml-env``: print the exports that show NVML clients simulated GPUs."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from .build import BuildError
from .env import nvml_env


def default_state_dir() -> Path:
    """``$ACCELHUB_DEVSTACK_STATE``, else ``$XDG_STATE_HOME/accelhub/devstack``."""
    explicit = os.environ.get("ACCELHUB_DEVSTACK_STATE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "accelhub" / "devstack"


def add_nvml_env_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``nvml-env``."""
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="devstack state directory holding the simulation file "
        "(default: $ACCELHUB_DEVSTACK_STATE or ~/.local/state/accelhub/devstack)",
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="where the built library is cached"
    )
    parser.add_argument(
        "--visible-devices",
        default=None,
        help="also export NVIDIA_VISIBLE_DEVICES (all, none, indices, GPU or MIG UUIDs)",
    )


def nvml_env_main(args: argparse.Namespace) -> int:
    """Build the library when needed and print shell ``export`` lines; 1 on failure."""
    state_dir = args.state_dir or default_state_dir()
    try:
        env = nvml_env(state_dir, cache_dir=args.cache_dir)
    except BuildError as error:
        print(f"accelhub: {error}", file=sys.stderr)
        return 1
    lib_dir = shlex.quote(env["LD_LIBRARY_PATH"])
    print(f'export LD_LIBRARY_PATH={lib_dir}"${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}"')
    for key, value in env.items():
        if key != "LD_LIBRARY_PATH":
            print(f"export {key}={shlex.quote(value)}")
    if args.visible_devices is not None:
        print(f"export NVIDIA_VISIBLE_DEVICES={shlex.quote(args.visible_devices)}")
    print("# simulated NVML (devstack test double): never use these in production", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``nvml-env`` on its own: ``python -m devstack.nvml.cli``."""
    parser = argparse.ArgumentParser(prog="accelhub devstack nvml-env", description=__doc__)
    add_nvml_env_arguments(parser)
    return nvml_env_main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

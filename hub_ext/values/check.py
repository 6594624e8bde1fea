"""Run every check over a list of values files; the `accelhub values check` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import content, login, wiring
from .merge import ValuesError, load_values, merge_values
from .problems import Problem


def accelhub_problems(values: Mapping[str, Any]) -> list[Problem]:
    """accelhub's own checks of merged values."""
    found = content.Found()
    content.check_catalog(values, found)
    content.check_service_config(values, found)
    content.check_quotas(found)
    content.check_reservations(found)
    content.check_priority_classes(found)
    content.check_culler(values, found)
    wiring.check_reachability(values, found)
    wiring.check_activity(values, found)
    wiring.check_tokens(values, found)
    wiring.check_roles(values, found)
    wiring.check_environment(values, found)
    login.check_login(values, found)
    return found.problems


def check_files(files: Sequence[str], chart: str | None = None) -> list[Problem]:
    """Merge ``files`` (over the chart's defaults when given) and check them."""
    from .schema import chart_defaults, load_schema, schema_problems

    layers: list[Mapping[str, Any]] = []
    schema = None
    if chart:
        layers.append(chart_defaults(Path(chart)))
        schema = load_schema(Path(chart))
    layers += [load_values(f) for f in files]
    values = merge_values(layers)
    problems = schema_problems(values, schema) if schema is not None else []
    return problems + accelhub_problems(values)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`accelhub values` options."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="check Helm values files for z2jh and accelhub")
    check.add_argument("files", nargs="+", metavar="FILE", help="values files, in -f order")
    check.add_argument(
        "--chart",
        metavar="DIR",
        help="the unpacked z2jh chart: merge over its defaults and validate its schema",
    )


def run(args: argparse.Namespace) -> int:
    """Print one line per problem; exit 1 if there is any."""
    try:
        problems = check_files(args.files, args.chart)
    except ValuesError as err:
        print(f"accelhub: {err}", file=sys.stderr)
        return 1
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"accelhub: {len(problems)} problem(s) in the values", file=sys.stderr)
        return 1
    print(f"ok: {', '.join(args.files)}")
    return 0

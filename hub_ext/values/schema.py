"""The chart's own validation: its defaults and its values schema, read from an unpacked chart."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .merge import ValuesError, load_values
from .problems import Problem


def chart_defaults(chart: Path) -> dict[str, Any]:
    """The chart's values.yaml."""
    path = chart / "values.yaml"
    if not path.is_file():
        raise ValuesError(f"{chart}: not a chart directory (no values.yaml)")
    return load_values(path)


def chart_metadata(chart: Path) -> dict[str, Any]:
    """The chart's Chart.yaml (name, version, appVersion)."""
    data = yaml.safe_load((chart / "Chart.yaml").read_text(encoding="utf-8"))
    return dict(data) if isinstance(data, Mapping) else {}


def load_schema(chart: Path) -> dict[str, Any] | None:
    """values.schema.json (as packaged) or values.schema.yaml (as in the chart's source)."""
    for name, parse in (("values.schema.json", json.loads), ("values.schema.yaml", yaml.safe_load)):
        path = chart / name
        if path.is_file():
            return dict(parse(path.read_text(encoding="utf-8")))
    return None


def _key(path: Any) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in path]
    return "".join(parts).lstrip(".") or "(top level)"


def schema_problems(values: Mapping[str, Any], schema: Mapping[str, Any]) -> list[Problem]:
    """Every schema violation, named by its key, as `helm` would refuse the values."""
    import jsonschema

    validator = jsonschema.Draft7Validator(schema)
    out = []
    for error in sorted(validator.iter_errors(values), key=lambda e: list(map(str, e.path))):
        out.append(Problem(_key(error.absolute_path), error.message))
    return out

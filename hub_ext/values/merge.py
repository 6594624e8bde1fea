"""Values files merged as Helm merges them: maps merge, lists and scalars replace, null deletes."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml


class ValuesError(ValueError):
    """A values file that cannot be read as a YAML mapping."""


def load_values(path: str | Path) -> dict[str, Any]:
    """One values file (an empty file is ``{}``)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ValuesError(f"{path}: cannot read it ({err.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValuesError(f"{path}: not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ValuesError(f"{path}: the top level must be a mapping of keys")
    return dict(data)


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: copy.deepcopy(v) for k, v in base.items()}
    for key, value in over.items():
        if value is None:
            out.pop(key, None)  # helm: a null in a later file deletes the key
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = _strip_nulls(copy.deepcopy(value))
    return out


def _strip_nulls(value: Any) -> Any:
    """Nulls inside a newly added map are dropped too, as Helm's coalescing does."""
    if isinstance(value, Mapping):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    return value


def merge_values(layers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Later layers over earlier ones (the chart's defaults first, then each ``-f`` file).
    Null values do not survive, the chart's own included: z2jh's jupyterhub_config.py relies
    on it (``get_config("nameOverride", default=...)`` with ``nameOverride:`` null)."""
    out: dict[str, Any] = {}
    for layer in layers:
        out = _merge(out, layer)
    return out

"""Preparing a notebook for a job: parameters after the `parameters` cell, cell jobs.

Parameters follow papermill's convention: a code cell tagged `injected-parameters` is
inserted right after the first cell tagged `parameters` (at the top when there is none),
assigning each parameter as a Python literal. A cell job keeps only the cells it needs:
the target, its setup cells (those tagged `setup`, or every code cell above it) and the
`parameters` cell when it sits above the target.
"""

from __future__ import annotations

import copy
import json
from typing import Any

SETUP_POLICIES = ("tagged", "above")
PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
SETUP_TAG = "setup"

Notebook = dict[str, Any]


class NotebookError(ValueError):
    """A job that cannot be prepared, with a sentence saying why."""


def _tags(cell: dict[str, Any]) -> list[str]:
    return list((cell.get("metadata") or {}).get("tags") or [])


def _literal(value: Any) -> str:
    """A Python literal for a JSON value (true/false/null become True/False/None)."""
    if value is None or isinstance(value, bool | int | float | str):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    raise NotebookError(f"parameter value {json.dumps(value)} is not plain JSON")


def parameters_source(parameters: dict[str, Any]) -> str:
    """The source of the injected cell."""
    lines = ["# Parameters"]
    for name, value in parameters.items():
        if not name.isidentifier():
            raise NotebookError(f"parameter name {name!r} is not a Python identifier")
        lines.append(f"{name} = {_literal(value)}")
    return "\n".join(lines) + "\n"


def inject_parameters(nb: Notebook, parameters: dict[str, Any]) -> Notebook:
    """A copy of `nb` with the injected-parameters cell (unchanged when there are none)."""
    if not parameters:
        return nb
    out = copy.deepcopy(nb)
    cells = [c for c in out["cells"] if INJECTED_TAG not in _tags(c)]
    injected: dict[str, Any] = {
        "cell_type": "code",
        "id": "injected-parameters",
        "metadata": {"tags": [INJECTED_TAG]},
        "execution_count": None,
        "outputs": [],
        "source": parameters_source(parameters),
    }
    where = next((i + 1 for i, c in enumerate(cells) if PARAMETERS_TAG in _tags(c)), 0)
    cells.insert(where, injected)
    out["cells"] = cells
    return out


def select_cell_job(nb: Notebook, cell_id: str, setup: str) -> Notebook:
    """A copy of `nb` with only the cells a one-cell job runs."""
    if setup not in SETUP_POLICIES:
        raise NotebookError(f"setup must be one of {', '.join(SETUP_POLICIES)}, not {setup!r}")
    cells = nb.get("cells") or []
    index = next((i for i, c in enumerate(cells) if c.get("id") == cell_id), None)
    if index is None:
        raise NotebookError(f"the notebook has no cell with id {cell_id!r}")
    if cells[index].get("cell_type") != "code":
        raise NotebookError(f"cell {cell_id!r} is not a code cell")
    keep = []
    for i, cell in enumerate(cells[:index]):
        if cell.get("cell_type") != "code":
            continue
        tags = _tags(cell)
        if PARAMETERS_TAG in tags or setup == "above" or SETUP_TAG in tags:
            keep.append(i)
    keep.append(index)
    out = copy.deepcopy(nb)
    out["cells"] = [copy.deepcopy(cells[i]) for i in keep]
    return out

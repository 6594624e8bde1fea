"""The dependency pins admit only versions whose APIs the code uses."""

from __future__ import annotations

import inspect
import re
import tomllib
from importlib.metadata import version

from jupyterhub.spawner import SpawnException
from packaging.requirements import Requirement
from packaging.version import Version

from tests.conftest import REPO_ROOT


def _requirement(name: str) -> Requirement:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    lines = [*project["dependencies"], *project["optional-dependencies"]["hub"]]
    for line in lines:
        requirement = Requirement(line)
        if requirement.name == name:
            return requirement
    raise AssertionError(f"{name} is not a dependency")


def _lower_bound(requirement: Requirement) -> Version:
    bounds = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==")]
    assert bounds, f"{requirement} has no lower bound"
    return max(bounds)


def test_jupyterhub_pin_has_spawn_exception_with_reason_and_status() -> None:
    """The spawner raises SpawnException(message, reason=..., status_code=...): the pin's
    lower bound must be the release that added it (the installed source says which)."""
    params = inspect.signature(SpawnException).parameters
    assert {"reason", "status_code"} <= set(params)
    added = re.search(r"versionadded:+\s*([\d.]+)", SpawnException.__doc__ or "")
    assert added, "the installed SpawnException no longer says when it was added"
    requirement = _requirement("jupyterhub")
    assert _lower_bound(requirement) >= Version(added.group(1)), requirement
    assert Version(version("jupyterhub")) in requirement.specifier

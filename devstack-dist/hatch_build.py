"""Build the `devstack` package from the repository root into the accelhub-devstack wheel.

Only the standard wheel copies it; the editable install points at the repository root
(`dev-mode-dirs`), so the working tree's devstack is the one imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class DevstackSources(BuildHookInterface):
    """Add ../devstack to the standard wheel as the `devstack` package."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "standard":
            build_data["force_include"][str(Path(self.root).parent / "devstack")] = "devstack"

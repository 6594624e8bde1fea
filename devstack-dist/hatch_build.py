"""Build the `devstack` package from the repository root into the accelhub-devstack wheel.

Only the standard wheel copies it; the editable install points at the repository root
(`dev-mode-dirs`), so the working tree's devstack is the one imported. Installed npm
packages (devstack/oidc/node_modules, from `make setup`) and bytecode stay out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SKIPPED = {"node_modules", "__pycache__"}


class DevstackSources(BuildHookInterface):
    """Add ../devstack to the standard wheel as the `devstack` package."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version != "standard":
            return
        source = Path(self.root).parent / "devstack"
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(source)
            if path.is_file() and not SKIPPED & set(relative.parts) and path.suffix != ".pyc":
                build_data["force_include"][str(path)] = f"devstack/{relative.as_posix()}"

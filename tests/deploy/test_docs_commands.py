"""The `accelhub ...` commands the admin and organiser guides show are ones the CLI accepts."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from hub_ext.cli import build_parser

DOCS = Path(__file__).resolve().parents[2] / "docs"


def commands(name: str) -> list[str]:
    """Every `accelhub ...` command line in the guide's shell blocks, and inline ones with
    options (an inline `accelhub manifests` alone names the command, it is not one)."""
    text = (DOCS / name).read_text()
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        found += [ln.split("|")[0].strip() for ln in joined.splitlines()]
    found += [c for c in re.findall(r"`(accelhub [^`|]+)", text) if " --" in c]  # not names
    return [c.split("#")[0].strip() for c in found if c.startswith("accelhub ")]


@pytest.mark.parametrize("guide", ["admin-guide.md", "organiser-guide.md"])
def test_guide_commands_parse(guide: str) -> None:
    shown = commands(guide)
    assert shown, f"{guide} shows no accelhub command"
    parser = build_parser()
    for line in shown:
        argv = shlex.split(line.replace("...", "x"))[1:]
        try:
            parser.parse_args(argv)
        except SystemExit as exit:
            pytest.fail(f"{guide}: `{line}` is refused by the CLI (exit {exit.code})")


def test_organiser_guide_shows_create_list_update_delete() -> None:
    actions = {shlex.split(c)[2] for c in commands("organiser-guide.md") if "reservations" in c}
    assert {"create", "list", "update", "delete"} <= actions

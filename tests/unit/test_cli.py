"""The `accelhub` command line: options pass through to the service, missing sides explain."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hub_ext import cli
from tests.conftest import REPO_ROOT, subprocess_env


def test_service_takes_traitlets_options_first() -> None:
    """`accelhub service --config=...` is how JupyterHub starts the service: argparse's
    REMAINDER alone rejected a leading option."""
    done = subprocess.run(
        [sys.executable, "-m", "hub_ext.cli", "service", "--help-all"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        cwd=REPO_ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "--AccelhubService." in done.stdout


def test_unknown_option_of_other_commands_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["manifests", "--namespace", "hub", "--no-such-option"])
    assert exit_info.value.code == 2
    assert "--no-such-option" in capsys.readouterr().err


def test_a_command_whose_module_is_missing_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(cli.SUBCOMMANDS, "devstack", ("no_such_devstack.cli", "stand-in"))
    assert cli.main(["devstack", "up", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "module 'no_such_devstack' is not installed" in err
    assert "pip install -e ./devstack-dist" in err

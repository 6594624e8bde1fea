"""The wheel and the images' installs of it, begun in the background as soon as collection
has selected tests that use them (tests/packaging/installs.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.packaging.installs import Builds

HERE = Path(__file__).parent
BUILDS = pytest.StashKey[Builds]()


def _begin(session: pytest.Session) -> Builds:
    builds = Builds(Path(tempfile.mkdtemp(prefix="accelhub-packaging-")))
    session.stash[BUILDS] = builds
    return builds


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly:
        return
    used = {
        name
        for item in session.items
        if isinstance(item, pytest.Function) and item.path.parent == HERE
        for name in item.fixturenames
    }
    if "wheel" in used:
        builds = _begin(session)
        if "sides" in used:
            builds.start_installs()


def pytest_sessionfinish(session: pytest.Session) -> None:
    builds = session.stash.get(BUILDS, None)
    if builds is not None:
        builds.close()


@pytest.fixture(scope="session")
def builds(request: pytest.FixtureRequest) -> Builds:
    session = request.session
    return session.stash[BUILDS] if BUILDS in session.stash else _begin(session)


@pytest.fixture(scope="session")
def wheel(builds: Builds) -> Path:
    """The wheel `pip wheel . --no-deps` builds, once per test session."""
    return builds.wheel.result()

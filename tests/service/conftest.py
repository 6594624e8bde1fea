"""Fixtures of the service tests: stores on SQLite and on a real PostgreSQL server, and a hub."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hub_ext.service.store import make_engine, migrate
from tests.service.hubstack import Hub, start_hub
from tests.service.postgres import PostgresServer, start_postgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'accelhub.sqlite'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.url(server.create_database())


async def migrated(url: str, **options: int) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(url, **options)
    await migrate(eng)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
async def engine(store_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated engine on the store."""
    async for eng in migrated(store_url, pool_size=20):
        yield eng


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated engine on a SQLite store only (tests of the cluster side)."""
    async for eng in migrated(f"sqlite:///{tmp_path / 'svc.sqlite'}"):
        yield eng


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A real JupyterHub running the service on its own SQLite store, fresh for each module."""
    state: Path = tmp_path_factory.mktemp("hub")
    running = start_hub(state / "hub", f"sqlite:///{state / 'accelhub.sqlite'}")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def store_hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hub]:
    """A real JupyterHub whose service stores on SQLite, then one on the embedded PostgreSQL."""
    state: Path = tmp_path_factory.mktemp("hub")
    if request.param == "sqlite":
        db = f"sqlite:///{state / 'accelhub.sqlite'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        db = server.url(server.create_database())
    running = start_hub(state / "hub", db)
    try:
        yield running
    finally:
        running.stop()

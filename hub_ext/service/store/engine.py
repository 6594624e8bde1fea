"""The database engine: SQLite (WAL) by default, PostgreSQL by URL, migrated by Alembic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Execution option that marks a connection's transactions as writes (SQLite: BEGIN IMMEDIATE).
WRITE = "accelhub_write"


class StoreURLError(ValueError):
    """A store URL the service cannot use; the message is a sentence."""


def async_url(url: str) -> str:
    """Map plain URLs to their asyncio drivers (aiosqlite, psycopg 3)."""
    if url.startswith("sqlite:///") or url == "sqlite://":
        return "sqlite+aiosqlite" + url[len("sqlite") :]
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    """The asyncio engine; SQLite gets WAL, a busy timeout and immediate write transactions."""
    url = async_url(url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        if engine.url.database in (None, "", ":memory:"):
            raise StoreURLError(
                "The store must outlive the service: use sqlite:///path/to/file or postgresql://."
            )
        _tune_sqlite(engine.sync_engine)
        return engine
    if not url.startswith("postgresql"):
        raise StoreURLError(f"The store must be SQLite or PostgreSQL, not {url.split(':')[0]}.")
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.url.get_backend_name() == "sqlite"


def sqlite_pragmas(dbapi_connection: Any) -> None:
    """A new SQLite connection's settings: WAL, foreign keys, and BEGIN left to the engine."""
    # Take transaction control from the driver so that the engine's BEGIN applies.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        sqlite_pragmas(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A write takes the lock when it begins, never half way through (no upgrade deadlock);
        # reads begin deferred and never wait for a writer (WAL).
        immediate = conn.get_execution_options().get(WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the service's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest migration."""

    def _upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), "head")

    async with engine.execution_options(**{WRITE: True}).begin() as conn:
        await conn.run_sync(_upgrade)

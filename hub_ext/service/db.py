"""The SQL engines: SQLite (WAL) by default, PostgreSQL by URL, migrated by Alembic.

The service reads through an asyncio engine and writes through a blocking one that only the
writer's own thread uses (see ``writer.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


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
    """Create the asyncio engine; SQLite gets WAL, a busy timeout and one writer at a time."""
    url = async_url(url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        if engine.url.database in (None, "", ":memory:"):
            raise StoreURLError(
                "The store must outlive the service: use sqlite:///path/to/file or postgresql://."
            )
        _tune_sqlite(engine.sync_engine)
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def blocking_engine(engine: AsyncEngine) -> Engine:
    """A blocking engine on the same database as `engine`, for the writer's thread.

    Its SQLite connections never checkpoint the WAL when they commit: the writer checkpoints
    from another thread, so that no commit waits for one. Its PostgreSQL connections run in
    autocommit mode (the writer sends BEGIN and COMMIT itself, and none for a batch of one
    statement) and look rows up by index only.
    """
    url: URL = engine.url
    backend = url.get_backend_name()
    if backend == "sqlite":
        blocking = create_engine(
            url.set(drivername="sqlite"),
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=2,
            max_overflow=0,
        )
        _tune_sqlite(blocking, autocheckpoint=False)
        return blocking
    if backend == "postgresql":
        blocking = create_engine(
            url.set(drivername="postgresql+psycopg"),
            pool_size=2,
            max_overflow=0,
            pool_pre_ping=True,
        )
        _tune_postgres_writer(blocking)
        return blocking
    raise StoreURLError(f"The store must be SQLite or PostgreSQL, not {url.drivername}.")


def is_sqlite(engine: AsyncEngine | Engine) -> bool:
    return engine.url.get_backend_name() == "sqlite"


def _tune_sqlite(engine: Engine, autocheckpoint: bool = True) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so that BEGIN IMMEDIATE below applies.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        if not autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _tune_postgres_writer(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.autocommit = True
        # Every batched UPDATE finds its rows by primary key. psycopg prepares statements it
        # sees often, and the server then keeps one generic plan; planned while the table was
        # small (or its statistics stale), that was a hash join over the whole table, slower
        # with every lease. On these connections the only plan is the index lookup per row.
        for setting in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin"):
            dbapi_connection.execute(f"SET {setting} = off")


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

    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)

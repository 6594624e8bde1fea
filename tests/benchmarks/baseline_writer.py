"""The baseline of the admission benchmark: the group-commit writer thread the service used
before its repository (kept here, and used only by the benchmark, to measure against).

Group commit on a dedicated writer thread.

Callers hand over their rows and wait; one task gathers everything pending into a batch and
passes it to a thread that commits it on a blocking driver connection, the rows of one template
becoming one multi-row statement (``statements.py``). The event loop pays one thread hop per
batch, never one per statement, and keeps deciding while the database works. A batch of one
statement (the usual case: 50 lease starts, or 50 lease ends) is its own transaction, with no
BEGIN or COMMIT around it: on PostgreSQL one network round trip.

On SQLite the writer's connection never checkpoints the WAL when it commits. A second thread
checkpoints once writes pause (`checkpoint_idle_seconds`), so no commit waits for a checkpoint
and none competes with one under load; only after `checkpoint_max_seconds` of unbroken writing
does the writer spend one turn on a checkpoint, so that the WAL can be reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncRawCursor, RawCursor
from sqlalchemy import Connection, Dialect, Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection

from hub_ext.service.records import LeaseRecord, LineEntry
from hub_ext.service.store import Repository
from hub_ext.service.store.engine import sqlite_pragmas
from hub_ext.service.store.repository import lease_keys, lease_values
from tests.benchmarks import baseline_statements as st
from tests.benchmarks.baseline_statements import Params, Template

log = logging.getLogger("accelhub.bench")

Segment = list[tuple[Template, list[dict[str, Any]]]]


@dataclass(frozen=True)
class Op:
    """One row for a statement template; `keys` name the rows it touches."""

    statement: Template
    params: dict[str, Any]
    keys: tuple[str, ...] = field(default=())


Pending = tuple[Sequence[Op], asyncio.Future[None]]


class WriterStopped(RuntimeError):
    """The writer stopped before a write could be committed."""


def segments(ops: Sequence[Op]) -> list[Segment]:
    """Group ops by template while no row is touched by two templates in one segment,
    so reordering within a segment cannot change the result."""
    template = ops[0].statement if ops else None
    if all(op.statement is template for op in ops):  # the usual batch: one kind of write
        return [[(template, [op.params for op in ops])]] if template is not None else []
    result: list[Segment] = []
    groups: dict[int, tuple[Template, list[dict[str, Any]]]] = {}
    owner: dict[str, int] = {}
    for op in ops:
        tid = id(op.statement)
        if any(owner.get(k, tid) != tid for k in op.keys):
            result.append(list(groups.values()))
            groups, owner = {}, {}
        groups.setdefault(tid, (op.statement, []))[1].append(op.params)
        for key in op.keys:
            owner[key] = tid
    if groups:
        result.append(list(groups.values()))
    return result


def statements(ops: Sequence[Op], dialect: Dialect) -> Iterator[tuple[str, Params]]:
    """The SQL to run for the ops, in order: one statement per template and segment."""
    for segment in segments(ops):
        for template, rows in segment:
            yield from template.render(dialect, rows)


class Writer:
    """Serialises writes through one task, one thread and one connection."""

    def __init__(
        self,
        engine: AsyncEngine,
        max_batch: int = 512,
        checkpoint_idle_seconds: float = 0.25,
        checkpoint_max_seconds: float = 30.0,
    ) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.checkpoint_idle_seconds = checkpoint_idle_seconds
        self.checkpoint_max_seconds = checkpoint_max_seconds
        self.batches = 0
        self.checkpoints = 0
        self._last_commit = 0.0
        self._pending: list[Pending] = []
        self._in_flight: list[Pending] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._blocking: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._checkpoint_thread: ThreadPoolExecutor | None = None
        self._conn: PoolProxiedConnection | None = None
        self._checkpoint_conn: PoolProxiedConnection | None = None

    def start(self) -> None:
        """Start the writer thread (and the SQLite checkpointer)."""
        if self._tasks:
            return
        self._loop = asyncio.get_running_loop()
        self._blocking = blocking_engine(self.engine)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="accelhub-writer")
        self._tasks.append(asyncio.create_task(self._run(), name="accelhub-writer"))
        if is_sqlite(self._blocking):
            self._checkpoint_thread = ThreadPoolExecutor(1, thread_name_prefix="accelhub-wal")
            self._tasks.append(
                asyncio.create_task(self._checkpoint_loop(), name="accelhub-wal-checkpoint")
            )

    async def stop(self) -> None:
        """Commit what is pending (waiting at most ~5 s), then close the thread and connection."""
        if self._tasks:
            for _ in range(500):
                if not self._pending and not self._in_flight:
                    break
                await asyncio.sleep(0.01)
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._tasks = []
            for _, future in self._pending + self._in_flight:
                _settle(future, WriterStopped("The service stopped before the change was saved."))
            self._pending, self._in_flight = [], []
        loop = asyncio.get_running_loop()
        if self._thread is not None:
            await loop.run_in_executor(self._thread, self._close_blocking)
            self._thread.shutdown(wait=False)
            self._thread = None
        if self._checkpoint_thread is not None:
            await loop.run_in_executor(self._checkpoint_thread, self._checkpoint_beside, True)
            self._checkpoint_thread.shutdown(wait=False)
            self._checkpoint_thread = None
        if self._blocking is not None:
            self._blocking.dispose()
            self._blocking = None

    async def write(self, ops: Sequence[Op]) -> None:
        """Commit the ops (in a transaction shared with other callers)."""
        if not self._tasks:
            async with self.engine.begin() as conn:
                await _execute_async(conn, ops)
            return
        assert self._loop is not None
        future: asyncio.Future[None] = self._loop.create_future()
        self._pending.append((ops, future))
        self._wake.set()
        await future

    # -- the event-loop side ---------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                self._in_flight = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                await self._commit(self._in_flight)
                self._in_flight = []

    async def _commit(self, batch: list[Pending]) -> None:
        ops = [op for items, _ in batch for op in items]
        assert self._thread is not None
        try:
            await asyncio.get_running_loop().run_in_executor(
                self._thread, self._commit_blocking, ops
            )
        except Exception as error:
            if len(batch) == 1:
                _settle(batch[0][1], error)
                return
            log.warning("batched write failed (%s); retrying one by one", error)
            for item in batch:
                await self._commit([item])
            return
        self.batches += 1
        self._last_commit = time.monotonic()
        for _, future in batch:
            _settle(future, None)

    async def _checkpoint_loop(self) -> None:
        """Checkpoint when writes pause; after too long without a pause, between two batches."""
        assert self._checkpoint_thread is not None and self._thread is not None
        loop = asyncio.get_running_loop()
        poll = min(self.checkpoint_idle_seconds, self.checkpoint_max_seconds, 0.1)
        done, last = self.batches, time.monotonic()
        while True:
            await asyncio.sleep(poll)
            now = time.monotonic()
            if self.batches == done:
                continue
            run: Callable[[], None]
            if now - self._last_commit >= self.checkpoint_idle_seconds:
                # Nobody is writing: checkpoint beside the writer.
                thread, run = self._checkpoint_thread, self._checkpoint_beside
            elif now - last >= self.checkpoint_max_seconds:
                # A checkpoint beside a busy writer never completes (new frames keep coming),
                # so the WAL could not be reused: take the writer's turn for it instead.
                thread, run = self._thread, self._checkpoint_on_writer
            else:
                continue
            done, last = self.batches, now
            try:
                await loop.run_in_executor(thread, run)
                self.checkpoints += 1
            except Exception as error:  # the next round tries again
                log.warning("WAL checkpoint failed: %s", error)

    # -- the threads' side ------------------------------------------------------------

    def _writer_connection(self) -> PoolProxiedConnection:
        if self._conn is None or not self._conn.is_valid:
            assert self._blocking is not None
            self._conn = self._blocking.raw_connection()
        return self._conn

    def _commit_blocking(self, ops: Sequence[Op]) -> None:
        assert self._blocking is not None
        conn = self._writer_connection()
        try:
            commit_rows(conn, self._blocking.dialect, ops)
        except Exception:
            if _broken(conn):
                conn.invalidate()  # a fresh connection for the next batch
            raise

    def _checkpoint_beside(self, final: bool = False) -> None:
        # A raw connection: the pragma must run outside any transaction.
        if self._checkpoint_conn is None:
            assert self._blocking is not None
            self._checkpoint_conn = self._blocking.raw_connection()
        _checkpoint(self._checkpoint_conn, "TRUNCATE" if final else "PASSIVE")
        if final:
            self._checkpoint_conn.close()
            self._checkpoint_conn = None

    def _checkpoint_on_writer(self) -> None:
        _checkpoint(self._writer_connection(), "PASSIVE")

    def _close_blocking(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _checkpoint(connection: PoolProxiedConnection, mode: str) -> None:
    sqlite = connection.driver_connection
    assert sqlite is not None
    sqlite.execute(f"PRAGMA wal_checkpoint({mode})")


def commit_rows(conn: PoolProxiedConnection, dialect: Dialect, ops: Sequence[Op]) -> None:
    """Apply the ops in one transaction on a blocking driver connection; driver errors come
    out as SQLAlchemy's (IntegrityError, OperationalError, ...), as from any other query."""
    driver: Any = conn.driver_connection
    postgres = dialect.name == "postgresql"
    todo = list(statements(ops, dialect))
    sql = todo[0][0] if todo else ""
    try:
        # PostgreSQL: a raw cursor sends the text with its $n parameters as it is.
        run = RawCursor(driver).execute if postgres else driver.execute
        if len(todo) == 1:
            run(*todo[0])  # one statement is a transaction of its own: no BEGIN, no COMMIT
            return
        sql = "BEGIN" if postgres else "BEGIN IMMEDIATE"
        run(sql)
        try:
            for sql, params in todo:
                run(sql, params)
            sql = "COMMIT"
            run(sql)
        except BaseException:
            with contextlib.suppress(Exception):  # the first error is the one to report
                run("ROLLBACK")
            raise
    except dialect.loaded_dbapi.Error as error:
        raise _sqlalchemy_error(error, sql, dialect) from error


def _sqlalchemy_error(error: Exception, sql: str, dialect: Dialect) -> StatementError:
    """The driver's error as SQLAlchemy raises it for any query (IntegrityError, ...), naming
    the statement by its start: a batch's full text runs to thousands of placeholders."""
    shown = sql if len(sql) <= 160 else sql[:160] + " ..."
    return DBAPIError.instance(
        shown, None, error, dialect.loaded_dbapi.Error, hide_parameters=True, dialect=dialect
    )


def _broken(conn: PoolProxiedConnection) -> bool:
    driver: Any = conn.driver_connection
    return bool(getattr(driver, "broken", False) or getattr(driver, "closed", False))


async def _execute_async(conn: AsyncConnection, ops: Sequence[Op]) -> None:
    """The ops on the asyncio driver, inside the caller's transaction (no writer thread)."""
    dialect = conn.dialect
    driver: Any = (await conn.get_raw_connection()).driver_connection
    execute = AsyncRawCursor(driver).execute if dialect.name == "postgresql" else driver.execute
    for sql, params in statements(ops, dialect):
        try:
            await execute(sql, params)
        except dialect.loaded_dbapi.Error as error:
            raise _sqlalchemy_error(error, sql, dialect) from error


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


# -- the blocking engine the writer thread used (from the service's former db.py) -----------


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
    raise ValueError(f"The store must be SQLite or PostgreSQL, not {url.drivername}.")


def is_sqlite(engine: AsyncEngine | Engine) -> bool:
    return engine.url.get_backend_name() == "sqlite"


def _tune_sqlite(engine: Engine, autocheckpoint: bool = True) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        sqlite_pragmas(dbapi_connection)  # the service's, and BEGIN IMMEDIATE below
        if not autocheckpoint:
            cursor = dbapi_connection.cursor()
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


# -- the admission writes of the repository, through the writer ------------------------------


class WriterRepository(Repository):
    """The repository with its admission writes (lease start, bind and end; joining and
    leaving the line) committed by the group-commit writer, as the service did before."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self.writer = Writer(engine)

    def start(self) -> None:
        self.writer.start()

    async def stop(self) -> None:
        await self.writer.stop()

    async def start_lease(self, lease: LeaseRecord, served: LineEntry | None = None) -> None:
        ops = [Op(st.INSERT_LEASE, lease_values(lease), lease_keys(lease))]
        if served is not None:
            values = {
                "id": served.id,
                "left_at": lease.started_at,
                "outcome": "granted",
                "lease_id": lease.id,
            }
            ops.append(Op(st.LEAVE_QUEUE, values, (f"queue:{served.id}",)))
        await self.writer.write(ops)

    async def bind_lease(self, lease: LeaseRecord) -> None:
        values = {
            "id": lease.id,
            "namespace": lease.namespace,
            "pod": lease.pod,
            "bound_at": lease.bound_at,
            "expires_at": lease.expires_at,
        }
        await self.writer.write([Op(st.BIND_LEASE, values, lease_keys(lease))])

    async def end_lease(self, lease: LeaseRecord) -> None:
        values = {
            "id": lease.id,
            "ended_at": lease.ended_at,
            "end_reason": lease.end_reason,
            "end_message": lease.end_message,
        }
        await self.writer.write([Op(st.END_LEASE, values, lease_keys(lease))])

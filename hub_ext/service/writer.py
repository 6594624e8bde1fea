"""Group commit: writes of many decisions share one transaction on one connection; runs of the
same statement become one executemany. Each caller awaits the commit of its own writes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

log = logging.getLogger("accelhub.service")


@dataclass(frozen=True)
class Op:
    """One statement template with its parameters; `keys` name the rows it touches."""

    statement: Executable
    params: dict[str, Any]
    keys: tuple[str, ...] = field(default=())


Pending = tuple[Sequence[Op], asyncio.Future[None]]


def segments(ops: Sequence[Op]) -> list[list[tuple[Executable, list[dict[str, Any]]]]]:
    """Group ops by template while no row is touched by two templates in one segment,
    so reordering within a segment cannot change the result."""
    result: list[list[tuple[Executable, list[dict[str, Any]]]]] = []
    groups: dict[int, tuple[Executable, list[dict[str, Any]]]] = {}
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


class Writer:
    """Serialises writes through one task and one connection."""

    def __init__(self, engine: AsyncEngine, max_batch: int = 512) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._pending: list[Pending] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: AsyncConnection | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="accelhub-writer")

    async def stop(self) -> None:
        if self._task is not None:
            for _ in range(500):  # let pending writes land (at most ~5 s)
                if not self._pending:
                    break
                await asyncio.sleep(0.01)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def write(self, ops: Sequence[Op]) -> None:
        """Commit the ops (in a transaction shared with other callers)."""
        if self._task is None:
            async with self.engine.begin() as conn:
                await _execute(conn, ops)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((ops, future))
        self._wake.set()
        await future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                await self._commit(batch)

    async def _connection(self) -> AsyncConnection:
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            self._conn = await self.engine.connect()
        return self._conn

    async def _commit(self, batch: list[Pending]) -> None:
        ops = [op for items, _ in batch for op in items]
        try:
            conn = await self._connection()
            async with conn.begin():
                await _execute(conn, ops)
        except Exception as error:
            if self._conn is not None and self._conn.invalidated:
                self._conn = None
            if len(batch) == 1:
                _settle(batch[0][1], error)
                return
            log.warning("batched write failed (%s); retrying one by one", error)
            for item in batch:
                await self._commit([item])
            return
        for _, future in batch:
            _settle(future, None)


async def _execute(conn: AsyncConnection, ops: Sequence[Op]) -> None:
    for segment in segments(ops):
        for statement, params in segment:
            await conn.execute(statement, params if len(params) > 1 else params[0])


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)

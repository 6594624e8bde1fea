"""Group commit: the changes that concurrent callers ask for while a transaction is committing
are committed together in the next one, and each caller still awaits its own durable commit and
gets its own error.

A change is a list of steps: a Core statement with its parameters, or a coroutine function run
on the transaction's connection. In a batch, the n-th steps of all changes run together, and
the ones with the same statement and parameter names as one executemany; a change's own steps
keep their order. Changes of the same rows never share a batch (a later one waits for the
earlier one's commit), so the order of changes within a batch does not matter. When a batch
fails, its changes are committed again one transaction each, so that only the failing ones
fail. A change whose caller is cancelled after asking is still committed: what it records may
already be in memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .engine import WRITE

log = logging.getLogger("accelhub.service.store")


@dataclass(frozen=True)
class Write:
    """One statement and its parameters; writes of the same statement object are batched."""

    statement: Executable
    params: dict[str, Any] = field(default_factory=dict)


Step = Write | Callable[[AsyncConnection], Awaitable[None]]


class StoreStopped(RuntimeError):
    """The store stopped before a change was committed."""


@dataclass
class _Change:
    steps: Sequence[Step]
    done: asyncio.Future[None]


class GroupCommit:
    """Commits changes in shared transactions, at most `concurrency` at a time (1 on SQLite,
    which takes one writer at a time); the changes asked for meanwhile wait for the next."""

    def __init__(self, engine: AsyncEngine, concurrency: int = 1, max_batch: int = 500) -> None:
        self.concurrency = concurrency
        self.max_batch = max_batch
        self.transactions = 0  # committed transactions (for tests and benchmarks)
        self._engine = engine.execution_options(**{WRITE: True})
        self._pending: list[_Change] = []
        self._running: set[asyncio.Task[None]] = set()
        self._starting = False  # a batch task is about to take the pending changes
        self._last: dict[str, asyncio.Future[None]] = {}  # row key -> latest change of it

    async def commit(self, steps: Sequence[Step], keys: Iterable[str] = ()) -> None:
        """Commit the steps in one transaction, after the earlier changes of the same rows
        (named by `keys`) have committed; return once committed, or raise this change's error."""
        keys = tuple(keys)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        earlier = {self._last[key] for key in keys if key in self._last}
        for key in keys:
            self._last[key] = done
        done.add_done_callback(lambda _: self._forget(keys, done))
        try:
            if earlier:
                await asyncio.wait(earlier)
        except asyncio.CancelledError:
            done.cancel()
            raise
        self._pending.append(_Change(steps, done))
        self._next_batch()
        await asyncio.shield(done)

    async def settled(self, keys: Iterable[str]) -> None:
        """Wait until the changes asked for so far of these rows have finished."""
        waiting = {self._last[key] for key in keys if key in self._last}
        if waiting:
            await asyncio.wait(waiting)

    async def stop(self) -> None:
        """Wait until what is pending has been committed."""
        while self._running:
            await asyncio.wait(set(self._running))

    def _forget(self, keys: tuple[str, ...], done: asyncio.Future[None]) -> None:
        for key in keys:
            if self._last.get(key) is done:
                del self._last[key]

    def _next_batch(self) -> None:
        """Start a batch task unless one is about to start or too many are committing."""
        if self._pending and not self._starting and len(self._running) < self.concurrency:
            self._starting = True
            task = asyncio.create_task(self._batch(), name="accelhub-group-commit")
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _batch(self) -> None:
        self._starting = False
        batch = self._pending[: self.max_batch]
        del self._pending[: self.max_batch]
        try:
            await self._commit_batch(batch)
        except asyncio.CancelledError:  # the service is stopping: its transaction rolled back
            for change in batch:
                _settle(change, StoreStopped("The service stopped before the change was saved."))
            raise
        finally:
            self._running.discard(asyncio.current_task())
        self._next_batch()

    async def _commit_batch(self, batch: list[_Change]) -> None:
        try:
            async with self._engine.begin() as conn:
                await _apply(conn, batch)
        except Exception as error:
            if len(batch) == 1:
                _settle(batch[0], error)
                return
            log.warning(
                "a batch of %d changes failed (%s); committing one by one", len(batch), error
            )
            for change in batch:
                try:
                    async with self._engine.begin() as conn:
                        await _apply(conn, [change])
                except Exception as own:
                    _settle(change, own)
                else:
                    self.transactions += 1
                    _settle(change, None)
            return
        self.transactions += 1
        for change in batch:
            _settle(change, None)


async def _apply(conn: AsyncConnection, batch: Sequence[_Change]) -> None:
    """Run the batch's steps: round n runs every change's n-th step, like statements together."""
    for n in range(max(len(change.steps) for change in batch)):
        grouped: dict[tuple[int, tuple[str, ...]], tuple[Executable, list[dict[str, Any]]]] = {}
        for change in batch:
            if n >= len(change.steps):
                continue
            step = change.steps[n]
            if isinstance(step, Write):
                key = (id(step.statement), tuple(step.params))
                grouped.setdefault(key, (step.statement, []))[1].append(step.params)
            else:
                await step(conn)
        for statement, rows in grouped.values():
            await conn.execute(statement, rows if len(rows) > 1 else rows[0])


def _settle(change: _Change, error: BaseException | None) -> None:
    if change.done.done():
        return
    if error is None:
        change.done.set_result(None)
    else:
        change.done.set_exception(error)

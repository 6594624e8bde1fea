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
    """Commits changes through one transaction at a time, shared by the callers waiting."""

    def __init__(self, engine: AsyncEngine, max_batch: int = 500) -> None:
        self.max_batch = max_batch
        self.transactions = 0  # committed batches (for tests and benchmarks)
        self._engine = engine.execution_options(**{WRITE: True})
        self._pending: list[_Change] = []
        self._flusher: asyncio.Task[None] | None = None
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
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="accelhub-group-commit")
        await asyncio.shield(done)

    async def settled(self, keys: Iterable[str]) -> None:
        """Wait until the changes asked for so far of these rows have finished."""
        waiting = {self._last[key] for key in keys if key in self._last}
        if waiting:
            await asyncio.wait(waiting)

    async def stop(self) -> None:
        """Commit what is pending, then stop."""
        if self._flusher is not None:
            await asyncio.wait({self._flusher})

    def _forget(self, keys: tuple[str, ...], done: asyncio.Future[None]) -> None:
        for key in keys:
            if self._last.get(key) is done:
                del self._last[key]

    async def _flush(self) -> None:
        batch: list[_Change] = []
        try:
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                await self._commit_batch(batch)
        finally:
            self._flusher = None
            for change in batch + self._pending:  # only when cancelled: nothing was committed
                if not change.done.done():
                    change.done.set_exception(
                        StoreStopped("The service stopped before the change was saved.")
                    )
            self._pending = []

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

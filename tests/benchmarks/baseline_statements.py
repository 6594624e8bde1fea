"""The writes the service repeats, each run for a whole batch of rows as one statement.

A template names a table, the column that finds a row (updates) and the columns each row
supplies. For a batch it renders one multi-row statement per chunk of rows, the same on SQLite
and PostgreSQL:

    INSERT INTO t (a, b) VALUES (?, ?), (?, ?), ...
    WITH v (k, a) AS (VALUES (?, ?), (?, ?), ...) UPDATE t SET a = v.a FROM v WHERE t.k = v.k

The driver then makes one call per template and batch instead of one per row, and the writer
thread gives up the GIL once per statement rather than once per row. PostgreSQL gets numbered
parameters (for psycopg's raw cursor, which sends the text as it is) and explicit casts in the
first row, so that every column of the VALUES list has its column's type; the server prepares
each statement text once. Values pass through each column's SQLAlchemy bind
processing, so rows are stored exactly as the ORM reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import Column, Dialect, Table

from hub_ext.service.store.models import ActivityRow, LeaseRow, QueueRow, ReservationRow

Params = tuple[Any, ...]
# SQLite builds before 3.32 allow 999 variables per statement; stay under that everywhere.
MAX_VARIABLES = 999


@dataclass(frozen=True)
class _Compiled:
    """A template compiled for one dialect."""

    processors: tuple[Callable[[Any], Any] | None, ...]
    defaults: tuple[Any, ...]
    sql: Callable[[int], str]  # number of rows -> statement text


@dataclass(eq=False)
class Template:
    """An INSERT of rows, or an UPDATE of rows found by `key`; rows are dicts by column name."""

    table: Table
    columns: tuple[str, ...]
    key: str | None = None
    set_null: tuple[str, ...] = ()
    _compiled: dict[tuple[str, str], _Compiled] = field(default_factory=dict, repr=False)

    @property
    def params(self) -> tuple[str, ...]:
        """The names every row supplies, in statement order."""
        return self.columns if self.key is None else (self.key, *self.columns)

    def render(
        self, dialect: Dialect, rows: Sequence[Mapping[str, Any]]
    ) -> Iterator[tuple[str, Params]]:
        """The statements (text, parameters) that apply `rows`, in order."""
        kind = (dialect.name, dialect.driver)  # engines of one kind compile alike
        compiled = self._compiled.get(kind)
        if compiled is None:
            compiled = self._compiled[kind] = self._compile(dialect)
        if self.key is not None and len(rows) > 1:
            # One set-based UPDATE must not name a row twice; the last change of a row wins,
            # as it would if the updates ran one after another.
            rows = list({row[self.key]: row for row in rows}.values())
        pairs = tuple(zip(self.params, compiled.processors, compiled.defaults, strict=True))
        chunk = max(MAX_VARIABLES // len(pairs), 1)
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            values = tuple(
                row.get(name, default) if processor is None else processor(row.get(name, default))
                for row in part
                for name, processor, default in pairs
            )
            yield compiled.sql(len(part)), values

    def _compile(self, dialect: Dialect) -> _Compiled:
        if dialect.name not in ("sqlite", "postgresql"):
            raise ValueError(f"no batched statements for the {dialect.name} dialect")
        columns = [self.table.c[name] for name in self.params]
        # The dialect's own form of each type: its processor chain is the one the ORM runs.
        processors = tuple(c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns)
        defaults = tuple(_scalar_default(column) for column in columns)
        numbered = dialect.name == "postgresql"  # psycopg's raw cursor: $1, $2, ...
        preparer = dialect.identifier_preparer
        table = preparer.format_table(self.table)
        names = [preparer.quote(column.name) for column in columns]
        types = [column.type.compile(dialect=dialect) for column in columns]
        if self.key is None:
            head = f"INSERT INTO {table} ({', '.join(names)}) VALUES "
            tail = ""
        else:
            assignments = [f"{name} = v.{name}" for name in names[1:]]
            assignments += [f"{preparer.quote(name)} = NULL" for name in self.set_null]
            head = f"WITH v ({', '.join(names)}) AS (VALUES "
            tail = (
                f") UPDATE {table} SET {', '.join(assignments)} "
                f"FROM v WHERE {table}.{names[0]} = v.{names[0]}"
            )

        @lru_cache(maxsize=64)
        def sql(rows: int) -> str:
            width = len(columns)
            if not numbered:
                row = "(" + ", ".join("?" * width) + ")"
                return head + ", ".join([row] * rows) + tail
            first = ", ".join(f"CAST(${i + 1} AS {types[i]})" for i in range(width))
            others = (
                "(" + ", ".join(f"${r * width + i + 1}" for i in range(width)) + ")"
                for r in range(1, rows)
            )
            return head + ", ".join([f"({first})", *others]) + tail

        return _Compiled(processors, defaults, sql)


def _scalar_default(column: Column[Any]) -> Any:
    default = column.default
    if default is not None and default.is_scalar:
        return default.arg  # type: ignore[attr-defined]
    return None


def insert(table: Table) -> Template:
    """Insert rows; columns a row leaves out get their default (or NULL)."""
    return Template(table, tuple(c.name for c in table.columns if not _autoincrement(c)))


def update(
    table: Table, key: str, columns: Sequence[str], set_null: Sequence[str] = ()
) -> Template:
    """Set `columns` (from each row) and `set_null` of the rows found by `key`."""
    return Template(table, tuple(columns), key, tuple(set_null))


def _autoincrement(column: Column[Any]) -> bool:
    return column is column.table.autoincrement_column


INSERT_LEASE = insert(LeaseRow.__table__)  # type: ignore[arg-type]
END_LEASE = update(
    LeaseRow.__table__,  # type: ignore[arg-type]
    "id",
    ("ended_at", "end_reason", "end_message"),
    set_null=("active_key",),
)
BIND_LEASE = update(
    LeaseRow.__table__,  # type: ignore[arg-type]
    "id",
    ("namespace", "pod", "bound_at", "expires_at"),
)
INSERT_QUEUE = insert(QueueRow.__table__)  # type: ignore[arg-type]
LEAVE_QUEUE = update(QueueRow.__table__, "id", ("left_at", "outcome", "lease_id"))  # type: ignore[arg-type]
INSERT_RESERVATION = insert(ReservationRow.__table__)  # type: ignore[arg-type]
DELETE_RESERVATION = update(ReservationRow.__table__, "id", ("deleted_at",))  # type: ignore[arg-type]
INSERT_ACTIVITY = insert(ActivityRow.__table__)  # type: ignore[arg-type]

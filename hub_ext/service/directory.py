"""Who is in which group, and group properties: the interface the service reads them through."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class GroupInfo:
    """A JupyterHub group: its members and properties."""

    name: str
    users: list[str] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)


class GroupDirectory(Protocol):
    """Reads group membership (JupyterHub's groups API in production)."""

    async def user_groups(self, user: str) -> list[str]: ...

    async def group(self, name: str) -> GroupInfo | None: ...

    async def all_groups(self) -> list[GroupInfo]: ...


class StaticDirectory:
    """A fixed directory, for tests, benchmarks and running without a hub."""

    def __init__(self, groups: dict[str, GroupInfo] | None = None) -> None:
        self.groups: dict[str, GroupInfo] = groups or {}
        self._index: dict[str, list[str]] = {}
        self.reindex()

    def reindex(self) -> None:
        index: dict[str, list[str]] = {}
        for group in self.groups.values():
            for user in group.users:
                index.setdefault(user, []).append(group.name)
        self._index = index

    async def user_groups(self, user: str) -> list[str]:
        return list(self._index.get(user, ()))

    async def group(self, name: str) -> GroupInfo | None:
        return self.groups.get(name)

    async def all_groups(self) -> list[GroupInfo]:
        return list(self.groups.values())

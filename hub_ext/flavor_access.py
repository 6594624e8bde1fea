"""Which flavors a member of some groups may use: the one place that decides, for the spawn
form and its validation, the hub service's admission and the offload gateway.

The catalog's ``groups:`` restricts a flavor to members of those groups. An admin may override
it per group in the group's JupyterHub properties::

    {"accelhub": {"flavors": {"a100-80gb": "open", "t4": "closed"}}}

``open`` lets the group's members use the flavor whatever the catalog says; ``closed`` takes it
from them (they may still use it through another group that may). A user may use a flavor when
at least one of their groups may; a user in no group, when the catalog restricts it to no one.
Entries naming a flavor the catalog no longer has are ignored (the catalog may drop a flavor
that properties still name); the admin page refuses to write them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

#: Key of a JupyterHub group's properties holding accelhub settings (quotas, flavor access);
#: the default of both QuotaPolicy.group_property_key and AcceleratorSpawner.group_property_key.
GROUP_PROPERTY_KEY = "accelhub"
#: Field of those settings holding the group's flavor access: {slug: "open" | "closed"}.
ACCESS_FIELD = "flavors"
OPEN, CLOSED = "open", "closed"
CHOICES = (OPEN, CLOSED)


class Restrictable(Protocol):
    """What deciding access needs of a flavor."""

    @property
    def slug(self) -> str: ...

    @property
    def groups(self) -> Sequence[str]: ...


F = TypeVar("F", bound=Restrictable)


class AccessError(ValueError):
    """A flavor access table breaks a rule; the message is a sentence naming the field."""


def check_access_table(
    table: Any, where: str, flavors: Collection[str] | None = None
) -> dict[str, str]:
    """A checked copy of ``{slug: "open" | "closed"}``, or AccessError naming the first field.

    With ``flavors`` given, every slug must be one of them."""
    if not isinstance(table, Mapping):
        raise AccessError(f"{where} must be a table of flavors, not {_show(table)}.")
    checked: dict[str, str] = {}
    for slug, choice in table.items():
        if not isinstance(slug, str) or not slug:
            raise AccessError(f"{where} has a flavor name that is not a text: {_show(slug)}.")
        if flavors is not None and slug not in flavors:
            raise AccessError(f"{where} names the flavor {slug!r}, which is not in the catalog.")
        if choice not in CHOICES:
            raise AccessError(f"{where}[{slug!r}] must be 'open' or 'closed', not {_show(choice)}.")
        checked[slug] = choice
    return checked


def access_table(
    properties: Mapping[str, Any] | None, key: str = GROUP_PROPERTY_KEY
) -> dict[str, str]:
    """A group's flavor access from its JupyterHub properties (entries that are not
    "open" or "closed" are ignored: only the admin page and the API write them, checked)."""
    settings = (properties or {}).get(key)
    table = settings.get(ACCESS_FIELD) if isinstance(settings, Mapping) else None
    if not isinstance(table, Mapping):
        return {}
    return {k: v for k, v in table.items() if isinstance(k, str) and v in CHOICES}


def catalog_allows(flavor: Restrictable, group: str) -> bool:
    """What the catalog alone says of a member of ``group``."""
    return not flavor.groups or group in flavor.groups


def group_may_use(flavor: Restrictable, group: str, table: Mapping[str, str]) -> bool:
    """Whether members of ``group`` (with access ``table``) may use ``flavor``."""
    choice = table.get(flavor.slug)
    if choice is not None:
        return choice == OPEN
    return catalog_allows(flavor, group)


@dataclass(frozen=True)
class GroupAccess:
    """A user's groups with each group's flavor access table."""

    tables: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def of(
        cls, groups: Mapping[str, Mapping[str, Any] | None], key: str = GROUP_PROPERTY_KEY
    ) -> GroupAccess:
        """From ``{group name: its JupyterHub properties}``."""
        return cls({name: access_table(props, key) for name, props in groups.items()})

    @classmethod
    def names(cls, groups: Iterable[str]) -> GroupAccess:
        """Groups without properties: the catalog alone decides."""
        return cls({name: {} for name in groups})

    @property
    def groups(self) -> list[str]:
        return list(self.tables)

    def may_use(self, flavor: Restrictable) -> bool:
        """Whether a member of these groups may use ``flavor``."""
        if not self.tables:
            return not flavor.groups
        return any(group_may_use(flavor, g, t) for g, t in self.tables.items())

    def usable(self, flavors: Iterable[F]) -> list[F]:
        """The flavors a member of these groups may use, in the given order."""
        return [f for f in flavors if self.may_use(f)]

    def refusal(self, flavor: Restrictable, name: str | None = None) -> str:
        """Why these groups may not use ``flavor``, as a sentence (``name``: how to call it)."""
        name = name or flavor.slug
        closed = sorted(g for g, t in self.tables.items() if t.get(flavor.slug) == CLOSED)
        if closed:
            return f"{name} is closed to {', '.join(closed)} by an administrator."
        return f"{name} is only for members of {', '.join(flavor.groups)}."


def as_access(groups: GroupAccess | Iterable[str]) -> GroupAccess:
    """``groups`` as a GroupAccess (plain names: the catalog alone decides)."""
    return groups if isinstance(groups, GroupAccess) else GroupAccess.names(groups)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."

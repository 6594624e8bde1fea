"""Who is calling and what they may do, from the JupyterHub scopes of their token or cookie."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ADMIT = "custom:accelhub:admit"
ADMIN = "custom:accelhub:admin"
ORGANISE = "custom:accelhub:organise"
OFFLOAD = "custom:accelhub:offload"

CUSTOM_SCOPES: dict[str, dict[str, Any]] = {
    ADMIT: {"description": "Ask the accelhub service for accelerator leases (the spawner)."},
    ADMIN: {"description": "Manage accelhub: quotas, reservations, leases, usage of everyone."},
    ORGANISE: {
        "description": "Organise accelhub reservations; filter with !group=<name> per group.",
    },
    OFFLOAD: {
        "description": "Send your notebooks to remote sites through accelhub (granted to users).",
    },
}

#: The JupyterHub scopes the accelhub service's own token needs: read users and groups
#: (membership and quota properties), write group properties (quotas edited on the admin
#: page) and stop idle servers.
SERVICE_HUB_SCOPES: tuple[str, ...] = (
    "read:users:name",
    "read:users:groups",
    "list:users",
    "read:groups",
    "list:groups",
    "groups",
    "servers",
    "read:servers",
)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    name: str
    kind: str
    scopes: frozenset[str]
    admin: bool = False
    admit: bool = False
    organises_all: bool = False
    organised: frozenset[str] = field(default_factory=frozenset)
    user_level: bool = False
    offload: bool = False

    @classmethod
    def from_model(cls, model: Mapping[str, Any], service_name: str) -> Principal:
        scopes = frozenset(model.get("scopes") or ())
        name = str(model.get("name", ""))
        kind = str(model.get("kind", "user"))
        organised = set()
        for scope in scopes:
            base, _, filt = scope.partition("!")
            if base == ORGANISE and filt.startswith("group="):
                organised.add(filt[len("group=") :])
        user_level = kind == "user" and bool(
            scopes
            & {
                f"access:services!service={service_name}",
                "access:services",
                f"users:activity!user={name}",
                f"servers!user={name}",
                "servers",
            }
        )
        return cls(
            name=name,
            kind=kind,
            scopes=scopes,
            admin=_has(scopes, ADMIN),
            admit=_has(scopes, ADMIT),
            organises_all=ORGANISE in scopes,
            organised=frozenset(organised),
            user_level=user_level,
            offload=kind == "user" and _has(scopes, OFFLOAD),
        )

    def organises(self, group: str) -> bool:
        return self.admin or self.organises_all or group in self.organised

    def organises_any(self, groups: Iterable[str]) -> bool:
        return any(self.organises(g) for g in groups)

    @property
    def organiser(self) -> bool:
        return self.admin or self.organises_all or bool(self.organised)

    def is_user(self, user: str) -> bool:
        return self.kind == "user" and self.name == user and self.user_level


def _has(scopes: frozenset[str], scope: str) -> bool:
    """Unfiltered scopes only: a filtered admin or admit scope grants nothing here."""
    return scope in scopes

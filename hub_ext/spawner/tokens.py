"""The scopes of a user server's own token ($JUPYTERHUB_API_TOKEN)."""

from __future__ import annotations

from typing import Any

from ..service.auth import OFFLOAD

#: JupyterHub's `server` role, used when the hub's database has none.
SERVER_ROLE_SCOPES = ("users:activity!user", "access:servers!server")


def server_token_scopes(spawner: Any) -> list[str]:
    """The `server` role's scopes plus offload, so the server can call the offload gateway
    as its owner; JupyterHub keeps only the scopes the owner holds. Offload is asked for only
    where the hub defines it (the accelhub service's custom scopes): JupyterHub fails a spawn
    that asks for a scope it does not know."""
    from jupyterhub import orm
    from jupyterhub.scopes import scope_definitions

    role = orm.Role.find(spawner.user.db, "server")
    scopes = list(role.scopes) if role is not None else list(SERVER_ROLE_SCOPES)
    return [*scopes, OFFLOAD] if OFFLOAD in scope_definitions else scopes

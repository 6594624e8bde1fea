"""A Jupyter Server authorizer for tests: the signed-in user may do everything except read
the ``accelhub`` resource (as a JupyterHub user whose role lacks it would be)."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.authorizer import Authorizer

from server_ext.handlers.health import AUTH_RESOURCE


class DenyAccelhubRead(Authorizer):
    """Allow every action on every resource but ``read`` on ``accelhub``."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return not (action == "read" and resource == AUTH_RESOURCE)

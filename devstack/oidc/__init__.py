"""devstack's OpenID Connect provider: the npm `oidc-provider` package run by `provider.mjs`.

`OidcProvider` starts it on a loopback port with discovery, JWKS, authorization code + PKCE,
refresh tokens and a login page, serving the users it is given with their groups in both claim
styles: INFN IAM's `groups` and EGI Check-in's `eduperson_entitlement` URNs. The users file is
re-read by the provider on every login, refresh and userinfo call, so `set_groups` and
`disable` change what the provider says about a user while it runs.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.processes import stop_group

HERE = Path(__file__).resolve().parent
LAUNCHER = HERE / "provider.mjs"
NODE_MODULES = HERE / "node_modules"

#: The VO the devstack users' entitlements name (Check-in style).
DEVSTACK_VO = "vo.accelhub.devstack"
ENTITLEMENT_AUTHORITY = "aai.egi.eu"


class OidcProviderError(RuntimeError):
    """The provider could not start; the message says why and names its log."""


@dataclass
class OidcUser:
    """A user of the devstack provider. ``roles`` maps a group to a role (default member)."""

    name: str
    password: str
    groups: list[str] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)
    disabled: bool = False


@dataclass(frozen=True)
class OidcClient:
    """A relying party (the hub) registered at start-up."""

    client_id: str
    client_secret: str
    redirect_uris: list[str]


def entitlements(
    groups: Iterable[str], roles: Mapping[str, str] | None = None, vo: str = DEVSTACK_VO
) -> list[str]:
    """Check-in style entitlement URNs for membership of ``vo`` and its subgroups."""
    roles = roles or {}
    prefix = f"urn:mace:egi.eu:group:{vo}"
    urns = [f"{prefix}:role=member#{ENTITLEMENT_AUTHORITY}"]
    for group in groups:
        urns.append(f"{prefix}:{group}:role={roles.get(group, 'member')}#{ENTITLEMENT_AUTHORITY}")
    return urns


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OidcProvider:
    """Start, stop and administer devstack's OIDC provider (a Node process)."""

    def __init__(
        self,
        state_dir: Path,
        users: Iterable[OidcUser],
        clients: Iterable[OidcClient],
        port: int = 0,
        access_token_ttl: int = 3600,
        vo: str = DEVSTACK_VO,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.port = port or _free_port()
        self.users = {user.name: user for user in users}
        self.clients = list(clients)
        self.access_token_ttl = access_token_ttl
        self.vo = vo  # the VO the users' entitlements name
        self.process: subprocess.Popen[bytes] | None = None
        self.users_file = self.state_dir / "oidc-users.json"
        self.log_path = self.state_dir / "oidc-provider.log"

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        """Start the provider and wait until its discovery document answers."""
        node = shutil.which("node")
        if node is None:
            raise OidcProviderError(
                "Node.js (`node`) is not on PATH; devstack's OIDC provider needs it"
            )
        if not (NODE_MODULES / "oidc-provider").is_dir():
            raise OidcProviderError(
                f"npm package oidc-provider is not installed in {NODE_MODULES}: run `make setup`"
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._write_users()
        config = self.state_dir / "oidc-provider.json"
        config.write_text(
            json.dumps(
                {
                    "issuer": self.issuer,
                    "port": self.port,
                    "users_file": str(self.users_file),
                    "access_token_ttl": self.access_token_ttl,
                    "clients": [client.__dict__ for client in self.clients],
                }
            )
        )
        os.chmod(config, 0o600)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [node, str(LAUNCHER), str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=HERE,
                start_new_session=True,
            )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        url = f"{self.issuer}/.well-known/openid-configuration"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise OidcProviderError(
                    f"the OIDC provider exited with status {self.process.returncode}; "
                    f"see {self.log_path}"
                )
            try:
                with urllib.request.urlopen(url, timeout=3) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise OidcProviderError(f"{url} did not answer within {timeout:.0f} s; see {self.log_path}")

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the provider, SIGKILL it after ``grace`` seconds."""
        process, self.process = self.process, None
        stop_group(process, grace)

    def __enter__(self) -> OidcProvider:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_groups(
        self, user: str, groups: Iterable[str], roles: Mapping[str, str] | None = None
    ) -> None:
        """Change a user's groups at the provider (seen at the user's next token use)."""
        self.users[user].groups = list(groups)
        if roles is not None:
            self.users[user].roles = dict(roles)
        self._write_users()

    def disable(self, user: str, disabled: bool = True) -> None:
        """Disable a user: their tokens stop working and logging in is refused."""
        self.users[user].disabled = disabled
        self._write_users()

    def _write_users(self) -> None:
        document: dict[str, Any] = {
            "users": {
                user.name: {
                    "password": user.password,
                    "name": user.name.capitalize(),
                    "groups": list(user.groups),
                    "eduperson_entitlement": entitlements(user.groups, user.roles, self.vo),
                    "disabled": user.disabled,
                }
                for user in self.users.values()
            }
        }
        tmp = self.users_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(document, indent=1))
        os.chmod(tmp, 0o600)
        tmp.replace(self.users_file)

"""ServiceAccount tokens: signed JWTs naming a ServiceAccount, as TokenRequest issues them.

devstack signs with HS256 and a key of its own (a real API server uses its service-account
key pair); clients never look inside a token, the API server checks signature, expiry and
that the ServiceAccount (same uid) still exists.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

ISSUER = "https://kubernetes.default.svc.cluster.local"
DEFAULT_EXPIRATION = 3607  # what the kubelet asks for a pod's token volume


@dataclass(frozen=True)
class UserInfo:
    """Who made a request."""

    username: str
    groups: tuple[str, ...]
    uid: str = ""

    @property
    def is_admin(self) -> bool:
        """Members of system:masters bypass authorization, as on a real cluster."""
        return "system:masters" in self.groups

    def to_dict(self) -> dict[str, Any]:
        """The `userInfo` of reviews."""
        out: dict[str, Any] = {"username": self.username, "groups": list(self.groups)}
        if self.uid:
            out["uid"] = self.uid
        return out


ADMIN = UserInfo("devstack-admin", ("system:masters", "system:authenticated"))


def service_account_user(namespace: str, name: str, uid: str = "") -> UserInfo:
    """The user a ServiceAccount token authenticates as."""
    return UserInfo(
        f"system:serviceaccount:{namespace}:{name}",
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
        uid,
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class TokenIssuer:
    """Signs and verifies ServiceAccount tokens with one per-process key."""

    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def issue(
        self,
        namespace: str,
        name: str,
        uid: str,
        *,
        expiration: int = DEFAULT_EXPIRATION,
        audiences: list[str] | None = None,
        pod: tuple[str, str] | None = None,
    ) -> tuple[str, int]:
        """A token for a ServiceAccount and its expiry (epoch seconds)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": audiences or [ISSUER],
            "exp": now + expiration,
            "iat": now,
            "iss": ISSUER,
            "nbf": now,
            "sub": f"system:serviceaccount:{namespace}:{name}",
            "kubernetes.io": {
                "namespace": namespace,
                "serviceaccount": {"name": name, "uid": uid},
            },
        }
        if pod is not None:
            claims["kubernetes.io"]["pod"] = {"name": pod[0], "uid": pod[1]}
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{head}.{body}.{self._sign(f'{head}.{body}')}", claims["exp"]

    def claims(self, token: str) -> dict[str, Any] | None:
        """The claims of a token this issuer signed and that has not expired; else None."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        if not hmac.compare_digest(self._sign(f"{parts[0]}.{parts[1]}"), parts[2]):
            return None
        try:
            claims = json.loads(_unb64(parts[1]))
        except ValueError:
            return None
        if not isinstance(claims, dict) or int(claims.get("exp", 0)) < time.time():
            return None
        return claims

    def _sign(self, text: str) -> str:
        return _b64(hmac.new(self.key, text.encode(), hashlib.sha256).digest())

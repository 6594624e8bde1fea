"""OIDC discovery: the provider's endpoints from `<issuer>/.well-known/openid-configuration`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from functools import cache
from typing import Any


class DiscoveryError(RuntimeError):
    """The issuer's discovery document could not be read."""


@cache
def discover(issuer: str, timeout: float = 10.0) -> dict[str, Any]:
    """The issuer's discovery document, fetched once per process (at hub start-up).

    Synchronous on purpose: traitlets fills the authenticator's URLs while the hub is
    configured, before its event loop serves anyone.
    """
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            document = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise DiscoveryError(f"cannot read the OIDC discovery document {url}: {error}") from None
    if not isinstance(document, dict) or document.get("issuer", "").rstrip("/") != issuer.rstrip(
        "/"
    ):
        raise DiscoveryError(f"{url} is not the discovery document of issuer {issuer}")
    return document

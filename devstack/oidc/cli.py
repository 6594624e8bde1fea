"""`accelhub devstack oidc`: run devstack's OIDC provider alone, in the foreground; and
`accelhub devstack up --oidc USERS --oidc-client ...`: run it beside the cluster."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from . import OidcClient, OidcProvider, OidcProviderError, OidcUser


def add_oidc_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--users",
        metavar="FILE",
        required=True,
        help='JSON: {"rita": {"password": "...", "groups": ["physics"], '
        '"roles": {"physics": "manager"}}, ...}',
    )
    parser.add_argument(
        "--client",
        action="append",
        default=[],
        required=True,
        metavar="ID:SECRET:REDIRECT_URI",
        help="a relying party, e.g. hub:s3cret:http://127.0.0.1:8000/hub/oauth_callback",
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--state-dir", metavar="DIR", default=".devstack/oidc")
    parser.add_argument("--access-token-ttl", type=int, default=3600, metavar="S")


def add_up_oidc_arguments(parser: argparse.ArgumentParser) -> None:
    """`devstack up`'s options that start the provider too."""
    parser.add_argument(
        "--oidc",
        metavar="USERS",
        help="also run the OIDC provider with the users of this JSON file "
        "(as `accelhub devstack oidc --users`); stopped with devstack",
    )
    parser.add_argument(
        "--oidc-client",
        action="append",
        default=[],
        metavar="ID:SECRET:REDIRECT_URI",
        help="a relying party of the provider started by --oidc (repeatable)",
    )
    parser.add_argument("--oidc-port", type=int, default=0, help="its port (default: a free one)")


def provider_for_up(args: argparse.Namespace, state_dir: Path) -> OidcProvider | None:
    """The provider `devstack up --oidc` asks for (not started), or None; its state lives in
    ``state_dir``/oidc. Raises OidcProviderError with a sentence for bad options."""
    if not args.oidc:
        if args.oidc_client or args.oidc_port:
            raise OidcProviderError("--oidc-client and --oidc-port need --oidc USERS")
        return None
    if not args.oidc_client:
        raise OidcProviderError("--oidc needs at least one --oidc-client ID:SECRET:REDIRECT_URI")
    return OidcProvider(
        state_dir / "oidc",
        _users(args.oidc),
        [_client(spec) for spec in args.oidc_client],
        port=args.oidc_port,
    )


def _users(path: str) -> list[OidcUser]:
    try:
        data = json.loads(Path(path).read_text())
        return [
            OidcUser(
                str(name),
                str(entry["password"]),
                [str(g) for g in entry.get("groups", [])],
                {str(k): str(v) for k, v in (entry.get("roles") or {}).items()},
            )
            for name, entry in data.items()
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise OidcProviderError(f"cannot read the users file {path}: {error!s}") from None


def _client(spec: str) -> OidcClient:
    client_id, sep, rest = spec.partition(":")
    secret, sep2, redirect = rest.partition(":")
    if not (sep and sep2 and client_id and secret and redirect):
        raise OidcProviderError(f"--client {spec!r}: give ID:SECRET:REDIRECT_URI")
    return OidcClient(client_id, secret, [redirect])


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def oidc_main(args: argparse.Namespace) -> int:
    """Start the provider, print its issuer, and run until Ctrl-C or SIGTERM."""
    try:
        provider = OidcProvider(
            Path(args.state_dir),
            _users(args.users),
            [_client(spec) for spec in args.client],
            port=args.port,
            access_token_ttl=args.access_token_ttl,
        )
        provider.start()
    except OidcProviderError as error:
        print(f"accelhub devstack oidc: {error}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"issuer: {provider.issuer}", flush=True)
    print(f"discovery: {provider.issuer}/.well-known/openid-configuration", flush=True)
    try:
        while provider.process is not None and provider.process.poll() is None:
            time.sleep(0.5)
        print(f"accelhub devstack oidc: the provider exited; see {provider.log_path}")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        provider.stop()

"""What the z2jh chart mounts into the hub pod and the environment it sets, rendered from values.

Follows the chart's templates (``../shared/z2jh/chart/templates/hub/``): ``secret.yaml`` (the
merged values with ``Chart``/``Release``, the generated tokens and keys, ``hub.extraFiles``),
``configmap.yaml`` (resource names), ``deployment.yaml`` (mounts, env, args) and
``_helpers-passwords.tpl`` (how tokens are generated). Only the default names
(``fullnameOverride: ""``) are rendered.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hub_ext.values.files import render_text
from hub_ext.values.merge import load_values, merge_values
from hub_ext.values.problems import dig
from hub_ext.values.schema import chart_defaults, chart_metadata

ETC = "/usr/local/etc"  # every mount the test roots under a temporary /usr/local/etc
CONFIG_DIR = f"{ETC}/jupyterhub"


def _alnum(n: int) -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(n))


@dataclass
class HubPod:
    """The hub pod as the chart would make it: files under /usr/local/etc, env and args."""

    values: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)  # absolute path -> content
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    secret: dict[str, str] = field(default_factory=dict)  # the chart's `hub` Secret

    def write(self, etc_root: Path) -> None:
        """Write every file below ``etc_root``, which is then mounted at /usr/local/etc."""
        for path, text in self.files.items():
            target = etc_root / Path(path).relative_to(ETC)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)


def names(release: str) -> dict[str, str]:
    """configmap.yaml's resource names for fullnameOverride "" (jupyterhub.name-templates)."""
    return {
        "hub": "hub",
        "proxy": "proxy",
        "proxy-api": "proxy-api",
        "proxy-http": "proxy-http",
        "proxy-public": "proxy-public",
        "singleuser": "singleuser",
        "image-pull-secret": "image-pull-secret",
        "priority": f"{release}-default-priority",
        "user-scheduler": f"{release}-user-scheduler",
        "hub-existing-secret": "",
    }


def render(
    chart: Path,
    files: Sequence[str | Path],
    release: str,
    namespace: str,
    secrets_made: Mapping[str, Mapping[str, str]] | None = None,
) -> HubPod:
    """Render the hub pod for ``helm upgrade --install RELEASE -n NAMESPACE -f FILES...``;
    ``secrets_made`` are the Secrets the admin created (name -> keys), for hub.existingSecret
    and hub.extraEnv's secretKeyRefs."""
    made = dict(secrets_made or {})
    values = merge_values([chart_defaults(chart), *(load_values(f) for f in files)])
    if values.get("fullnameOverride") != "":
        raise ValueError("only the chart's default names (fullnameOverride: '') are rendered")
    meta = chart_metadata(chart)
    passed = dict(values)
    passed["Chart"] = {
        "Name": meta["name"],
        "Version": meta["version"],
        "AppVersion": meta["appVersion"],
    }
    passed["Release"] = {"Name": release, "Namespace": namespace, "Service": "Helm"}
    secret: dict[str, str] = {"values.yaml": yaml.safe_dump(passed)}
    if dig(values, "hub.db.password"):
        secret["hub.db.password"] = str(dig(values, "hub.db.password"))
    for key, service in (dig(values, "hub.services") or {}).items():
        given = (service or {}).get("api_token") or (service or {}).get("apiToken")
        secret[f"hub.services.{key}.apiToken"] = given or secrets.token_hex(32)
    secret["hub.config.ConfigurableHTTPProxy.auth_token"] = (
        dig(values, "hub.config.ConfigurableHTTPProxy.auth_token")
        or values["proxy"].get("secretToken")
        or _alnum(64)
    )
    secret["hub.config.JupyterHub.cookie_secret"] = dig(
        values, "hub.config.JupyterHub.cookie_secret"
    ) or secrets.token_hex(32)
    keys = dig(values, "hub.config.CryptKeeper.keys")
    secret["hub.config.CryptKeeper.keys"] = ";".join(keys) if keys else secrets.token_hex(32)

    pod = HubPod(values=values, secret=secret)
    for key, text in secret.items():
        pod.files[f"{CONFIG_DIR}/secret/{key}"] = text
    existing = dig(values, "hub.existingSecret")
    if existing:
        if existing not in made:
            raise ValueError(f"hub.existingSecret names {existing!r}: give its keys")
        for key, text in made[existing].items():
            pod.files[f"{CONFIG_DIR}/existing-secret/{key}"] = text
    for key, text in names(release).items():
        pod.files[f"{CONFIG_DIR}/config/{key}"] = text
    for key, details in (dig(values, "hub.extraFiles") or {}).items():
        mount = str(details["mountPath"])
        if not mount.startswith(ETC + "/"):
            raise ValueError(f"hub.extraFiles.{key}: the test mounts only under {ETC}")
        pod.files[mount] = render_text(details)
    made["hub"] = secret
    pod.env = _env(values, release, namespace, made)
    pod.args = _args(values, chart)
    return pod


def _env(
    values: Mapping[str, Any],
    release: str,
    namespace: str,
    made: Mapping[str, Mapping[str, str]],
) -> dict[str, str]:
    """deployment.yaml's env, hub.extraEnv included (secretKeyRefs resolved in the chart's
    Secret `hub` or the admin's)."""
    env = {
        "PYTHONUNBUFFERED": "1",
        "HELM_RELEASE_NAME": release,
        "POD_NAMESPACE": namespace,
        "CONFIGPROXY_AUTH_TOKEN": made["hub"]["hub.config.ConfigurableHTTPProxy.auth_token"],
    }
    extra = dig(values, "hub.extraEnv") or {}
    items = extra.items() if isinstance(extra, Mapping) else ((e["name"], e) for e in extra)
    for name, spec in items:
        if isinstance(spec, Mapping):
            ref = dig(spec, "valueFrom.secretKeyRef") or {}
            if ref and ref.get("name") not in made:
                raise ValueError(f"hub.extraEnv.{name}: the Secret {ref.get('name')!r} is not made")
            env[name] = str(made[ref["name"]][ref["key"]]) if ref else str(spec.get("value", ""))
        else:
            env[name] = str(spec)
    return env


def _args(values: Mapping[str, Any], chart: Path) -> list[str]:
    """deployment.yaml's container args (hub.args unset), except that the config is loaded
    from the chart's own files/hub/ (the ConfigMap's source) rather than a copy of it."""
    args = ["--config", str(chart / "files" / "hub" / "jupyterhub_config.py")]
    if dig(values, "debug.enabled"):
        args.append("--debug")
    upgrade = dig(values, "hub.db.upgrade")
    if upgrade is True or (upgrade is None and dig(values, "hub.db.type") == "sqlite-pvc"):
        args.append("--upgrade-db")
    return args

"""A kubeconfig holding the `hub` ServiceAccount's token, bound as admins are told to bind it.

The RBAC is the z2jh chart's `hub` Role (its rules below, as the chart's hub/rbac.yaml
grants them) plus exactly what `accelhub manifests` prints; devstack enforces both.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import subprocess_env

#: The chart's Role for its `hub` ServiceAccount in the release namespace.
CHART_HUB_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": [""],
        "resources": ["pods", "persistentvolumeclaims", "secrets", "services"],
        "verbs": ["get", "watch", "list", "create", "delete"],
    },
    {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "watch", "list"]},
]


def _chart_objects(namespace: str) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "hub", "namespace": namespace},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "hub", "namespace": namespace},
            "rules": CHART_HUB_RULES,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "hub", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "hub"},
            "subjects": [{"kind": "ServiceAccount", "name": "hub", "namespace": namespace}],
        },
    ]


def hub_kubeconfig(admin_kubeconfig: Path, out: Path, namespace: str = "accelhub") -> Path:
    """Apply the chart's hub RBAC and `accelhub manifests`, then write a kubeconfig for the
    `hub` ServiceAccount (same server and CA as the admin one) to `out`."""
    env = subprocess_env(KUBECONFIG=str(admin_kubeconfig))
    kubectl = str(Path(sys.executable).parent / "kubectl")

    def run(*args: str, input: str | None = None) -> str:
        done = subprocess.run(
            [kubectl, *args], env=env, input=input, capture_output=True, text=True, timeout=60
        )
        if done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr}")
        return done.stdout

    run("apply", "-f", "-", input=yaml.safe_dump_all(_chart_objects(namespace)))
    printed = subprocess.run(
        [sys.executable, "-m", "hub_ext.cli", "manifests", "--namespace", namespace],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    run("apply", "-f", "-", input=printed)
    token = run("create", "token", "hub", "-n", namespace, "--duration=24h").strip()
    config = json.loads(admin_kubeconfig.read_text())
    config["users"] = [{"name": "hub", "user": {"token": token}}]
    for context in config["contexts"]:
        context["context"]["user"] = "hub"
        context["context"]["namespace"] = namespace
    out.write_text(json.dumps(config, indent=2))
    out.chmod(0o600)
    return out

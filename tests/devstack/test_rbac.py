"""RBAC enforced for ServiceAccount tokens, refused in the real API server's words."""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator

import httpx
import pytest
from conftest import RunningDevstack

pytestmark = pytest.mark.integration


@pytest.fixture
def ns(devstack_api: RunningDevstack) -> Iterator[str]:
    name = f"rb-{os.urandom(3).hex()}"
    devstack_api.kubectl("create", "namespace", name)
    devstack_api.kubectl("create", "serviceaccount", "bot", "-n", name)
    yield name
    devstack_api.kubectl("delete", "namespace", name, "--wait=false", check=False)
    devstack_api.kubectl("delete", "clusterrolebinding", f"{name}-nodes", check=False)


def _token(ds: RunningDevstack, ns: str) -> str:
    return ds.kubectl("create", "token", "bot", "-n", ns).stdout.strip()


def _as_bot(ds: RunningDevstack, token: str, *args: str) -> tuple[int, str, str]:
    got = ds.kubectl("--token", token, *args, check=False)
    return got.returncode, got.stdout, got.stderr


def test_denied_then_allowed_after_role_binding(devstack_api: RunningDevstack, ns: str) -> None:
    ds, token = devstack_api, _token(devstack_api, ns)
    user = f"system:serviceaccount:{ns}:bot"
    code, _, err = _as_bot(ds, token, "get", "pods", "-n", ns)
    assert code == 1
    assert err.strip() == (
        f'Error from server (Forbidden): pods is forbidden: User "{user}" cannot list '
        f'resource "pods" in API group "" in the namespace "{ns}"'
    )
    code, _, err = _as_bot(ds, token, "get", "pods", "-A")
    assert 'cannot list resource "pods" in API group "" at the cluster scope' in err
    code, out, _ = _as_bot(ds, token, "auth", "can-i", "list", "pods", "-n", ns)
    assert out.strip() == "no"

    manifest = f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: pod-reader, namespace: {ns}}}
rules:
  - apiGroups: [""]
    resources: [pods, pods/log]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: bot-reads-pods, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}}
subjects: [{{kind: ServiceAccount, name: bot, namespace: {ns}}}]
"""
    applied = ds.kubectl("apply", "-f", "-", input=manifest).stdout
    assert "role.rbac.authorization.k8s.io/pod-reader created" in applied
    assert "rolebinding.rbac.authorization.k8s.io/bot-reads-pods created" in applied
    code, out, err = _as_bot(ds, token, "get", "pods", "-n", ns)
    assert code == 0 and "No resources found" in err
    code, out, _ = _as_bot(ds, token, "auth", "can-i", "list", "pods", "-n", ns)
    assert out.strip() == "yes"
    code, out, _ = _as_bot(ds, token, "auth", "can-i", "delete", "pods", "-n", ns)
    assert out.strip() == "no"
    code, _, err = _as_bot(ds, token, "delete", "pod", "x", "-n", ns)
    assert err.strip() == (
        f'Error from server (Forbidden): pods "x" is forbidden: User "{user}" cannot delete '
        f'resource "pods" in API group "" in the namespace "{ns}"'
    )
    # The grant is the namespace's only: the cluster scope and other namespaces stay closed.
    code, _, err = _as_bot(ds, token, "get", "pods", "-n", "default")
    assert code == 1 and 'in the namespace "default"' in err
    code, _, err = _as_bot(ds, token, "get", "nodes")
    assert 'cannot list resource "nodes" in API group "" at the cluster scope' in err

    ds.kubectl(
        "create", "clusterrolebinding", f"{ns}-nodes", "--clusterrole=view",
        f"--serviceaccount={ns}:bot",
    )  # fmt: skip
    code, _, _ = _as_bot(ds, token, "get", "pods", "-n", "default")
    assert code == 0  # the view ClusterRole, bound cluster-wide


def test_denial_body_byte_for_byte(devstack_api: RunningDevstack, ns: str) -> None:
    token = _token(devstack_api, ns)
    ctx = ssl.create_default_context(cafile=devstack_api.ca_path)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=devstack_api.url, verify=ctx, headers=headers) as http:
        resp = http.get("/apis/rbac.authorization.k8s.io/v1/clusterroles/view")
    assert resp.status_code == 403
    user = f"system:serviceaccount:{ns}:bot"
    assert (
        resp.content
        == (
            '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
            '"message":"clusterroles.rbac.authorization.k8s.io \\"view\\" is forbidden: '
            f'User \\"{user}\\" cannot get resource \\"clusterroles\\" in API group '
            '\\"rbac.authorization.k8s.io\\" at the cluster scope","reason":"Forbidden",'
            '"details":{"name":"view","group":"rbac.authorization.k8s.io","kind":"clusterroles"},'
            '"code":403}\n'
        ).encode()
    )


def test_admin_kubeconfig_stays_all_powerful(devstack_api: RunningDevstack, ns: str) -> None:
    assert devstack_api.kubectl("auth", "can-i", "delete", "nodes").stdout.strip() == "yes"
    assert devstack_api.kubectl("get", "clusterroles", "cluster-admin", "-o", "name").stdout == (
        "clusterrole.rbac.authorization.k8s.io/cluster-admin\n"
    )

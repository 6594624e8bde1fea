"""`serviceaccounts/<name>/token`: the TokenRequest subresource."""

from __future__ import annotations

import secrets
import time
from typing import Any

from devstack.apiserver.errors import ApiError
from devstack.apiserver.tokens import DEFAULT_EXPIRATION, ISSUER

_TIME = "%Y-%m-%dT%H:%M:%SZ"


def token_request(store: Any, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """Issue a token for a ServiceAccount as the API server answers a TokenRequest."""
    sa = store.get_raw("serviceaccounts", name, namespace)
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    expiration = spec.get("expirationSeconds") or DEFAULT_EXPIRATION
    if not isinstance(expiration, int) or expiration < 600:
        raise ApiError(
            422,
            "Invalid",
            f'TokenRequest.authentication.k8s.io "{name}" is invalid: spec.expirationSeconds: '
            "Invalid value: "
            f"{expiration}: may not specify a duration less than 10 minutes",
        )
    audiences = [str(a) for a in spec.get("audiences") or []] or [ISSUER]
    bound = spec.get("boundObjectRef") if isinstance(spec.get("boundObjectRef"), dict) else None
    pod = None
    if bound and bound.get("kind") == "Pod":
        pod = (str(bound.get("name") or ""), str(bound.get("uid") or ""))
    token, exp = store.tokens.issue(
        namespace,
        name,
        sa["metadata"]["uid"],
        expiration=expiration,
        audiences=audiences,
        pod=pod,
    )
    return {
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
        "spec": {"audiences": audiences, "expirationSeconds": expiration, "boundObjectRef": bound},
        "status": {"token": token, "expirationTimestamp": time.strftime(_TIME, time.gmtime(exp))},
    }


TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
TOKEN_VOLUME_PREFIX = "kube-api-access-"
_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's rand.String alphabet


def token_volume_admission(pod: dict[str, Any], store: Any) -> None:
    """Add the `kube-api-access-xxxxx` projected volume and its mounts, as the
    ServiceAccount admission plugin does, unless the pod or its ServiceAccount opts out."""
    spec = pod.get("spec")
    if not isinstance(spec, dict) or spec.get("automountServiceAccountToken") is False:
        return
    ns = str((pod.get("metadata") or {}).get("namespace") or "default")
    sa = store._data["serviceaccounts"].get((ns, str(spec.get("serviceAccountName") or "")))
    if sa is not None and sa.get("automountServiceAccountToken") is False:
        return
    containers = [
        c
        for key in ("initContainers", "containers")
        for c in spec.get(key) or []
        if isinstance(c, dict)
    ]
    if any(
        isinstance(m, dict) and m.get("mountPath") == TOKEN_MOUNT_PATH
        for c in containers
        for m in c.get("volumeMounts") or []
    ):
        return
    name = TOKEN_VOLUME_PREFIX + "".join(secrets.choice(_SUFFIX_CHARS) for _ in range(5))
    volumes = spec.setdefault("volumes", [])
    if not isinstance(volumes, list):
        return
    volumes.append(
        {
            "name": name,
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {
                        "configMap": {
                            "name": ROOT_CA_CONFIGMAP,
                            "items": [{"key": "ca.crt", "path": "ca.crt"}],
                        }
                    },
                    {
                        "downwardAPI": {
                            "items": [
                                {
                                    "fieldRef": {
                                        "apiVersion": "v1",
                                        "fieldPath": "metadata.namespace",
                                    },
                                    "path": "namespace",
                                }
                            ]
                        }
                    },
                ],
            },
        }
    )
    for c in containers:
        mounts = c.setdefault("volumeMounts", [])
        if isinstance(mounts, list):
            mounts.append({"name": name, "readOnly": True, "mountPath": TOKEN_MOUNT_PATH})

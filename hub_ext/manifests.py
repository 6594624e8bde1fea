"""What an admin applies beside the z2jh chart for accelhub: RBAC and PriorityClasses.

The chart gives its `hub` ServiceAccount a Role on pods, claims, secrets, services and
events in the release namespace. accelhub also needs:

- the hub: a cluster-wide read and watch of nodes and pods (the inventory);
- the hub service (a JupyterHub-managed service, so by default the same `hub`
  ServiceAccount): the same cluster-wide read, pods created and deleted in the release
  namespace (reservation placeholders and offload jobs, with their ConfigMaps and logs), and
  its PriorityClasses read or created;
- the PriorityClasses the spawner and the service name.
"""

from __future__ import annotations

from typing import Any

import yaml

Obj = dict[str, Any]
RBAC = "rbac.authorization.k8s.io"
READ = ["get", "list", "watch"]
INTERACTIVE = ("interactive", 1000, "PreemptLowerPriority", "notebook sessions")


def priority_classes() -> list[tuple[str, int, str, str]]:
    """(name, value, preemptionPolicy, description): `interactive` (the helm values' class
    of notebook pods) and the two the service creates, with the service's own defaults."""
    from hub_ext.service.kube import KubeCluster

    traits = KubeCluster.class_traits()
    return [
        INTERACTIVE,
        (
            traits["placeholder_priority_class"].default_value,
            traits["placeholder_priority"].default_value,
            "Never",
            "accelhub reservation placeholders",
        ),
        (
            "accelhub-reserved",
            traits["reserved_priority"].default_value,
            "PreemptLowerPriority",
            "pods of hackathon participants (preempt placeholders)",
        ),
    ]


def _labels(release: str) -> Obj:
    return {"app.kubernetes.io/part-of": "accelhub", "app.kubernetes.io/instance": release}


def _role(kind: str, name: str, release: str, rules: list[Obj], namespace: str = "") -> Obj:
    md: Obj = {"name": name, "labels": _labels(release)}
    if namespace:
        md["namespace"] = namespace
    return {"apiVersion": f"{RBAC}/v1", "kind": kind, "metadata": md, "rules": rules}


def _binding(
    kind: str, name: str, release: str, role_kind: str, sa: str, ns: str, in_ns: bool
) -> Obj:
    md: Obj = {"name": name, "labels": _labels(release)}
    if in_ns:
        md["namespace"] = ns
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": kind,
        "metadata": md,
        "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}],
    }


def manifests(
    namespace: str, release: str = "jupyterhub", hub_sa: str = "hub", service_sa: str = "hub"
) -> list[Obj]:
    """The objects, in the order to apply them."""
    hub = f"{release}-accelhub-hub"
    service = f"{release}-accelhub-service"
    watch_cluster = {"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": READ}
    out = [
        _role("ClusterRole", hub, release, [watch_cluster]),
        _binding("ClusterRoleBinding", hub, release, "ClusterRole", hub_sa, namespace, False),
        _role(
            "ClusterRole",
            service,
            release,
            [
                watch_cluster,
                {
                    "apiGroups": ["scheduling.k8s.io"],
                    "resources": ["priorityclasses"],
                    "verbs": ["get", "list", "create"],
                },
            ],
        ),
        _binding(
            "ClusterRoleBinding", service, release, "ClusterRole", service_sa, namespace, False
        ),
        _role(
            "Role",
            service,
            release,
            [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "delete"]},
                # Offload jobs: the notebook's ConfigMap (owned by its pod) and the pod's logs.
                {
                    "apiGroups": [""],
                    "resources": ["configmaps"],
                    "verbs": ["create", "patch", "delete"],
                },
                {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
            ],
            namespace,
        ),
        _binding("RoleBinding", service, release, "Role", service_sa, namespace, True),
    ]
    for name, value, policy, description in priority_classes():
        out.append(
            {
                "apiVersion": "scheduling.k8s.io/v1",
                "kind": "PriorityClass",
                "metadata": {"name": name, "labels": _labels(release)},
                "value": value,
                "preemptionPolicy": policy,
                "globalDefault": False,
                "description": description,
            }
        )
    return out


def render(objects: list[Obj]) -> str:
    """A multi-document YAML stream for `kubectl apply -f -`."""
    return yaml.safe_dump_all(objects, sort_keys=False, explicit_start=True)


def add_arguments(parser: Any) -> None:
    """`accelhub manifests` options."""
    parser.add_argument("--namespace", required=True, help="the release namespace of the hub")
    parser.add_argument("--release", default="jupyterhub", help="the Helm release name")
    parser.add_argument("--hub-service-account", default="hub", help="the hub's ServiceAccount")
    parser.add_argument(
        "--service-service-account",
        default="hub",
        help="the hub service's ServiceAccount (a managed service runs in the hub pod)",
    )


def run(args: Any) -> int:
    """Print the manifests."""
    objects = manifests(
        args.namespace, args.release, args.hub_service_account, args.service_service_account
    )
    print(render(objects), end="")
    return 0

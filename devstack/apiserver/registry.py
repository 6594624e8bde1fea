"""The table of resource types that drives discovery, routing and storage."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

READ_VERBS = ("get", "list", "watch")
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
CLUSTER_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One REST resource: where it lives, what it is called and what it allows."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    storage: str = ""  # the storage key when several types share objects
    field_selectors: tuple[str, ...] = ()
    has_status: bool = False
    has_generation: bool = True
    custom_schema: str = ""  # a CRD version's openAPIV3Schema (JSON), for custom resources

    @property
    def key(self) -> str:
        """Storage key: the plural, unless the type shares another type's objects."""
        return self.storage or self.plural

    @property
    def api_version(self) -> str:
        """`v1` or `group/version`."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        """`PodList` etc."""
        return f"{self.kind}List"

    @property
    def base_path(self) -> str:
        """`/api/v1` or `/apis/group/version`."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"


_RBAC = "rbac.authorization.k8s.io"
_EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)

RESOURCES: tuple[ResourceType, ...] = (
    ResourceType(
        "",
        "v1",
        "Namespace",
        "namespaces",
        "namespace",
        False,
        ("ns",),
        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
        subresources=("status", "finalize"),
        field_selectors=("status.phase",),
        has_status=True,
        has_generation=False,
    ),
    ResourceType(
        "",
        "v1",
        "Node",
        "nodes",
        "node",
        False,
        ("no",),
        subresources=("status",),
        field_selectors=("spec.unschedulable",),
        has_status=True,
        has_generation=False,
    ),
    ResourceType(
        "",
        "v1",
        "Pod",
        "pods",
        "pod",
        True,
        ("po",),
        subresources=("status", "log", "binding", "eviction"),
        categories=("all",),
        field_selectors=(
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ),
        has_status=True,
    ),
    ResourceType(
        "",
        "v1",
        "Event",
        "events",
        "event",
        True,
        ("ev",),
        field_selectors=_EVENT_FIELDS,
        has_generation=False,
    ),
    ResourceType(
        "", "v1", "ConfigMap", "configmaps", "configmap", True, ("cm",), has_generation=False
    ),
    ResourceType(
        "",
        "v1",
        "Secret",
        "secrets",
        "secret",
        True,
        (),
        field_selectors=("type",),
        has_generation=False,
    ),
    ResourceType(
        "",
        "v1",
        "Service",
        "services",
        "service",
        True,
        ("svc",),
        subresources=("status",),
        categories=("all",),
        has_status=True,
        has_generation=False,
    ),
    ResourceType(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        True,
        ("pvc",),
        subresources=("status",),
        has_status=True,
        has_generation=False,
    ),
    ResourceType(
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        "persistentvolume",
        False,
        ("pv",),
        subresources=("status",),
        has_status=True,
        has_generation=False,
    ),
    ResourceType(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        "serviceaccount",
        True,
        ("sa",),
        subresources=("token",),
        has_generation=False,
    ),
    ResourceType(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        "priorityclass",
        False,
        ("pc",),
        has_generation=False,
    ),
    ResourceType(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        "storageclass",
        False,
        ("sc",),
        has_generation=False,
    ),
    ResourceType(
        "batch",
        "v1",
        "Job",
        "jobs",
        "job",
        True,
        (),
        subresources=("status",),
        categories=("all",),
        field_selectors=("status.successful",),
        has_status=True,
    ),
    ResourceType(
        "events.k8s.io",
        "v1",
        "Event",
        "events",
        "event",
        True,
        ("ev",),
        storage="events",
        field_selectors=_EVENT_FIELDS,
        has_generation=False,
    ),
    ResourceType(
        "coordination.k8s.io", "v1", "Lease", "leases", "lease", True, (), has_generation=False
    ),
    ResourceType(_RBAC, "v1", "Role", "roles", "role", True, (), has_generation=False),
    ResourceType(
        _RBAC, "v1", "ClusterRole", "clusterroles", "clusterrole", False, (), has_generation=False
    ),
    ResourceType(
        _RBAC, "v1", "RoleBinding", "rolebindings", "rolebinding", True, (), has_generation=False
    ),
    ResourceType(
        _RBAC,
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        "clusterrolebinding",
        False,
        (),
        has_generation=False,
    ),
    *(
        ResourceType(
            "apps",
            "v1",
            kind,
            plural,
            kind.lower(),
            True,
            short,
            subresources=("status", "scale") if scalable else ("status",),
            categories=("all",),
            has_status=True,
        )
        for kind, plural, short, scalable in (
            ("Deployment", "deployments", ("deploy",), True),
            ("ReplicaSet", "replicasets", ("rs",), True),
            ("StatefulSet", "statefulsets", ("sts",), True),
            ("DaemonSet", "daemonsets", ("ds",), False),
        )
    ),
    ResourceType(
        "",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        "replicationcontroller",
        True,
        ("rc",),
        subresources=("status", "scale"),
        categories=("all",),
        has_status=True,
    ),
    ResourceType(
        "apiregistration.k8s.io",
        "v1",
        "APIService",
        "apiservices",
        "apiservice",
        False,
        (),
        subresources=("status",),
        categories=("api-extensions",),
        has_status=True,
    ),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        "customresourcedefinition",
        False,
        ("crd", "crds"),
        subresources=("status",),
        categories=("api-extensions",),
        has_status=True,
    ),
    # Review resources: create-only, answered at once and never stored.
    ResourceType(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        "selfsubjectaccessreview",
        False,
        verbs=("create",),
        has_generation=False,
    ),
    ResourceType(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectRulesReview",
        "selfsubjectrulesreviews",
        "selfsubjectrulesreview",
        False,
        verbs=("create",),
        has_generation=False,
    ),
    ResourceType(
        "authentication.k8s.io",
        "v1",
        "SelfSubjectReview",
        "selfsubjectreviews",
        "selfsubjectreview",
        False,
        verbs=("create",),
        has_generation=False,
    ),
)
REVIEWS = {"selfsubjectaccessreviews", "selfsubjectrulesreviews", "selfsubjectreviews"}

GROUP_PREFERRED = {
    "": "v1",
    "scheduling.k8s.io": "v1",
    "storage.k8s.io": "v1",
    "batch": "v1",
    "events.k8s.io": "v1",
    "coordination.k8s.io": "v1",
    "authorization.k8s.io": "v1",
    "authentication.k8s.io": "v1",
    _RBAC: "v1",
    "apps": "v1",
    "apiextensions.k8s.io": "v1",
    "apiregistration.k8s.io": "v1",
}


@dataclass(eq=False)
class Registry:
    """Lookup of resource types by group/version/plural, kind or in-process name."""

    types: tuple[ResourceType, ...] = RESOURCES
    _by_path: dict[tuple[str, str, str], ResourceType] = field(default_factory=dict)
    _by_name: dict[str, ResourceType] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for rt in self.types:
            self._by_path[(rt.group, rt.version, rt.plural)] = rt
            # The in-process name is the plural; the core group wins ties.
            self._by_name.setdefault(rt.plural, rt)
            self._by_name.setdefault(f"{rt.plural}.{rt.group}" if rt.group else rt.plural, rt)

    def by_path(self, group: str, version: str, plural: str) -> ResourceType | None:
        """Type for a URL segment triple, or None."""
        return self._by_path.get((group, version, plural))

    def by_name(self, name: str) -> ResourceType:
        """Type by in-process name (`pods`, `jobs`, `events.events.k8s.io`); KeyError if unknown."""
        return self._by_name[name]

    def groups(self) -> dict[str, list[str]]:
        """Group name to its versions (core group is `""`)."""
        out: dict[str, list[str]] = {}
        for rt in self.types:
            versions = out.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        """All types served under one group/version."""
        return [rt for rt in self.types if rt.group == group and rt.version == version]

    def storage_keys(self) -> Iterable[str]:
        """Distinct storage keys."""
        return sorted({rt.key for rt in self.types})


DEFAULT_REGISTRY = Registry()

"""Validation with the real field paths and messages: names, labels, pods, immutability."""

from __future__ import annotations

import json
import re
from typing import Any

from devstack.apiserver import apps_kinds, storage_kinds
from devstack.apiserver.errors import QUANTITY_ERROR, Cause, invalid
from devstack.apiserver.registry import ResourceType
from hub_ext.quantity import is_quantity

Obj = dict[str, Any]

DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = DNS1123_LABEL + r"(\." + DNS1123_LABEL + ")*"
DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"
QUALIFIED_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
    "characters, '-' or '.', and must start and end with an alphanumeric character "
    "(e.g. 'example.com', regex used for validation is '" + DNS1123_SUBDOMAIN + "')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
    "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
    "'123-abc', regex used for validation is '" + DNS1123_LABEL + "')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character "
    "(e.g. 'my-name',  or 'abc-123', regex used for validation is '" + DNS1035_LABEL + "')"
)
QUALIFIED_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  "
    "or '123-abc', regex used for validation is '" + QUALIFIED_NAME + "')"
)
VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', "
    "'_' or '.', and must start and end with an alphanumeric character (e.g. "
    "'MyValue',  or 'my_value',  or '12345', regex used for validation is '" + LABEL_VALUE + "')"
)

# Name rules per resource: label for namespaces, DNS-1035 for services, subdomain otherwise.
_NAME_RULE = {
    "namespaces": "label",
    "services": "dns1035",
    **dict.fromkeys(("roles", "clusterroles", "rolebindings", "clusterrolebindings"), "path"),
}
_FREE_NAMES = {"events"}
STORAGE_KINDS = ("persistentvolumeclaims", "persistentvolumes", "storageclasses")


def _q(value: Any) -> str:
    return json.dumps(value)


def required(field: str, detail: str = "") -> Cause:
    """A FieldValueRequired cause."""
    return Cause("FieldValueRequired", "Required value" + (f": {detail}" if detail else ""), field)


def invalid_cause(field: str, value: Any, detail: str) -> Cause:
    """A FieldValueInvalid cause."""
    return Cause("FieldValueInvalid", f"Invalid value: {_q(value)}: {detail}", field)


def forbidden_cause(field: str, detail: str) -> Cause:
    """A FieldValueForbidden cause."""
    return Cause("FieldValueForbidden", f"Forbidden: {detail}", field)


def unsupported_cause(field: str, value: Any, supported: list[str]) -> Cause:
    """A FieldValueNotSupported cause."""
    opts = ", ".join(_q(s) for s in supported)
    return Cause(
        "FieldValueNotSupported", f"Unsupported value: {_q(value)}: supported values: {opts}", field
    )


def dns1123_label_errors(value: str) -> list[str]:
    """Errors for a DNS-1123 label."""
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not re.fullmatch(DNS1123_LABEL, value):
        errs.append(LABEL_MSG)
    return errs


def dns1123_subdomain_errors(value: str) -> list[str]:
    """Errors for a DNS-1123 subdomain."""
    errs = []
    if len(value) > 253:
        errs.append("must be no more than 253 characters")
    if not re.fullmatch(DNS1123_SUBDOMAIN, value):
        errs.append(SUBDOMAIN_MSG)
    return errs


def path_segment_errors(value: str) -> list[str]:
    """Errors for a path segment name (RBAC objects: `system:basic-user` is fine)."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in "/%" if c in value]


def dns1035_label_errors(value: str) -> list[str]:
    """Errors for a DNS-1035 label."""
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not re.fullmatch(DNS1035_LABEL, value):
        errs.append(DNS1035_MSG)
    return errs


def label_key_errors(key: str) -> list[str]:
    """Errors for a qualified name (label/annotation key)."""
    prefix, _, name = key.rpartition("/")
    errs = []
    if "/" in key and not prefix:
        errs.append("prefix part must be non-empty")
    elif prefix:
        errs += [f"prefix part {e}" for e in dns1123_subdomain_errors(prefix)]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    elif not re.fullmatch(QUALIFIED_NAME, name):
        errs.append(QUALIFIED_MSG)
    return errs


def label_value_errors(value: str) -> list[str]:
    """Errors for a label value."""
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not re.fullmatch(LABEL_VALUE, value):
        errs.append(VALUE_MSG)
    return errs


def finalizers_shrink_only(old_md: Obj, new_md: Obj) -> bool:
    """Whether new finalizers are a subset of the old ones."""
    return set(new_md.get("finalizers") or []) <= set(old_md.get("finalizers") or [])


def _meta_causes(rt: ResourceType, obj: Obj) -> list[Cause]:
    md = obj.get("metadata") or {}
    causes: list[Cause] = []
    name = md.get("name")
    if not name:
        causes.append(required("metadata.name", "name or generateName is required"))
    elif not isinstance(name, str):
        causes.append(invalid_cause("metadata.name", name, "must be a string"))
    elif rt.plural not in _FREE_NAMES:
        rule = _NAME_RULE.get(rt.plural, "subdomain")
        check = {
            "label": dns1123_label_errors,
            "dns1035": dns1035_label_errors,
            "subdomain": dns1123_subdomain_errors,
            "path": path_segment_errors,
        }[rule]
        causes += [invalid_cause("metadata.name", name, e) for e in check(name)]
    labels = md.get("labels") or {}
    if not isinstance(labels, dict):
        causes.append(invalid_cause("metadata.labels", labels, "must be a map"))
        labels = {}
    for k, v in labels.items():
        causes += [invalid_cause("metadata.labels", k, e) for e in label_key_errors(k)]
        if not isinstance(v, str):
            causes.append(invalid_cause(f"metadata.labels[{k}]", v, "must be a string"))
        else:
            causes += [invalid_cause("metadata.labels", v, e) for e in label_value_errors(v)]
    annotations = md.get("annotations") or {}
    if isinstance(annotations, dict):
        for k, v in annotations.items():
            causes += [invalid_cause("metadata.annotations", k, e) for e in label_key_errors(k)]
            if not isinstance(v, str):
                causes.append(invalid_cause(f"metadata.annotations[{k}]", v, "must be a string"))
    for i, ref in enumerate(md.get("ownerReferences") or []):
        for f in ("apiVersion", "kind", "name", "uid"):
            if not isinstance(ref, dict) or not ref.get(f):
                causes.append(required(f"metadata.ownerReferences[{i}].{f}"))
    return causes


def _resource_causes(path: str, resources: Any) -> list[Cause]:
    causes: list[Cause] = []
    if not isinstance(resources, dict):
        return causes
    for section in ("requests", "limits"):
        values = resources.get(section) or {}
        if not isinstance(values, dict):
            causes.append(invalid_cause(f"{path}.{section}", values, "must be a map"))
            continue
        for res, q in values.items():
            if not is_quantity(q):
                causes.append(invalid_cause(f"{path}.{section}[{res}]", q, QUANTITY_ERROR))
            elif str(q).startswith("-"):
                causes.append(
                    invalid_cause(
                        f"{path}.{section}[{res}]", q, "must be greater than or equal to 0"
                    )
                )
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    if isinstance(requests, dict) and isinstance(limits, dict):
        from hub_ext.quantity import parse_quantity

        for res, q in requests.items():
            if (
                res in limits
                and is_quantity(q)
                and is_quantity(limits[res])
                and (parse_quantity(q) > parse_quantity(limits[res]))
            ):
                causes.append(
                    invalid_cause(
                        f"{path}.requests",
                        q,
                        f"must be less than or equal to {res} limit of {limits[res]}",
                    )
                )
            elif (
                "/" in res
                and not res.startswith(("hugepages-",))
                and not res.startswith("kubernetes.io/")
                and res in limits
                and is_quantity(q)
                and is_quantity(limits[res])
                and parse_quantity(q) != parse_quantity(limits[res])
            ):
                causes.append(
                    invalid_cause(
                        f"{path}.requests[{res}]",
                        q,
                        f"must be equal to {res} limit of {limits[res]}",
                    )
                )
    return causes


def _pod_spec_causes(spec: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    if not isinstance(spec, dict):
        return [required(path)]
    containers = spec.get("containers")
    if not containers or not isinstance(containers, list):
        causes.append(required(f"{path}.containers"))
        containers = []
    seen: set[str] = set()
    for group in ("initContainers", "containers"):
        items = spec.get(group) or []
        if not isinstance(items, list):
            continue
        for i, c in enumerate(items):
            cpath = f"{path}.{group}[{i}]"
            if not isinstance(c, dict):
                causes.append(invalid_cause(cpath, c, "must be an object"))
                continue
            name = c.get("name")
            if not name:
                causes.append(required(f"{cpath}.name"))
            elif not isinstance(name, str) or dns1123_label_errors(name):
                causes.append(invalid_cause(f"{cpath}.name", name, LABEL_MSG))
            elif name in seen:
                causes.append(
                    Cause("FieldValueDuplicate", f"Duplicate value: {_q(name)}", f"{cpath}.name")
                )
            else:
                seen.add(name)
            if not c.get("image"):
                causes.append(required(f"{cpath}.image"))
            causes += _resource_causes(f"{cpath}.resources", c.get("resources"))
            for j, port in enumerate(c.get("ports") or []):
                cp = port.get("containerPort") if isinstance(port, dict) else None
                if not isinstance(cp, int) or isinstance(cp, bool) or not 0 < cp < 65536:
                    causes.append(
                        invalid_cause(
                            f"{cpath}.ports[{j}].containerPort",
                            cp,
                            "must be between 1 and 65535, inclusive",
                        )
                    )
    policy = spec.get("restartPolicy")
    if policy not in (None, "Always", "OnFailure", "Never"):
        causes.append(
            unsupported_cause(f"{path}.restartPolicy", policy, ["Always", "Never", "OnFailure"])
        )
    for i, t in enumerate(spec.get("tolerations") or []):
        if isinstance(t, dict) and t.get("operator") not in (None, "", "Exists", "Equal"):
            causes.append(
                unsupported_cause(
                    f"{path}.tolerations[{i}].operator", t.get("operator"), ["Equal", "Exists"]
                )
            )
    sel = spec.get("nodeSelector") or {}
    if isinstance(sel, dict):
        for k in sel:
            causes += [invalid_cause(f"{path}.nodeSelector", k, e) for e in label_key_errors(k)]
    return causes


def validate_create(rt: ResourceType, obj: Obj) -> None:
    """Raise 422 Invalid for a new object that a real server rejects."""
    causes = _meta_causes(rt, obj)
    causes += _kind_causes(rt, obj)
    if causes:
        raise invalid(rt.kind, str((obj.get("metadata") or {}).get("name") or ""), causes, rt.group)


def _kind_causes(rt: ResourceType, obj: Obj) -> list[Cause]:
    causes: list[Cause] = []
    if rt.custom_schema:
        from devstack.apiserver.crds import check

        causes += check(rt, obj)
    elif rt.plural == "pods":
        causes += _pod_spec_causes(obj.get("spec"), "spec")
    elif rt.plural in apps_kinds.WORKLOADS:
        causes += apps_kinds.causes(rt.plural, obj)
        template = (obj.get("spec") or {}).get("template") or {}
        causes += _pod_spec_causes(template.get("spec"), "spec.template.spec")
    elif rt.plural == "jobs":
        spec = obj.get("spec") or {}
        template = spec.get("template") or {}
        causes += _pod_spec_causes(template.get("spec"), "spec.template.spec")
        policy = (template.get("spec") or {}).get("restartPolicy")
        if policy not in ("OnFailure", "Never"):
            causes.append(
                Cause(
                    "FieldValueNotSupported",
                    f'Unsupported value: {_q(policy)}: supported values: "OnFailure", "Never"',
                    "spec.template.spec.restartPolicy",
                )
            )
        for f in ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds"):
            v = spec.get(f)
            if v is not None and (not isinstance(v, int) or v < 0):
                causes.append(invalid_cause(f"spec.{f}", v, "must be greater than or equal to 0"))
    elif rt.plural == "priorityclasses":
        if not isinstance(obj.get("value"), int) or isinstance(obj.get("value"), bool):
            causes.append(required("value"))
    elif rt.plural in STORAGE_KINDS:
        causes += storage_kinds.create_causes(rt.plural, obj)
    elif rt.plural == "nodes":
        for section in ("capacity", "allocatable"):
            for res, q in ((obj.get("status") or {}).get(section) or {}).items():
                if not is_quantity(q):
                    causes.append(invalid_cause(f"status.{section}[{res}]", q, QUANTITY_ERROR))
    elif rt.plural == "services":
        for i, p in enumerate((obj.get("spec") or {}).get("ports") or []):
            port = p.get("port") if isinstance(p, dict) else None
            if not isinstance(port, int) or not 0 < port < 65536:
                causes.append(
                    invalid_cause(
                        f"spec.ports[{i}].port", port, "must be between 1 and 65535, inclusive"
                    )
                )
    return causes


_POD_MUTABLE_MSG = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)"
)


def _pod_spec_mutable_view(spec: Obj, internal: bool) -> Obj:
    view = json.loads(json.dumps(spec))
    for group in ("containers", "initContainers"):
        for c in view.get(group) or []:
            if isinstance(c, dict):
                c.pop("image", None)
    view.pop("activeDeadlineSeconds", None)
    view.pop("tolerations", None)
    view.pop("schedulingGates", None)
    view.pop("terminationGracePeriodSeconds", None)
    if internal:
        view.pop("nodeName", None)
    return view


def validate_update(rt: ResourceType, new: Obj, old: Obj, *, internal: bool = True) -> None:
    """Raise 422 Invalid for an update a real server rejects (immutable fields...)."""
    name = old["metadata"]["name"]
    causes = _meta_causes(rt, new) + _kind_causes(rt, new)
    if rt.plural == "pods":
        ospec, nspec = old.get("spec") or {}, new.get("spec") or {}
        if _pod_spec_mutable_view(ospec, internal) != _pod_spec_mutable_view(nspec, internal):
            causes.append(forbidden_cause("spec", _POD_MUTABLE_MSG))
        old_tol = ospec.get("tolerations") or []
        new_tol = nspec.get("tolerations") or []
        if any(t not in new_tol for t in old_tol):
            causes.append(
                forbidden_cause(
                    "spec.tolerations",
                    "existing toleration can not be modified except its tolerationSeconds",
                )
            )
    elif rt.plural == "jobs":
        ospec, nspec = old.get("spec") or {}, new.get("spec") or {}
        for f in ("selector", "completions", "completionMode"):
            if ospec.get(f) != nspec.get(f) and f != "completions":
                causes.append(invalid_cause(f"spec.{f}", nspec.get(f), "field is immutable"))
        if _strip_template(ospec.get("template")) != _strip_template(
            nspec.get("template")
        ) and not (ospec.get("suspend")):
            causes.append(
                invalid_cause("spec.template", nspec.get("template"), "field is immutable")
            )
    elif rt.plural in STORAGE_KINDS:
        causes += storage_kinds.update_causes(rt.plural, new, old)
    elif rt.plural == "secrets" or rt.plural == "configmaps":
        if old.get("immutable") and (
            old.get("data") != new.get("data") or old.get("binaryData") != new.get("binaryData")
        ):
            causes.append(forbidden_cause("data", "field is immutable when `immutable` is set"))
    elif rt.plural == "priorityclasses" and old.get("value") != new.get("value"):
        causes.append(forbidden_cause("value", "may not be changed in an update."))
    if causes:
        raise invalid(rt.kind, name, causes, rt.group)


def _strip_template(template: Any) -> Any:
    if not isinstance(template, dict):
        return template
    t = json.loads(json.dumps(template))
    md = t.get("metadata") or {}
    md.pop("labels", None)
    md.pop("annotations", None)
    return t

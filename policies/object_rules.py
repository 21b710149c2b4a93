"""Platform rules for single objects that are not pods: Services, Namespaces, ConfigMaps and RBAC.

Each check takes a plain Kubernetes object and the policy's options and returns violations. Control
ids: O1 exposed Services, O2 namespace Pod Security labels, O3 secrets in ConfigMaps, O4 RBAC.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kube.secret_names import looks_secret
from policies.common import Violation, as_list, as_mapping, as_mappings, matches_any, metadata_of, object_key, show
from policies.secret_patterns import is_reference, secret_shape

Options = Mapping[str, Any]

EXPOSING_SERVICE_TYPES = frozenset({"LoadBalancer", "NodePort"})
PSA_ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
PRIVILEGE_VERBS = ("escalate", "bind", "impersonate")
SECRET_READ_VERBS = frozenset({"get", "list", "watch", "*"})


def check_service_exposure(obj: Mapping[str, Any], options: Options) -> list[Violation]:
    """O1: no Service of type LoadBalancer or NodePort unless `<namespace>/<name>` is allow-listed."""
    if obj.get("kind") != "Service":
        return []
    service_type = as_mapping(obj.get("spec")).get("type")
    if service_type not in EXPOSING_SERVICE_TYPES:
        return []
    key = object_key(obj)
    if matches_any(key, options["allowed"]):
        return []
    return [
        Violation(
            "O1",
            "spec.type",
            f"Service {key} is of type {service_type}, which opens it outside the cluster; traffic enters through "
            "the ingress controller (allow-list the controller's Service in allowed)",
        )
    ]


def check_namespace_pod_security(obj: Mapping[str, Any], options: Options) -> list[Violation]:
    """O2: every Namespace enforces the restricted Pod Security profile: the API server refuses what the pack misses."""
    if obj.get("kind") != "Namespace":
        return []
    name = object_key(obj)
    if matches_any(name, options["exempt"]):
        return []
    labels = as_mapping(metadata_of(obj).get("labels"))
    enforce = labels.get(PSA_ENFORCE_LABEL)
    if enforce == "restricted":
        return []
    found = "missing" if enforce is None else show(enforce)
    return [
        Violation(
            "O2",
            f"metadata.labels.{PSA_ENFORCE_LABEL}",
            f"namespace {name} label {PSA_ENFORCE_LABEL} is {found}; required: restricted",
        )
    ]


def check_configmap_secrets(obj: Mapping[str, Any], options: Options) -> list[Violation]:
    """O3: no ConfigMap key that names a secret with a literal value, and no value shaped like one.

    ConfigMaps are readable by anyone who may read the namespace's configuration and land in logs and
    diffs; secrets belong in Secrets. Messages name the key only.
    """
    if obj.get("kind") != "ConfigMap":
        return []
    key_prefix = object_key(obj)
    violations = []
    for section in ("data", "binaryData"):
        for key, value in as_mapping(obj.get(section)).items():
            if matches_any(f"{key_prefix}/{key}", options["allowedKeys"]):
                continue
            text = value if isinstance(value, str) else ""
            path = f"{section}.{key}"
            shape = secret_shape(text) if section == "data" else None
            if shape is not None:
                violations.append(Violation("O3", path, f"ConfigMap key {key} holds {shape}; move it to a Secret"))
            elif looks_secret(str(key)) and text and not is_reference(text):
                violations.append(Violation("O3", path, f"ConfigMap key {key} looks secret; move it to a Secret"))
    return violations


def _rule_grants_secret_reads(rule: Mapping[str, Any]) -> bool:
    groups = {str(group) for group in as_list(rule.get("apiGroups"))}
    resources = {str(resource) for resource in as_list(rule.get("resources"))}
    verbs = {str(verb) for verb in as_list(rule.get("verbs"))}
    return (
        bool(groups & {"", "*"})
        and bool(resources & {"secrets", "*"})
        and bool(verbs & SECRET_READ_VERBS)
        and not as_list(rule.get("resourceNames"))
    )


def check_rbac(obj: Mapping[str, Any], options: Options) -> list[Violation]:
    """O4: Roles and ClusterRoles grant no wildcard, no escalate/bind/impersonate, and no cluster-wide secret
    reads; no binding hands out cluster-admin. ClusterRoles matching `allowedClusterRoles` (operators that
    must watch Secrets everywhere) are exempt."""
    kind = obj.get("kind")
    if kind in ("RoleBinding", "ClusterRoleBinding"):
        role = as_mapping(obj.get("roleRef"))
        if role.get("kind") == "ClusterRole" and role.get("name") == "cluster-admin":
            return [Violation("O4", "roleRef.name", f"{kind} {object_key(obj)} grants cluster-admin")]
        return []
    if kind not in ("Role", "ClusterRole"):
        return []
    name = object_key(obj)
    if kind == "ClusterRole" and matches_any(name, options["allowedClusterRoles"]):
        return []
    violations = []
    for index, rule in enumerate(as_mappings(obj.get("rules"))):
        path = f"rules[{index}]"
        for field in ("apiGroups", "resources", "verbs", "nonResourceURLs"):
            if "*" in as_list(rule.get(field)):
                violations.append(Violation("O4", f"{path}.{field}", f"{kind} {name} grants {field} '*'; list them"))
        verbs = {str(verb) for verb in as_list(rule.get("verbs"))}
        for verb in PRIVILEGE_VERBS:
            if verb in verbs:
                violations.append(
                    Violation("O4", f"{path}.verbs", f"{kind} {name} grants {verb}, which lets its holder gain rights")
                )
        if kind == "ClusterRole" and _rule_grants_secret_reads(rule):
            violations.append(
                Violation("O4", path, f"ClusterRole {name} reads Secrets in every namespace; use a namespaced Role")
            )
    return violations

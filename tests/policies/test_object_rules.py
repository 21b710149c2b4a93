"""Rules for single non-pod objects (O1-O4): each compliant object passes; each branch reports exactly its
violation; allow-lists accept what they name and nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from policies.registry import POLICIES_BY_NAME


def found(policy: str, document: dict[str, Any], options: dict[str, Any] | None = None) -> list[tuple[str, str, str]]:
    return [(v.control, v.path, v.message) for v in POLICIES_BY_NAME[policy].evaluate(document, options)]


def service(service_type: str | None, name: str = "crm-web", namespace: str = "crm") -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"app": name}, "ports": [{"port": 80}]}
    if service_type is not None:
        spec["type"] = service_type
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


# O1 ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("service_type", [None, "ClusterIP", "ExternalName"])
def test_internal_services_pass(service_type: str | None) -> None:
    assert found("no-exposed-services", service(service_type)) == []


@pytest.mark.parametrize("service_type", ["LoadBalancer", "NodePort"])
def test_exposed_service_is_reported_unless_allow_listed(service_type: str) -> None:
    assert found("no-exposed-services", service(service_type)) == [
        (
            "O1",
            "spec.type",
            f"Service crm/crm-web is of type {service_type}, which opens it outside the cluster; traffic enters "
            "through the ingress controller (allow-list the controller's Service in allowed)",
        )
    ]
    ingress_controller = service(service_type, name="traefik", namespace="traefik")
    assert found("no-exposed-services", ingress_controller, {"allowed": ["traefik/traefik"]}) == []
    assert len(found("no-exposed-services", service(service_type), {"allowed": ["traefik/traefik"]})) == 1


# O2 ---------------------------------------------------------------------------------------------


def namespace(labels: dict[str, str], name: str = "crm") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def test_restricted_namespace_passes() -> None:
    assert found("namespace-pod-security-labels", namespace({"pod-security.kubernetes.io/enforce": "restricted"})) == []


@pytest.mark.parametrize(
    ("labels", "shown"),
    [
        ({}, "missing"),
        ({"pod-security.kubernetes.io/enforce": "baseline"}, '"baseline"'),
        ({"pod-security.kubernetes.io/warn": "restricted"}, "missing"),
    ],
)
def test_namespace_without_restricted_enforcement_is_reported(labels: dict[str, str], shown: str) -> None:
    assert found("namespace-pod-security-labels", namespace(labels)) == [
        (
            "O2",
            "metadata.labels.pod-security.kubernetes.io/enforce",
            f"namespace crm label pod-security.kubernetes.io/enforce is {shown}; required: restricted",
        )
    ]
    assert found("namespace-pod-security-labels", namespace(labels, "kube-system"), {"exempt": ["kube-*"]}) == []


# O3 ---------------------------------------------------------------------------------------------


def config_map(data: dict[str, str], section: str = "data") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app", "namespace": "crm"}, section: data}


def test_plain_configuration_passes() -> None:
    data = {
        "DJANGO_SETTINGS_MODULE": "crm.settings.production",
        "PASSWORD_RESET_TIMEOUT": "3600",
        "DATABASE_URL": "postgres://$(DB_USER):$(DB_PASSWORD)@db/crm",
        "SMTP_PASSWORD": "",
        "backup.sh": 'export PGPASSWORD="$DB_PASSWORD"\npg_dump "postgresql://$PGUSER:$PGPASSWORD@$PGHOST/db"\n',
    }
    assert found("no-secrets-in-configmaps", config_map(data)) == []


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("SMTP_PASSWORD", "hunter2", "ConfigMap key SMTP_PASSWORD looks secret; move it to a Secret"),
        ("api-token", "abc123", "ConfigMap key api-token looks secret; move it to a Secret"),
        ("stripe.secret.key", "abc", "ConfigMap key stripe.secret.key looks secret; move it to a Secret"),
        (
            "settings.ini",
            "[db]\nurl = postgres://crm:pw1@db/crm\n",
            "ConfigMap key settings.ini holds a password inside a URL; move it to a Secret",
        ),
        (
            "tls.key",
            "-----BEGIN PRIVATE KEY-----\nMIIE",
            "ConfigMap key tls.key holds a PEM private key; move it to a Secret",
        ),
        ("github", "ghp_" + "a1" * 18, "ConfigMap key github holds a GitHub token; move it to a Secret"),
    ],
)
def test_secret_in_configmap_is_reported_by_key_never_by_value(key: str, value: str, message: str) -> None:
    violations = found("no-secrets-in-configmaps", config_map({key: value}))
    assert violations == [("O3", f"data.{key}", message)]
    assert value not in violations[0][2]


def test_binary_data_is_judged_by_key_and_allow_list_names_the_key() -> None:
    document = config_map({"SIGNING_KEY": "c2VjcmV0"}, section="binaryData")
    assert found("no-secrets-in-configmaps", document) == [
        ("O3", "binaryData.SIGNING_KEY", "ConfigMap key SIGNING_KEY looks secret; move it to a Secret")
    ]
    assert found("no-secrets-in-configmaps", document, {"allowedKeys": ["crm/app/SIGNING_KEY"]}) == []


def test_binary_data_is_not_judged_by_the_shape_of_its_encoding() -> None:
    """binaryData holds base64 of bytes: text that happens to look like a key id there is not one."""
    assert found("no-secrets-in-configmaps", config_map({"blob": "AKIA" + "ABCDEFGHIJKLMNOP"}, "binaryData")) == []
    assert found("no-secrets-in-configmaps", config_map({"blob": "AKIA" + "ABCDEFGHIJKLMNOP"})) == [
        ("O3", "data.blob", "ConfigMap key blob holds an AWS access key id; move it to a Secret")
    ]


def test_an_allow_listed_key_does_not_end_the_check_of_the_keys_after_it() -> None:
    document = config_map({"SIGNING_KEY": "allowed", "SMTP_PASSWORD": "hunter2"})
    assert found("no-secrets-in-configmaps", document, {"allowedKeys": ["crm/app/SIGNING_KEY"]}) == [
        ("O3", "data.SMTP_PASSWORD", "ConfigMap key SMTP_PASSWORD looks secret; move it to a Secret")
    ]
    assert [path for _, path, _ in found("no-secrets-in-configmaps", document)] == [
        "data.SIGNING_KEY",
        "data.SMTP_PASSWORD",
    ]


@pytest.mark.parametrize("value", [5, None, ["hunter2"]])
def test_a_value_that_is_not_a_string_is_not_judged(value: object) -> None:
    """The API refuses a non-string ConfigMap value; the rule skips it rather than fail on it."""
    assert found("no-secrets-in-configmaps", config_map({"SMTP_PASSWORD": value})) == []  # type: ignore[dict-item]


# O4 ---------------------------------------------------------------------------------------------


def role(kind: str, rules: list[dict[str, Any]], name: str = "crm-deployer") -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name} | ({"namespace": "crm"} if kind == "Role" else {})
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": metadata, "rules": rules}


READ_PODS = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}


@pytest.mark.parametrize("kind", ["Role", "ClusterRole"])
def test_narrow_roles_pass(kind: str) -> None:
    named_secret = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["crm-django"]}
    assert found("rbac-least-privilege", role(kind, [READ_PODS, named_secret])) == []


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            {"apiGroups": ["*"], "resources": ["pods"], "verbs": ["get"]},
            [("rules[0].apiGroups", "grants apiGroups '*'; list them")],
        ),
        (
            {"apiGroups": ["apps"], "resources": ["*"], "verbs": ["get"]},
            [("rules[0].resources", "grants resources '*'; list them")],
        ),
        (
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]},
            [("rules[0].verbs", "grants verbs '*'; list them")],
        ),
        (
            {"nonResourceURLs": ["*"], "verbs": ["get"]},
            [("rules[0].nonResourceURLs", "grants nonResourceURLs '*'; list them")],
        ),
        (
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate", "bind"]},
            [
                ("rules[0].verbs", "grants escalate, which lets its holder gain rights"),
                ("rules[0].verbs", "grants bind, which lets its holder gain rights"),
            ],
        ),
        (
            {"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"]},
            [("rules[0].verbs", "grants impersonate, which lets its holder gain rights")],
        ),
    ],
)
@pytest.mark.parametrize("kind", ["Role", "ClusterRole"])
def test_wildcards_and_privilege_verbs_are_reported(
    kind: str, rule: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    name = "crm/crm-deployer" if kind == "Role" else "crm-deployer"
    assert found("rbac-least-privilege", role(kind, [READ_PODS, rule])) == [
        ("O4", path.replace("[0]", "[1]"), f"{kind} {name} {message}") for path, message in expected
    ]


@pytest.mark.parametrize("verbs", [["get"], ["list"], ["watch"]])
def test_cluster_wide_secret_reads_are_reported_for_cluster_roles_only(verbs: list[str]) -> None:
    rule = {"apiGroups": [""], "resources": ["secrets"], "verbs": verbs}
    assert found("rbac-least-privilege", role("ClusterRole", [rule])) == [
        ("O4", "rules[0]", "ClusterRole crm-deployer reads Secrets in every namespace; use a namespaced Role")
    ]
    assert found("rbac-least-privilege", role("Role", [rule])) == []
    operator = role("ClusterRole", [rule], name="cert-manager-controller-certificates")
    assert found("rbac-least-privilege", operator, {"allowedClusterRoles": ["cert-manager-*"]}) == []


@pytest.mark.parametrize("kind", ["RoleBinding", "ClusterRoleBinding"])
def test_binding_to_cluster_admin_is_reported(kind: str) -> None:
    binding: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": "ci"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": "crm"}],
    }
    assert found("rbac-least-privilege", binding) == [("O4", "roleRef.name", f"{kind} ci grants cluster-admin")]
    binding["roleRef"]["name"] = "view"
    assert found("rbac-least-privilege", binding) == []


def test_wildcard_api_group_still_counts_as_a_secret_read() -> None:
    """apiGroups ["*"] includes the core group: a ClusterRole reading secrets through it is both findings."""
    rule = {"apiGroups": ["*"], "resources": ["secrets"], "verbs": ["list"]}
    assert [path for _, path, _ in found("rbac-least-privilege", role("ClusterRole", [rule]))] == [
        "rules[0].apiGroups",
        "rules[0]",
    ]


def test_wildcard_resources_still_count_as_a_secret_read() -> None:
    """resources ["*"] includes secrets: a ClusterRole reading everything is both findings."""
    rule = {"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}
    assert [path for _, path, _ in found("rbac-least-privilege", role("ClusterRole", [rule]))] == [
        "rules[0].resources",
        "rules[0]",
    ]


@pytest.mark.parametrize("verbs", [["create"], ["delete", "deletecollection"], ["patch", "update"]])
def test_writing_secrets_cluster_wide_is_not_a_secret_read(verbs: list[str]) -> None:
    """The secret-read finding is about get, list and watch; other verbs on secrets are not reads."""
    rule = {"apiGroups": [""], "resources": ["secrets"], "verbs": verbs}
    assert found("rbac-least-privilege", role("ClusterRole", [rule])) == []


def test_secret_reads_limited_to_named_secrets_pass() -> None:
    rule = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["crm-tls"]}
    assert found("rbac-least-privilege", role("ClusterRole", [rule])) == []

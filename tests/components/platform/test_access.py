"""Access: least-privilege namespaced Roles, bindings for the groups in settings, no ClusterRole."""

from __future__ import annotations

from typing import Any

import pytest

from components.platform.access import deployer_rules, read_only_rules
from tests.conftest import STACKS, RunStack

FORBIDDEN_VERBS = {"*", "escalate", "bind", "impersonate"}
ROLLOUT_RESOURCES = {
    ("apps", "deployments"),
    ("", "services"),
    ("", "configmaps"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
    ("autoscaling", "horizontalpodautoscalers"),
    ("policy", "poddisruptionbudgets"),
    ("networking.k8s.io", "ingresses"),
}


def grants(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    table: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                table.setdefault((group, resource), set()).update(rule["verbs"])
    return table


@pytest.fixture
def rendered_roles(run_stack: RunStack) -> dict[str, dict[tuple[str, str], set[str]]]:
    return {role["metadata"]["name"]: grants(role["rules"]) for role in run_stack("staging").kind("Role")}


def test_deployer_can_roll_out_every_application_object(
    rendered_roles: dict[str, dict[tuple[str, str], set[str]]],
) -> None:
    """The deployer may create, change and delete every object a rollout touches, and only read ReplicaSets."""
    deployer = rendered_roles["crm-deployer"]
    for resource in ROLLOUT_RESOURCES:
        assert {"get", "list", "watch", "create", "update", "patch", "delete"} <= deployer[resource], resource
    assert deployer[("apps", "replicasets")] == {"get", "list", "watch"}


def test_no_role_has_wildcards_or_escalation_verbs(rendered_roles: dict[str, dict[tuple[str, str], set[str]]]) -> None:
    """No Role grants `*`, escalate, bind or impersonate."""
    for name, table in rendered_roles.items():
        for (group, resource), verbs in table.items():
            assert "*" not in (group, resource), name
            assert not verbs & FORBIDDEN_VERBS, (name, resource)


def test_neither_role_can_touch_secrets_or_rbac(rendered_roles: dict[str, dict[tuple[str, str], set[str]]]) -> None:
    """Neither Role reaches Secrets or RBAC objects, and ServiceAccounts at most read-only."""
    for name, table in rendered_roles.items():
        assert ("", "secrets") not in table, name
        assert not any(group == "rbac.authorization.k8s.io" for group, _ in table), name
        assert ("", "serviceaccounts") not in table or table[("", "serviceaccounts")] <= {"get", "list", "watch"}


def test_read_only_role_only_reads(rendered_roles: dict[str, dict[tuple[str, str], set[str]]]) -> None:
    """The read-only Role grants get, list and watch and nothing else."""
    assert all(verbs <= {"get", "list", "watch"} for verbs in rendered_roles["crm-read-only"].values())


def test_rendered_roles_are_the_pure_rule_builders_output(
    rendered_roles: dict[str, dict[tuple[str, str], set[str]]],
) -> None:
    """The Roles carry exactly the rules the (separately testable) builders define."""
    for name, builder in (("crm-deployer", deployer_rules), ("crm-read-only", read_only_rules)):
        built = [
            {"apiGroups": rule["api_groups"], "resources": rule["resources"], "verbs": rule["verbs"]}
            for rule in builder()
        ]
        assert grants(built) == rendered_roles[name]


@pytest.mark.parametrize("stack", STACKS)
def test_the_application_gets_no_cluster_wide_rbac(run_stack: RunStack, stack: str) -> None:
    """No ClusterRole is bound to an account of the application's namespace: cluster-wide RBAC belongs to the
    add-ons the add-on owner installs (Grafana's dashboard reader), and a stack without add-ons declares none."""
    run = run_stack(stack)
    app_namespace = run.recording.stack_outputs["settings"]["appNamespace"]
    for binding in run.kind("ClusterRoleBinding"):
        for subject in binding["subjects"]:
            assert subject["kind"] == "ServiceAccount" and subject["namespace"] != app_namespace, binding
    if stack.startswith("pr-"):
        assert not run.kind("ClusterRole") and not run.kind("ClusterRoleBinding")


def test_groups_from_settings_are_bound_to_their_roles(run_stack: RunStack) -> None:
    """Groups in deployerGroups and readOnlyGroups become subjects of the matching RoleBinding."""
    run = run_stack("staging", config={"deployerGroups": '["release"]', "readOnlyGroups": '["devs", "support"]'})
    deployer = run.named("RoleBinding", "crm-deployer")
    read_only = run.named("RoleBinding", "crm-read-only")
    assert deployer["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "crm-deployer"}
    assert deployer["subjects"] == [
        {"kind": "ServiceAccount", "name": "crm-deployer", "namespace": "crm-staging"},
        {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "release"},
    ]
    assert [subject["name"] for subject in read_only["subjects"]] == ["devs", "support"]


def test_no_read_only_binding_without_groups(run_stack: RunStack) -> None:
    """Without read-only groups there is no empty read-only RoleBinding."""
    run = run_stack("dev")
    app = [binding for binding in run.kind("RoleBinding") if binding["metadata"]["namespace"] == "crm-dev"]
    assert [binding["metadata"]["name"] for binding in app] == ["crm-deployer"]


def test_deployer_account_mounts_no_token(run_stack: RunStack) -> None:
    """The deployer ServiceAccount is used from outside the cluster, so no pod gets its token."""
    account = run_stack("staging").named("ServiceAccount", "crm-deployer")
    assert account["automountServiceAccountToken"] is False

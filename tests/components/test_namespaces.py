"""Namespaces: PSA restricted everywhere, environment labels, the app namespace's quota."""

from __future__ import annotations

import pytest

from components.namespaces import pod_security_labels, quota_hard_limits
from stacks.settings import QuotaSettings
from tests.conftest import STACKS, RunStack

PSA_RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/audit": "restricted",
    "pod-security.kubernetes.io/audit-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/warn-version": "latest",
}


def test_pod_security_labels_enforce_audit_and_warn_one_level() -> None:
    assert pod_security_labels() == PSA_RESTRICTED


def test_quota_forbids_load_balancers_and_node_ports() -> None:
    """Only the ingress controller, outside the app namespace, is exposed."""
    hard = quota_hard_limits(QuotaSettings("1", "2", "1Gi", "2Gi", 10))
    assert hard["services.loadbalancers"] == "0"
    assert hard["services.nodeports"] == "0"
    assert hard["pods"] == "10"


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_has_an_app_and_a_monitoring_namespace_under_psa_restricted(
    run_stack: RunStack, stack: str
) -> None:
    namespaces = {document["metadata"]["name"]: document for document in run_stack(stack).kind("Namespace")}
    assert set(namespaces) == {f"crm-{stack}", f"crm-{stack}-monitoring"}
    environment = "review" if stack.startswith("pr-") else stack
    for document in namespaces.values():
        labels = document["metadata"]["labels"]
        assert PSA_RESTRICTED.items() <= labels.items()
        assert labels["environment"] == environment
        assert labels["crm-platform/stack"] == stack


def test_production_namespaces_are_protected_from_deletion(run_stack: RunStack) -> None:
    assert all(resource.protect for resource in run_stack("production").of_type("kubernetes:core/v1:Namespace"))
    assert not any(resource.protect for resource in run_stack("staging").of_type("kubernetes:core/v1:Namespace"))


def test_quota_follows_the_profile_and_lives_in_the_app_namespace(run_stack: RunStack) -> None:
    production = run_stack("production").named("ResourceQuota", "crm-quota")
    review = run_stack("pr-7").named("ResourceQuota", "crm-quota")
    assert production["metadata"]["namespace"] == "crm-production"
    assert production["spec"]["hard"]["pods"] == "200"
    assert review["spec"]["hard"]["pods"] == "30"


def test_quota_can_be_overridden_from_config(run_stack: RunStack) -> None:
    run = run_stack("staging", config={"quotaCpuRequests": "12", "quotaCpuLimits": "24", "quotaPods": "80"})
    hard = run.named("ResourceQuota", "crm-quota")["spec"]["hard"]
    assert (hard["requests.cpu"], hard["limits.cpu"], hard["pods"]) == ("12", "24", "80")


def test_containers_without_resources_get_defaults(run_stack: RunStack) -> None:
    limits = run_stack("staging").named("LimitRange", "crm-container-defaults")["spec"]["limits"]
    assert limits == [
        {
            "type": "Container",
            "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
            "default": {"cpu": "500m", "memory": "512Mi"},
        }
    ]

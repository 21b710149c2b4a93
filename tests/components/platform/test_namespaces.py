"""Namespaces: PSA restricted everywhere, environment labels, the app namespace's quota."""

from __future__ import annotations

import pytest

from components.platform.namespaces import quota_hard_limits
from kube.quantities import quantity
from policies.pod_security import POLICY_VERSION
from stacks.profiles import QuotaSettings
from tests.conftest import STACKS, RunStack

PSA_RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": POLICY_VERSION,
    "pod-security.kubernetes.io/audit": "restricted",
    "pod-security.kubernetes.io/audit-version": POLICY_VERSION,
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/warn-version": POLICY_VERSION,
}
"""The API server enforces the very Pod Security version the policy pack implements, so the two never disagree."""


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
    """Every namespace a stack declares (its two, plus the add-ons' where it owns them) is PSA restricted."""
    namespaces = {document["metadata"]["name"]: document for document in run_stack(stack).kind("Namespace")}
    addons = {"traefik", "cert-manager", "cnpg-system", "monitoring"} if not stack.startswith("pr-") else set()
    assert set(namespaces) == {f"crm-{stack}", f"crm-{stack}-monitoring"} | addons
    environment = "review" if stack.startswith("pr-") else stack
    for document in namespaces.values():
        labels = document["metadata"]["labels"]
        assert PSA_RESTRICTED.items() <= labels.items()
        assert labels["environment"] == environment
        assert labels["crm-platform/stack"] == stack


def test_production_namespaces_are_protected_from_deletion(run_stack: RunStack) -> None:
    """Only production protects its namespaces from `pulumi destroy`."""
    assert all(resource.protect for resource in run_stack("production").of_type("kubernetes:core/v1:Namespace"))
    assert not any(resource.protect for resource in run_stack("staging").of_type("kubernetes:core/v1:Namespace"))


@pytest.mark.parametrize("stack", ["dev", "staging", "production", "pr-7"])
def test_quota_follows_the_settings_and_lives_in_the_app_namespace(run_stack: RunStack, stack: str) -> None:
    """The app namespace's quota is exactly the stack's resolved quota, in the app namespace."""
    run = run_stack(stack)
    settings = run.recording.stack_outputs["settings"]
    quota = run.named("ResourceQuota", "crm-quota")
    assert quota["metadata"]["namespace"] == settings["appNamespace"]
    hard = quota["spec"]["hard"]
    described = settings["quota"]
    assert (hard["requests.cpu"], hard["limits.cpu"]) == (described["cpuRequests"], described["cpuLimits"])
    assert (hard["requests.memory"], hard["limits.memory"]) == (described["memoryRequests"], described["memoryLimits"])
    assert hard["pods"] == str(described["pods"])


def test_quotas_grow_from_review_to_production(run_stack: RunStack) -> None:
    """Production gets the most room, a review stack the least: every total grows review <= staging <= production."""
    hard = {
        stack: run_stack(stack).named("ResourceQuota", "crm-quota")["spec"]["hard"]
        for stack in ("pr-7", "staging", "production")
    }
    for resource in ("requests.cpu", "limits.cpu", "requests.memory", "limits.memory", "pods"):
        sizes = [quantity(hard[stack][resource]) for stack in ("pr-7", "staging", "production")]
        assert sizes == sorted(sizes) and sizes[0] < sizes[-1], resource


def test_quota_can_be_overridden_from_config(run_stack: RunStack) -> None:
    """Quota keys in the stack file replace the profile's values."""
    run = run_stack("staging", config={"quotaCpuRequests": "12", "quotaCpuLimits": "24", "quotaPods": "80"})
    hard = run.named("ResourceQuota", "crm-quota")["spec"]["hard"]
    assert (hard["requests.cpu"], hard["limits.cpu"], hard["pods"]) == ("12", "24", "80")


def test_containers_without_resources_still_fit_the_quota(run_stack: RunStack) -> None:
    """A quota on limits rejects pods without them; the LimitRange gives such containers
    requests and limits (limits at least the requests) in the app namespace."""
    [limit_range] = run_stack("staging").kind("LimitRange")
    assert limit_range["metadata"]["namespace"] == "crm-staging"
    [item] = limit_range["spec"]["limits"]
    assert item["type"] == "Container"
    for resource in ("cpu", "memory"):
        assert quantity(item["defaultRequest"][resource]) <= quantity(item["default"][resource])
    hard = run_stack("staging").named("ResourceQuota", "crm-quota")["spec"]["hard"]
    assert {"limits.cpu", "limits.memory", "requests.cpu", "requests.memory"} <= hard.keys()

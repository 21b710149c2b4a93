"""The explicit Kubernetes provider: built from settings, used by every Kubernetes resource."""

from __future__ import annotations

import re

import pytest

from offline.mocks import RecordedResource
from offline.program import DefaultProviderError, _check_providers
from tests.conftest import STACKS, RunStack

PROVIDER = "pulumi:providers:kubernetes"


def provider_of(run_stack: RunStack, stack: str, **kwargs: object) -> RecordedResource:
    [provider] = run_stack(stack, **kwargs).of_type(PROVIDER)
    return provider


def test_provider_targets_the_configured_context_with_server_side_apply(run_stack: RunStack) -> None:
    """The provider uses the stack's context, server-side apply, and never forces or adopts objects."""
    inputs = provider_of(run_stack, "production").inputs
    assert inputs["context"] == "production"
    assert inputs["enableServerSideApply"] == "true"
    assert inputs["enablePatchForce"] == "false"
    assert inputs["upsertExistingObjects"] == "false"
    assert inputs["clusterIdentifier"] == "crm-platform/production"


def test_changing_the_kube_context_does_not_change_the_cluster_identity(run_stack: RunStack) -> None:
    """A renamed context or new kubeconfig must update the provider, not replace every resource."""
    before = provider_of(run_stack, "staging").inputs["clusterIdentifier"]
    after = provider_of(run_stack, "staging", config={"kubeContext": "staging-eks", "kubeconfig": "/ci/kubeconfig"})
    assert after.inputs["clusterIdentifier"] == before


def test_no_provider_switch_is_left_to_the_deployers_environment(run_stack: RunStack) -> None:
    """Every switch the SDK would read from PULUMI_K8S_* is set explicitly."""
    import inspect

    import pulumi_kubernetes

    source = inspect.getsource(pulumi_kubernetes.provider.ProviderArgs.__init__)
    environment_backed = set(re.findall(r"if (\w+) is None:\n\s+\1 = _utilities\.get_env", source))
    assert environment_backed, "the SDK no longer reads switches from the environment; revisit this test"
    inputs = provider_of(run_stack, "staging").inputs
    camel = {name: re.sub(r"_(\w)", lambda match: match.group(1).upper(), name) for name in environment_backed}
    missing = sorted(name for name, wire in camel.items() if wire not in inputs and name != "kubeconfig")
    assert missing == []
    assert inputs["enableSecretMutable"] == "true"


def test_kubeconfig_path_from_settings_reaches_the_provider(run_stack: RunStack) -> None:
    """A kubeconfig path in settings is passed to the provider."""
    inputs = provider_of(run_stack, "staging", config={"kubeconfig": "/etc/crm/staging.kubeconfig"}).inputs
    assert inputs["kubeconfig"] == "/etc/crm/staging.kubeconfig"


def test_render_does_not_pick_up_the_machines_kubeconfig(run_stack: RunStack) -> None:
    """An unset kubeconfig stays unset: the render is hermetic."""
    assert "kubeconfig" not in provider_of(run_stack, "dev").inputs


@pytest.mark.parametrize("stack", STACKS)
def test_every_kubernetes_resource_uses_the_stacks_provider(run_stack: RunStack, stack: str) -> None:
    """No Kubernetes resource falls back to a default provider."""
    run = run_stack(stack)
    [provider] = run.of_type(PROVIDER)
    for resource in run.recording.resources:
        if resource.type.startswith("kubernetes:") and resource.custom:
            assert resource.provider == provider.urn, resource.urn


def test_a_resource_on_a_disabled_default_provider_is_refused() -> None:
    """The render refuses a resource on a default provider that Pulumi.yaml disables, as the engine does."""
    stray = RecordedResource(
        urn="urn:pulumi:s::p::kubernetes:core/v1:ConfigMap::stray",
        type="kubernetes:core/v1:ConfigMap",
        name="stray",
        parent="",
        provider="",
        custom=True,
        protect=False,
        inputs={},
    )
    with pytest.raises(DefaultProviderError, match="stray"):
        _check_providers((stray,), ("kubernetes", "aws"))
    _check_providers((stray,), ("aws",))

"""The explicit Kubernetes provider: built from settings, used by every Kubernetes resource."""

from __future__ import annotations

import pytest

from offline.mocks import RecordedResource
from offline.program import DefaultProviderError, _check_providers
from tests.conftest import STACKS, RunStack

PROVIDER = "pulumi:providers:kubernetes"


def provider_of(run_stack: RunStack, stack: str, **kwargs: object) -> RecordedResource:
    [provider] = run_stack(stack, **kwargs).of_type(PROVIDER)
    return provider


def test_provider_targets_the_configured_context_with_server_side_apply(run_stack: RunStack) -> None:
    inputs = provider_of(run_stack, "production").inputs
    assert inputs["context"] == "production"
    assert inputs["enableServerSideApply"] == "true"
    assert inputs["enablePatchForce"] == "false"
    assert inputs["upsertExistingObjects"] == "false"
    assert inputs["clusterIdentifier"] == "production/production"


def test_kubeconfig_path_from_settings_reaches_the_provider(run_stack: RunStack) -> None:
    inputs = provider_of(run_stack, "staging", config={"kubeconfig": "/etc/crm/staging.kubeconfig"}).inputs
    assert inputs["kubeconfig"] == "/etc/crm/staging.kubeconfig"


def test_render_does_not_pick_up_the_machines_kubeconfig(run_stack: RunStack) -> None:
    """An unset kubeconfig stays unset: the render is hermetic."""
    assert "kubeconfig" not in provider_of(run_stack, "dev").inputs


@pytest.mark.parametrize("stack", STACKS)
def test_every_kubernetes_resource_uses_the_stacks_provider(run_stack: RunStack, stack: str) -> None:
    run = run_stack(stack)
    [provider] = run.of_type(PROVIDER)
    for resource in run.recording.resources:
        if resource.type.startswith("kubernetes:") and resource.custom:
            assert resource.provider == provider.urn, resource.urn


def test_a_resource_on_a_disabled_default_provider_is_refused() -> None:
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

"""Labels every object of the platform carries, so `kubectl get -l` finds a stack's objects."""

from __future__ import annotations

from collections.abc import Mapping

from stacks import Settings

PART_OF = "app.kubernetes.io/part-of"
MANAGED_BY = "app.kubernetes.io/managed-by"
COMPONENT = "app.kubernetes.io/component"
NAME = "app.kubernetes.io/name"
INSTANCE = "app.kubernetes.io/instance"
"""With NAME, what a workload's selector matches: the stack, so two stacks sharing a namespace never mix."""
STACK = "crm-platform/stack"
ENVIRONMENT = "environment"
"""Plain `environment` label, as the applications' own manifests select namespaces by it."""


def common_labels(settings: Settings) -> dict[str, str]:
    """Labels shared by every object of one stack."""
    return {
        PART_OF: settings.project,
        MANAGED_BY: "pulumi",
        STACK: settings.stack,
        ENVIRONMENT: settings.environment.value,
    }


def with_component(labels: Mapping[str, str], component: str) -> dict[str, str]:
    """`labels` plus the component that made the object."""
    return {**labels, COMPONENT: component}

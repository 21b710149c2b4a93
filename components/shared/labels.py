"""Labels every object of the platform carries, so `kubectl get -l` finds a stack's objects."""

from __future__ import annotations

from collections.abc import Mapping

from kube.labels import (
    COMPONENT,
    ENVIRONMENT,
    INSTANCE,
    MANAGED_BY,
    NAME,
    NAMESPACE_ROLE,
    PART_OF,
    POD_SECURITY_PREFIX,
    RELEASE,
    STACK,
)
from stacks import Settings

__all__ = [
    "COMPONENT",
    "ENVIRONMENT",
    "INSTANCE",
    "NAME",
    "RELEASE",
    "STACK",
    "common_labels",
    "namespace_labels",
    "pod_security_labels",
    "with_component",
]

POD_SECURITY_LEVEL = "restricted"
POD_SECURITY_VERSION = "v1.34"
"""The Pod Security version the namespaces enforce: the one the policy pack implements (policies/pod_security.py),
so the API server admits exactly what the pack passes, on this Kubernetes version and on newer ones (1.35
relaxes the rules for pods in a user namespace; a pack at 1.34 would refuse them while "latest" admitted them)."""


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


def pod_security_labels(level: str = POD_SECURITY_LEVEL, version: str = POD_SECURITY_VERSION) -> dict[str, str]:
    """Pod Security Admission labels that enforce, audit and warn at one level."""
    labels: dict[str, str] = {}
    for mode in ("enforce", "audit", "warn"):
        labels[f"{POD_SECURITY_PREFIX}/{mode}"] = level
        labels[f"{POD_SECURITY_PREFIX}/{mode}-version"] = version
    return labels


def namespace_labels(labels: Mapping[str, str], environment: str, role: str) -> dict[str, str]:
    """Labels of one namespace: common labels, environment, role and Pod Security."""
    return {
        **with_component(labels, "namespaces"),
        ENVIRONMENT: environment,
        NAMESPACE_ROLE: role,
        **pod_security_labels(),
    }

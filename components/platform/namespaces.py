"""Namespaces: the stack's app and monitoring namespaces, under Pod Security `restricted`.

The app namespace also gets a ResourceQuota (the stack's size, and no LoadBalancer or
NodePort Services: only the ingress controller, in its own namespace, is exposed) and a
LimitRange that gives any container without resources a modest default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.shared.labels import namespace_labels, with_component
from stacks.profiles import QuotaSettings

# What a container gets when it declares nothing; workloads always declare their own.
DEFAULT_CONTAINER_REQUESTS = {"cpu": "100m", "memory": "128Mi"}
DEFAULT_CONTAINER_LIMITS = {"cpu": "500m", "memory": "512Mi"}


def quota_hard_limits(quota: QuotaSettings) -> dict[str, str]:
    """ResourceQuota `spec.hard` for the app namespace."""
    return {
        "requests.cpu": quota.cpu_requests,
        "limits.cpu": quota.cpu_limits,
        "requests.memory": quota.memory_requests,
        "limits.memory": quota.memory_limits,
        "pods": str(quota.pods),
        # Only the ingress controller is reachable from outside the cluster.
        "services.loadbalancers": "0",
        "services.nodeports": "0",
    }


def container_default_limits() -> list[k8s.core.v1.LimitRangeItemArgsDict]:
    """LimitRange items: defaults for containers that declare no resources."""
    return [
        {
            "type": "Container",
            "default_request": dict(DEFAULT_CONTAINER_REQUESTS),
            "default": dict(DEFAULT_CONTAINER_LIMITS),
        }
    ]


@dataclass(frozen=True)
class NamespacesArgs:
    app: str
    """Name of the app namespace."""
    monitoring: str
    """Name of the monitoring namespace."""
    environment: str
    """Value of the `environment` label."""
    quota: QuotaSettings
    """Totals for the app namespace."""
    protect: bool
    """Refuse to delete the namespaces (production)."""
    labels: Mapping[str, str]
    """Common labels of the stack."""


class Namespaces(pulumi.ComponentResource):
    """App and monitoring namespaces with PSA `restricted`, plus the app namespace's quota."""

    app: pulumi.Output[str]
    monitoring: pulumi.Output[str]

    def __init__(self, name: str, args: NamespacesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("crm:core:Namespaces", name, None, opts)
        namespace_options = pulumi.ResourceOptions(parent=self, protect=args.protect)
        child = pulumi.ResourceOptions(parent=self)

        app = k8s.core.v1.Namespace(
            f"{name}-app",
            metadata={"name": args.app, "labels": namespace_labels(args.labels, args.environment, "app")},
            opts=namespace_options,
        )
        monitoring = k8s.core.v1.Namespace(
            f"{name}-monitoring",
            metadata={
                "name": args.monitoring,
                "labels": namespace_labels(args.labels, args.environment, "monitoring"),
            },
            opts=namespace_options,
        )
        # The names as Outputs of the namespaces, so everything placed in them waits for them.
        self.app = app.metadata.apply(lambda metadata: metadata.name or args.app)
        self.monitoring = monitoring.metadata.apply(lambda metadata: metadata.name or args.monitoring)

        labels = with_component(args.labels, "namespaces")
        k8s.core.v1.ResourceQuota(
            f"{name}-app-quota",
            metadata={"name": "crm-quota", "namespace": self.app, "labels": labels},
            spec={"hard": quota_hard_limits(args.quota)},
            opts=child,
        )
        k8s.core.v1.LimitRange(
            f"{name}-app-limits",
            metadata={"name": "crm-container-defaults", "namespace": self.app, "labels": labels},
            spec={"limits": container_default_limits()},
            opts=child,
        )
        self.register_outputs({"app": self.app, "monitoring": self.monitoring})

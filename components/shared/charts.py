"""Cluster add-ons: how the add-on owning stack installs a pinned chart into its own namespace.

Edge (Traefik, cert-manager) and Postgres (CloudNativePG and its Barman Cloud plugin) install
their charts the same way: a Pod Security `restricted` namespace, protected where the stack
protects its namespaces, and a `helm.v4.Chart` of an exact version whose release name is the
chart's name (the charts derive object names and pod labels from it; network policies select
those labels).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.shared.labels import namespace_labels

OCI_SCHEME = "oci://"


@dataclass(frozen=True)
class ChartSource:
    """Where a Helm chart comes from, pinned to one version."""

    name: str
    """The chart's name; also its release name, which the charts derive object names and pod labels from."""
    version: str
    """The exact chart version (never a range)."""
    repository: str
    """An HTTP(S) chart repository, or an OCI registry path (`oci://...`) holding the chart."""

    @property
    def is_oci(self) -> bool:
        return self.repository.startswith(OCI_SCHEME)

    @property
    def chart(self) -> str:
        """What `helm.v4.Chart(chart=...)` takes: the full OCI reference, or the chart's name."""
        return f"{self.repository.rstrip('/')}/{self.name}" if self.is_oci else self.name

    @property
    def repo(self) -> str | None:
        """What `repository_opts.repo` takes; None for OCI, which is addressed by `chart` alone."""
        return None if self.is_oci else self.repository


def addon_namespace(
    resource_name: str,
    namespace: str,
    *,
    labels: Mapping[str, str],
    environment: str,
    protect: bool,
    parent: pulumi.Resource,
    role: str = "addon",
) -> k8s.core.v1.Namespace:
    """An add-on's namespace, labelled like the stack's own (PSA restricted); `role` is its namespace role."""
    return k8s.core.v1.Namespace(
        resource_name,
        metadata={"name": namespace, "labels": namespace_labels(labels, environment, role)},
        opts=pulumi.ResourceOptions(parent=parent, protect=protect),
    )


def install_chart(
    resource_name: str,
    source: ChartSource,
    namespace: str,
    values: Mapping[str, Any],
    *,
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource],
    transforms: Sequence[pulumi.ResourceTransform] = (),
) -> k8s.helm.v4.Chart:
    """The pinned chart, released under its own name into `namespace`; `transforms` apply to every object the
    chart renders (pulumi transforms reach the children of this provider-side component)."""
    return k8s.helm.v4.Chart(
        resource_name,
        chart=source.chart,
        version=source.version,
        repository_opts={"repo": source.repo} if source.repo else None,
        name=source.name,
        namespace=namespace,
        values=dict(values),
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=list(depends_on),
            transforms=list(transforms) or None,
        ),
    )

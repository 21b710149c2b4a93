"""How one component points at what another made, without importing it: typed references.

A workload reads a secret through a `SecretKeyRef` (and hashes its `AppSecret` value into a
rollout checksum, never writing it out); the network policies let traffic in to a
`PublishedService` by its pods' labels and port; the application's upload handlers reach the
media store through a `MediaAttachment`. The component that makes the object hands out the
reference; the one that uses it takes it in its args.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from stacks.services import Role


@dataclass(frozen=True)
class SecretKeyRef:
    """Where a workload finds one secret value: `secretKeyRef` name and key."""

    name: str
    """The Kubernetes Secret's name."""
    key: str
    """The key in its data."""


@dataclass(frozen=True)
class AppSecret:
    """A secret a container reads from an environment variable."""

    ref: SecretKeyRef
    """Where the container reads it."""
    value: pulumi.Output[str]
    """The value, a Pulumi secret; only ever hashed (rollout checksum), never written out."""


@dataclass(frozen=True)
class IngressController:
    """Where the ingress controller's pods run, so the network policies let exactly them in."""

    namespace: str
    """The controller's namespace."""
    pod_labels: Mapping[str, str]
    """Labels every controller pod carries."""


@dataclass(frozen=True)
class PublishedService:
    """A Service other pods may reach: its name, the labels of the pods behind it, its port."""

    name: str
    """The Service's name, which also names the network policies of its flows."""
    pod_labels: Mapping[str, str]
    """Labels of the pods behind it, which the network policies select."""
    port: int
    """The port the flows open."""


@dataclass(frozen=True)
class ScrapeTarget:
    """Pods Prometheus scrapes: who they are, where their metrics are, and the name their series carry.

    The component that runs the pods hands it out; the monitoring area turns it into a PodMonitor and
    the network policies let exactly Prometheus in on `port`.
    """

    name: str
    """The name of its PodMonitor and flow, and the scrape job's (the `job` label of every series) unless `job`."""
    pod_labels: Mapping[str, str]
    """Labels that select exactly these pods."""
    port: int
    """The container port number, which the network policy opens."""
    port_name: str
    """The container port's name, which the PodMonitor scrapes."""
    path: str = "/metrics"
    """The HTTP path of the metrics."""
    namespace: str | None = None
    """Where the pods run; None for the stack's app namespace."""
    job: str | None = None
    """The `job` label, where pods of two targets are one service (a release candidate is web too)."""
    label_from_pod: Mapping[str, str] = field(default_factory=dict)
    """Series label -> pod label copied onto every series (`release` from crm-platform/release)."""


@dataclass(frozen=True)
class Scraper:
    """Where Prometheus's pods run, so the network policies let exactly them in to the metrics ports."""

    namespace: str
    """Prometheus's namespace."""
    pod_labels: Mapping[str, str]
    """Labels of Prometheus's pods."""


@dataclass(frozen=True)
class MediaAttachment:
    """How the application reaches its media store: what every service reads, and what the upload handlers get.

    Made by the data area (the S3 bucket and its role, or the volume), applied by the workloads to the services
    in `services`: their ServiceAccount, pod labels, container environment, volumes and scheduling.
    """

    services: tuple[Role, ...]
    """The services that handle uploads; no other pod gets any of the below but `config`."""
    config: Mapping[str, pulumi.Input[str]]
    """Entries of the shared ConfigMap (MEDIA_STORAGE, django-storages' AWS_* settings or MEDIA_ROOT)."""
    environment: Mapping[str, pulumi.Input[str]]
    """Variables of the upload handlers' containers only (the web identity the AWS SDK assumes)."""
    service_account_annotations: Mapping[str, pulumi.Input[str]]
    """Annotations of their ServiceAccounts (the IAM role, for the EKS pod identity webhook)."""
    pod_labels: Mapping[str, str]
    """Labels of their pods, which the network policy to object storage selects."""
    volumes: tuple[k8s.core.v1.VolumeArgsDict, ...]
    """Volumes of their pods: the media claim, or the projected STS token."""
    mounts: tuple[k8s.core.v1.VolumeMountArgsDict, ...]
    """Mounts of their containers."""
    affinity: k8s.core.v1.AffinityArgsDict | None
    """Scheduling their pods need (onto one node, to share a ReadWriteOnce volume); None for none."""
    waits_for: tuple[pulumi.Resource, ...] = ()
    """What their Deployments wait for (the claim)."""

"""Well-known label keys: the ones Kubernetes defines, and the platform's own.

The components set them, the network policies and the policy pack select on them, and the
render reads them; each key is written here once.
"""

from __future__ import annotations

from typing import Final

# Kubernetes' recommended labels (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/).
PART_OF: Final = "app.kubernetes.io/part-of"
MANAGED_BY: Final = "app.kubernetes.io/managed-by"
COMPONENT: Final = "app.kubernetes.io/component"
NAME: Final = "app.kubernetes.io/name"
INSTANCE: Final = "app.kubernetes.io/instance"
"""With NAME, what a workload's selector matches: the stack, so two stacks sharing a namespace never mix."""

NAMESPACE_NAME: Final = "kubernetes.io/metadata.name"
"""Set by the API server on every namespace (immutable), so it cannot be spoofed by a tenant."""
HOSTNAME: Final = "kubernetes.io/hostname"
ZONE: Final = "topology.kubernetes.io/zone"
POD_SECURITY_PREFIX: Final = "pod-security.kubernetes.io"
"""Pod Security Admission's namespace labels: <prefix>/{enforce,audit,warn}[-version]."""

# The platform's own.
STACK: Final = "crm-platform/stack"
ENVIRONMENT: Final = "environment"
"""Plain `environment` label, as the applications' own manifests select namespaces by it."""
NAMESPACE_ROLE: Final = "crm-platform/namespace-role"
"""What a namespace is for: app, monitoring or addon. The default-deny policy rule selects app namespaces by it."""
NETWORK_ROLE: Final = "crm-platform/network-role"
"""Pod label the network policies select on: app, postgres, redis."""
RELEASE: Final = "crm-platform/release"
"""Which release a pod of the application runs: `stable` (the released image) or `candidate` (a canary or the
other colour of a blue-green release). Prometheus compares the two by it (5xx ratio, latency)."""
MEDIA_ACCESS: Final = "crm-platform/media-access"
"""Pod label of the services that handle user uploads ("true"): they mount the media volume, or reach the media bucket
(the only app pods with an egress policy to object storage)."""
BUCKET_ROLE: Final = "crm-platform/bucket-role"
"""Tag of an S3 bucket saying what it holds (backups, media): the policy pack holds each to the controls of its kind."""

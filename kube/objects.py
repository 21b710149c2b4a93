"""Reading Kubernetes objects as YAML spells them (camelCase dicts), never raising on a missing field.

Where each pod-bearing kind keeps its pod spec and pod metadata, and a tolerant path lookup.
The policy pack checks pod templates through these, the render sums their resources, and the
tests find containers with them: one reading of "the pod spec of an object" for all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

POD_SPEC_PATHS: Final[Mapping[str, tuple[str, ...]]] = {
    "Pod": ("spec",),
    # core/v1 PodTemplate holds its template at the top level, not under spec.
    "PodTemplate": ("template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
"""Where each pod-bearing kind keeps its pod spec: every kind pod-security-admission reads a pod spec from
(DefaultPodSpecExtractor in its admission/admission.go)."""

CONTAINER_GROUPS: Final = ("initContainers", "containers", "ephemeralContainers")
"""The container lists of a pod spec, in the order the kubelet starts them."""


def dig(document: Mapping[str, Any], path: Iterable[str]) -> Any:
    """The value at `path` (keys, outermost first), or None where any step is missing or not a mapping."""
    node: Any = document
    for step in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(step)
    return node


def dig_mapping(document: Mapping[str, Any], path: Iterable[str]) -> Mapping[str, Any] | None:
    """`dig`, but only a mapping counts as found."""
    found = dig(document, path)
    return found if isinstance(found, Mapping) else None


def pod_spec_path(kind: str) -> tuple[str, ...] | None:
    """The keys leading to the pod spec of `kind`, or None for a kind that runs no pods."""
    return POD_SPEC_PATHS.get(kind)


def pod_metadata_path(kind: str) -> tuple[str, ...] | None:
    """The keys leading to the pod-level metadata: a Pod's own, otherwise its template's."""
    keys = POD_SPEC_PATHS.get(kind)
    if keys is None:
        return None
    # The metadata beside the pod spec: ("spec",) gives a Pod's own ("metadata",).
    return (*keys[:-1], "metadata")


def pod_spec_of(document: Mapping[str, Any]) -> dict[str, Any] | None:
    """The pod spec of a pod-bearing object (see POD_SPEC_PATHS), or None for any other kind."""
    kind = document.get("kind")
    keys = pod_spec_path(kind) if isinstance(kind, str) else None
    spec = dig_mapping(document, keys) if keys else None
    return dict(spec) if spec is not None else None


def pod_metadata_of(document: Mapping[str, Any]) -> dict[str, Any] | None:
    """The pod-level metadata of a pod-bearing object ({} when absent), or None for other kinds."""
    kind = document.get("kind")
    keys = pod_metadata_path(kind) if isinstance(kind, str) else None
    if keys is None or pod_spec_of(document) is None:
        return None
    metadata = dig_mapping(document, keys)
    return dict(metadata) if metadata is not None else {}


def containers_of(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every container of a pod-bearing object (init, regular and ephemeral), [] for other kinds."""
    spec = pod_spec_of(document) or {}
    containers: list[Mapping[str, Any]] = []
    for group in CONTAINER_GROUPS:
        listed = spec.get(group)
        if isinstance(listed, list):
            containers.extend(item for item in listed if isinstance(item, Mapping))
    return containers

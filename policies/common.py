"""What every rule module shares: tolerant readers of plain object dicts, allow-list matching, and the
stack resource a stack policy sees.

The rules read Kubernetes objects as YAML spells them (camelCase) and AWS resources as pulumi-aws
spells their inputs (camelCase wire names). They never raise on a missing or mistyped field: absent
means unset, and a rule that needs the field reports it.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from policies.pod_security import Violation

__all__ = [
    "StackResource",
    "StackViolation",
    "Violation",
    "as_list",
    "as_mapping",
    "as_mappings",
    "matches_any",
    "metadata_of",
    "object_key",
    "show",
]


def as_mapping(value: object) -> Mapping[str, Any]:
    """`value` if it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def as_mappings(value: object) -> list[Mapping[str, Any]]:
    """The mappings of a list, [] for anything else."""
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def as_list(value: object) -> list[Any]:
    """`value` if it is a list, else []."""
    return value if isinstance(value, list) else []


def show(value: object) -> str:
    """A value as YAML/JSON spells it (true, "Unconfined", 0), so messages match the manifests."""
    return json.dumps(value)


def metadata_of(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The object's metadata, or an empty mapping."""
    return as_mapping(document.get("metadata"))


def object_key(document: Mapping[str, Any]) -> str:
    """`<namespace>/<name>` of a namespaced object, `<name>` of a cluster-scoped one: what allow-lists name."""
    metadata = metadata_of(document)
    name = str(metadata.get("name") or "")
    namespace = metadata.get("namespace")
    return f"{namespace}/{name}" if namespace else name


def matches_any(value: str, patterns: Iterable[str]) -> bool:
    """Whether `value` matches one of the shell-style patterns (`traefik/*`, `cert-manager-*`)."""
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


@dataclass(frozen=True)
class StackResource:
    """One resource of a stack as a stack policy sees it, whatever produced it.

    The Pulumi CLI gives a stack policy every resource with its type, name, URN, properties and
    dependencies; the offline runner builds the same from the mocked run or from manifest files.
    """

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    """Kubernetes resources: the object document; other types: the resource's properties."""
    dependencies: frozenset[str] = field(default_factory=frozenset)
    """URNs of the resources this one depends on (property dependencies included)."""

    @property
    def kind(self) -> str:
        """The Kubernetes kind, "" for other providers."""
        return str(self.props.get("kind", "")) if self.type.startswith("kubernetes:") else ""

    @property
    def namespace(self) -> str:
        return str(metadata_of(self.props).get("namespace") or "")

    @property
    def object_name(self) -> str:
        """metadata.name of a Kubernetes object, the Pulumi name otherwise."""
        return str(metadata_of(self.props).get("name") or self.name) if self.kind else self.name


@dataclass(frozen=True)
class StackViolation:
    """A stack policy's finding, attached to the resource it is about (None: the stack as a whole)."""

    resource: StackResource | None
    violation: Violation

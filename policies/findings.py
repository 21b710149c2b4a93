"""What the pack checks and what it finds, without the Pulumi engine: subjects in, findings out.

A `Subject` is one resource to check (a Kubernetes object, or with `--stack` an AWS resource) with
where it came from; `evaluate` runs every policy a config does not disable over the subjects and
returns `Finding`s in report order. The runner (`python -m policies.runner --manifests`) and the
offline check (`python -m offline check --stack`) build subjects their own way and share the rest:
the text, JSON and SARIF reports and the exit status.

This module, like the whole pack, imports only the bottom layer (kube/) and the pack itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policies.common import StackResource, Violation
from policies.config import PolicyConfig
from policies.pod_security import pod_templates_reused
from policies.registry import POLICIES, EnforcementLevel, PolicySpec

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
"""The project root: report files are named relative to it (SARIF's artifact URIs, the JSON report's `file`)."""

STACK_KEY = "<stack>"
"""Where findings about the stack as a whole (no single resource) are grouped, after every resource."""


@dataclass(frozen=True)
class Location:
    """Where a subject's text is: a file and the 1-based line its object begins on."""

    file: Path
    line: int

    @property
    def shown(self) -> str:
        """The file relative to the project root (forward slashes) when it is inside it, else its absolute path."""
        return shown_path(self.file)


def shown_path(file: Path) -> str:
    """`file` relative to the project root (forward slashes) when it is inside it, else its absolute path."""
    absolute = file.resolve()
    try:
        return absolute.relative_to(REPOSITORY_ROOT).as_posix()
    except ValueError:
        return absolute.as_posix()


@dataclass(frozen=True)
class Subject:
    """One resource to check and where it came from: a Kubernetes object, or (--stack) an AWS resource."""

    document: dict[str, Any]
    """The Kubernetes object, or the properties of a resource of another provider."""
    pulumi_type: str
    origin: str
    """The Pulumi resource name (--stack), or the manifest file, document number and List item (--manifests)."""
    urn: str
    """The Pulumi URN (--stack); the origin again for manifests, which have none."""
    dependencies: frozenset[str] = frozenset()
    location: Location | None = None
    """The file and line reports point at; None where there is no file."""

    @property
    def is_kubernetes(self) -> bool:
        return self.pulumi_type.startswith("kubernetes:")

    @property
    def kind(self) -> str:
        """The Kubernetes kind, "" for other providers."""
        return str(self.document.get("kind", "")) if self.is_kubernetes else ""

    @property
    def name(self) -> str:
        """metadata.name of a Kubernetes object ("<unnamed>" without one); the origin for other providers."""
        if not self.is_kubernetes:
            return self.origin
        metadata = self.document.get("metadata")
        return str((metadata if isinstance(metadata, dict) else {}).get("name") or "<unnamed>")

    @property
    def namespace(self) -> str:
        """metadata.namespace of a Kubernetes object, "" for cluster-scoped objects and other providers."""
        metadata = self.document.get("metadata") if self.is_kubernetes else None
        return str((metadata if isinstance(metadata, dict) else {}).get("namespace") or "")

    @property
    def label(self) -> str:
        """`<kind> <namespace>/<name>`, `<kind> <name>` for cluster-scoped objects, `<type> <name>` otherwise."""
        if not self.is_kubernetes:
            return f"{self.pulumi_type} {self.origin}"
        scope = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {scope}"


@dataclass(frozen=True)
class Finding:
    """One violation of one policy by one subject (None: the stack as a whole), at the level the stack enforces it."""

    subject: Subject | None
    spec: PolicySpec
    enforcement: EnforcementLevel
    violation: Violation

    @property
    def resource(self) -> str:
        return self.subject.label if self.subject else "stack"

    @property
    def pulumi_type(self) -> str:
        return self.subject.pulumi_type if self.subject else ""

    @property
    def origin(self) -> str:
        return self.subject.origin if self.subject else ""

    @property
    def location(self) -> Location | None:
        return self.subject.location if self.subject else None

    def as_json(self) -> dict[str, Any]:
        """The finding as the JSON report lists it; `file` and `line` are null where there is no file."""
        location = self.location
        return {
            "resource": self.resource,
            "pulumi_type": self.pulumi_type,
            "origin": self.origin,
            "file": location.shown if location else None,
            "line": location.line if location else None,
            "policy": self.spec.name,
            "enforcement": self.enforcement,
            "severity": self.spec.severity,
            "control": self.violation.control,
            "path": self.violation.path,
            "message": self.violation.message,
        }


def stack_resources(subjects: Sequence[Subject]) -> list[StackResource]:
    """The subjects as a stack policy sees them (the engine's view: type, name, URN, props, dependencies)."""
    return [
        StackResource(
            type=subject.pulumi_type,
            name=subject.origin,
            urn=subject.urn,
            props=subject.document,
            dependencies=subject.dependencies,
        )
        for subject in subjects
    ]


def _resource_policies_by_kind(config: PolicyConfig) -> Mapping[str, list[tuple[PolicySpec, EnforcementLevel]]]:
    """The enabled resource policies that look at each kind, in registry order, with their levels."""
    by_kind: dict[str, list[tuple[PolicySpec, EnforcementLevel]]] = {}
    for spec in POLICIES:
        level = config.level(spec)
        if level == "disabled" or spec.is_stack_policy:
            continue
        for kind in spec.kinds:
            by_kind.setdefault(kind, []).append((spec, level))
    return by_kind


def evaluate(subjects: Sequence[Subject], config: PolicyConfig) -> list[Finding]:
    """Every policy the config does not disable: resource policies over each Kubernetes subject, stack policies
    over all of them; findings grouped by subject in input order (stack-wide ones last), then registry order."""
    by_kind = _resource_policies_by_kind(config)
    by_urn: dict[str, list[Finding]] = {}
    # Every pod policy reads the same pod template: build it once per object (the subjects do not change here).
    with pod_templates_reused():
        for subject in subjects:
            if not subject.is_kubernetes:
                continue
            for spec, level in by_kind.get(subject.kind, ()):
                violations = spec.evaluate_with(subject.document, config.options_for(spec))
                if violations:
                    by_urn.setdefault(subject.urn, []).extend(
                        Finding(subject, spec, level, violation) for violation in violations
                    )
    resources = stack_resources(subjects)
    subject_by_urn = {subject.urn: subject for subject in subjects}
    for spec in POLICIES:
        level = config.level(spec)
        if level == "disabled" or not spec.is_stack_policy:
            continue
        for stack_violation in spec.evaluate_stack(resources, config.options_for(spec)):
            resource = stack_violation.resource
            concerned = subject_by_urn.get(resource.urn) if resource is not None else None
            by_urn.setdefault(concerned.urn if concerned else STACK_KEY, []).append(
                Finding(concerned, spec, level, stack_violation.violation)
            )
    order = {spec.name: index for index, spec in enumerate(POLICIES)}
    findings: list[Finding] = []
    for urn in [*(subject.urn for subject in subjects), STACK_KEY]:
        found = by_urn.pop(urn, None)
        if found:
            findings.extend(sorted(found, key=lambda finding: order[finding.spec.name]))
    return findings


def counts(findings: Sequence[Finding]) -> tuple[int, int]:
    """(mandatory, advisory) violation counts."""
    mandatory = sum(1 for finding in findings if finding.enforcement == "mandatory")
    return mandatory, len(findings) - mandatory

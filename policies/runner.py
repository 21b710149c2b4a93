"""Run the policy pack's checks without the Pulumi engine, over any Kubernetes manifests.

    python -m policies.runner --manifests build/staging/manifests [--policy-config FILE] [--json]

Every policy runs at the pack's own level unless --policy-config names a file (the format
`pulumi preview --policy-pack-config` takes). Prints the violations grouped by object, then
`N mandatory, M advisory` (or one JSON document with --json). `python -m offline check --stack
<stack>` runs the same evaluation over what the program declares for a stack.

Exit status: 0 no mandatory violation; 1 at least one; 2 unusable input (missing directory,
unreadable or invalid YAML, bad policy config), with one line on stderr.

This module, like the whole pack, imports only the bottom layer (kube/) and the pack itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from policies.common import StackResource, Violation
from policies.config import PolicyConfig, PolicyConfigError, default_config, load_policy_config
from policies.pulumi_adapter import pulumi_type_of
from policies.registry import POLICIES, EnforcementLevel, PolicySpec

EXIT_MANDATORY_VIOLATION = 1
EXIT_UNUSABLE_INPUT = 2
MANIFEST_SUFFIXES = (".yaml", ".yml")
STACK_KEY = "<stack>"
"""Where findings about the stack as a whole (no single resource) are grouped, after every resource."""


class UnusableInputError(Exception):
    """The stack, directory or a file cannot be checked; the message says which and why."""


@dataclass(frozen=True)
class Subject:
    """One resource to check and where it came from: a Kubernetes object, or (--stack) an AWS resource."""

    document: dict[str, Any]
    """The Kubernetes object, or the properties of a resource of another provider."""
    pulumi_type: str
    origin: str
    """The Pulumi resource name (--stack) or the manifest file and document number (--manifests)."""
    urn: str
    """The Pulumi URN (--stack); the origin again for manifests, which have none."""
    dependencies: frozenset[str] = frozenset()

    @property
    def is_kubernetes(self) -> bool:
        return self.pulumi_type.startswith("kubernetes:")

    @property
    def label(self) -> str:
        """`<kind> <namespace>/<name>`, `<kind> <name>` for cluster-scoped objects, `<type> <name>` otherwise."""
        if not self.is_kubernetes:
            return f"{self.pulumi_type} {self.origin}"
        metadata = self.document.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        name = str(metadata.get("name") or "<unnamed>")
        namespace = metadata.get("namespace")
        kind = str(self.document.get("kind", ""))
        return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


@dataclass(frozen=True)
class Finding:
    """One violation of one policy by one object, at the level the stack enforces it."""

    resource: str
    pulumi_type: str
    origin: str
    policy: str
    enforcement: EnforcementLevel
    severity: str
    control: str
    path: str
    message: str


def _yaml_error(path: Path, error: yaml.YAMLError) -> UnusableInputError:
    """Where the YAML is broken, without quoting it: a manifest may hold a secret."""
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return UnusableInputError(f"{path} is not valid YAML{where}")


def _manifest_documents(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UnusableInputError(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise UnusableInputError(f"cannot read {path}: not UTF-8 text") from None
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        raise _yaml_error(path, error) from None
    for number, document in enumerate(documents, start=1):
        if document is None:
            continue
        if not isinstance(document, dict):
            raise UnusableInputError(f"{path}: document {number} is not a mapping (a Kubernetes object)")
        items = document.get("items")
        if str(document.get("kind", "")).endswith("List") and isinstance(items, list):
            for item in items:
                if isinstance(item, dict):
                    yield number, item
            continue
        yield number, document


def manifest_subjects(directory: Path) -> list[Subject]:
    """Every object in every *.yaml/*.yml file under `directory`, multi-document files included."""
    if not directory.is_dir():
        raise UnusableInputError(f"manifest directory {directory} does not exist or is not a directory")
    subjects = []
    files = sorted(path for path in directory.rglob("*") if path.suffix in MANIFEST_SUFFIXES and path.is_file())
    for path in files:
        shown = path.relative_to(directory)
        for number, document in _manifest_documents(path):
            api_version, kind = document.get("apiVersion"), document.get("kind")
            if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version or not kind:
                raise UnusableInputError(f"{path}: document {number} has no apiVersion and kind")
            origin = f"{shown}#{number}"
            subjects.append(
                Subject(document=document, pulumi_type=pulumi_type_of(api_version, kind), origin=origin, urn=origin)
            )
    return subjects


def _finding(subject: Subject | None, spec: PolicySpec, level: EnforcementLevel, violation: Violation) -> Finding:
    """One finding, under its subject, or under "stack" for a stack policy's finding about no one resource."""
    return Finding(
        resource=subject.label if subject else "stack",
        pulumi_type=subject.pulumi_type if subject else "",
        origin=subject.origin if subject else "",
        policy=spec.name,
        enforcement=level,
        severity=spec.severity,
        control=violation.control,
        path=violation.path,
        message=violation.message,
    )


def stack_resources(subjects: list[Subject]) -> list[StackResource]:
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


def evaluate(subjects: list[Subject], config: PolicyConfig) -> list[Finding]:
    """Every policy the config does not disable: resource policies over each Kubernetes subject, stack policies
    over all of them; findings grouped by subject in input order (stack-wide ones last), then registry order."""
    enabled = [spec for spec in POLICIES if config.level(spec) != "disabled"]
    by_urn: dict[str, list[Finding]] = {}
    for subject in subjects:
        if not subject.is_kubernetes:
            continue
        for spec in (spec for spec in enabled if not spec.is_stack_policy):
            by_urn.setdefault(subject.urn, []).extend(
                _finding(subject, spec, config.level(spec), violation)
                for violation in spec.evaluate(subject.document, config.options_for(spec))
            )
    resources = stack_resources(subjects)
    subject_by_urn = {subject.urn: subject for subject in subjects}
    for spec in (spec for spec in enabled if spec.is_stack_policy):
        for stack_violation in spec.evaluate_stack(resources, config.options_for(spec)):
            resource = stack_violation.resource
            concerned = subject_by_urn.get(resource.urn) if resource is not None else None
            by_urn.setdefault(concerned.urn if concerned else STACK_KEY, []).append(
                _finding(concerned, spec, config.level(spec), stack_violation.violation)
            )
    order = {spec.name: index for index, spec in enumerate(POLICIES)}
    findings: list[Finding] = []
    for urn in [*(subject.urn for subject in subjects), STACK_KEY]:
        findings.extend(sorted(by_urn.pop(urn, []), key=lambda finding: order[finding.policy]))
    return findings


def counts(findings: list[Finding]) -> tuple[int, int]:
    """(mandatory, advisory) violation counts."""
    mandatory = sum(1 for finding in findings if finding.enforcement == "mandatory")
    return mandatory, len(findings) - mandatory


def text_report(findings: list[Finding]) -> str:
    """Findings grouped by object, one line each, then the `N mandatory, M advisory` line."""
    lines: list[str] = []
    current: tuple[str, str, str] | None = None
    for finding in findings:
        group = (finding.resource, finding.pulumi_type, finding.origin)
        if group != current:
            current = group
            lines.append(f"{finding.resource} ({finding.pulumi_type} {finding.origin})")
        lines.append(f"  {finding.policy} [{finding.enforcement}] {finding.control} {finding.path}: {finding.message}")
    mandatory, advisory = counts(findings)
    lines.append(f"{mandatory} mandatory, {advisory} advisory")
    return "\n".join(lines)


def json_report(findings: list[Finding]) -> str:
    """{"violations": [...], "mandatory": N, "advisory": M}."""
    mandatory, advisory = counts(findings)
    return json.dumps(
        {"violations": [asdict(finding) for finding in findings], "mandatory": mandatory, "advisory": advisory},
        indent=2,
    )


def check(subjects: list[Subject], config: PolicyConfig, *, as_json: bool) -> int:
    """Evaluate, print the report, and return the exit status: 1 on a mandatory violation, else 0."""
    findings = evaluate(subjects, config)
    print(json_report(findings) if as_json else text_report(findings))
    mandatory, _ = counts(findings)
    return EXIT_MANDATORY_VIOLATION if mandatory else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policies.runner", description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=Path, required=True, help="check every *.yaml/*.yml under this directory")
    parser.add_argument(
        "--policy-config",
        type=Path,
        help="enforcement levels (--policy-pack-config format); default: the pack's own levels",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    arguments = parser.parse_args(argv)
    try:
        subjects = manifest_subjects(arguments.manifests)
        config = load_policy_config(arguments.policy_config) if arguments.policy_config else default_config()
    except (UnusableInputError, PolicyConfigError) as error:
        print(f"policies.runner: {error}", file=sys.stderr)
        return EXIT_UNUSABLE_INPUT
    return check(subjects, config, as_json=arguments.json)


if __name__ == "__main__":
    sys.exit(main())

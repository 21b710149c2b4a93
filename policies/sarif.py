"""The findings as a SARIF 2.1.0 log, the format code scanning reads: `--sarif FILE` of both offline checks.

One run, one rule per policy of the pack (id and name the policy's name; short description, help
with the remediation, the level the config gives it, severity and GitHub's numeric
security-severity), one result per finding: level error for a mandatory policy and warning for an
advisory one, a message that names the object, the control and the field but never a value (a
manifest may hold a secret, and code scanning shows messages to everyone who can read the
repository), the file and the line the object begins on, and a logical location with the object's
kind, namespace and name. Files inside the project are named relative to its root, others by an
absolute file URI. What the reading skipped becomes a tool execution notification, and the run
counts as unsuccessful.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from policies.config import PolicyConfig
from policies.findings import Finding, Location, shown_path
from policies.manifests import Skipped
from policies.pod_security import CONTROLS, POLICY_VERSION, READ_ONLY_ROOT_FILESYSTEM
from policies.registry import POLICIES, EnforcementLevel, PolicySpec, Severity

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
TOOL_NAME = "crm-platform-policies"

SARIF_LEVELS: dict[EnforcementLevel, str] = {"mandatory": "error", "advisory": "warning", "disabled": "none"}
SECURITY_SEVERITY: dict[Severity, str] = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}
"""GitHub code scanning's scale: 9.0 and above critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low."""

FINGERPRINT_KEY = "crmPlatformFinding/v1"
"""partialFingerprints key: the same finding keeps its identity when lines move."""

_REQUIREMENTS = {**CONTROLS, READ_ONLY_ROOT_FILESYSTEM: "readOnlyRootFilesystem true on every container"}


def artifact_uri(file: Path) -> str:
    """A file as SARIF names it: relative to the project root (percent-encoded) when inside it, else a file URI."""
    shown = shown_path(file)
    return Path(shown).as_uri() if shown.startswith("/") else quote(shown)


def _physical_location(location: Location) -> dict[str, Any]:
    return {"artifactLocation": {"uri": artifact_uri(location.file)}, "region": {"startLine": location.line}}


def _rule(spec: PolicySpec, level: EnforcementLevel) -> dict[str, Any]:
    short = spec.description.split(". ")[0].removesuffix(".")
    return {
        "id": spec.name,
        "name": spec.name,
        "shortDescription": {"text": short},
        "fullDescription": {"text": spec.description},
        "help": {"text": spec.remediation},
        "defaultConfiguration": {"enabled": level != "disabled", "level": SARIF_LEVELS[level]},
        "properties": {
            "severity": spec.severity,
            "security-severity": SECURITY_SEVERITY[spec.severity],
            # Code scanning files results of rules tagged `security` as security alerts.
            "tags": ["security"] if spec.category == "security" else [spec.category],
        },
    }


def _message(finding: Finding) -> str:
    """What is wrong, where, and what the control asks: names and paths, never a field's value."""
    control = finding.violation.control
    requirement = _REQUIREMENTS.get(control)
    asks = f" ({requirement})" if requirement else ""
    return f"{finding.resource} breaks {finding.spec.name} {control}{asks} at {finding.violation.path}"


def _logical_location(finding: Finding) -> dict[str, Any]:
    subject = finding.subject
    if subject is None:
        return {"name": "stack", "kind": "module"}
    if not subject.is_kubernetes:
        return {
            "name": subject.name,
            "fullyQualifiedName": subject.urn,
            "kind": "resource",
            "properties": {"type": subject.pulumi_type},
        }
    scope = [part for part in (subject.kind, subject.namespace, subject.name) if part]
    return {
        "name": subject.name,
        "fullyQualifiedName": "/".join(scope),
        "kind": "resource",
        "properties": {"kind": subject.kind, "namespace": subject.namespace, "name": subject.name},
    }


def _fingerprint(finding: Finding) -> str:
    parts = (finding.spec.name, finding.violation.control, finding.resource, finding.violation.path)
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def _result(finding: Finding, rule_index: int, stack_location: Location | None) -> dict[str, Any]:
    location: dict[str, Any] = {}
    physical = finding.location or stack_location
    if physical is not None:
        location["physicalLocation"] = _physical_location(physical)
    location["logicalLocations"] = [_logical_location(finding)]
    return {
        "ruleId": finding.spec.name,
        "ruleIndex": rule_index,
        "level": SARIF_LEVELS[finding.enforcement],
        "message": {"text": _message(finding)},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: _fingerprint(finding)},
        "properties": {
            "control": finding.violation.control,
            "field": finding.violation.path,
            "enforcement": finding.enforcement,
            "origin": finding.origin,
        },
    }


def sarif_log(
    findings: Sequence[Finding],
    config: PolicyConfig,
    *,
    unusable: Sequence[Skipped] = (),
    exit_code: int,
    stack_location: Location | None = None,
    automation_id: str | None = None,
) -> dict[str, Any]:
    """The SARIF log of one check. `unusable` lists the inputs the check skipped; `stack_location` is where findings
    about the stack as a whole point (the stack's config file)."""
    rule_index = {spec.name: index for index, spec in enumerate(POLICIES)}
    notifications = []
    for skipped in unusable:
        physical: dict[str, Any] = {"artifactLocation": {"uri": artifact_uri(skipped.file)}}
        if skipped.line is not None:
            physical["region"] = {"startLine": skipped.line}
        notifications.append(
            {"level": "error", "message": {"text": str(skipped)}, "locations": [{"physicalLocation": physical}]}
        )
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "rules": [_rule(spec, config.level(spec)) for spec in POLICIES],
                "properties": {"podSecurityStandardsVersion": POLICY_VERSION},
            }
        },
        "invocations": [
            {
                "executionSuccessful": not unusable,
                "exitCode": exit_code,
                "toolExecutionNotifications": notifications,
            }
        ],
        "results": [_result(finding, rule_index[finding.spec.name], stack_location) for finding in findings],
    }
    if automation_id is not None:
        run["automationDetails"] = {"id": automation_id}
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def write_sarif(path: Path, log: dict[str, Any]) -> None:
    """Write the log to `path`, making its directory; OSError when that cannot be done."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(log, indent=2) + "\n", encoding="utf-8")

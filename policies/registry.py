"""The policy pack's policies as plain data: name, description, severity, remediation, enforcement and check.

Both consumers read this module: `policies/__main__.py` turns each `PolicySpec` into a pulumi_policy
`ResourceValidationPolicy` for `pulumi preview --policy-pack policies`, and `policies/offline.py` runs the
same checks over the offline render. Importing it never imports pulumi_policy: constructing a `PolicyPack`
starts the analyzer's gRPC server and blocks, so only `resource_policy_validator` and `__main__` touch it.

Per-stack enforcement levels live in `policies/config/<stack>.json`, the format `pulumi preview
--policy-pack-config` reads; `load_policy_config` reads and checks it here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from policies.pod_security import POD_SPEC_PATHS, Violation, check_read_only_root, check_restricted

if TYPE_CHECKING:
    from pulumi_policy import ReportViolation, ResourceValidationArgs

Severity = Literal["low", "medium", "high", "critical"]
EnforcementLevel = Literal["mandatory", "advisory", "disabled"]
ENFORCEMENT_LEVELS: tuple[EnforcementLevel, ...] = ("mandatory", "advisory", "disabled")

POLICIES_DIR = Path(__file__).resolve().parent
CONFIG_DIR = POLICIES_DIR / "config"
REVIEW_CONFIG = "review"
"""Review stacks (pr-<number>) share one config file, as they share staging's stack file."""

POD_BEARING_KINDS = frozenset(POD_SPEC_PATHS)


@dataclass(frozen=True)
class PolicySpec:
    """One policy, described without pulumi_policy so tests and the offline runner can import it."""

    name: str
    description: str
    severity: Severity
    remediation: str
    default_enforcement: EnforcementLevel
    """The pack's level; `policies/config/<stack>.json` may lower it only where `advisory_allowed`."""
    check: Callable[[Mapping[str, Any]], list[Violation]]
    kinds: frozenset[str]
    """Kubernetes kinds the check looks at; every other object passes untouched."""
    advisory_allowed: bool = False
    """Whether a stack config may set this policy to advisory or disabled (never in production)."""

    def evaluate(self, document: Mapping[str, Any]) -> list[Violation]:
        """The check's violations for a plain Kubernetes object dict, [] for kinds outside `kinds`."""
        if str(document.get("kind", "")) not in self.kinds:
            return []
        return self.check(document)


POLICIES: tuple[PolicySpec, ...] = (
    PolicySpec(
        name="pod-security-restricted",
        description="Pod-bearing objects meet the Pod Security Standards restricted profile (baseline B1-B12, "
        "restricted R1-R7).",
        severity="high",
        remediation="Set runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities.drop: [ALL] and "
        "seccompProfile.type: RuntimeDefault; remove privileged, host namespaces, hostPath volumes and hostPorts. "
        "The message names the control and the field.",
        default_enforcement="mandatory",
        check=check_restricted,
        kinds=POD_BEARING_KINDS,
    ),
    PolicySpec(
        name="read-only-root-filesystem",
        description="Every container runs with securityContext.readOnlyRootFilesystem: true (platform rule P1).",
        severity="medium",
        remediation="Set securityContext.readOnlyRootFilesystem: true on the container and mount an emptyDir "
        "where it must write (/tmp, caches).",
        default_enforcement="mandatory",
        check=check_read_only_root,
        kinds=POD_BEARING_KINDS,
        advisory_allowed=True,
    ),
)
POLICIES_BY_NAME: Mapping[str, PolicySpec] = {spec.name: spec for spec in POLICIES}


class PolicyConfigError(Exception):
    """A policy config file cannot be used; the message names the file and what is wrong."""


def config_name_for_stack(stack: str) -> str:
    """The config file stem of a stack: its own name, `review` for pr-<number> stacks."""
    # Imported here: stacks.profiles is light, but keep registry importable without the program's packages.
    from stacks.profiles import REVIEW_STACK

    return REVIEW_CONFIG if REVIEW_STACK.fullmatch(stack) else stack


def config_path_for_stack(stack: str) -> Path:
    """`policies/config/<stack>.json` (review.json for pr-<number>), whether it exists or not."""
    return CONFIG_DIR / f"{config_name_for_stack(stack)}.json"


def default_levels() -> dict[str, EnforcementLevel]:
    """Every policy at the pack's own level: what `pulumi preview` applies without --policy-pack-config."""
    return {spec.name: spec.default_enforcement for spec in POLICIES}


def _level(path: Path, key: str, value: object) -> EnforcementLevel:
    if isinstance(value, Mapping):
        value = value.get("enforcementLevel")
    for level in ENFORCEMENT_LEVELS:
        if value == level:
            return level
    raise PolicyConfigError(
        f"{path}: {key!r} has enforcement level {json.dumps(value)}; allowed: {', '.join(ENFORCEMENT_LEVELS)}"
    )


def enforcement_levels(config: Mapping[str, Any], source: Path) -> dict[str, EnforcementLevel]:
    """Levels from a --policy-pack-config document: `all` first, then each policy; checked against the registry."""
    levels = default_levels()
    if "all" in config:
        levels = dict.fromkeys(levels, _level(source, "all", config["all"]))
    for key, value in config.items():
        if key == "all":
            continue
        if key not in POLICIES_BY_NAME:
            raise PolicyConfigError(f"{source}: unknown policy {key!r}; known: {', '.join(POLICIES_BY_NAME)}")
        levels[key] = _level(source, key, value)
    for name, level in levels.items():
        if level != "mandatory" and not POLICIES_BY_NAME[name].advisory_allowed:
            raise PolicyConfigError(f"{source}: {name!r} must stay mandatory on every stack, not {level}")
    return levels


def load_policy_config(path: Path) -> dict[str, EnforcementLevel]:
    """Read a `policies/config/<stack>.json` file into a level per policy."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyConfigError(f"no policy config {path}; create it (see policies/config/staging.json)") from None
    except OSError as error:
        raise PolicyConfigError(f"cannot read {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise PolicyConfigError(f"{path} is not valid JSON at line {error.lineno}, column {error.colno}") from None
    if not isinstance(document, dict):
        raise PolicyConfigError(f"{path} must be a JSON object mapping policy names to enforcement levels")
    return enforcement_levels(document, path)


def pulumi_type_of(api_version: str, kind: str) -> str:
    """The pulumi-kubernetes type token of an object: `apps/v1` + `Deployment` -> `kubernetes:apps/v1:Deployment`."""
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{kind}"


def api_version_and_kind(resource_type: str) -> tuple[str, str] | None:
    """The reverse of `pulumi_type_of`; None for non-Kubernetes types and for Patch/List/Helm/YAML resources."""
    parts = resource_type.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes" or "/" not in parts[1]:
        return None
    group_version, kind = parts[1], parts[2]
    group = group_version.split("/", 1)[0]
    # Patch resources carry partial objects and List/Helm/YAML/Kustomize resources are not objects at all;
    # the objects Helm and YAML resources create reach the pack as resources of their own.
    if kind.endswith(("Patch", "List")) or group in ("helm.sh", "yaml", "kustomize"):
        return None
    api_version = group_version.removeprefix("core/")
    return api_version, kind


def _plain(value: Any) -> Any:
    """Props as plain JSON-like data: mappings to dicts, sequences to lists, integral floats to ints."""
    secret_value = getattr(value, "value", None) if type(value).__name__ == "Secret" else None
    if secret_value is not None:
        return _plain(secret_value)
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [_plain(item) for item in value]
    # The engine sends every number as a float (DESIGN.md section 4).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def kubernetes_document(resource_type: str, props: Mapping[str, Any]) -> dict[str, Any] | None:
    """A pulumi-kubernetes resource's inputs as the Kubernetes object the checks read, or None for other types.

    pulumi-kubernetes props already use the wire (camelCase) names; apiVersion and kind come from the
    type token when the props lack them.
    """
    identity = api_version_and_kind(resource_type)
    if identity is None:
        return None
    document = _plain(props)
    if not isinstance(document, dict):
        return None
    api_version, kind = identity
    document.setdefault("apiVersion", api_version)
    document.setdefault("kind", kind)
    return document


def violation_message(violation: Violation) -> str:
    """One violation as one line: control, field path and what is wrong."""
    return f"{violation.control} {violation.path}: {violation.message}"


def resource_policy_validator(spec: PolicySpec) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    """A pulumi_policy `ResourceValidationPolicy` validate callback running `spec` over Kubernetes resources."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        document = kubernetes_document(args.resource_type, args.props)
        if document is None:
            return
        for violation in spec.evaluate(document):
            report_violation(violation_message(violation), None)

    return validate

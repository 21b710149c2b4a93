"""The bridge between the Pulumi policy engine and the checks: type tokens, props as objects, validators.

`policies/__main__.py` wraps each `PolicySpec` with `resource_policy_validator` or `stack_policy_validator`;
the offline runner uses the same type mapping for manifests. pulumi_policy is imported for type hints only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from policies.common import StackResource, Violation
from policies.registry import PolicySpec

if TYPE_CHECKING:
    from pulumi_policy import Policy, PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs


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
        for violation in spec.evaluate(document, args.get_config()):
            report_violation(violation_message(violation), None)

    return validate


def stack_resource(resource: PolicyResource) -> StackResource:
    """An engine `PolicyResource` as a stack check reads it: Kubernetes props as the object, others plain."""
    props = kubernetes_document(resource.resource_type, resource.props) or _plain(resource.props)
    dependencies = {dependency.urn for dependency in resource.dependencies}
    for dependents in resource.property_dependencies.values():
        dependencies.update(dependency.urn for dependency in dependents)
    return StackResource(
        type=resource.resource_type,
        name=resource.name,
        urn=resource.urn,
        props=props if isinstance(props, Mapping) else {},
        dependencies=frozenset(dependencies),
    )


def stack_policy_validator(spec: PolicySpec) -> Callable[[StackValidationArgs, ReportViolation], None]:
    """A pulumi_policy `StackValidationPolicy` validate callback running `spec` over every resource."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources: Sequence[StackResource] = [stack_resource(resource) for resource in args.resources]
        for finding in spec.evaluate_stack(resources, args.get_config()):
            urn = finding.resource.urn if finding.resource is not None else None
            report_violation(violation_message(finding.violation), urn)

    return validate


def engine_policy(spec: PolicySpec) -> Policy:
    """The pulumi_policy object of one spec: a stack or a resource validation policy, with its config schema.

    Building these does not start the analyzer (only `PolicyPack` does), so tests build every one."""
    from pulumi_policy import (
        EnforcementLevel,
        PolicyConfigSchema,
        ResourceValidationPolicy,
        Severity,
        StackValidationPolicy,
    )

    schema = PolicyConfigSchema(properties={key: dict(value) for key, value in spec.config_schema.items()})
    config_schema = schema if spec.config_schema else None
    if spec.is_stack_policy:
        return StackValidationPolicy(
            name=spec.name,
            description=spec.description,
            validate=stack_policy_validator(spec),
            enforcement_level=EnforcementLevel(spec.default_enforcement),
            config_schema=config_schema,
            severity=Severity(spec.severity),
            remediation_steps=spec.remediation,
        )
    return ResourceValidationPolicy(
        name=spec.name,
        description=spec.description,
        validate=resource_policy_validator(spec),
        enforcement_level=EnforcementLevel(spec.default_enforcement),
        config_schema=config_schema,
        severity=Severity(spec.severity),
        remediation_steps=spec.remediation,
    )

"""The crm-platform policy pack, as the Pulumi CLI runs it: `pulumi preview --policy-pack policies`.

Per-stack levels: `--policy-pack-config policies/config/<stack>.json`. The CLI runs this file as the
analyzer plugin; constructing `PolicyPack` serves it over gRPC and does not return. Everything it serves
comes from `policies/registry.py`, which the tests and the offline runner (`python -m policies.offline`)
use without this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The CLI runs this file from policies/ as a script; the registry imports `policies.*` from the project root.
PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from pulumi_policy import (  # noqa: E402
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyPack,
    ResourceValidationPolicy,
    Severity,
    StackValidationPolicy,
)

from policies.pulumi_adapter import resource_policy_validator, stack_policy_validator  # noqa: E402
from policies.registry import POLICIES, PolicySpec  # noqa: E402


def engine_policy(spec: PolicySpec) -> Policy:
    """The pulumi_policy object of one spec: a stack or a resource validation policy, with its config schema."""
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


PolicyPack(
    name="crm-platform",
    description="Pod Security Standards (restricted), container, RBAC, network, TLS, S3 and production rules "
    "for crm-platform.",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[engine_policy(spec) for spec in POLICIES],
)

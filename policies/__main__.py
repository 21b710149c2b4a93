"""The crm-platform policy pack, as the Pulumi CLI runs it: `pulumi preview --policy-pack policies`.

Per-stack levels: `--policy-pack-config policies/config/<stack>.json`. The CLI runs this file as the
analyzer plugin; constructing `PolicyPack` serves it over gRPC and does not return. Everything it serves
comes from `policies/registry.py`, which the tests and the offline runner (`python -m policies.runner`)
use without this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The CLI runs this file from policies/ as a script; the registry imports `policies.*` from the project root.
PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policies.pulumi_adapter import engine_policy  # noqa: E402
from policies.registry import POLICIES  # noqa: E402

PolicyPack(
    name="crm-platform",
    description="Pod Security Standards (restricted profile of Kubernetes 1.34), container, RBAC, network, TLS, S3 "
    "and production rules for crm-platform.",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[engine_policy(spec) for spec in POLICIES],
)

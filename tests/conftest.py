"""The recording-mocks fixture: run the real program for a stack and look at what it declared.

`run_stack(stack, config=..., secrets=...)` runs `__main__.py` under recording mocks with the
stack's files as the CLI would merge them, plus any config overrides; results without
overrides are cached for the session, since every stack renders the same way every time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from offline import checkov as crosscheck
from offline.mocks import RecordedResource
from offline.program import PROJECT_DIR, Recording, run_program
from offline.render import KubernetesObject, kubernetes_objects
from offline.stack_config import load_stack_config
from stacks.schema import PROJECT
from tests.support.tools import unavailable

STACKS = ("dev", "staging", "production", "pr-7")
"""Every stack the repository defines, and one review stack made from staging."""

CANDIDATE_IMAGE = "ghcr.io/acme/crm-backend:2.5.0"
"""A release candidate of the stacks' appImage (ghcr.io/acme/crm-backend:2.4.1)."""
PLANTED_APP_SECRETS = {
    "appSecrets.OPENAI_API_KEY": "sk-planted-7d3e1f09a2b4",
    "appSecrets.SENTRY_DSN": "https://planted-5c8e@o1.ingest.sentry.example/42",
    "appSecrets.RAZORPAY_KEY_SECRET": "rzp-planted-9a0b1c2d",
    "appSecrets.DATABASE_URL": "mongodb+srv://kirana:planted-3e4f@cluster0.mongo.example/kirana",
}
"""Application secrets as `pulumi config set --secret --path 'appSecrets.NAME'` would set them (DATABASE_URL is
refused while PostgreSQL runs, so only the stacks without it plant that one)."""
TENANT_HOSTED_ZONE = "Z0123456789ABCDEFGHIJ"
"""The Route53 hosted zone of the tenant domains of the feature runs."""


@dataclass(frozen=True)
class FeatureRun:
    """A stack with the seed applications' features turned on: config overrides and planted secrets."""

    stack: str
    config: Mapping[str, str]
    secrets: Mapping[str, str]


FEATURE_RUNS: dict[str, FeatureRun] = {
    # Oneo CRM (000): Channels on ASGI with WebSockets, its OpenAI key, a canary at 5 %.
    "staging-asgi-canary": FeatureRun(
        "staging",
        {
            "djangoProject": "oneo",
            "services": json.dumps({"web": {"server": "asgi"}, "frontend": {"secrets": ["SENTRY_DSN"]}}),
            "candidateImage": CANDIDATE_IMAGE,
            "candidateTrafficPercent": "5",
        },
        {key: value for key, value in PLANTED_APP_SECRETS.items() if not key.endswith("DATABASE_URL")},
    ),
    # CRM Backend (002): blue-green switched to the candidate, in production (pre-migration backups, HA).
    "production-blue-green": FeatureRun(
        "production",
        {"candidateImage": CANDIDATE_IMAGE, "candidateTrafficPercent": "100", "deployChecks": "ERROR"},
        {key: value for key, value in PLANTED_APP_SECRETS.items() if not key.endswith("DATABASE_URL")},
    ),
    # Kirana (004): Flask on MongoDB, no PostgreSQL, its own migration script, payment keys, port 27017 out.
    "staging-without-postgres": FeatureRun(
        "staging",
        {
            "postgres": "false",
            "migrationCommand": "python migrate_database.py",
            "deployChecks": "off",
            "egressPorts": "[27017]",
            "services": json.dumps({"worker": {"secrets": ["DATABASE_URL", "RAZORPAY_KEY_SECRET"]}}),
        },
        PLANTED_APP_SECRETS,
    ),
    # A dev stack whose application has no migrations.
    "dev-without-migrations": FeatureRun("dev", {"migrationCommand": "none"}, {}),
    # Oneo CRM (000): django-tenants, a subdomain per tenant under a wildcard certificate by DNS-01 (Route53), on
    # ASGI; a canary at 20 % takes the tenants' share too.
    "staging-tenants": FeatureRun(
        "staging",
        {
            "djangoProject": "oneo",
            "services": json.dumps({"web": {"server": "asgi"}}),
            "tenantDomain": "tenants.staging.crm.example.com",
            "dnsHostedZoneId": TENANT_HOSTED_ZONE,
            "candidateImage": CANDIDATE_IMAGE,
            "candidateTrafficPercent": "20",
        },
        {},
    ),
    "production-tenants": FeatureRun(
        "production",
        {"tenantDomain": "tenants.crm.example.com", "dnsHostedZoneId": TENANT_HOSTED_ZONE},
        {},
    ),
}
"""Feature-on configurations every schema, policy, Checkov and leak test covers besides the stack files."""


@dataclass(frozen=True)
class StackRun:
    """One run of the program: the recording and the Kubernetes objects it renders to."""

    recording: Recording
    objects: tuple[KubernetesObject, ...]

    def of_type(self, pulumi_type: str) -> list[RecordedResource]:
        return [resource for resource in self.recording.resources if resource.type == pulumi_type]

    def kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj.document for obj in self.objects if obj.kind == kind]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        matches = [document for document in self.kind(kind) if document["metadata"]["name"] == name]
        assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
        return matches[0]

    def resource(self, kind: str, name: str) -> RecordedResource:
        matches = [obj.resource for obj in self.objects if obj.kind == kind and obj.name == name]
        assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
        return matches[0]


RunStack = Callable[..., StackRun]


def _run(stack: str, config: Mapping[str, str], secrets: Mapping[str, str], stack_file: Path | None = None) -> StackRun:
    stack_config = load_stack_config(PROJECT_DIR, stack, secrets, stack_file=stack_file)
    if config:
        values = dict(stack_config.values)
        values.update({f"{PROJECT}:{key}" if ":" not in key else key: value for key, value in config.items()})
        stack_config = replace(stack_config, values=values)
    recording = run_program(stack_config)
    return StackRun(recording=recording, objects=tuple(kubernetes_objects(recording)))


@pytest.fixture(scope="session")
def run_stack() -> RunStack:
    """Run the program for a stack; `config` overrides keys (short or full names), `secrets` plants values."""
    cache: dict[str, StackRun] = {}

    def run(stack: str, config: Mapping[str, str] | None = None, secrets: Mapping[str, str] | None = None) -> StackRun:
        if config or secrets:
            return _run(stack, config or {}, secrets or {})
        if stack not in cache:
            cache[stack] = _run(stack, {}, {})
        return cache[stack]

    return run


RunFeature = Callable[[str], StackRun]


@pytest.fixture(scope="session")
def run_feature(run_stack: RunStack) -> RunFeature:
    """Run one of FEATURE_RUNS, once per session."""
    cache: dict[str, StackRun] = {}

    def run(name: str) -> StackRun:
        if name not in cache:
            feature = FEATURE_RUNS[name]
            cache[name] = run_stack(feature.stack, config=feature.config, secrets=feature.secrets)
        return cache[name]

    return run


EXAMPLES_DIR = PROJECT_DIR / "examples"
EXAMPLES = tuple(sorted(EXAMPLES_DIR.glob("*/Pulumi.*.yaml")))
"""Every example stack file: examples/<application>/Pulumi.<stack>.yaml."""


def example_stack(path: Path) -> str:
    """The stack an example's file is for: Pulumi.<stack>.yaml."""
    return path.name.removeprefix("Pulumi.").removesuffix(".yaml")


RunExample = Callable[[Path], StackRun]


@pytest.fixture(scope="session")
def run_example() -> RunExample:
    """Run the program for an example's stack file (cached for the session), secrets as placeholders."""
    cache: dict[Path, StackRun] = {}

    def run(path: Path) -> StackRun:
        if path not in cache:
            cache[path] = _run(example_stack(path), {}, {}, stack_file=path)
        return cache[path]

    return run


@pytest.fixture(scope="session")
def checkov() -> Path:
    """Checkov from .venv-checkov; missing, it fails the run under CI and skips elsewhere."""
    if not os.access(crosscheck.CHECKOV, os.X_OK):
        unavailable(crosscheck.missing_checkov_message(crosscheck.CHECKOV))
    return crosscheck.CHECKOV

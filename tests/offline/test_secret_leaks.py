"""No secret value, generated or configured, appears anywhere in a render or its output."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from offline.mocks import unwrap_secrets
from tests.conftest import FEATURE_RUNS, PLANTED_APP_SECRETS, STACKS, RunStack
from tests.offline.test_render import render_cli

PLANTED = {
    "smtpPassword": "PlantedSmtp-7f3c9a1e-do-not-leak",
    "registryPassword": "PlantedRegistry-2b8d4c6f-do-not-leak",
    # Alert receivers' credentials: every stack configures all three, so each is read where it is set.
    "alertChatWebhookUrl": "https://hooks.example.com/services/PlantedChat-4e1a7c90-do-not-leak",
    "alertPagerRoutingKey": "PlantedPager0c5d2e8b9a7f4d3c2b1a0e9d",
    "alertDatabaseChatWebhookUrl": "https://hooks.example.com/services/PlantedDatabase-93b2f6d1-do-not-leak",
}
WITH_POSTGRES = {key: value for key, value in PLANTED_APP_SECRETS.items() if not key.endswith(".DATABASE_URL")}
"""Every application secret a stack running PostgreSQL accepts (it refuses DATABASE_URL)."""


def forms(secret: str) -> set[str]:
    """The secret as text, JSON-escaped, and base64 (alone and as the `user:secret` of a docker auth)."""
    encoded = {base64.b64encode(secret.encode()).decode()}
    for user in ("crm-deploy", "crm-staging", "crm-production"):
        encoded.add(base64.b64encode(f"{user}:{secret}".encode()).decode())
    return {secret, json.dumps(secret)[1:-1], *encoded}


def assert_nothing_leaks(
    run_stack: RunStack,
    stack: str,
    tmp_path: Path,
    planted: Mapping[str, str],
    config: Mapping[str, str] | None = None,
) -> None:
    """Render `stack` through the CLI with `planted` secrets (and `config`), then look for every form of every
    planted and generated value in every file written and every line printed."""
    secrets_file = tmp_path / "secrets.yaml"
    secrets_file.write_text(yaml.safe_dump(dict(planted)))
    out = tmp_path / "render"
    overrides = [argument for key, value in (config or {}).items() for argument in ("--config", f"{key}={value}")]
    result = render_cli("--stack", stack, "--out", str(out), "--secrets-file", str(secrets_file), *overrides)
    assert result.returncode == 0, result.stderr

    # The planted values did reach the program (otherwise this test proves nothing)...
    run = run_stack(stack, config=config or {}, secrets=planted)
    received = json.dumps([unwrap_secrets(resource.inputs) for resource in run.recording.resources])
    reaching = [value for key, value in planted.items() if key.startswith("appSecrets.")]
    if stack != "dev":  # dev configures neither SMTP nor a registry
        reaching += [PLANTED["smtpPassword"], PLANTED["registryPassword"]]
    assert reaching and all(value in received for value in reaching)
    assert run.recording.generated_values

    # ...and no form of them, nor any generated value, left it.
    needles = set().union(*(forms(value) for value in planted.values()))
    needles |= set().union(*(forms(value) for value in run.recording.generated_values))
    haystacks = {"stdout": result.stdout, "stderr": result.stderr}
    haystacks.update({str(path): path.read_text() for path in out.rglob("*") if path.is_file()})
    leaks = sorted((where, needle) for where, text in haystacks.items() for needle in needles if needle in text)
    assert leaks == []


@pytest.mark.parametrize("stack", STACKS)
def test_planted_and_generated_secrets_appear_nowhere_in_the_render(
    run_stack: RunStack, stack: str, tmp_path: Path
) -> None:
    """Planted config secrets (application secrets included) and generated values appear in no file or output of
    the render, in any encoding."""
    assert_nothing_leaks(run_stack, stack, tmp_path, {**PLANTED, **WITH_POSTGRES})


@pytest.mark.parametrize("feature", FEATURE_RUNS)
def test_feature_configurations_leak_no_secret(run_stack: RunStack, feature: str, tmp_path: Path) -> None:
    """The seed applications' configurations (app secrets per service, a candidate, no PostgreSQL) leak nothing."""
    run = FEATURE_RUNS[feature]
    planted = {**PLANTED, **(run.secrets or WITH_POSTGRES)}
    assert_nothing_leaks(run_stack, run.stack, tmp_path, planted, run.config)


def test_a_broken_secrets_file_is_reported_without_quoting_it(tmp_path: Path) -> None:
    """A YAML error names the file and position; the offending line may be a secret."""
    secrets_file = tmp_path / "secrets.yaml"
    secrets_file.write_text(f'smtpPassword: "{PLANTED["smtpPassword"]}\n')
    result = render_cli("--stack", "staging", "--out", str(tmp_path / "out"), "--secrets-file", str(secrets_file))
    assert result.returncode == 2
    assert "is not valid YAML at line" in result.stderr
    assert PLANTED["smtpPassword"] not in result.stderr + result.stdout


def test_a_refused_application_secret_is_named_never_quoted(tmp_path: Path) -> None:
    """An application secret the settings refuse (a platform name) is reported by its path, its value masked."""
    secrets_file = tmp_path / "secrets.yaml"
    planted = PLANTED_APP_SECRETS["appSecrets.DATABASE_URL"]
    secrets_file.write_text(yaml.safe_dump({"appSecrets.DATABASE_URL": planted}))
    result = render_cli("--stack", "staging", "--out", str(tmp_path / "out"), "--secrets-file", str(secrets_file))
    assert result.returncode == 2
    assert "crm-platform:appSecrets.DATABASE_URL = [secret]: is a name the platform sets" in result.stderr
    assert all(form not in result.stderr + result.stdout for form in forms(planted))

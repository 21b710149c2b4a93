"""`python -m offline check --stack`: the policy pack over what the program declares for each stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from offline.check import stack_subjects
from offline.program import PROJECT_DIR
from policies.config import config_path_for_stack, load_policy_config
from policies.runner import check as policy_check
from tests.conftest import FEATURE_RUNS, STACKS


def check_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run the check as `make check` does, from the project root with the venv's interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "offline", "check", *arguments],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_passes(stack: str) -> None:
    """Every stack's render has no violation at its own levels: exit 0 and `0 mandatory, 0 advisory`."""
    result = check_cli("--stack", stack)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "0 mandatory, 0 advisory"


@pytest.mark.parametrize("feature", FEATURE_RUNS)
def test_every_feature_configuration_passes(feature: str, tmp_path: Path) -> None:
    """The seed applications' configurations pass the pack at their stack's levels, given the way a user would:
    --config for the keys, --secrets-file for the application secrets."""
    run = FEATURE_RUNS[feature]
    secrets_file = tmp_path / "secrets.yaml"
    secrets_file.write_text(yaml.safe_dump(dict(run.secrets)))
    overrides = [argument for key, value in run.config.items() for argument in ("--config", f"{key}={value}")]
    result = check_cli("--stack", run.stack, "--secrets-file", str(secrets_file), *overrides)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "0 mandatory, 0 advisory"


def test_an_ingress_route_without_its_certificate_fails_the_stack() -> None:
    """The API host's IngressRoute is judged by the pack (S3): its certificate issued for another host is a
    mandatory violation, so the check exits 1."""
    subjects = stack_subjects("production")
    certificate = next(subject for subject in subjects if subject.document.get("kind") == "Certificate")
    certificate.document["spec"]["dnsNames"] = ["other.example.com"]
    config = load_policy_config(config_path_for_stack("production"))
    assert policy_check(subjects, config, as_json=False) == 1


def test_json_output_of_a_clean_stack() -> None:
    """--json on a clean stack is an empty violation list and zero counts, exit 0."""
    result = check_cli("--stack", "production", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"violations": [], "mandatory": 0, "advisory": 0}


def test_unknown_stack_is_unusable_input() -> None:
    """An unknown stack exits 2 with StackConfigError's one-line message on stderr and nothing on stdout."""
    result = check_cli("--stack", "qa")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "offline check: unknown stack 'qa': there is no Pulumi.qa.yaml; known stacks: dev, production, staging "
        "(and pr-<number> review stacks)"
    ]

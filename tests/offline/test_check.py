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
from policies.findings import evaluate
from policies.runner import exit_status
from tests.conftest import FEATURE_RUNS, STACKS
from tests.policies.test_sarif import assert_valid_sarif


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
    subjects, _ = stack_subjects("production")
    certificate = next(subject for subject in subjects if subject.document.get("kind") == "Certificate")
    certificate.document["spec"]["dnsNames"] = ["other.example.com"]
    config = load_policy_config(config_path_for_stack("production"))
    findings = evaluate(subjects, config)
    assert exit_status(findings, unusable=False) == 1
    assert {finding.violation.control for finding in findings} == {"S3"}


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


STRICT_CONFIG = {
    "image-pinned": {"enforcementLevel": "mandatory", "requireDigest": True},
    "s3-bucket-controls": {"enforcementLevel": "mandatory", "encryptionAlgorithms": ["AES256"]},
}
"""Staging's config made stricter, so both Kubernetes objects (tag-pinned images) and the backup bucket
(SSE-KMS, not AES256) have findings to locate."""


def test_stack_sarif_points_at_the_files_the_render_writes(tmp_path: Path) -> None:
    """--sarif of a stack is valid SARIF 2.1.0 whose every result names build/<stack>/... as `python -m offline
    render` writes it: a Kubernetes object's manifest (line 1, the file holds that object alone, of the logical
    location's kind, namespace and name), an AWS resource's entry in inventory.json (the line its entry begins on)."""
    config = tmp_path / "strict.json"
    staging = json.loads((PROJECT_DIR / "policies" / "config" / "staging.json").read_text(encoding="utf-8"))
    config.write_text(json.dumps(staging | STRICT_CONFIG), encoding="utf-8")
    sarif = tmp_path / "staging.sarif"
    result = check_cli("--stack", "staging", "--policy-config", str(config), "--sarif", str(sarif))
    assert result.returncode == 1, result.stderr
    log = json.loads(sarif.read_text(encoding="utf-8"))
    assert_valid_sarif(log)
    render = tmp_path / "render"
    rendered = subprocess.run(
        [sys.executable, "-m", "offline", "render", "--stack", "staging", "--out", str(render)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert rendered.returncode == 0, rendered.stderr
    results = log["runs"][0]["results"]
    assert {result["ruleId"] for result in results} == {"image-pinned", "s3-bucket-controls"}
    for result in results:
        [location] = result["locations"]
        uri = location["physicalLocation"]["artifactLocation"]["uri"]
        line = location["physicalLocation"]["region"]["startLine"]
        [logical] = location["logicalLocations"]
        assert uri.startswith("build/staging/"), uri
        path = render / uri.removeprefix("build/staging/")
        if result["ruleId"] == "image-pinned":
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
            metadata = document["metadata"]
            assert (line, document["kind"], metadata.get("namespace", ""), metadata["name"]) == (
                1,
                logical["properties"]["kind"],
                logical["properties"]["namespace"],
                logical["name"],
            )
        else:
            assert uri == "build/staging/inventory.json"
            lines = path.read_text(encoding="utf-8").splitlines()
            assert lines[line - 1] == "    {"
            urn_line = next(text for text in lines[line:] if text.startswith('      "urn": '))
            assert urn_line == f'      "urn": {json.dumps(logical["fullyQualifiedName"])}'
    assert log["runs"][0]["automationDetails"] == {"id": "crm-platform-policies/staging/"}

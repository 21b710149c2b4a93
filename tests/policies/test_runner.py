"""`python -m policies.runner`: exit codes, text and JSON output, and per-stack enforcement levels."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.program import PROJECT_DIR

PRIVILEGED_DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "rogue", "namespace": "crm"},
    "spec": {
        "selector": {"matchLabels": {"app": "rogue"}},
        "template": {
            "metadata": {"labels": {"app": "rogue"}},
            "spec": {
                "containers": [{"name": "rogue", "image": "busybox:1.36", "securityContext": {"privileged": True}}]
            },
        },
    },
}

ONLY_WRITABLE_ROOT_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "writer", "namespace": "crm"},
    "spec": {
        "serviceAccountName": "writer",
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "writer",
                "image": "busybox:1.36",
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "16Mi"}},
                "livenessProbe": {"exec": {"command": ["true"]}},
                "readinessProbe": {"exec": {"command": ["true"]}},
            }
        ],
    },
}
"""Compliant in every respect but readOnlyRootFilesystem: only the read-only-root policy fires."""


def policy_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run the runner as `make check` does, from the project root with the venv's interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "policies.runner", *arguments],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def write_manifests(directory: Path, *documents: dict[str, Any], name: str = "objects.yaml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    # A leading separator and a trailing empty document, as kubectl and Helm output often have.
    text = "---\n" + "---\n".join(yaml.safe_dump(document) for document in documents) + "---\n"
    (directory / name).write_text(text, encoding="utf-8")
    return directory


def test_privileged_deployment_fails(tmp_path: Path) -> None:
    """A privileged Deployment in a manifest directory is a mandatory violation: exit 1, grouped under the object."""
    result = policy_cli("--manifests", str(write_manifests(tmp_path, PRIVILEGED_DEPLOYMENT)))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Deployment crm/rogue (kubernetes:apps/v1:Deployment objects.yaml#1)"
    assert (
        "  pod-security-restricted [mandatory] B3 spec.template.spec.containers[rogue].securityContext.privileged: "
        "securityContext.privileged is true; allowed: false or unset"
    ) in lines
    assert all(line.startswith("  ") for line in lines[1:-1])
    assert lines[-1] == f"{len(lines) - 2} mandatory, 0 advisory"


def test_multi_document_files_and_yml_suffix_are_read(tmp_path: Path) -> None:
    """Objects from several documents and a .yml file are each checked and reported under their own heading."""
    write_manifests(
        tmp_path, PRIVILEGED_DEPLOYMENT, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    )
    write_manifests(tmp_path / "nested", ONLY_WRITABLE_ROOT_POD, name="pod.yml")
    result = policy_cli("--manifests", str(tmp_path))
    headings = [line for line in result.stdout.splitlines() if not line.startswith("  ")][:-1]
    assert headings == [
        "Pod crm/writer (kubernetes:core/v1:Pod nested/pod.yml#1)",
        "Deployment crm/rogue (kubernetes:apps/v1:Deployment objects.yaml#1)",
    ]


@pytest.mark.parametrize(
    ("config", "level", "status"), [("production", "mandatory", 1), ("staging", "mandatory", 1), ("dev", "advisory", 0)]
)
def test_read_only_root_level_follows_stack_config(tmp_path: Path, config: str, level: str, status: int) -> None:
    """A writable root filesystem is mandatory under production.json and staging.json (exit 1), advisory under
    dev.json (exit 0)."""
    manifests = write_manifests(tmp_path, ONLY_WRITABLE_ROOT_POD)
    result = policy_cli("--manifests", str(manifests), "--policy-config", f"policies/config/{config}.json")
    assert result.returncode == status, result.stdout + result.stderr
    assert "  read-only-root-filesystem [" + level + "] P1 spec.containers[writer]" in result.stdout
    expected = "1 mandatory, 0 advisory" if level == "mandatory" else "0 mandatory, 1 advisory"
    assert result.stdout.splitlines()[-1] == expected


def test_json_output_shape(tmp_path: Path) -> None:
    """--json prints one document: violations with resource, type, policy, level, control and message, and counts."""
    manifests = write_manifests(tmp_path, PRIVILEGED_DEPLOYMENT)
    result = policy_cli("--manifests", str(manifests), "--json", "--policy-config", "policies/config/dev.json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert set(report) == {"violations", "mandatory", "advisory"}
    # Advisory on dev: read-only root (1), requests and memory limit (3), liveness and readiness (2).
    assert report["advisory"] == 6
    assert report["mandatory"] == len(report["violations"]) - 6
    assert {violation["policy"] for violation in report["violations"] if violation["enforcement"] == "advisory"} == {
        "read-only-root-filesystem",
        "container-resources",
        "liveness-and-readiness-probes",
    }
    first = report["violations"][0]
    assert first == {
        "resource": "Deployment crm/rogue",
        "pulumi_type": "kubernetes:apps/v1:Deployment",
        "origin": "objects.yaml#1",
        "policy": "pod-security-restricted",
        "enforcement": "mandatory",
        "severity": "high",
        "control": "B3",
        "path": "spec.template.spec.containers[rogue].securityContext.privileged",
        "message": "securityContext.privileged is true; allowed: false or unset",
    }


def test_broken_yaml_names_file_and_line_without_content(tmp_path: Path) -> None:
    """Invalid YAML exits 2 naming the file and line, never quoting the file."""
    broken = tmp_path / "broken.yaml"
    broken.write_text('apiVersion: v1\nkind: Secret\nstringData:\n  password: "hunter2\n', encoding="utf-8")
    result = policy_cli("--manifests", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert f"{broken} is not valid YAML at line " in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_missing_directory_is_unusable_input(tmp_path: Path) -> None:
    """A manifest directory that does not exist exits 2 and says so."""
    result = policy_cli("--manifests", str(tmp_path / "absent"))
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"policies.runner: manifest directory {tmp_path / 'absent'} does not exist or is not a directory"
    )


def test_document_without_kind_is_unusable_input(tmp_path: Path) -> None:
    """A document without apiVersion and kind exits 2 naming the file and document number."""
    write_manifests(tmp_path, {"metadata": {"name": "x"}})
    result = policy_cli("--manifests", str(tmp_path))
    assert result.returncode == 2
    assert (
        result.stderr.strip() == f"policies.runner: {tmp_path / 'objects.yaml'}: document 1 has no apiVersion and kind"
    )


def test_stack_policies_run_over_manifests_and_report_under_the_object(tmp_path: Path) -> None:
    """An app namespace without a default deny, found by a stack policy, is reported under the Namespace."""
    app_namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "crm",
            "labels": {"crm-platform/namespace-role": "app", "pod-security.kubernetes.io/enforce": "restricted"},
        },
    }
    result = policy_cli("--manifests", str(write_manifests(tmp_path, app_namespace)))
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        "Namespace crm (kubernetes:core/v1:Namespace objects.yaml#1)",
        "  default-deny-network-policy [mandatory] S1 metadata.name: namespace crm has no default-deny NetworkPolicy "
        "(podSelector {}, policyTypes Ingress and Egress, no rules)",
        "1 mandatory, 0 advisory",
    ]
    deny = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny", "namespace": "crm"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    result = policy_cli("--manifests", str(write_manifests(tmp_path, app_namespace, deny)))
    assert (result.returncode, result.stdout.strip()) == (0, "0 mandatory, 0 advisory")

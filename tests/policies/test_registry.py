"""The policy registry: complete descriptions, the Pulumi adapter, the stack configs, and no PolicyPack on import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from offline.program import PROJECT_DIR
from policies.pod_security import check_restricted
from policies.registry import (
    POLICIES,
    POLICIES_BY_NAME,
    PolicyConfigError,
    api_version_and_kind,
    config_path_for_stack,
    kubernetes_document,
    load_policy_config,
    pulumi_type_of,
    resource_policy_validator,
)

if TYPE_CHECKING:
    from pulumi_policy import ResourceValidationArgs

CONFIG_DIR = PROJECT_DIR / "policies" / "config"

PRIVILEGED_DEPLOYMENT_PROPS: dict[str, Any] = {
    "metadata": {"name": "api", "namespace": "crm"},
    "spec": {
        "replicas": 2.0,
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "api",
                        "image": "ghcr.io/acme/api:1.0.0",
                        "ports": [{"containerPort": 8000.0, "hostPort": 8000.0}],
                        "securityContext": {"privileged": True},
                    }
                ]
            }
        },
    },
}
"""Inputs as pulumi-kubernetes sends them to the analyzer: camelCase, numbers as floats, no apiVersion/kind."""


class FakeArgs:
    """The two fields of pulumi_policy.ResourceValidationArgs the adapter reads."""

    def __init__(self, resource_type: str, props: dict[str, Any]) -> None:
        self.resource_type = resource_type
        self.props = props


def validation_args(resource_type: str, props: dict[str, Any]) -> ResourceValidationArgs:
    return cast("ResourceValidationArgs", FakeArgs(resource_type, props))


@pytest.mark.parametrize("spec", POLICIES, ids=[spec.name for spec in POLICIES])
def test_every_policy_is_described(spec: Any) -> None:
    """Every policy has a description, a known severity, a remediation and a known default level."""
    assert spec.description.strip()
    assert spec.remediation.strip()
    assert spec.severity in ("low", "medium", "high", "critical")
    assert spec.default_enforcement in ("mandatory", "advisory")


def test_policy_levels_match_the_brief() -> None:
    """Pod security is high and never relaxable; read-only root is medium and may be advisory off production."""
    restricted = POLICIES_BY_NAME["pod-security-restricted"]
    read_only = POLICIES_BY_NAME["read-only-root-filesystem"]
    assert (restricted.severity, restricted.default_enforcement, restricted.advisory_allowed) == (
        "high",
        "mandatory",
        False,
    )
    assert (read_only.severity, read_only.default_enforcement, read_only.advisory_allowed) == (
        "medium",
        "mandatory",
        True,
    )


def test_adapter_turns_pulumi_props_into_the_kubernetes_object() -> None:
    """A Deployment's type token and float-numbered props become the dict with apiVersion, kind and integers."""
    document = kubernetes_document("kubernetes:apps/v1:Deployment", PRIVILEGED_DEPLOYMENT_PROPS)
    assert document is not None
    assert document["apiVersion"] == "apps/v1"
    assert document["kind"] == "Deployment"
    assert document["spec"]["replicas"] == 2
    assert isinstance(document["spec"]["replicas"], int)
    assert document["spec"]["template"]["spec"]["containers"][0]["ports"][0]["hostPort"] == 8000
    assert [violation.control for violation in check_restricted(document)][:2] == ["B3", "B6"]


def test_adapter_keeps_apiversion_and_kind_from_props() -> None:
    """Props that carry apiVersion and kind keep them; core/v1 maps to v1."""
    document = kubernetes_document("kubernetes:core/v1:Pod", {"apiVersion": "v1", "kind": "Pod", "spec": {}})
    assert document == {"apiVersion": "v1", "kind": "Pod", "spec": {}}
    assert kubernetes_document("kubernetes:core/v1:Pod", {"spec": {}}) == {
        "apiVersion": "v1",
        "kind": "Pod",
        "spec": {},
    }


@pytest.mark.parametrize(
    "resource_type",
    [
        "aws:s3/bucket:Bucket",
        "random:index/randomPassword:RandomPassword",
        "kubernetes:apps/v1:DeploymentPatch",
        "kubernetes:apps/v1:DeploymentList",
        "kubernetes:helm.sh/v3:Release",
        "kubernetes:yaml/v2:ConfigGroup",
        "pulumi:providers:kubernetes",
    ],
)
def test_adapter_ignores_what_is_not_a_whole_kubernetes_object(resource_type: str) -> None:
    """Non-Kubernetes, provider, Patch, List, Helm and YAML resources give no document to check."""
    assert kubernetes_document(resource_type, PRIVILEGED_DEPLOYMENT_PROPS) is None


@pytest.mark.parametrize(
    ("api_version", "kind", "pulumi_type"),
    [
        ("apps/v1", "Deployment", "kubernetes:apps/v1:Deployment"),
        ("v1", "Pod", "kubernetes:core/v1:Pod"),
        ("batch/v1", "CronJob", "kubernetes:batch/v1:CronJob"),
        ("networking.k8s.io/v1", "NetworkPolicy", "kubernetes:networking.k8s.io/v1:NetworkPolicy"),
    ],
)
def test_type_tokens_round_trip(api_version: str, kind: str, pulumi_type: str) -> None:
    """apiVersion/kind map to the pulumi-kubernetes type token and back."""
    assert pulumi_type_of(api_version, kind) == pulumi_type
    assert api_version_and_kind(pulumi_type) == (api_version, kind)


def test_validator_reports_each_violation_once_with_its_control() -> None:
    """The validate callback reports one message per violation, naming the control and field."""
    reported: list[str] = []
    validate = resource_policy_validator(POLICIES_BY_NAME["pod-security-restricted"])
    validate(
        validation_args("kubernetes:apps/v1:Deployment", PRIVILEGED_DEPLOYMENT_PROPS),
        lambda message, _: reported.append(message),
    )
    expected = check_restricted(kubernetes_document("kubernetes:apps/v1:Deployment", PRIVILEGED_DEPLOYMENT_PROPS) or {})
    assert len(reported) == len(expected)
    assert reported[0].startswith("B3 spec.template.spec.containers[api].securityContext.privileged: ")


def test_validator_passes_other_kinds() -> None:
    """A ConfigMap reports nothing."""
    reported: list[str] = []
    validate = resource_policy_validator(POLICIES_BY_NAME["read-only-root-filesystem"])
    validate(
        validation_args("kubernetes:core/v1:ConfigMap", {"data": {"a": "b"}}),
        lambda message, _: reported.append(message),
    )
    assert reported == []


@pytest.mark.parametrize(
    ("stack", "read_only_level"),
    [("production", "mandatory"), ("staging", "advisory"), ("dev", "advisory"), ("pr-7", "advisory")],
)
def test_stack_configs_set_the_levels(stack: str, read_only_level: str) -> None:
    """Every stack keeps pod security mandatory; read-only root is mandatory only in production."""
    levels = load_policy_config(config_path_for_stack(stack))
    assert levels == {"pod-security-restricted": "mandatory", "read-only-root-filesystem": read_only_level}


def test_review_stacks_use_review_config() -> None:
    """pr-<number> stacks read policies/config/review.json."""
    assert config_path_for_stack("pr-42") == CONFIG_DIR / "review.json"


def test_every_config_file_is_valid_pulumi_policy_config() -> None:
    """Each config file is a JSON object of known policy names to levels (the --policy-pack-config format)."""
    paths = sorted(CONFIG_DIR.glob("*.json"))
    assert [path.stem for path in paths] == ["dev", "production", "review", "staging"]
    for path in paths:
        document = json.loads(path.read_text(encoding="utf-8"))
        assert set(document) == set(POLICIES_BY_NAME), path.name
        load_policy_config(path)


def test_config_may_not_relax_pod_security(tmp_path: Path) -> None:
    """A config setting pod-security-restricted to advisory is refused, naming the file and the policy."""
    path = tmp_path / "loose.json"
    path.write_text(json.dumps({"pod-security-restricted": {"enforcementLevel": "advisory"}}), encoding="utf-8")
    with pytest.raises(PolicyConfigError, match=r"loose\.json: 'pod-security-restricted' must stay mandatory"):
        load_policy_config(path)


def test_config_rejects_unknown_policy(tmp_path: Path) -> None:
    """A policy name the registry does not know is refused with the known names."""
    path = tmp_path / "typo.json"
    path.write_text(json.dumps({"read-only-rootfs": "advisory"}), encoding="utf-8")
    with pytest.raises(PolicyConfigError, match="unknown policy 'read-only-rootfs'; known: pod-security-restricted"):
        load_policy_config(path)


@pytest.mark.parametrize("module", ["policies.registry", "policies.offline"])
def test_import_does_not_load_pulumi_policy(module: str) -> None:
    """Importing the module (and its listing of POLICIES) in a fresh interpreter never imports pulumi_policy."""
    code = (
        f"import sys, {module}; from policies.registry import POLICIES; assert POLICIES; "
        "print(sorted(name for name in sys.modules if name.startswith('pulumi_policy')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"

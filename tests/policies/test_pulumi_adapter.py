"""The Pulumi adapter: props as Kubernetes objects, type tokens, and the validate callbacks the pack registers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import pytest

from policies.pod_security import check_restricted
from policies.pulumi_adapter import (
    api_version_and_kind,
    kubernetes_document,
    pulumi_type_of,
    resource_policy_validator,
    stack_policy_validator,
    stack_resource,
)
from policies.registry import POLICIES_BY_NAME

if TYPE_CHECKING:
    from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

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
    """The fields of pulumi_policy.ResourceValidationArgs the adapter reads."""

    def __init__(self, resource_type: str, props: dict[str, Any], config: dict[str, Any] | None = None) -> None:
        self.resource_type = resource_type
        self.props = props
        self._config = config or {}

    def get_config(self) -> dict[str, Any]:
        return self._config


def validation_args(
    resource_type: str, props: dict[str, Any], config: dict[str, Any] | None = None
) -> ResourceValidationArgs:
    return cast("ResourceValidationArgs", FakeArgs(resource_type, props, config))


class FakeResource:
    """The fields of pulumi_policy.PolicyResource a stack check reads."""

    def __init__(
        self, resource_type: str, name: str, props: dict[str, Any], dependencies: list[FakeResource] | None = None
    ) -> None:
        self.resource_type = resource_type
        self.name = name
        self.urn = f"urn:pulumi:test::crm::{resource_type}::{name}"
        self.props = props
        self.dependencies: list[FakeResource] = []
        self.property_dependencies = {"bucket": dependencies or []}


class FakeStackArgs:
    def __init__(self, resources: list[FakeResource], config: dict[str, Any] | None = None) -> None:
        self.resources = resources
        self._config = config or {}

    def get_config(self) -> dict[str, Any]:
        return self._config


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


def test_validator_passes_the_policy_config_to_the_check() -> None:
    """Options from --policy-pack-config reach the check: requireDigest turns a pinned tag into a violation."""
    reported: list[str] = []
    validate = resource_policy_validator(POLICIES_BY_NAME["image-pinned"])
    args = validation_args("kubernetes:apps/v1:Deployment", PRIVILEGED_DEPLOYMENT_PROPS, {"requireDigest": True})
    validate(args, lambda message, _: reported.append(message))
    assert reported == [
        "W3 spec.template.spec.containers[api].image: image ghcr.io/acme/api:1.0.0 is not pinned by digest "
        "(requireDigest is true); add @sha256:..."
    ]
    reported.clear()
    validate(
        validation_args("kubernetes:apps/v1:Deployment", PRIVILEGED_DEPLOYMENT_PROPS), lambda m, _: reported.append(m)
    )
    assert reported == []


def test_stack_validator_reports_against_the_resource_urn() -> None:
    """A stack policy sees every resource, links settings to their bucket through property dependencies (the
    name is unknown in a first preview) and reports each violation with the URN of the resource concerned."""
    bucket = FakeResource("aws:s3/bucket:Bucket", "backups", {"bucketPrefix": "crm-"})
    block = FakeResource(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "backups-block",
        {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True, "restrictPublicBuckets": True},
        dependencies=[bucket],
    )
    reported: list[tuple[str, str | None]] = []
    validate = stack_policy_validator(POLICIES_BY_NAME["s3-bucket-controls"])
    validate(
        cast("StackValidationArgs", FakeStackArgs([bucket, block])),
        lambda message, urn: reported.append((message, urn)),
    )
    assert {urn for _, urn in reported} == {bucket.urn}
    assert [message.split(" ")[1].rstrip(":") for message, _ in reported] == [
        "BucketServerSideEncryptionConfiguration",
        "BucketVersioning",
        "BucketLifecycleConfiguration",
        "BucketPolicy",
    ]
    assert stack_resource(cast("PolicyResource", block)).dependencies == frozenset({bucket.urn})


def test_validator_passes_other_kinds() -> None:
    """A ConfigMap reports nothing."""
    reported: list[str] = []
    validate = resource_policy_validator(POLICIES_BY_NAME["read-only-root-filesystem"])
    validate(
        validation_args("kubernetes:core/v1:ConfigMap", {"data": {"a": "b"}}),
        lambda message, _: reported.append(message),
    )
    assert reported == []


def test_every_spec_becomes_the_engine_policy_the_cli_loads() -> None:
    """What `policies/__main__.py` hands to PolicyPack: one pulumi_policy object per spec, stack or resource
    as the spec says, with its severity, remediation and config schema (pulumi_policy validates these)."""
    from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy

    from policies.pulumi_adapter import engine_policy
    from policies.registry import POLICIES

    for spec in POLICIES:
        policy = engine_policy(spec)
        expected_type = StackValidationPolicy if spec.is_stack_policy else ResourceValidationPolicy
        assert isinstance(policy, expected_type), spec.name
        assert (policy.name, policy.description, policy.remediation_steps) == (
            spec.name,
            spec.description,
            spec.remediation,
        )
        assert policy.severity is not None and policy.severity.value == spec.severity
        schema = policy.config_schema
        assert (schema.properties if schema else {}) == {key: dict(value) for key, value in spec.config_schema.items()}


def test_make_preview_and_up_run_the_pack_with_the_stack_config() -> None:
    """`make preview`/`make up` pass --policy-pack policies and the stack's config file, which exists."""
    import subprocess

    from offline.program import PROJECT_DIR

    for stack, config in (("production", "production"), ("staging", "staging"), ("dev", "dev"), ("pr-12", "review")):
        for target in ("preview", "up"):
            # Under `make test` this is a nested make: MAKEFLAGS carry -w, so keep only the command line.
            printed = subprocess.run(
                ["make", "--no-print-directory", "-n", target, f"STACK={stack}"],
                cwd=PROJECT_DIR,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.splitlines()
            [dry_run] = [line for line in printed if line.startswith(f"pulumi {target} ")]
            assert f"--stack {stack} " in dry_run
            assert dry_run.endswith(f"--policy-pack policies --policy-pack-config policies/config/{config}.json")
            assert (PROJECT_DIR / "policies" / "config" / f"{config}.json").is_file()

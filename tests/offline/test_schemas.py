"""Every rendered object of every stack validates strictly: core objects against Kubernetes
1.34's OpenAPI schema, custom resources against the upstream CRDs in ../shared/crds."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from offline.schemas import KUBERNETES_VERSION, CustomResourceSchemas, core_errors, is_core
from tests.conftest import FEATURE_RUNS, STACKS, RunFeature, RunStack

ACME_ISSUER: dict[str, Any] = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "ClusterIssuer",
    "metadata": {"name": "letsencrypt-staging"},
    "spec": {
        "acme": {
            "server": "https://acme-staging-v02.api.letsencrypt.org/directory",
            "email": "ops@example.com",
            "privateKeySecretRef": {"name": "letsencrypt-staging-account"},
            "solvers": [{"http01": {"ingress": {"ingressClassName": "traefik"}}}],
        }
    },
}


@pytest.fixture(scope="module")
def custom_resources() -> CustomResourceSchemas:
    return CustomResourceSchemas.load()


@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_object_is_valid_for_the_api_server(
    run_stack: RunStack, stack: str, custom_resources: CustomResourceSchemas
) -> None:
    """Core objects against Kubernetes 1.34's schema, custom resources against their CRD in
    ../shared/crds (none are rendered before the workloads issue; the same loop covers them)."""
    objects = run_stack(stack).objects
    assert any(is_core(obj.document) for obj in objects)
    problems = {}
    for obj in objects:
        errors = core_errors(obj.document) if is_core(obj.document) else custom_resources.errors(obj.document)
        if errors:
            problems[obj.path] = errors
    assert problems == {}, f"invalid for Kubernetes {KUBERNETES_VERSION}"


@pytest.mark.parametrize("feature", FEATURE_RUNS)
def test_every_object_of_the_feature_configurations_is_valid(
    run_feature: RunFeature, feature: str, custom_resources: CustomResourceSchemas
) -> None:
    """The seed applications' configurations (ASGI, app secrets, a canary, blue-green, no PostgreSQL, no
    migrations) render only valid objects: the candidate's, the IngressRoute, TraefikService and Certificate too."""
    objects = run_feature(feature).objects
    problems = {}
    for obj in objects:
        errors = core_errors(obj.document) if is_core(obj.document) else custom_resources.errors(obj.document)
        if errors:
            problems[obj.path] = errors
    assert problems == {}, f"invalid for Kubernetes {KUBERNETES_VERSION}"
    assert {"IngressRoute", "TraefikService", "Certificate"} <= {obj.kind for obj in objects}


def test_strict_validation_rejects_unknown_core_fields() -> None:
    """A misspelt field of a core object is an error, as with server-side field validation."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "lables": {}}}
    assert core_errors(namespace)


def test_strict_validation_rejects_wrong_types() -> None:
    """A core field of the wrong type is an error."""
    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"}, "spec": {"hard": "lots"}}
    assert core_errors(quota)


def test_unknown_kinds_have_no_schema() -> None:
    """A kind Kubernetes does not have cannot pass validation."""
    assert core_errors({"apiVersion": "v1", "kind": "Nonsense", "metadata": {"name": "x"}})


def test_crd_validation_accepts_a_valid_custom_resource(custom_resources: CustomResourceSchemas) -> None:
    """A correct ClusterIssuer passes its CRD schema."""
    assert custom_resources.errors(ACME_ISSUER) == []


def test_crd_validation_rejects_unknown_fields_at_any_depth(custom_resources: CustomResourceSchemas) -> None:
    """A misspelt field deep inside a custom resource is an error."""
    issuer = copy.deepcopy(ACME_ISSUER)
    issuer["spec"]["acme"]["solvers"][0]["http01"]["ingress"]["clas"] = "traefik"
    [problem] = custom_resources.errors(issuer)
    assert "clas" in problem


def test_crd_validation_checks_metadata_as_object_meta(custom_resources: CustomResourceSchemas) -> None:
    """A custom resource's metadata is checked as ObjectMeta, which CRD schemas leave open."""
    issuer = copy.deepcopy(ACME_ISSUER)
    issuer["metadata"]["annotation"] = {}
    assert custom_resources.errors(issuer)


def test_crd_validation_rejects_kinds_without_a_crd(custom_resources: CustomResourceSchemas) -> None:
    """A custom resource with no CRD in ../shared/crds cannot pass."""
    [problem] = custom_resources.errors({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})
    assert "no CRD" in problem


def test_int_or_string_fields_take_both(custom_resources: CustomResourceSchemas) -> None:
    """x-kubernetes-int-or-string is not JSON Schema; both forms must pass."""
    for port in (8080, "http"):
        monitor = {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PodMonitor",
            "metadata": {"name": "m", "namespace": "n"},
            "spec": {"selector": {}, "podMetricsEndpoints": [{"targetPort": port}]},
        }
        assert custom_resources.errors(monitor) == [], port


def test_every_shared_crd_is_loaded(custom_resources: CustomResourceSchemas) -> None:
    """The catalogue has the kinds later components will declare."""
    kinds = {kind for _, _, kind in custom_resources.by_kind}
    assert {
        "Cluster",
        "Pooler",
        "ScheduledBackup",
        "ObjectStore",
        "ClusterIssuer",
        "Middleware",
        "PrometheusRule",
        "PodMonitor",
        "ServiceMonitor",
        "IngressRoute",
        "TraefikService",
        "Certificate",
    } <= kinds

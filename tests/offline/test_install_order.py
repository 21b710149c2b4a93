"""The first `pulumi up` on a new cluster succeeds in one pass: every custom resource waits for what admits it.

`helm.v4.Chart` applies no Helm hooks and waits for nothing but its own objects, so the program
itself must order each custom resource after the component that serves its API: a CRD alone is
not enough where a webhook must answer first (cert-manager's needs its CA injected; the chart's
own startupapicheck hook, which waits for that, never runs under Pulumi). This test reads the
dependencies the program records (depends_on and inputs from other resources), following
them transitively through components, as the engine does.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from components.edge.charts import CERT_MANAGER_API_CHECK, cert_manager_values
from offline.mocks import RecordedResource
from tests.conftest import RunFeature, RunStack, StackRun

CHART = "kubernetes:helm.sh/v4:Chart"
CUSTOM_RESOURCE_PREFIX = "kubernetes:"


def waits_for(run: StackRun, resource: RecordedResource) -> set[str]:
    """URNs `resource` waits for, directly or through what it waits for; depending on a component means
    waiting for every resource under it (the engine's rule)."""
    by_urn = {item.urn: item for item in run.recording.resources}
    children: dict[str, list[str]] = {}
    for item in run.recording.resources:
        children.setdefault(item.parent, []).append(item.urn)

    def expand(urns: Iterable[str]) -> set[str]:
        found: set[str] = set()
        stack = list(urns)
        while stack:
            urn = stack.pop()
            if urn in found:
                continue
            found.add(urn)
            stack.extend(children.get(urn, []))
            if urn in by_urn:
                stack.extend(by_urn[urn].dependencies)
        return found

    return expand(resource.dependencies)


def chart(run: StackRun, name: str) -> RecordedResource:
    [found] = [item for item in run.of_type(CHART) if item.inputs.get("name") == name]
    return found


def api_check(run: StackRun) -> RecordedResource:
    [found] = [obj.resource for obj in run.objects if obj.kind == "Job" and obj.name.startswith(CERT_MANAGER_API_CHECK)]
    return found


def custom_resources(run: StackRun, api_group: str) -> list[RecordedResource]:
    return [obj.resource for obj in run.objects if str(obj.document.get("apiVersion", "")).startswith(api_group + "/")]


def test_the_chart_s_own_api_check_hook_is_off() -> None:
    """The chart's startupapicheck is a Helm hook Pulumi never runs: the values turn it off rather than pretend."""
    assert cert_manager_values(replicas=2)["startupapicheck"] == {"enabled": False}


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_the_api_check_runs_after_cert_manager_with_only_its_own_permission(run_stack: RunStack, stack: str) -> None:
    """The API check Job waits for the cert-manager chart and its RoleBinding; its Role may only create
    CertificateRequests (the check's dry run) in cert-manager's namespace."""
    run = run_stack(stack)
    job = api_check(run)
    assert chart(run, "cert-manager").urn in waits_for(run, job)
    role = run.named("Role", CERT_MANAGER_API_CHECK)
    assert role["metadata"]["namespace"] == "cert-manager"
    assert role["rules"] == [
        {"apiGroups": ["cert-manager.io"], "resources": ["certificaterequests"], "verbs": ["create"]}
    ]
    binding = run.resource("RoleBinding", CERT_MANAGER_API_CHECK)
    assert binding.urn in waits_for(run, job)
    spec = run.named("Job", job.inputs["metadata"]["name"])["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == CERT_MANAGER_API_CHECK
    assert spec["containers"][0]["args"][:2] == ["check", "api"]


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_every_cert_manager_resource_waits_for_the_api_check(run_stack: RunStack, stack: str) -> None:
    """ClusterIssuers and every other cert-manager.io object wait for the check, and so does every chart that
    renders cert-manager objects of its own (the Barman Cloud plugin's Issuer and Certificates)."""
    run = run_stack(stack)
    job = api_check(run).urn
    issued = custom_resources(run, "cert-manager.io")
    assert {resource.inputs["kind"] for resource in issued} >= {"ClusterIssuer"}
    for resource in issued:
        assert job in waits_for(run, resource), resource.name
    assert job in waits_for(run, chart(run, "plugin-barman-cloud"))


@pytest.mark.parametrize("feature", ["staging-tenants", "production-tenants"])
def test_the_tenant_certificate_and_the_dns01_issuers_wait_for_the_api_check(
    run_feature: RunFeature, feature: str
) -> None:
    """With tenants, the DNS-01 ClusterIssuers and the tenant wildcard Certificate are cert-manager resources like
    the others: each waits for the check; the tenant IngressRoute waits for Traefik like the API's."""
    run = run_feature(feature)
    job = api_check(run).urn
    issued = {resource.name: resource for resource in custom_resources(run, "cert-manager.io")}
    assert {"edge-issuer-letsencrypt-staging-dns01", "edge-issuer-letsencrypt-production-dns01"} <= set(issued)
    assert "api-tenant-certificate" in issued
    for name, resource in issued.items():
        assert job in waits_for(run, resource), name
    routes = {resource.name: resource for resource in custom_resources(run, "traefik.io")}
    assert "api-tenant-route" in routes
    for name, resource in routes.items():
        assert chart(run, "traefik").urn in waits_for(run, resource), name


@pytest.mark.parametrize(
    ("api_group", "serving_chart"),
    [
        ("postgresql.cnpg.io", "cloudnative-pg"),
        ("barmancloud.cnpg.io", "plugin-barman-cloud"),
        ("traefik.io", "traefik"),
    ],
)
@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_every_custom_resource_waits_for_the_chart_that_serves_its_api(
    run_stack: RunStack, stack: str, api_group: str, serving_chart: str
) -> None:
    """CloudNativePG objects wait for the operator (its webhooks answer once its own CA is in place), the
    ObjectStore for the plugin, Traefik's Middlewares for Traefik: none is created before its API exists."""
    run = run_stack(stack)
    serving = chart(run, serving_chart).urn
    for resource in custom_resources(run, api_group):
        assert serving in waits_for(run, resource), resource.name


def test_the_archived_cluster_waits_for_the_plugin_and_its_object_store(run_stack: RunStack) -> None:
    """Production's Cluster names the Barman Cloud plugin: it waits for the plugin's chart and the ObjectStore,
    so the operator finds both when it first reconciles it."""
    run = run_stack("production")
    cluster = run.resource("Cluster", "crm-postgres")
    waited = waits_for(run, cluster)
    assert chart(run, "plugin-barman-cloud").urn in waited
    assert run.resource("ObjectStore", "crm-postgres-archive").urn in waited


def test_a_stack_without_add_ons_installs_no_chart_and_no_check(run_stack: RunStack) -> None:
    """A review stack uses the add-ons its cluster already has: no chart, no API check of its own."""
    run = run_stack("pr-7")
    assert run.of_type(CHART) == []
    assert not [obj for obj in run.objects if obj.name.startswith(CERT_MANAGER_API_CHECK)]

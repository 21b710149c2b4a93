"""Edge: pinned charts for the add-on owner, ClusterIssuers, TLS on every host, headers and body limit."""

from __future__ import annotations

import re
from typing import Any

import pytest

from components.edge import charts as edge_charts
from offline.mocks import RecordedResource
from offline.schemas import helm_values_errors
from tests.conftest import STACKS, RunStack

CHART = "kubernetes:helm.sh/v4:Chart"


EDGE_CHARTS = ("traefik", "cert-manager")


def charts(run_stack: RunStack, stack: str) -> dict[str, RecordedResource]:
    """The edge's charts (Traefik, cert-manager) by release name."""
    resources = run_stack(stack).of_type(CHART)
    return {resource.inputs["name"]: resource for resource in resources if resource.inputs["name"] in EDGE_CHARTS}


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_addon_owner_installs_traefik_and_cert_manager(run_stack: RunStack, stack: str) -> None:
    """dev, staging and production install both charts and the ClusterIssuers; review stacks install neither."""
    owner = not stack.startswith("pr-")
    assert set(charts(run_stack, stack)) == ({"traefik", "cert-manager"} if owner else set())
    issuers = {document["metadata"]["name"] for document in run_stack(stack).kind("ClusterIssuer")}
    assert issuers == ({"letsencrypt-production", "letsencrypt-staging", "selfsigned"} if owner else set())


def test_charts_are_pinned_and_their_values_validate(run_stack: RunStack) -> None:
    """Each chart has the exact version of REFERENCE.md and values its published schema accepts."""
    installed = charts(run_stack, "production")
    expected = {"traefik": ("traefik", "41.3.0"), "cert-manager": ("cert-manager", "v1.21.1")}
    for name, (chart, version) in expected.items():
        inputs = installed[name].inputs
        assert inputs["version"] == version
        assert inputs["chart"].endswith(chart)
        assert inputs["namespace"] == name
        assert helm_values_errors(chart, version, inputs["values"]) == [], name
    assert installed["cert-manager"].inputs["values"]["crds"] == {"enabled": True, "keep": True}


def test_the_ingress_controller_is_the_only_load_balancer(run_stack: RunStack) -> None:
    """Traefik's Service is a LoadBalancer; the stack declares no other exposed Service."""
    values = charts(run_stack, "production")["traefik"].inputs["values"]
    assert values["service"]["spec"]["type"] == "LoadBalancer"
    services = run_stack("production").kind("Service")
    assert all(service["spec"].get("type", "ClusterIP") == "ClusterIP" for service in services)


def test_cluster_issuers_use_http01_through_the_ingress_class(run_stack: RunStack) -> None:
    """The ACME issuers point at Let's Encrypt's directories and solve HTTP-01 through Traefik's class."""
    run = run_stack("production")
    for name, directory in (
        ("letsencrypt-production", "https://acme-v02.api.letsencrypt.org/directory"),
        ("letsencrypt-staging", "https://acme-staging-v02.api.letsencrypt.org/directory"),
    ):
        acme = run.named("ClusterIssuer", name)["spec"]["acme"]
        assert acme["server"] == directory
        assert acme["solvers"] == [{"http01": {"ingress": {"ingressClassName": "traefik"}}}]
        assert acme["email"] == "platform-team@example.com"
    assert run.named("ClusterIssuer", "selfsigned")["spec"] == {"selfSigned": {}}


def test_issuers_wait_for_cert_manager(run_stack: RunStack) -> None:
    """ClusterIssuers wait for the cert-manager API check (which waits for the chart: tests/offline/
    test_install_order.py), Middlewares for Traefik's chart."""
    run = run_stack("staging")
    installed = charts(run_stack, "staging")
    [check] = [job for job in run.kind("Job") if job["metadata"]["name"].startswith("cert-manager-api-check-")]
    api_check = run.resource("Job", check["metadata"]["name"])
    assert api_check.urn in run.resource("ClusterIssuer", "letsencrypt-staging").dependencies
    assert installed["cert-manager"].urn in api_check.dependencies
    assert installed["traefik"].urn in run.resource("Middleware", "crm-security-headers").dependencies


@pytest.mark.parametrize(
    ("stack", "issuer"),
    [
        ("dev", "selfsigned"),
        ("staging", "letsencrypt-staging"),
        ("production", "letsencrypt-production"),
        ("pr-7", "letsencrypt-staging"),
    ],
)
def test_each_stack_picks_its_issuer(run_stack: RunStack, stack: str, issuer: str) -> None:
    """Certificates come from the stack's issuer: self-signed in dev, ACME staging or production elsewhere (the
    frontend's Ingress by annotation, the API host's by its Certificate)."""
    run = run_stack(stack)
    annotated = [
        document["metadata"]["annotations"]["cert-manager.io/cluster-issuer"]
        for document in run.kind("Ingress")
        if "cert-manager.io/cluster-issuer" in document["metadata"]["annotations"]
    ]
    referenced = [document["spec"]["issuerRef"]["name"] for document in run.kind("Certificate")]
    assert referenced and set(annotated + referenced) == {issuer}


@pytest.mark.parametrize("stack", STACKS)
def test_every_ingress_host_has_tls_from_exactly_one_issuing_ingress(run_stack: RunStack, stack: str) -> None:
    """Every host of every rule is covered by the Ingress's TLS section; each TLS secret is issued once."""
    issued_by: dict[str, list[str]] = {}
    for document in run_stack(stack).kind("Ingress"):
        spec = document["spec"]
        assert spec["ingressClassName"] == "traefik"
        tls_hosts = {host for entry in spec["tls"] for host in entry["hosts"]}
        assert {rule["host"] for rule in spec["rules"]} <= tls_hosts
        annotations = document["metadata"]["annotations"]
        assert annotations["traefik.ingress.kubernetes.io/router.tls"] == "true"
        assert annotations["traefik.ingress.kubernetes.io/router.entrypoints"] == "websecure"
        if "cert-manager.io/cluster-issuer" in annotations:
            for entry in spec["tls"]:
                issued_by.setdefault(entry["secretName"], []).append(document["metadata"]["name"])
        for entry in spec["tls"]:
            issued_by.setdefault(entry["secretName"], [])
    # cert-manager would create one Certificate per annotated Ingress: two for one secret fight.
    assert all(len(ingresses) == 1 for ingresses in issued_by.values()), issued_by


def middlewares_of(document: dict[str, Any]) -> list[str]:
    value: str = document["metadata"]["annotations"]["traefik.ingress.kubernetes.io/router.middlewares"]
    return value.split(",")


def api_routes(run: Any) -> dict[str, dict[str, Any]]:
    """The API host's IngressRoute routes by their match rule."""
    return {route["match"]: route for route in run.named("IngressRoute", "crm-api")["spec"]["routes"]}


def test_hosts_get_headers_and_the_body_limit_and_websockets_no_buffering(run_stack: RunStack) -> None:
    """The API gets headers and the body limit; WebSocket and frontend routes skip buffering, keep the headers."""
    run = run_stack("production")
    routes = api_routes(run)
    names = {match: [middleware["name"] for middleware in route["middlewares"]] for match, route in routes.items()}
    assert names["Host(`api.crm.example.com`) && PathPrefix(`/`)"] == ["crm-security-headers", "crm-request-body-limit"]
    assert names["Host(`api.crm.example.com`) && PathPrefix(`/ws/`)"] == ["crm-security-headers"]
    assert middlewares_of(run.named("Ingress", "crm-frontend")) == ["crm-production-crm-security-headers@kubernetescrd"]
    # Every API route reaches web through the weighted service; the route object names each middleware it uses.
    assert all(
        route["services"] == [{"name": "crm-web-weighted", "kind": "TraefikService"}] for route in routes.values()
    )
    middlewares = {document["metadata"]["name"] for document in run.kind("Middleware")}
    assert {name for used in names.values() for name in used} <= middlewares


def test_body_limit_is_fifty_megabytes(run_stack: RunStack) -> None:
    """The buffering middleware refuses request bodies above 50 MB."""
    spec = run_stack("staging").named("Middleware", "crm-request-body-limit")["spec"]
    assert spec["buffering"]["maxRequestBodyBytes"] == 50 * 1024 * 1024


@pytest.mark.parametrize(("stack", "hsts"), [("dev", False), ("staging", False), ("production", True)])
def test_security_headers_deny_framing_and_sniffing_and_hsts_only_in_production(
    run_stack: RunStack, stack: str, hsts: bool
) -> None:
    """frame deny and nosniff everywhere; HSTS only where certificates are publicly trusted."""
    headers = run_stack(stack).named("Middleware", "crm-security-headers")["spec"]["headers"]
    assert headers["frameDeny"] is True and headers["contentTypeNosniff"] is True
    assert ("stsSeconds" in headers) is hsts
    if hsts:
        assert headers["stsSeconds"] >= 31536000


def routed_hosts(run: Any) -> set[str]:
    """Hosts of every Ingress rule and IngressRoute match."""
    hosts = {rule["host"] for document in run.kind("Ingress") for rule in document["spec"]["rules"]}
    for document in run.kind("IngressRoute"):
        hosts.update(
            host for route in document["spec"]["routes"] for host in re.findall(r"Host\(`([^`]+)`\)", route["match"])
        )
    return hosts


def test_hosts_follow_the_domain_and_can_be_overridden(run_stack: RunStack) -> None:
    """api.<domain> and app.<domain> by default; apiHost and appHost replace them, certificate included."""
    assert routed_hosts(run_stack("pr-7")) == {"api.pr-7.staging.crm.example.com", "app.pr-7.staging.crm.example.com"}
    custom = run_stack("staging", config={"apiHost": "crm-api.example.org"})
    assert routed_hosts(custom) == {"crm-api.example.org", "app.staging.crm.example.com"}
    assert custom.named("Certificate", "crm-api")["spec"]["dnsNames"] == ["crm-api.example.org"]


def test_addon_namespaces_are_restricted_and_protected_in_production(run_stack: RunStack) -> None:
    """traefik and cert-manager namespaces enforce PSA restricted and are protected in production."""
    run = run_stack("production")
    for name in (edge_charts.TRAEFIK_NAMESPACE, edge_charts.CERT_MANAGER_NAMESPACE):
        labels = run.named("Namespace", name)["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        assert run.resource("Namespace", name).protect is True


def test_metrics_are_not_served_through_the_ingress(run_stack: RunStack) -> None:
    """/metrics on the API host goes through an allow-list of 127.0.0.1 only, so Traefik answers 403."""
    run = run_stack("production")
    internal = api_routes(run)["Host(`api.crm.example.com`) && PathPrefix(`/metrics`)"]
    assert {"name": "crm-cluster-only"} in internal["middlewares"]
    allow_list = run.named("Middleware", "crm-cluster-only")["spec"]["ipAllowList"]
    assert allow_list == {"sourceRange": ["127.0.0.1/32"]}


def test_dev_exposes_traefik_without_a_load_balancer(run_stack: RunStack) -> None:
    """On a laptop cluster Traefik is ClusterIP and Ingresses report localhost, so nothing waits for an address."""
    values = charts(run_stack, "dev")["traefik"].inputs["values"]
    assert values["service"]["spec"] == {"type": "ClusterIP"}
    assert values["providers"]["kubernetesIngress"]["ingressEndpoint"] == {"hostname": "localhost"}
    assert helm_values_errors("traefik", "41.3.0", values) == []

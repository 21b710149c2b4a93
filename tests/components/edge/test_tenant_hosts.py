"""Tenant hosts: every one-label subdomain of the tenant domain (and the domain itself) reaches web through the
release weights, under one wildcard certificate that DNS-01 proves in Route53 (self-signed in dev), and Django
admits them.

Whole-program runs (tests/conftest.py FEATURE_RUNS staging-tenants and production-tenants, or the stack files with
the tenant keys) show what a stack declares; the routes' host pattern is judged by a regular expression engine,
the hosts and origins by Django itself, the render by the policy pack.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest

from components.edge.api_routes import TENANT_TLS_SECRET, tenant_host_regexp, tenant_hosts_matcher
from components.edge.charts import cert_manager_values
from offline.check import stack_subjects
from offline.mocks import MOCK_AWS_ACCOUNT
from offline.render import normalized
from offline.schemas import helm_values_errors
from offline.stack_config import config_overrides
from policies.config import config_path_for_stack, load_policy_config
from policies.findings import evaluate
from policies.stack_rules import host_regexp_domain
from tests.components.app.test_web_metrics import container_environment
from tests.components.edge.test_charts import CERT_MANAGER_CONTEXT_KEYS
from tests.conftest import FEATURE_RUNS, TENANT_HOSTED_ZONE, RunFeature, RunStack, StackRun
from tests.support.charts import security_context_problems

STAGING_TENANTS = "tenants.staging.crm.example.com"
TENANT_CONFIG = {"tenantDomain": STAGING_TENANTS, "dnsHostedZoneId": TENANT_HOSTED_ZONE}
CHART = "kubernetes:helm.sh/v4:Chart"
WEIGHTED_BACKEND = [{"name": "crm-web-weighted", "kind": "TraefikService"}]


def cert_manager_chart(run: StackRun) -> dict[str, Any]:
    [chart] = [resource for resource in run.of_type(CHART) if resource.inputs["name"] == "cert-manager"]
    return chart.inputs


def routes_by_path(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An IngressRoute's routes by the path prefixes of their rule."""
    return {
        ",".join(re.findall(r"PathPrefix\(`([^`]+)`\)", route["match"])): route for route in document["spec"]["routes"]
    }


# --- the host pattern --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "matches"),
    [
        ("acme.tenants.example.com", True),
        ("acme-42.tenants.example.com", True),
        ("tenants.example.com", False),
        ("a.b.tenants.example.com", False),
        ("acmetenants.example.com", False),
        ("acme.tenantsxexample.com", False),
        ("acme.tenants.example.com.evil.org", False),
        ("evil.org/acme.tenants.example.com", False),
        (".tenants.example.com", False),
    ],
)
def test_the_host_pattern_matches_exactly_one_label_under_the_tenant_domain(host: str, matches: bool) -> None:
    """Anchored, dots escaped, one label of letters, digits and '-': no deeper name, no look-alike, no suffix trick
    (Python's engine agrees with Go's RE2 on this pattern: classes, +, escaped dots and anchors)."""
    assert (re.search(tenant_host_regexp("tenants.example.com"), host) is not None) is matches


def test_the_policy_pack_reads_the_pattern_as_one_label_under_the_tenant_domain() -> None:
    """What the program writes is the one shape the pack can prove a wildcard covers."""
    assert host_regexp_domain(tenant_host_regexp("tenants.example.com")) == "tenants.example.com"
    matcher = tenant_hosts_matcher("tenants.example.com")
    assert matcher == (r"(Host(`tenants.example.com`) || HostRegexp(`^[a-z0-9-]+\.tenants\.example\.com$`))")


# --- what a stack with tenants declares --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("feature", "domain", "issuer"),
    [
        ("staging-tenants", STAGING_TENANTS, "letsencrypt-staging-dns01"),
        ("production-tenants", "tenants.crm.example.com", "letsencrypt-production-dns01"),
    ],
)
def test_the_wildcard_and_the_domain_come_in_one_certificate_from_the_dns01_twin_of_the_stack_issuer(
    run_feature: RunFeature, feature: str, domain: str, issuer: str
) -> None:
    """The tenant Certificate lists *.<domain> and <domain>, writes the tenant route's secret and comes from the
    DNS-01 ClusterIssuer of the stack's ACME directory; the API host keeps its HTTP-01 issuer."""
    run = run_feature(feature)
    certificate = run.named("Certificate", "crm-tenants")
    assert certificate["metadata"]["namespace"] == f"crm-{FEATURE_RUNS[feature].stack}"
    assert certificate["spec"] == {
        "secretName": TENANT_TLS_SECRET,
        "dnsNames": [f"*.{domain}", domain],
        "issuerRef": {"name": issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
    }
    assert run.named("IngressRoute", "crm-tenants")["spec"]["tls"] == {"secretName": TENANT_TLS_SECRET}
    assert run.named("Certificate", "crm-api")["spec"]["issuerRef"]["name"] == issuer.removesuffix("-dns01")


def test_tenant_routes_are_the_api_routes_on_the_tenant_hosts_through_the_release_weights(
    run_feature: RunFeature,
) -> None:
    """Every path the API host routes is routed on the tenant hosts with the same middlewares (body limit on /,
    none on the WebSocket paths, /metrics refused), each through the weighted TraefikService, so the canary's
    20 % of the feature run reaches tenants too."""
    run = run_feature("staging-tenants")
    tenants = routes_by_path(run.named("IngressRoute", "crm-tenants"))
    api = routes_by_path(run.named("IngressRoute", "crm-api"))
    assert set(tenants) == set(api) == {"/", "/metrics", "/ws/"}
    for path, route in tenants.items():
        assert route["middlewares"] == api[path]["middlewares"], path
        assert route["services"] == api[path]["services"] == WEIGHTED_BACKEND, path
        assert route["match"].startswith(tenant_hosts_matcher(STAGING_TENANTS) + " && "), path
    weights = {
        service["name"]: service["weight"]
        for service in run.named("TraefikService", "crm-web-weighted")["spec"]["weighted"]["services"]
    }
    assert weights == {"crm-web": 80, "crm-web-candidate": 20}


def test_turning_tenants_on_adds_their_route_certificate_and_issuers_and_changes_only_the_configuration(
    run_stack: RunStack,
) -> None:
    """Against staging as it is: the tenant route and certificate and the two DNS-01 ClusterIssuers are added;
    the application's ConfigMap (named after its content) is replaced and the pods that read it roll; nothing
    else, no NetworkPolicy included, changes (the tenants reach web by the ingress controller's existing flow)."""
    base, tenants = run_stack("staging"), run_stack("staging", config=TENANT_CONFIG)
    old = {(obj.kind, obj.name): obj.document for obj in base.objects}
    new = {(obj.kind, obj.name): obj.document for obj in tenants.objects}
    added, removed = new.keys() - old.keys(), old.keys() - new.keys()
    changed = {key for key in old.keys() & new.keys() if old[key] != new[key]}
    config_maps = {key for key in added | removed if key[0] == "ConfigMap" and key[1].startswith("crm-app-config-")}
    assert added - config_maps == {
        ("IngressRoute", "crm-tenants"),
        ("Certificate", "crm-tenants"),
        ("ClusterIssuer", "letsencrypt-staging-dns01"),
        ("ClusterIssuer", "letsencrypt-production-dns01"),
    }
    assert len(config_maps) == 2 and removed == config_maps - added
    readers = {("Deployment", name) for name in ("crm-web", "crm-worker", "crm-beat")}
    assert {key[0] for key in changed} <= {"Deployment", "Job"}
    assert readers <= changed
    assert not any(kind == "NetworkPolicy" for kind, _ in added | removed | changed)


def test_a_dev_stack_gets_a_self_signed_wildcard_and_no_aws_at_all(run_stack: RunStack) -> None:
    """dev: the tenant certificate comes from the self-signed issuer; no DNS-01 issuer, no AWS resource."""
    run = run_stack("dev", config={"tenantDomain": "tenants.crm.localhost"})
    certificate = run.named("Certificate", "crm-tenants")["spec"]
    assert certificate["dnsNames"] == ["*.tenants.crm.localhost", "tenants.crm.localhost"]
    assert certificate["issuerRef"]["name"] == "selfsigned"
    assert {document["metadata"]["name"] for document in run.kind("ClusterIssuer")} == {
        "letsencrypt-production",
        "letsencrypt-staging",
        "selfsigned",
    }
    assert [resource.type for resource in run.recording.resources if resource.type.startswith("aws:")] == []
    assert "--cluster-issuer-ambient-credentials=false" in cert_manager_chart(run)["values"]["extraArgs"]


def test_a_review_stack_gets_its_own_tenant_wildcard_from_the_clusters_staging_dns01_issuer(
    run_stack: RunStack,
) -> None:
    """pr-7, its config copied from staging's (tenantDomain and dnsHostedZoneId included): tenants under
    pr-7.<tenantDomain>, certified by letsencrypt-staging-dns01, which staging makes; pr-7 makes no issuer, role
    or chart of its own."""
    run = run_stack("pr-7", config=TENANT_CONFIG)
    review = f"pr-7.{STAGING_TENANTS}"
    certificate = run.named("Certificate", "crm-tenants")["spec"]
    assert certificate["dnsNames"] == [f"*.{review}", review]
    assert certificate["issuerRef"]["name"] == "letsencrypt-staging-dns01"
    assert tenant_hosts_matcher(review) in run.named("IngressRoute", "crm-tenants")["spec"]["routes"][0]["match"]
    assert run.kind("ClusterIssuer") == [] and run.of_type(CHART) == []
    assert [resource.type for resource in run.recording.resources if resource.type.startswith("aws:iam")] == []


# --- the DNS-01 issuers and cert-manager's identity -------------------------------------------------------------


@pytest.mark.parametrize(
    ("issuer", "directory"),
    [
        ("letsencrypt-staging-dns01", "https://acme-staging-v02.api.letsencrypt.org/directory"),
        ("letsencrypt-production-dns01", "https://acme-v02.api.letsencrypt.org/directory"),
    ],
)
def test_each_acme_directory_has_a_dns01_twin_limited_to_the_tenant_zone(
    run_feature: RunFeature, issuer: str, directory: str
) -> None:
    """Route53 in the named hosted zone and region, for names in the tenant domain only (dnsZones), with an account
    key of its own; the HTTP-01 issuers stay as they were."""
    run = run_feature("production-tenants")
    acme = run.named("ClusterIssuer", issuer)["spec"]["acme"]
    assert acme["server"] == directory
    assert acme["privateKeySecretRef"] == {"name": f"{issuer}-account-key"}
    assert acme["email"] == "platform-team@example.com"
    assert acme["solvers"] == [
        {
            "selector": {"dnsZones": ["tenants.crm.example.com"]},
            "dns01": {"route53": {"region": "eu-west-1", "hostedZoneID": TENANT_HOSTED_ZONE}},
        }
    ]
    http01 = run.named("ClusterIssuer", issuer.removesuffix("-dns01"))["spec"]["acme"]["solvers"]
    assert http01 == [{"http01": {"ingress": {"ingressClassName": "traefik"}}}]


def test_cert_manager_assumes_the_route53_role_by_web_identity_for_cluster_issuers_only(
    run_feature: RunFeature,
) -> None:
    """The controller's ServiceAccount names the role (the EKS webhook's annotation); the controller carries the
    projected STS token and every variable the webhook would add (so it leaves the container alone); ambient
    credentials serve ClusterIssuers and never a namespaced Issuer; the values still validate and every pod is
    restricted."""
    values = normalized(cert_manager_chart(run_feature("staging-tenants"))["values"])
    role_arn = f"arn:aws:iam::{MOCK_AWS_ACCOUNT}:role/crm-staging-cert-manager-dns01"
    assert values["serviceAccount"] == {"annotations": {"eks.amazonaws.com/role-arn": role_arn}}
    assert values["extraArgs"] == ["--issuer-ambient-credentials=false", "--cluster-issuer-ambient-credentials=true"]
    assert {variable["name"]: variable["value"] for variable in values["extraEnv"]} == {
        "AWS_ROLE_ARN": role_arn,
        "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
        "AWS_REGION": "eu-west-1",
        "AWS_STS_REGIONAL_ENDPOINTS": "regional",
    }
    [volume] = values["volumes"]
    assert volume["projected"]["sources"] == [
        {"serviceAccountToken": {"audience": "sts.amazonaws.com", "expirationSeconds": 86400, "path": "token"}}
    ]
    assert values["volumeMounts"] == [
        {"name": volume["name"], "mountPath": "/var/run/secrets/eks.amazonaws.com/serviceaccount", "readOnly": True}
    ]
    assert helm_values_errors("cert-manager", "v1.21.1", values) == []
    problems, checked = security_context_problems(values, CERT_MANAGER_CONTEXT_KEYS)
    assert checked and problems == []


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_without_a_route53_role_no_issuer_may_draw_ambient_credentials(run_stack: RunStack, stack: str) -> None:
    """A stack without DNS-01 gives cert-manager no role, no token and no ambient credentials at all: not even a
    node's instance role is usable by an issuer."""
    values = cert_manager_chart(run_stack(stack))["values"]
    assert values["extraArgs"] == ["--issuer-ambient-credentials=false", "--cluster-issuer-ambient-credentials=false"]
    assert not {"serviceAccount", "extraEnv", "volumes", "volumeMounts"} & set(values)


def test_a_route53_role_needs_its_region() -> None:
    """The chart values refuse a role without the region its STS calls go to."""
    with pytest.raises(ValueError, match="region"):
        cert_manager_values(replicas=1, route53_role_arn="arn:aws:iam::1:role/r")


def test_the_dns01_issuers_wait_for_the_api_check_and_the_roles_policy(run_feature: RunFeature) -> None:
    """cert-manager admits them only once its API check passed; a challenge can be answered only once the role
    and its policy exist (the issuers wait for the whole DnsChallengeRole); the chart's values name the role, so
    the chart waits for the role too."""
    run = run_feature("staging-tenants")
    [check] = [job for job in run.kind("Job") if job["metadata"]["name"].startswith("cert-manager-api-check-")]
    [component] = run.of_type("crm:edge:DnsChallengeRole")
    [role] = [resource for resource in run.of_type("aws:iam/role:Role") if resource.parent == component.urn]
    [policy] = [
        resource for resource in run.of_type("aws:iam/rolePolicy:RolePolicy") if resource.parent == component.urn
    ]
    assert role.inputs["name"] == "crm-staging-cert-manager-dns01" and policy.inputs["role"]
    for issuer in ("letsencrypt-staging-dns01", "letsencrypt-production-dns01"):
        dependencies = run.resource("ClusterIssuer", issuer).dependencies
        # Waiting for a component is waiting for each of its children (the engine's rule; the mocks record them).
        assert {run.resource("Job", check["metadata"]["name"]).urn, role.urn, policy.urn} <= set(dependencies)
    [chart] = [resource for resource in run.of_type(CHART) if resource.inputs["name"] == "cert-manager"]
    assert role.urn in chart.dependencies


# --- Django admits the tenant hosts -----------------------------------------------------------------------------

DJANGO_JUDGE = """
import json, os, sys
import django
from django.conf import settings

settings.configure(
    ALLOWED_HOSTS=os.environ["ALLOWED_HOSTS"].split(","),
    CSRF_TRUSTED_ORIGINS=os.environ["CSRF_TRUSTED_ORIGINS"].split(","),
    DEBUG=False,
)
django.setup()
from django.core.exceptions import DisallowedHost
from django.middleware.csrf import CsrfViewMiddleware
from django.test import RequestFactory

hosts, origins, api_host = json.loads(sys.argv[1])
verdicts = {"hosts": {}, "origins": {}}
for host in hosts:
    try:
        RequestFactory().get("/", HTTP_HOST=host).get_host()
        verdicts["hosts"][host] = "accepted"
    except DisallowedHost:
        verdicts["hosts"][host] = "refused"
csrf = CsrfViewMiddleware(lambda request: None)
for origin in origins:
    request = RequestFactory().post("/api/", HTTP_HOST=api_host, HTTP_ORIGIN=origin, secure=True)
    verdicts["origins"][origin] = "trusted" if csrf._origin_verified(request) else "refused"
print(json.dumps(verdicts))
"""


def test_django_admits_every_tenant_host_and_trusts_their_origins_and_no_other(run_feature: RunFeature) -> None:
    """With web's environment from the render, Django accepts the tenant domain and its subdomains as hosts and
    trusts them (over HTTPS) as origins of a POST to the API host; other hosts, and plain HTTP, stay refused."""
    run = run_feature("staging-tenants")
    environment = container_environment_of(run, "crm-web")
    api_host = "api.staging.crm.example.com"
    hosts = [f"acme.{STAGING_TENANTS}", STAGING_TENANTS, api_host, "evil.example.com", f"{STAGING_TENANTS}.evil.org"]
    origins = [
        f"https://acme.{STAGING_TENANTS}",
        f"https://{STAGING_TENANTS}",
        f"http://acme.{STAGING_TENANTS}",
        "https://evil.example.com",
        f"https://acme.{STAGING_TENANTS}.evil.org",
    ]
    result = subprocess.run(
        [sys.executable, "-c", DJANGO_JUDGE, json.dumps([hosts, origins, api_host])],
        env={key: environment[key] for key in ("ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS")} | {"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout) == {
        "hosts": {
            f"acme.{STAGING_TENANTS}": "accepted",
            STAGING_TENANTS: "accepted",
            api_host: "accepted",
            "evil.example.com": "refused",
            f"{STAGING_TENANTS}.evil.org": "refused",
        },
        "origins": {
            f"https://acme.{STAGING_TENANTS}": "trusted",
            f"https://{STAGING_TENANTS}": "trusted",
            f"http://acme.{STAGING_TENANTS}": "refused",
            "https://evil.example.com": "refused",
            f"https://acme.{STAGING_TENANTS}.evil.org": "refused",
        },
    }


def container_environment_of(run: StackRun, deployment: str) -> dict[str, str]:
    """The container environment of `deployment` in an already made run."""
    return container_environment(lambda stack, **_: run, "staging", deployment)


# --- the policy pack over the render ----------------------------------------------------------------------------


def tenant_findings(edit: Any) -> set[tuple[str, str, str]]:
    """(object, control, message) of every finding once `edit(subjects)` changed the staging-tenants render."""
    feature = FEATURE_RUNS["staging-tenants"]
    overrides = config_overrides([f"{key}={value}" for key, value in feature.config.items()])
    subjects, _ = stack_subjects(feature.stack, overrides, feature.secrets)
    edit({(subject.document.get("kind"), subject.origin): subject.document for subject in subjects})
    findings = evaluate(subjects, load_policy_config(config_path_for_stack(feature.stack)))
    return {(finding.origin, finding.violation.control, finding.violation.message) for finding in findings}


def test_the_pack_passes_the_tenant_render_and_fails_a_certificate_without_the_wildcard() -> None:
    """As rendered, no finding; with the wildcard taken out of the tenant certificate, S3 names the tenant route's
    HostRegexp rules."""
    assert tenant_findings(lambda documents: None) == set()

    def without_wildcard(documents: dict[tuple[Any, str], dict[str, Any]]) -> None:
        documents[("Certificate", "api-tenant-certificate")]["spec"]["dnsNames"] = [STAGING_TENANTS]

    pattern = tenant_host_regexp(STAGING_TENANTS)
    assert tenant_findings(without_wildcard) == {
        (
            "api-tenant-route",
            "S3",
            f"HostRegexp `{pattern}` matches every one-label subdomain of {STAGING_TENANTS}, and TLS secret "
            f"{TENANT_TLS_SECRET} is not issued for *.{STAGING_TENANTS}",
        )
    }

"""Stack policies (S1-S7) over a small compliant stack: it passes; each branch of each rule, broken on
purpose, reports exactly its violation against the resource concerned."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from policies.common import StackResource
from policies.pulumi_adapter import pulumi_type_of
from policies.registry import POLICIES_BY_NAME, STACK_POLICIES
from policies.stack_rules import host_regexp_domain, selector_matches

NAMESPACE = "crm"
BUCKET_URN = "urn:pulumi:production::crm::aws:s3/bucket:Bucket::backups"


def k8s(api_version: str, kind: str, name: str, namespace: str | None = NAMESPACE, **fields: Any) -> StackResource:
    metadata: dict[str, Any] = {"name": name} | ({"namespace": namespace} if namespace else {})
    metadata |= fields.pop("metadata", {})
    document = {"apiVersion": api_version, "kind": kind, "metadata": metadata, **fields}
    pulumi_type = pulumi_type_of(api_version, kind)
    return StackResource(
        type=pulumi_type, name=name, urn=f"urn:pulumi:production::crm::{pulumi_type}::{name}", props=document
    )


def aws(resource_type: str, name: str, props: dict[str, Any]) -> StackResource:
    return StackResource(
        type=resource_type,
        name=name,
        urn=f"urn:pulumi:production::crm::{resource_type}::{name}",
        props=props,
        dependencies=frozenset({BUCKET_URN}),
    )


def workload(kind: str, name: str, replicas: int | None) -> StackResource:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name, "tier": "crm"}}, "spec": {"containers": []}},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return k8s("apps/v1", kind, name, spec=spec)


def budget(name: str, selector: dict[str, Any]) -> StackResource:
    return k8s("policy/v1", "PodDisruptionBudget", name, spec={"maxUnavailable": 1, "selector": selector})


def autoscaler(target: str, minimum: int | None) -> StackResource:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "maxReplicas": 6,
    }
    if minimum is not None:
        spec["minReplicas"] = minimum
    return k8s("autoscaling/v2", "HorizontalPodAutoscaler", target, spec=spec)


def ingress(name: str, hosts: list[str], tls: list[dict[str, Any]], issuer: bool) -> StackResource:
    annotations = {"cert-manager.io/cluster-issuer": "letsencrypt-production"} if issuer else {}
    rules: list[dict[str, Any]] = [
        {"host": host, "http": {"paths": []}} if host else {"http": {"paths": []}} for host in hosts
    ]
    return k8s(
        "networking.k8s.io/v1",
        "Ingress",
        name,
        metadata={"annotations": annotations},
        spec={"rules": rules, "tls": tls},
    )


SECURE_TRANSPORT_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
)


TENANTS = r"^[a-z0-9-]+\.tenants\.example\.net$"
"""The tenant hosts' HostRegexp: one label under tenants.example.net."""


def compliant_stack() -> list[StackResource]:
    return [
        k8s("v1", "Namespace", NAMESPACE, namespace=None, metadata={"labels": {"crm-platform/namespace-role": "app"}}),
        k8s(
            "v1", "Namespace", "traefik", namespace=None, metadata={"labels": {"crm-platform/namespace-role": "addon"}}
        ),
        k8s(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            "default-deny",
            spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        ),
        workload("Deployment", "crm-web", 2),
        budget("crm-web", {"matchLabels": {"app": "crm-web"}}),
        workload("Deployment", "crm-worker", None),
        autoscaler("crm-worker", 2),
        budget("crm-worker", {"matchExpressions": [{"key": "app", "operator": "In", "values": ["crm-worker"]}]}),
        workload("Deployment", "crm-beat", 1),
        workload("StatefulSet", "crm-redis", 3),
        budget("crm-redis", {"matchLabels": {"app": "crm-redis", "tier": "crm"}}),
        ingress("crm-api", ["api.example.com"], [{"hosts": ["api.example.com"], "secretName": "crm-api-tls"}], True),
        ingress(
            "crm-api-ws", ["api.example.com"], [{"hosts": ["api.example.com"], "secretName": "crm-api-tls"}], False
        ),
        ingress("crm-app", ["app.example.com"], [{"hosts": ["*.example.com"], "secretName": "wildcard-tls"}], False),
        k8s(
            "cert-manager.io/v1",
            "Certificate",
            "wildcard",
            spec={"secretName": "wildcard-tls", "dnsNames": ["*.example.com"]},
        ),
        k8s(
            "traefik.io/v1alpha1",
            "IngressRoute",
            "crm-api-route",
            spec={
                "routes": [
                    {"match": "Host(`www.example.org`) && PathPrefix(`/`)"},
                    {"match": "Host(`www.example.org`) || Host( `example.org` ) && PathPrefix(`/ws/`)"},
                ],
                "tls": {"secretName": "www-tls"},
            },
        ),
        k8s(
            "cert-manager.io/v1",
            "Certificate",
            "www",
            spec={"secretName": "www-tls", "dnsNames": ["www.example.org", "example.org"]},
        ),
        k8s(
            "traefik.io/v1alpha1",
            "IngressRoute",
            "crm-tenants",
            spec={
                "routes": [
                    {"match": f"(Host(`tenants.example.net`) || HostRegexp(`{TENANTS}`)) && PathPrefix(`/`)"},
                    {"match": f"HostRegexp(`{TENANTS}`) && PathPrefix(`/ws/`)"},
                ],
                "tls": {"secretName": "tenants-tls"},
            },
        ),
        k8s(
            "cert-manager.io/v1",
            "Certificate",
            "tenants",
            spec={"secretName": "tenants-tls", "dnsNames": ["*.tenants.example.net", "tenants.example.net"]},
        ),
        StackResource(type="aws:s3/bucket:Bucket", name="backups", urn=BUCKET_URN, props={"bucketPrefix": "crm-"}),
        aws(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "backups-block",
            {
                "blockPublicAcls": True,
                "blockPublicPolicy": True,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            },
        ),
        aws(
            "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
            "backups-encryption",
            {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]},
        ),
        aws(
            "aws:s3/bucketVersioningV2:BucketVersioningV2",
            "backups-versioning",
            {"versioningConfiguration": {"status": "Enabled"}},
        ),
        aws(
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            "backups-lifecycle",
            {"rules": [{"id": "expire", "status": "Enabled", "expiration": {"days": 30}}]},
        ),
        aws("aws:s3/bucketPolicy:BucketPolicy", "backups-policy", {"policy": SECURE_TRANSPORT_POLICY}),
        k8s(
            "postgresql.cnpg.io/v1",
            "Cluster",
            "crm-postgres",
            spec={"instances": 3, "plugins": [{"name": "barman-cloud.cloudnative-pg.io", "isWALArchiver": True}]},
        ),
        k8s(
            "postgresql.cnpg.io/v1", "ScheduledBackup", "crm-postgres-daily", spec={"cluster": {"name": "crm-postgres"}}
        ),
        k8s("batch/v1", "CronJob", "crm-backup", spec={"schedule": "0 2 * * *"}),
    ]


def found(
    policy: str, resources: list[StackResource], options: dict[str, Any] | None = None
) -> list[tuple[str, str, str, str]]:
    """(resource name, control, path, message) of each violation."""
    return [
        (
            finding.resource.name if finding.resource else "",
            finding.violation.control,
            finding.violation.path,
            finding.violation.message,
        )
        for finding in POLICIES_BY_NAME[policy].evaluate_stack(resources, options)
    ]


def replace(resources: list[StackResource], name: str, kind: str, edit: Any) -> list[StackResource]:
    """The stack with resource `name` of `kind` edited by `edit(props)` (or removed when edit is None)."""
    result = []
    for resource in resources:
        if resource.name == name and (resource.kind == kind or resource.type.endswith(f":{kind}")):
            if edit is None:
                continue
            props = copy.deepcopy(dict(resource.props))
            edit(props)
            resource = StackResource(resource.type, resource.name, resource.urn, props, resource.dependencies)
        result.append(resource)
    return result


@pytest.mark.parametrize("spec", STACK_POLICIES, ids=[spec.name for spec in STACK_POLICIES])
def test_compliant_stack_passes_every_stack_policy(spec: Any) -> None:
    assert spec.evaluate_stack(compliant_stack()) == []


# S1 ---------------------------------------------------------------------------------------------

NO_DEFAULT_DENY = (
    "namespace crm has no default-deny NetworkPolicy (podSelector {}, policyTypes Ingress and Egress, no rules)"
)


@pytest.mark.parametrize(
    "edit",
    [
        None,
        lambda props: props["spec"].update(policyTypes=["Ingress"]),
        lambda props: props["spec"].update(podSelector={"matchLabels": {"app": "crm-web"}}),
        lambda props: props["spec"].update(ingress=[{"from": [{"podSelector": {}}]}]),
        lambda props: props["spec"].update(egress=[{}]),
        lambda props: props["spec"].update(
            podSelector={"matchExpressions": [{"key": "app", "operator": "In", "values": ["crm-web"]}]}
        ),
        lambda props: props["metadata"].update(namespace="other"),
    ],
    ids=[
        "missing",
        "ingress-only",
        "selects-some-pods",
        "allows-something",
        "allows-all-egress",
        "selects-by-expression",
        "other-namespace",
    ],
)
def test_app_namespace_without_default_deny_is_reported(edit: Any) -> None:
    resources = replace(compliant_stack(), "default-deny", "NetworkPolicy", edit)
    assert found("default-deny-network-policy", resources) == [(NAMESPACE, "S1", "metadata.name", NO_DEFAULT_DENY)]


def test_listed_namespaces_need_a_default_deny_too() -> None:
    assert found("default-deny-network-policy", compliant_stack(), {"namespaces": ["traefik"]}) == [
        ("traefik", "S1", "metadata.name", NO_DEFAULT_DENY.replace("namespace crm", "namespace traefik"))
    ]


# S2 ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "minimum"),
    [("crm-web", "Deployment", 2), ("crm-worker", "Deployment", 2), ("crm-redis", "StatefulSet", 3)],
)
def test_replicated_workload_without_budget_is_reported(name: str, kind: str, minimum: int) -> None:
    resources = replace(compliant_stack(), name, "PodDisruptionBudget", None)
    assert found("disruption-budget", resources) == [
        (
            name,
            "S2",
            "spec.template.metadata.labels",
            f"{kind} crm/{name} runs at least {minimum} pods but no PodDisruptionBudget selects them",
        )
    ]


def test_budget_must_select_the_pods() -> None:
    resources = replace(
        compliant_stack(),
        "crm-redis",
        "PodDisruptionBudget",
        lambda p: p["spec"]["selector"]["matchLabels"].update(tier="other"),
    )
    assert [violation[0] for violation in found("disruption-budget", resources)] == ["crm-redis"]


def test_single_pod_workloads_and_hpa_minimum_of_one_need_no_budget() -> None:
    resources = replace(compliant_stack(), "crm-worker", "PodDisruptionBudget", None)
    resources = replace(resources, "crm-worker", "HorizontalPodAutoscaler", lambda p: p["spec"].pop("minReplicas"))
    assert found("disruption-budget", resources) == []


def test_a_budget_in_another_namespace_does_not_count() -> None:
    """A PodDisruptionBudget only protects pods of its own namespace: one with the right selector elsewhere
    leaves the workload unprotected."""
    resources = replace(
        compliant_stack(), "crm-redis", "PodDisruptionBudget", lambda p: p["metadata"].update(namespace="other")
    )
    assert [violation[0] for violation in found("disruption-budget", resources)] == ["crm-redis"]


def test_an_autoscaler_in_another_namespace_does_not_set_the_minimum() -> None:
    """An HPA scales the workload of its own namespace only: crm-worker (no replicas of its own) with its HPA of
    minimum 2 moved elsewhere runs one pod and needs no budget, and a one-pod crm-web is not made
    production-ready by an HPA of minimum 2 in another namespace."""
    resources = replace(compliant_stack(), "crm-worker", "PodDisruptionBudget", None)
    moved = replace(resources, "crm-worker", "HorizontalPodAutoscaler", lambda p: p["metadata"].update(namespace="x"))
    assert found("disruption-budget", moved) == []
    assert [violation[0] for violation in found("disruption-budget", resources)] == ["crm-worker"]
    web = replace(compliant_stack(), "crm-web", "Deployment", lambda p: p["spec"].update(replicas=1))
    elsewhere = autoscaler("crm-web", 2)
    elsewhere.props["metadata"]["namespace"] = "other"
    assert [violation[0] for violation in found("production-web-replicas", [*web, elsewhere])] == ["crm-web"]


def test_cnpg_cluster_may_not_switch_off_its_budget() -> None:
    resources = replace(compliant_stack(), "crm-postgres", "Cluster", lambda p: p["spec"].update(enablePDB=False))
    assert found("disruption-budget", resources) == [
        ("crm-postgres", "S2", "spec.enablePDB", "Cluster crm/crm-postgres has 3 instances and no PDB")
    ]


@pytest.mark.parametrize(("instances", "reported"), [(None, False), (1, False), (2, True)])
def test_only_a_cnpg_cluster_of_several_instances_needs_its_budget(instances: int | None, reported: bool) -> None:
    """enablePDB false matters from two instances on: one instance (CloudNativePG's default when instances is left
    out) has no replica a drain could take down with it."""

    def edit(props: dict[str, Any]) -> None:
        props["spec"].update(enablePDB=False, instances=instances)
        if instances is None:
            props["spec"].pop("instances")

    resources = replace(compliant_stack(), "crm-postgres", "Cluster", edit)
    expected = [
        ("crm-postgres", "S2", "spec.enablePDB", f"Cluster crm/crm-postgres has {instances} instances and no PDB")
    ]
    assert found("disruption-budget", resources) == (expected if reported else [])


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ({}, False),
        ({"matchLabels": {"app": "a"}}, True),
        ({"matchLabels": {"app": "b"}}, False),
        ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["a"]}]}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, True),
        ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, False),
        ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["a", "b"]}]}, True),
    ],
)
def test_selector_matching(selector: dict[str, Any], matches: bool) -> None:
    assert selector_matches(selector, {"app": "a"}) is matches


# S3 ---------------------------------------------------------------------------------------------


def test_host_outside_tls_is_reported() -> None:
    resources = replace(
        compliant_stack(), "crm-api", "Ingress", lambda p: p["spec"]["rules"].append({"host": "admin.example.com"})
    )
    assert found("ingress-tls", resources) == [
        ("crm-api", "S3", "spec.rules[1].host", "host admin.example.com is not in any spec.tls entry with a secretName")
    ]


def test_rule_without_host_and_tls_without_secret_are_reported() -> None:
    def edit(props: dict[str, Any]) -> None:
        props["spec"]["rules"].append({"http": {"paths": []}})
        props["spec"]["tls"][0].pop("secretName")

    assert found("ingress-tls", replace(compliant_stack(), "crm-api", "Ingress", edit)) == [
        ("crm-api", "S3", "spec.rules[0].host", "host api.example.com is not in any spec.tls entry with a secretName"),
        ("crm-api", "S3", "spec.rules[1].host", "a rule without host answers every host, outside TLS"),
        (
            "crm-api-ws",
            "S3",
            "spec.tls[0].secretName",
            "TLS secret crm-api-tls is issued by nothing: no Ingress using it has a cert-manager.io/cluster-issuer "
            "or cert-manager.io/issuer annotation, and no Certificate writes it",
        ),
    ]


def test_wildcard_covers_one_label_only() -> None:
    resources = replace(
        compliant_stack(), "crm-app", "Ingress", lambda p: p["spec"]["rules"][0].update(host="a.b.example.com")
    )
    assert [violation[2] for violation in found("ingress-tls", resources)] == ["spec.rules[0].host"]


def test_wildcard_covers_a_whole_label_only() -> None:
    """*.example.com covers a.example.com, not a.badexample.com: the host must end with the dot and the domain."""
    resources = replace(
        compliant_stack(), "crm-app", "Ingress", lambda p: p["spec"]["rules"][0].update(host="a.badexample.com")
    )
    assert found("ingress-tls", resources) == [
        ("crm-app", "S3", "spec.rules[0].host", "host a.badexample.com is not in any spec.tls entry with a secretName")
    ]


def test_tls_secret_nobody_issues_is_reported() -> None:
    resources = replace(compliant_stack(), "wildcard", "Certificate", None)
    assert [violation[:3] for violation in found("ingress-tls", resources)] == [
        ("crm-app", "S3", "spec.tls[0].secretName")
    ]


def test_ingress_route_host_its_certificate_lacks_is_reported() -> None:
    resources = replace(
        compliant_stack(), "www", "Certificate", lambda p: p["spec"].update(dnsNames=["www.example.org"])
    )
    assert found("ingress-tls", resources) == [
        (
            "crm-api-route",
            "S3",
            "spec.routes[1].match",
            "host example.org is not among the names TLS secret www-tls is issued for",
        )
    ]


def test_ingress_route_without_tls_or_host_is_reported() -> None:
    def edit(props: dict[str, Any]) -> None:
        props["spec"].pop("tls")
        props["spec"]["routes"].append({"match": "PathPrefix(`/`)"})

    assert found("ingress-tls", replace(compliant_stack(), "crm-api-route", "IngressRoute", edit)) == [
        ("crm-api-route", "S3", "spec.tls.secretName", "an IngressRoute without tls.secretName serves no TLS"),
        (
            "crm-api-route",
            "S3",
            "spec.routes[2].match",
            "a route without Host(...) or HostRegexp(...) answers every host",
        ),
    ]


def test_ingress_route_secret_nobody_issues_is_reported() -> None:
    assert found("ingress-tls", replace(compliant_stack(), "www", "Certificate", None)) == [
        (
            "crm-api-route",
            "S3",
            "spec.tls.secretName",
            "TLS secret www-tls is issued by nothing: no Certificate writes it and no Ingress using it has a "
            "cert-manager.io/cluster-issuer or cert-manager.io/issuer annotation",
        )
    ]


def test_ingress_route_may_use_a_secret_an_annotated_ingress_issues() -> None:
    """A secret issued through an Ingress's issuer annotation is issued for that Ingress's spec.tls hosts: an
    IngressRoute reusing it covers those hosts and no other."""

    def route_to(host: str) -> Any:
        return lambda p: p["spec"].update(routes=[{"match": f"Host(`{host}`)"}], tls={"secretName": "crm-api-tls"})

    resources = replace(compliant_stack(), "crm-api-route", "IngressRoute", route_to("api.example.com"))
    assert found("ingress-tls", resources) == []
    resources = replace(compliant_stack(), "crm-api-route", "IngressRoute", route_to("admin.example.com"))
    assert found("ingress-tls", resources) == [
        (
            "crm-api-route",
            "S3",
            "spec.routes[0].match",
            "host admin.example.com is not among the names TLS secret crm-api-tls is issued for",
        )
    ]


def test_an_ingress_route_of_another_api_group_is_not_checked() -> None:
    """An IngressRoute kind that is not Traefik's is left alone, and the Traefik routes after it are still checked."""
    foreign = k8s("routes.example.com/v1", "IngressRoute", "foreign", spec={"routes": [{"match": "PathPrefix(`/`)"}]})
    assert found("ingress-tls", [foreign, *replace(compliant_stack(), "www", "Certificate", None)]) == [
        (
            "crm-api-route",
            "S3",
            "spec.tls.secretName",
            "TLS secret www-tls is issued by nothing: no Certificate writes it and no Ingress using it has a "
            "cert-manager.io/cluster-issuer or cert-manager.io/issuer annotation",
        )
    ]


def tenant_route_with(match: str) -> list[StackResource]:
    """The stack with the tenant route's second rule matching `match`."""
    return replace(
        compliant_stack(), "crm-tenants", "IngressRoute", lambda p: p["spec"]["routes"][1].update(match=match)
    )


def test_a_host_regexp_route_needs_the_wildcard_of_its_domain() -> None:
    """A HostRegexp of one label under tenants.example.net is covered by *.tenants.example.net alone: the bare
    domain, or a name one label down, is not enough."""
    for names in (["tenants.example.net"], ["a.tenants.example.net", "tenants.example.net"]):
        resources = replace(
            compliant_stack(), "tenants", "Certificate", lambda p, n=names: p["spec"].update(dnsNames=n)
        )
        message = (
            f"HostRegexp `{TENANTS}` matches every one-label subdomain of tenants.example.net, and TLS secret "
            "tenants-tls is not issued for *.tenants.example.net"
        )
        assert found("ingress-tls", resources) == [
            ("crm-tenants", "S3", "spec.routes[0].match", message),
            ("crm-tenants", "S3", "spec.routes[1].match", message),
        ]


def test_a_wildcard_of_another_domain_does_not_cover_a_host_regexp() -> None:
    """*.example.net covers example.net's one-label subdomains, not tenants.example.net's."""
    resources = tenant_route_with(r"HostRegexp(`^[a-z0-9-]+\.other\.example\.net$`)")
    assert [violation[2:] for violation in found("ingress-tls", resources)] == [
        (
            "spec.routes[1].match",
            r"HostRegexp `^[a-z0-9-]+\.other\.example\.net$` matches every one-label subdomain of "
            "other.example.net, and TLS secret tenants-tls is not issued for *.other.example.net",
        )
    ]


@pytest.mark.parametrize(
    "pattern",
    [
        r"[a-z0-9-]+\.tenants\.example\.net$",
        r"^[a-z0-9-]+\.tenants\.example\.net",
        r"^.+\.tenants\.example\.net$",
        r"^[a-z0-9.-]+\.tenants\.example\.net$",
        r"^[--z]+\.tenants\.example\.net$",
        r"^[--9]+\.tenants\.example\.net$",
        r"^[a-c--z]+\.tenants\.example\.net$",
        r"^[^.]+\.tenants\.example\.net$",
        r"^[a-z0-9-]*\.tenants\.example\.net$",
        r"^[a-z0-9-]+.tenants\.example\.net$",
        r"^[a-z0-9-]+\.tenants.example\.net$",
        r"(?i)^[a-z0-9-]+\.tenants\.example\.net$",
        r"^[a-z]+\.[a-z]+\.tenants\.example\.net$",
    ],
    ids=[
        "unanchored-start",
        "unanchored-end",
        "any-characters",
        "dot-in-the-label",
        "range-over-the-dot",
        "range-from-the-hyphen-to-a-digit",
        "range-over-the-dot-after-a-range",
        "negated-class",
        "empty-label",
        "unescaped-dot-after-the-label",
        "unescaped-dot-in-the-domain",
        "flags",
        "two-labels",
    ],
)
def test_a_host_regexp_that_may_match_more_than_one_label_is_reported_even_under_the_wildcard(pattern: str) -> None:
    """Unanchored, a dot (or a range over it, wherever it sits in the class) in the label, an empty label, an
    unescaped dot (any character) in the domain, anything else: *.tenants.example.net cannot be shown to cover what
    it matches."""
    assert found("ingress-tls", tenant_route_with(f"HostRegexp(`{pattern}`) && PathPrefix(`/ws/`)")) == [
        (
            "crm-tenants",
            "S3",
            "spec.routes[1].match",
            f"HostRegexp `{pattern}` is not one DNS label under a domain (^[a-z0-9-]+\\.<domain>$ with the dots "
            "escaped), so no certificate can be shown to cover every host it matches",
        )
    ]


@pytest.mark.parametrize(
    ("pattern", "domain"),
    [
        (r"^[a-z0-9-]+\.tenants\.example\.net$", "tenants.example.net"),
        (r"^[a-z]{1,63}\.localhost$", "localhost"),
        (r"^[A-Za-z0-9_-]{2,}\.t\.example\.net$", "t.example.net"),
    ],
)
def test_one_label_under_a_domain_is_recognised_in_its_spellings(pattern: str, domain: str) -> None:
    """A class of letters, digits, '_' and '-' repeated at least once (+ or {n,m}), then an escaped domain."""
    assert host_regexp_domain(pattern) == domain


def test_a_host_regexp_alone_is_a_host_matcher() -> None:
    """A rule with only HostRegexp is not a rule without a host."""
    resources = tenant_route_with(f"HostRegexp(`{TENANTS}`)")
    assert found("ingress-tls", resources) == []


# S4 ---------------------------------------------------------------------------------------------


MISSING_CONTROL = {
    "BucketPublicAccessBlock": "bucket backups: no BucketPublicAccessBlock with all four flags true (blockPublicAcls, "
    "blockPublicPolicy, ignorePublicAcls, restrictPublicBuckets)",
    "BucketServerSideEncryptionConfiguration": "bucket backups: no default encryption with one of aws:kms, "
    "aws:kms:dsse",
    "BucketVersioning": "bucket backups: versioning is not Enabled",
    "BucketLifecycleConfiguration": "bucket backups: no lifecycle configuration with an Enabled rule",
    "BucketPolicy": "bucket backups: no bucket policy denies requests with aws:SecureTransport false",
}
"""The message of each common S4 control a bucket lacks."""


@pytest.mark.parametrize(
    ("name", "kind", "edit", "control"),
    [
        ("backups-block", "BucketPublicAccessBlock", None, "BucketPublicAccessBlock"),
        (
            "backups-block",
            "BucketPublicAccessBlock",
            lambda p: p.update(restrictPublicBuckets=False),
            "BucketPublicAccessBlock",
        ),
        (
            "backups-encryption",
            "BucketServerSideEncryptionConfigurationV2",
            None,
            "BucketServerSideEncryptionConfiguration",
        ),
        (
            "backups-encryption",
            "BucketServerSideEncryptionConfigurationV2",
            lambda p: p["rules"][0]["applyServerSideEncryptionByDefault"].update(sseAlgorithm="AES256"),
            "BucketServerSideEncryptionConfiguration",
        ),
        (
            "backups-versioning",
            "BucketVersioningV2",
            lambda p: p["versioningConfiguration"].update(status="Suspended"),
            "BucketVersioning",
        ),
        (
            "backups-lifecycle",
            "BucketLifecycleConfiguration",
            lambda p: p["rules"][0].update(status="Disabled"),
            "BucketLifecycleConfiguration",
        ),
        (
            "backups-policy",
            "BucketPolicy",
            lambda p: p.update(policy=SECURE_TRANSPORT_POLICY.replace("Deny", "Allow")),
            "BucketPolicy",
        ),
        ("backups-policy", "BucketPolicy", lambda p: p.update(policy="not json"), "BucketPolicy"),
        (
            "backups-policy",
            "BucketPolicy",
            lambda p: p.update(policy=SECURE_TRANSPORT_POLICY.replace("aws:SecureTransport", "aws:ViaAWSService")),
            "BucketPolicy",
        ),
    ],
)
def test_each_missing_bucket_control_is_reported_on_the_bucket(name: str, kind: str, edit: Any, control: str) -> None:
    resources = replace(compliant_stack(), name, kind, edit)
    assert found("s3-bucket-controls", resources) == [("backups", "S4", control, MISSING_CONTROL[control])]


def test_a_policy_with_a_single_statement_object_counts() -> None:
    """IAM accepts Statement as one object as well as a list of them: a lone deny of plain HTTP is enough."""
    document = json.loads(SECURE_TRANSPORT_POLICY)
    document["Statement"] = document["Statement"][0]
    resources = replace(
        compliant_stack(), "backups-policy", "BucketPolicy", lambda p: p.update(policy=json.dumps(document))
    )
    assert found("s3-bucket-controls", resources) == []


def test_a_setting_of_another_provider_is_not_a_bucket_setting() -> None:
    """Only AWS resources are S3 settings: a look-alike type of another package, even one depending on the bucket,
    does not stand in for the missing bucket policy."""
    resources = replace(compliant_stack(), "backups-policy", "BucketPolicy", None)
    look_alike = aws("lookalike:s3/bucketPolicy:BucketPolicy", "backups-policy", {"policy": SECURE_TRANSPORT_POLICY})
    assert found("s3-bucket-controls", [*resources, look_alike]) == [
        ("backups", "S4", "BucketPolicy", MISSING_CONTROL["BucketPolicy"])
    ]


@pytest.mark.parametrize("field", ["bucket", "id"])
def test_a_setting_may_name_its_bucket_by_name_or_id(field: str) -> None:
    """Without a dependency, a setting belongs to the bucket whose name (or provider id, the same) it gives."""
    settings = [
        StackResource(r.type, r.name, r.urn, {**r.props, "bucket": "crm-backups-1"}, frozenset())
        if r.type.startswith("aws:s3/bucket") and r.urn != BUCKET_URN
        else r
        for r in compliant_stack()
    ]
    resources = [
        StackResource(r.type, r.name, r.urn, {**r.props, field: "crm-backups-1"}) if r.urn == BUCKET_URN else r
        for r in settings
    ]
    assert found("s3-bucket-controls", resources) == []


def test_settings_of_another_bucket_do_not_count() -> None:
    """A setting belongs to the bucket it depends on or names; otherwise the bucket lacks all five."""
    resources = [
        StackResource(r.type, r.name, r.urn, r.props, frozenset()) if r.type.startswith("aws:s3/bucket") else r
        for r in compliant_stack()
    ]
    assert len(found("s3-bucket-controls", resources)) == 5
    named = [
        StackResource(r.type, r.name, r.urn, {**r.props, "bucket": "crm-backups-1"}, frozenset())
        if r.type.startswith("aws:s3/bucket") and r.urn != BUCKET_URN
        else r
        for r in compliant_stack()
    ]
    named = [
        StackResource(r.type, r.name, r.urn, {**r.props, "bucket": "crm-backups-1"}) if r.urn == BUCKET_URN else r
        for r in named
    ]
    assert found("s3-bucket-controls", named) == []


def tagged(resources: list[StackResource], role: str | None) -> list[StackResource]:
    """The compliant stack with its bucket tagged crm-platform/bucket-role: `role` (None: untagged)."""
    return replace(
        resources, "backups", "Bucket", lambda p: p.update(tags={"crm-platform/bucket-role": role} if role else {})
    )


MEDIA_LIFECYCLE = {
    "rules": [
        {
            "id": "expire-noncurrent-versions",
            "status": "Enabled",
            "noncurrentVersionExpiration": {"noncurrentDays": 30},
        },
        {"id": "remove-expired-delete-markers", "status": "Enabled", "expiration": {"expiredObjectDeleteMarker": True}},
    ]
}
LOCK_CONFIGURATION = {"objectLockEnabled": "Enabled", "rule": {"defaultRetention": {"mode": "GOVERNANCE", "days": 30}}}


def media_stack() -> list[StackResource]:
    """The compliant stack with its bucket holding media: noncurrent versions expire, current uploads never."""
    return replace(
        tagged(compliant_stack(), "media"),
        "backups-lifecycle",
        "BucketLifecycleConfiguration",
        lambda p: p.update(MEDIA_LIFECYCLE),
    )


def locked_stack() -> list[StackResource]:
    """The compliant stack with its bucket holding backups, created locked with a default retention."""
    resources = replace(
        tagged(compliant_stack(), "backups"), "backups", "Bucket", lambda p: p.update(objectLockEnabled=True)
    )
    lock_type = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
    return [*resources, aws(lock_type, "backups-object-lock", dict(LOCK_CONFIGURATION))]


def test_a_media_bucket_that_keeps_uploads_passes() -> None:
    """A media bucket whose lifecycle expires only noncurrent versions and spent delete markers, unlocked, passes."""
    assert found("s3-bucket-controls", media_stack()) == []


@pytest.mark.parametrize(
    ("expiration", "rule"),
    [({"days": 365}, "expire"), ({"date": "2030-01-01T00:00:00Z"}, "expire")],
    ids=["after-days", "on-a-date"],
)
def test_a_media_bucket_that_expires_current_uploads_is_reported(expiration: dict[str, Any], rule: str) -> None:
    """An Enabled rule with an expiration by days or date would delete users' files: reported on a media bucket,
    and only there (the same rule on a backups or untagged bucket is their retention)."""
    expiring = {"id": rule, "status": "Enabled", "expiration": expiration}
    resources = replace(
        media_stack(), "backups-lifecycle", "BucketLifecycleConfiguration", lambda p: p["rules"].append(expiring)
    )
    assert found("s3-bucket-controls", resources) == [
        (
            "backups",
            "S4",
            "BucketLifecycleConfiguration",
            f"bucket backups: holds media, and lifecycle rule {rule} expires current objects: a user's upload must "
            "stay until the application deletes it (keep deleted and overwritten ones as noncurrent versions "
            "instead)",
        )
    ]
    for role in ("backups", None):
        assert found("s3-bucket-controls", tagged(resources, role)) == [], role
    disabled = replace(
        resources,
        "backups-lifecycle",
        "BucketLifecycleConfiguration",
        lambda p: p["rules"][-1].update(status="Disabled"),
    )
    assert found("s3-bucket-controls", disabled) == []


def test_every_expiring_rule_of_a_media_bucket_is_named() -> None:
    """All the rules that expire current uploads are named, sorted, one without id as '(no id)'."""
    expiring = [
        {"id": "expire-uploads", "status": "Enabled", "expiration": {"days": 365}},
        {"status": "Enabled", "expiration": {"days": 30}},
    ]
    resources = replace(
        media_stack(), "backups-lifecycle", "BucketLifecycleConfiguration", lambda p: p["rules"].extend(expiring)
    )
    assert found("s3-bucket-controls", resources) == [
        (
            "backups",
            "S4",
            "BucketLifecycleConfiguration",
            "bucket backups: holds media, and lifecycle rule (no id), expire-uploads expires current objects: a "
            "user's upload must stay until the application deletes it (keep deleted and overwritten ones as "
            "noncurrent versions instead)",
        )
    ]


@pytest.mark.parametrize("lock", ["created-locked", "lock-configuration"])
def test_a_locked_media_bucket_is_reported(lock: str) -> None:
    """Object Lock on a media bucket (created locked, or a lock configuration) would keep uploads from erasure."""
    if lock == "created-locked":
        resources = replace(media_stack(), "backups", "Bucket", lambda p: p.update(objectLockEnabled=True))
    else:
        lock_type = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
        resources = [*media_stack(), aws(lock_type, "backups-object-lock", dict(LOCK_CONFIGURATION))]
    assert found("s3-bucket-controls", resources) == [
        (
            "backups",
            "S4",
            "BucketObjectLockConfiguration",
            "bucket backups: holds media, and Object Lock would keep a user's upload (personal data) from being erased",
        )
    ]


LOCK_REQUIRED = (
    "backups",
    "S4",
    "BucketObjectLockConfiguration",
    "bucket backups: holds backups, which must be locked: create the bucket with objectLockEnabled and give it a "
    "BucketObjectLockConfiguration with a default retention",
)


@pytest.mark.parametrize(
    "edit",
    [
        lambda resources: replace(resources, "backups", "Bucket", lambda p: p.update(objectLockEnabled=False)),
        lambda resources: replace(resources, "backups-object-lock", "BucketObjectLockConfiguration", None),
        lambda resources: replace(
            resources, "backups-object-lock", "BucketObjectLockConfiguration", lambda p: p.update(rule={})
        ),
    ],
    ids=["created-unlocked", "no-lock-configuration", "no-default-retention"],
)
def test_a_role_in_object_lock_roles_must_be_locked(edit: Any) -> None:
    """With objectLockRoles [backups] (production), a backups bucket without both parts of Object Lock is reported."""
    options = {"objectLockRoles": ["backups"]}
    assert found("s3-bucket-controls", locked_stack(), options) == []
    assert found("s3-bucket-controls", edit(locked_stack()), options) == [LOCK_REQUIRED]
    assert found("s3-bucket-controls", edit(locked_stack())) == []


@pytest.mark.parametrize(("enabled", "locked"), [(None, True), ("Enabled", True), ("Disabled", False)])
def test_a_lock_configuration_counts_unless_it_says_other_than_enabled(enabled: str | None, locked: bool) -> None:
    """objectLockEnabled of a BucketObjectLockConfiguration defaults to Enabled (its one valid value): left out it
    counts, any other value does not."""

    def edit(props: dict[str, Any]) -> None:
        props.update(objectLockEnabled=enabled)
        if enabled is None:
            props.pop("objectLockEnabled")

    resources = replace(locked_stack(), "backups-object-lock", "BucketObjectLockConfiguration", edit)
    assert found("s3-bucket-controls", resources, {"objectLockRoles": ["backups"]}) == (
        [] if locked else [LOCK_REQUIRED]
    )


def test_object_lock_roles_name_the_buckets_they_hold_to_it() -> None:
    """objectLockRoles applies by role: not to a media bucket or an untagged one (which have no lock to require)."""
    options = {"objectLockRoles": ["backups"]}
    assert found("s3-bucket-controls", media_stack(), options) == []
    assert found("s3-bucket-controls", tagged(compliant_stack(), None), options) == []
    assert found("s3-bucket-controls", tagged(compliant_stack(), "backups"), options) == [LOCK_REQUIRED]


def test_the_provider_merged_tags_name_the_role_too() -> None:
    """Under the Pulumi CLI the role may arrive in tagsAll (provider default tags merged): it counts the same."""
    resources = replace(
        compliant_stack(), "backups", "Bucket", lambda p: p.update(tagsAll={"crm-platform/bucket-role": "backups"})
    )
    assert found("s3-bucket-controls", resources, {"objectLockRoles": ["backups"]}) == [LOCK_REQUIRED]


def test_an_empty_role_tag_leaves_the_merged_one_to_speak() -> None:
    """An empty crm-platform/bucket-role in tags names no role: the one in tagsAll still holds the bucket to it."""
    resources = replace(
        compliant_stack(),
        "backups",
        "Bucket",
        lambda p: p.update(tags={"crm-platform/bucket-role": ""}, tagsAll={"crm-platform/bucket-role": "backups"}),
    )
    assert found("s3-bucket-controls", resources, {"objectLockRoles": ["backups"]}) == [LOCK_REQUIRED]


# S5-S7 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("instances", [1, 2])
def test_production_postgres_needs_three_instances(instances: int) -> None:
    resources = replace(compliant_stack(), "crm-postgres", "Cluster", lambda p: p["spec"].update(instances=instances))
    assert found("production-postgres-instances", resources) == [
        ("crm-postgres", "S5", "spec.instances", f"Cluster crm/crm-postgres has {instances} instances; at least 3")
    ]
    assert found("production-postgres-instances", resources, {"minInstances": instances}) == []


def test_postgres_instances_left_out_are_one() -> None:
    """A Cluster without spec.instances runs CloudNativePG's default of one instance, and the message says so."""
    resources = replace(compliant_stack(), "crm-postgres", "Cluster", lambda p: p["spec"].pop("instances"))
    assert found("production-postgres-instances", resources) == [
        ("crm-postgres", "S5", "spec.instances", "Cluster crm/crm-postgres has 1 instances; at least 3")
    ]


NO_WAL = ("spec.plugins", "Cluster crm/crm-postgres archives no WAL (no isWALArchiver plugin)")
NO_SCHEDULED_BACKUP = ("metadata.name", "no ScheduledBackup targets Cluster crm/crm-postgres")


@pytest.mark.parametrize(
    ("name", "kind", "edit", "violation"),
    [
        ("crm-postgres", "Cluster", lambda p: p["spec"].pop("plugins"), NO_WAL),
        ("crm-postgres", "Cluster", lambda p: p["spec"]["plugins"][0].update(enabled=False), NO_WAL),
        ("crm-postgres-daily", "ScheduledBackup", None, NO_SCHEDULED_BACKUP),
        (
            "crm-postgres-daily",
            "ScheduledBackup",
            lambda p: p["spec"]["cluster"].update(name="other"),
            NO_SCHEDULED_BACKUP,
        ),
        (
            "crm-backup",
            "CronJob",
            None,
            ("metadata.namespace", "namespace crm has no logical backup CronJob (crm-backup)"),
        ),
    ],
)
def test_production_backups_each_part_is_required(name: str, kind: str, edit: Any, violation: tuple[str, str]) -> None:
    resources = replace(compliant_stack(), name, kind, edit)
    assert found("production-backups", resources) == [("crm-postgres", "S6", *violation)]


def test_any_listed_logical_backup_cronjob_counts() -> None:
    """logicalBackupCronJobs lists the names a logical backup may run under: any one of them in the Cluster's
    namespace will do, and the message names them all."""
    options = {"logicalBackupCronJobs": ["crm-dump", "crm-backup"]}
    assert found("production-backups", compliant_stack(), options) == []
    resources = replace(compliant_stack(), "crm-backup", "CronJob", None)
    assert found("production-backups", resources, options) == [
        (
            "crm-postgres",
            "S6",
            "metadata.namespace",
            "namespace crm has no logical backup CronJob (crm-dump, crm-backup)",
        )
    ]


def test_legacy_barman_object_store_counts_as_wal_archiving() -> None:
    def edit(props: dict[str, Any]) -> None:
        props["spec"].pop("plugins")
        props["spec"]["backup"] = {"barmanObjectStore": {"destinationPath": "s3://b/"}}

    assert found("production-backups", replace(compliant_stack(), "crm-postgres", "Cluster", edit)) == []


@pytest.mark.parametrize(
    ("name", "kind", "edit"),
    [
        ("crm-web", "Deployment", lambda p: p["spec"].update(replicas=1)),
        ("crm-web", "Deployment", lambda p: p["spec"].pop("replicas")),
    ],
)
def test_production_web_needs_two_pods(name: str, kind: str, edit: Any) -> None:
    resources = replace(compliant_stack(), name, kind, edit)
    assert found("production-web-replicas", resources) == [
        (
            "crm-web",
            "S7",
            "spec.replicas",
            "Deployment crm/crm-web may run 1 pod(s); at least 2 (replicas, or the HPA's minReplicas)",
        )
    ]


def test_production_web_checks_every_web_deployment() -> None:
    """A Deployment the `deployments` patterns leave out is skipped, not the end of the check: a one-pod crm-web
    after it is still reported, named without a namespace when it has none."""
    resources = [workload("Deployment", "crm-admin", 1), workload("Deployment", "crm-web", 1)]
    resources[1].props["metadata"].pop("namespace")
    assert found("production-web-replicas", resources) == [
        (
            "crm-web",
            "S7",
            "spec.replicas",
            "Deployment crm-web may run 1 pod(s); at least 2 (replicas, or the HPA's minReplicas)",
        )
    ]


@pytest.mark.parametrize("through", ["replicas", "hpa"])
def test_a_replica_count_that_is_not_an_integer_counts_as_one(through: str) -> None:
    """replicas or an HPA's minReplicas that is not an integer is not trusted: the Deployment is taken to run
    Kubernetes' default of one pod."""
    resources = replace(compliant_stack(), "crm-web", "Deployment", lambda p: p["spec"].update(replicas="3"))
    if through == "hpa":
        resources = replace(compliant_stack(), "crm-web", "Deployment", lambda p: p["spec"].pop("replicas"))
        resources.append(autoscaler("crm-web", 2))
        resources[-1].props["spec"]["minReplicas"] = "3"
    assert found("production-web-replicas", resources) == [
        (
            "crm-web",
            "S7",
            "spec.replicas",
            "Deployment crm/crm-web may run 1 pod(s); at least 2 (replicas, or the HPA's minReplicas)",
        )
    ]


def test_production_web_counts_the_hpa_minimum() -> None:
    resources = replace(compliant_stack(), "crm-web", "Deployment", lambda p: p["spec"].pop("replicas"))
    resources.append(autoscaler("crm-web", 2))
    assert found("production-web-replicas", resources) == []
    resources[-1] = autoscaler("crm-web", 1)
    assert [violation[0] for violation in found("production-web-replicas", resources)] == ["crm-web"]


@pytest.mark.parametrize("flag", ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"])
@pytest.mark.parametrize("value", [False, None])
def test_each_public_access_flag_is_required(flag: str, value: bool | None) -> None:
    """All four flags, each of them: a block with one false or missing leaves the bucket open one way."""

    def edit(props: dict[str, Any]) -> None:
        if value is None:
            props.pop(flag)
        else:
            props[flag] = value

    resources = replace(compliant_stack(), "backups-block", "BucketPublicAccessBlock", edit)
    assert [violation[:3] for violation in found("s3-bucket-controls", resources)] == [
        ("backups", "S4", "BucketPublicAccessBlock")
    ]

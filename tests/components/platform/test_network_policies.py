"""NetworkPolicies: everything denied in the app namespace, then each allowed flow named and narrow."""

from __future__ import annotations

from typing import Any

import pytest

from components.shared import endpoints
from tests.conftest import STACKS, RunStack

APP = {"matchLabels": {endpoints.NETWORK_ROLE: endpoints.APP_ROLE}}
TRAEFIK_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/instance": "traefik", "app.kubernetes.io/name": "traefik"}},
}


UNRESTRICTED_DESTINATIONS = {
    "allow-postgres-to-api-server-and-object-storage",
    "allow-backup-to-object-storage",
    "allow-media-to-object-storage",
}
"""Policies allowed to open ports to any address: the Kubernetes API server and S3 have no selector (the media
services' one narrows to mediaEgressCidrs when the stack sets them)."""


def policies(run_stack: RunStack, stack: str, **kwargs: Any) -> dict[str, dict[str, Any]]:
    run = run_stack(stack, **kwargs)
    return {document["metadata"]["name"]: document["spec"] for document in run.kind("NetworkPolicy")}


@pytest.mark.parametrize("stack", STACKS)
def test_the_app_namespace_denies_all_traffic_by_default(run_stack: RunStack, stack: str) -> None:
    """default-deny selects every pod of the app namespace for ingress and egress and allows nothing."""
    run = run_stack(stack)
    deny = run.named("NetworkPolicy", "default-deny")
    assert deny["metadata"]["namespace"] == f"crm-{stack}"
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


@pytest.mark.parametrize("stack", STACKS)
def test_every_allowed_flow_is_a_named_policy_of_one_direction(run_stack: RunStack, stack: str) -> None:
    """Apart from default-deny, each policy opens one direction and names its flow (allow-...)."""
    for name, spec in policies(run_stack, stack).items():
        if name == "default-deny":
            continue
        assert name.startswith("allow-"), name
        assert len(spec["policyTypes"]) == 1, name
        direction = spec["policyTypes"][0].lower()
        assert spec[direction], name
        for rule in spec[direction]:
            assert rule["ports"], f"{name} opens every port"
            peers = rule.get("from" if direction == "ingress" else "to")
            assert peers or name in UNRESTRICTED_DESTINATIONS, f"{name} opens to everyone"


def test_the_expected_flows_exist_and_nothing_else(run_stack: RunStack) -> None:
    """Production allows exactly: DNS, ingress to web and frontend, app to PostgreSQL and Redis (both ends),
    Prometheus to the metrics ports, the Celery exporter to the broker, the ACME solver, the external networks,
    the media services to S3, and the data layer's own."""
    assert set(policies(run_stack, "production")) == {
        "default-deny",
        "allow-dns",
        "allow-ingress-controller-to-crm-web",
        "allow-ingress-controller-to-crm-frontend",
        "allow-app-to-postgres",
        "allow-postgres-from-app",
        "allow-app-to-redis",
        "allow-redis-from-app",
        "allow-monitoring-to-crm-web-metrics",
        "allow-ingress-controller-to-acme-solver",
        "allow-app-to-external-networks",
        "allow-crm-frontend-to-crm-web",
        "allow-crm-web-from-crm-frontend",
        "allow-postgres-from-operator-and-peers",
        "allow-postgres-to-peers",
        "allow-postgres-to-api-server-and-object-storage",
        "allow-backup-to-postgres",
        "allow-postgres-from-backup",
        "allow-backup-to-object-storage",
        "allow-media-to-object-storage",
        # Redis: exporters scraped, and (production's Sentinel trios) replication, Sentinel and proxies.
        "allow-monitoring-to-crm-redis-cache-metrics",
        "allow-monitoring-to-crm-redis-broker-metrics",
        # PostgreSQL's instances and pooler scraped; the Celery exporter scraped and reaching the broker.
        "allow-monitoring-to-crm-postgres-metrics",
        "allow-monitoring-to-crm-postgres-pooler-rw-metrics",
        "allow-monitoring-to-crm-celery-exporter-metrics",
        "allow-celery-exporter-to-redis-broker",
        "allow-crm-redis-broker-proxy-from-celery-exporter",
        *(
            f"allow-redis-{role}-{flow}"
            for role in ("cache", "broker")
            for flow in ("from-peers-and-proxies", "to-peers", "proxies-to-servers")
        ),
    }


def test_dns_goes_only_to_the_cluster_dns(run_stack: RunStack) -> None:
    """DNS egress reaches kube-dns pods in kube-system, or a node-local resolver, on port 53 only."""
    [rule] = policies(run_stack, "staging")["allow-dns"]["egress"]
    assert rule["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        },
        {"ipBlock": {"cidr": "169.254.20.10/32"}},
        {"ipBlock": {"cidr": "169.254.169.254/32"}},
    ]
    assert sorted((port["protocol"], port["port"]) for port in rule["ports"]) == [("TCP", 53), ("UDP", 53)]


def test_only_the_ingress_controller_reaches_web_and_frontend_on_their_ports(run_stack: RunStack) -> None:
    """web accepts the Traefik pods on 8000, the frontend on 3000; nothing else reaches them."""
    specs = policies(run_stack, "production")
    for name, port in (("crm-web", 8000), ("crm-frontend", 3000)):
        spec = specs[f"allow-ingress-controller-to-{name}"]
        assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == name
        assert spec["ingress"] == [{"from": [TRAEFIK_PEER], "ports": [{"protocol": "TCP", "port": port}]}]


@pytest.mark.parametrize(("server", "port"), [("postgres", 5432), ("redis", 6379)])
def test_the_app_reaches_its_data_servers_on_their_port_only(run_stack: RunStack, server: str, port: int) -> None:
    """App pods may open connections to pods labelled postgres/redis on 5432/6379, and those accept only app pods."""
    specs = policies(run_stack, "staging")
    server_selector = {"matchLabels": {endpoints.NETWORK_ROLE: server}}
    egress = specs[f"allow-app-to-{server}"]
    assert egress["podSelector"] == APP
    assert egress["egress"] == [
        {"to": [{"podSelector": server_selector}], "ports": [{"protocol": "TCP", "port": port}]}
    ]
    ingress = specs[f"allow-{server}-from-app"]
    assert ingress["podSelector"] == server_selector
    assert ingress["ingress"] == [{"from": [{"podSelector": APP}], "ports": [{"protocol": "TCP", "port": port}]}]


def test_app_pods_carry_the_label_the_policies_select(run_stack: RunStack) -> None:
    """Every backend pod template (web, worker, beat, the migration Job) has the app network role; the
    frontend, which reaches no database, Redis or outside network, has its own."""
    run = run_stack("production")
    backends = ("crm-web", "crm-worker", "crm-beat", "crm-migrate")
    expected = {name: endpoints.APP_ROLE for name in backends} | {"crm-frontend": endpoints.FRONTEND_ROLE}
    seen: dict[str, str] = {}
    for kind in ("Deployment", "Job"):
        for document in run.kind(kind):
            name = document["metadata"]["name"]
            if name.startswith("crm-migrate-"):
                name = "crm-migrate"
            if name in expected:
                seen[name] = document["spec"]["template"]["metadata"]["labels"][endpoints.NETWORK_ROLE]
    assert seen == expected


def test_acme_solver_pods_are_reachable_from_the_ingress_controller_on_8089(run_stack: RunStack) -> None:
    """cert-manager's HTTP-01 solver pods accept the ingress controller on 8089."""
    spec = policies(run_stack, "staging")["allow-ingress-controller-to-acme-solver"]
    assert spec["podSelector"] == {"matchLabels": {"acme.cert-manager.io/http01-solver": "true"}}
    assert spec["ingress"] == [{"from": [TRAEFIK_PEER], "ports": [{"protocol": "TCP", "port": 8089}]}]


PROMETHEUS_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
    "podSelector": {
        "matchLabels": {
            "app.kubernetes.io/name": "prometheus",
            "operator.prometheus.io/name": "kube-prometheus-stack-prometheus",
        }
    },
}


@pytest.mark.parametrize(
    ("target", "port", "pod_label"),
    [
        ("crm-web", 8000, ("app.kubernetes.io/name", "crm-web")),
        ("crm-redis-cache", 9121, ("app.kubernetes.io/name", "crm-redis-cache")),
        ("crm-redis-broker", 9121, ("app.kubernetes.io/name", "crm-redis-broker")),
        ("crm-postgres", 9187, ("cnpg.io/podRole", "instance")),
        ("crm-postgres-pooler-rw", 9127, ("cnpg.io/poolerName", "crm-postgres-pooler-rw")),
        ("crm-celery-exporter", 9808, ("app.kubernetes.io/name", "crm-celery-exporter")),
    ],
)
def test_only_prometheus_reaches_each_metrics_port(
    run_stack: RunStack, target: str, port: int, pod_label: tuple[str, str]
) -> None:
    """Each scraped pod accepts Prometheus's pods, in the cluster's monitoring namespace, on its metrics port:
    no other pod of that namespace, and nothing of the stack's own monitoring namespace (which runs no pod)."""
    spec = policies(run_stack, "production")[f"allow-monitoring-to-{target}-metrics"]
    key, value = pod_label
    assert spec["podSelector"]["matchLabels"][key] == value
    assert spec["ingress"] == [{"from": [PROMETHEUS_PEER], "ports": [{"protocol": "TCP", "port": port}]}]


@pytest.mark.parametrize(
    ("stack", "broker"), [("production", "crm-redis-broker-proxy"), ("staging", "crm-redis-broker")]
)
def test_the_celery_exporter_reaches_the_pods_behind_the_broker_service_only(
    run_stack: RunStack, stack: str, broker: str
) -> None:
    """The exporter may open connections to the broker's pods on 6379 (HAProxy with failover, else the server),
    and those accept it: nothing else of the namespace, no other port."""
    specs = policies(run_stack, stack)
    exporter = {"matchLabels": {"app.kubernetes.io/instance": stack, "app.kubernetes.io/name": "crm-celery-exporter"}}
    broker_pods = {"matchLabels": {"app.kubernetes.io/instance": stack, "app.kubernetes.io/name": broker}}
    redis = [{"protocol": "TCP", "port": 6379}]
    egress = specs["allow-celery-exporter-to-redis-broker"]
    assert egress["podSelector"] == exporter
    assert egress["egress"] == [{"to": [{"podSelector": broker_pods}], "ports": redis}]
    ingress = specs[f"allow-{broker}-from-celery-exporter"]
    assert ingress["podSelector"] == broker_pods
    assert ingress["ingress"] == [{"from": [{"podSelector": exporter}], "ports": redis}]


def test_external_egress_is_https_and_smtp_to_the_listed_networks_only(run_stack: RunStack) -> None:
    """The app reaches the configured CIDRs on 443 and the SMTP port, and no other address."""
    spec = policies(run_stack, "production")["allow-app-to-external-networks"]
    assert spec["podSelector"] == APP
    [rule] = spec["egress"]
    assert rule["to"] == [{"ipBlock": {"cidr": "203.0.113.0/24"}}, {"ipBlock": {"cidr": "198.51.100.0/24"}}]
    assert rule["ports"] == [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 587}]


def test_without_egress_cidrs_there_is_no_internet_egress(run_stack: RunStack) -> None:
    """dev lists no networks, so no policy opens egress to any IP block."""
    specs = policies(run_stack, "dev")
    assert "allow-app-to-external-networks" not in specs
    external = [peer for spec in specs.values() for rule in spec.get("egress", []) for peer in rule.get("to", [])]
    assert {peer["ipBlock"]["cidr"] for peer in external if "ipBlock" in peer} == {
        "169.254.20.10/32",
        "169.254.169.254/32",
    }


def test_a_frontend_may_call_the_api_inside_the_cluster(run_stack: RunStack) -> None:
    """Server-side rendering: frontend pods reach web pods on 8000, both ends allowed, nothing else."""
    specs = policies(run_stack, "production")
    egress = specs["allow-crm-frontend-to-crm-web"]
    assert egress["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "crm-frontend"
    assert egress["egress"][0]["ports"] == [{"protocol": "TCP", "port": 8000}]
    ingress = specs["allow-crm-web-from-crm-frontend"]
    assert ingress["ingress"][0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "crm-frontend"

"""NetworkPolicies: everything denied in the app namespace, then each allowed flow named and narrow."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.platform.network_policies import NetworkPolicies, NetworkPoliciesArgs, policy_specs
from components.shared import endpoints, pods
from components.shared.labels import with_component
from components.shared.references import IngressController, PublishedService, Scraper, ScrapeTarget
from offline.reachability import PROTOCOLS, Endpoint, External, Network, Workload
from offline.schemas import core_errors
from tests.conftest import STACKS, RunStack
from tests.support.components import declare

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


# --- policy_specs itself, judged by the NetworkPolicy evaluator -----------------------------------------------
# The tests above read whole renders (and are left out of mutation runs); these build the arguments by hand, turn
# the SDK-spelled specs into the documents the render writes, and ask offline/reachability.py which flows pass.

NAMESPACE = "crm-flows"
CONTROLLER = IngressController("edge", {"app.kubernetes.io/name": "proxy"})
PROMETHEUS = Scraper("observability", {"app.kubernetes.io/name": "prometheus"})
WEB = PublishedService("web", {"app.kubernetes.io/name": "web"}, 8000)
FRONTEND = PublishedService("frontend", {"app.kubernetes.io/name": "frontend"}, 3000)
WEB_METRICS = ScrapeTarget("web", {"app.kubernetes.io/name": "web"}, 9000, "metrics")
SERVER_PEERS = {
    "pod_selector": {"match_labels": {endpoints.NETWORK_ROLE: endpoints.POSTGRES_ROLE}},
    "policy_types": ["Egress"],
    "egress": [
        {
            "to": [{"pod_selector": {"match_labels": {endpoints.NETWORK_ROLE: endpoints.POSTGRES_ROLE}}}],
            "ports": [{"protocol": "TCP", "port": 8000}],
        }
    ],
}
"""An `extra` policy of the kind the data components hand in: PostgreSQL instances reach each other's status port."""


def flow_args(**changes: Any) -> NetworkPoliciesArgs:
    """A namespace with web (published, scraped), a frontend that calls it, and both data servers."""
    args = NetworkPoliciesArgs(
        namespace=NAMESPACE,
        ingress_controller=CONTROLLER,
        published=(WEB, FRONTEND),
        metrics=(WEB_METRICS,),
        scraper=PROMETHEUS,
        internal_calls=((FRONTEND, WEB),),
        egress_cidrs=("203.0.113.0/24",),
        egress_ports=(443, 587),
        labels={"app.kubernetes.io/part-of": "crm-platform"},
    )
    return replace(args, **changes)


def documents(specs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The NetworkPolicy objects the component declares for `specs`, spelled as the render writes them."""
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": pods.yaml_spelling(spec),
        }
        for name, spec in specs.items()
    ]


def network_of(args: NetworkPoliciesArgs) -> Network:
    """The namespace's policies as the evaluator sees them, each one an object the API server accepts."""
    policies = documents(policy_specs(args))
    for document in policies:
        assert core_errors(document) == [], document["metadata"]["name"]
        spec = document["spec"]
        # ValidateNetworkPolicySpec: policy types and port protocols from these sets only.
        assert set(spec["policyTypes"]) <= {"Ingress", "Egress"}, document["metadata"]["name"]
        for rule in (*spec.get("ingress", []), *spec.get("egress", [])):
            assert {port["protocol"] for port in rule["ports"]} <= set(PROTOCOLS), document["metadata"]["name"]
    return Network.from_documents(policies)


def pod(name: str, labels: Mapping[str, str], namespace: str = NAMESPACE) -> Workload:
    return Workload("Deployment", namespace, name, labels)


APP_POD = {endpoints.NETWORK_ROLE: endpoints.APP_ROLE}
CAST: dict[str, Endpoint] = {
    "web": pod("web", {**WEB.pod_labels, **APP_POD}),
    "worker": pod("worker", {"app.kubernetes.io/name": "worker", **APP_POD}),
    # The frontend is no app pod: it reaches only what its own call opens.
    "frontend": pod("frontend", FRONTEND.pod_labels),
    "postgres": pod("postgres", {endpoints.NETWORK_ROLE: endpoints.POSTGRES_ROLE}),
    "redis": pod("redis", {endpoints.NETWORK_ROLE: endpoints.REDIS_ROLE}),
    "stray": pod("stray", {"app.kubernetes.io/name": "stray"}),
    "acme-solver": pod("acme-solver", {"acme.cert-manager.io/http01-solver": "true"}),
    "controller": pod("controller", CONTROLLER.pod_labels, CONTROLLER.namespace),
    "proxy-lookalike": pod("proxy-lookalike", CONTROLLER.pod_labels),
    "proxy-neighbour": pod("proxy-neighbour", {"app.kubernetes.io/name": "other"}, CONTROLLER.namespace),
    "prometheus": pod("prometheus", PROMETHEUS.pod_labels, PROMETHEUS.namespace),
    "scraper-lookalike": pod("scraper-lookalike", PROMETHEUS.pod_labels),
    "kube-dns": pod("kube-dns", {"k8s-app": "kube-dns"}, "kube-system"),
    "dns-lookalike": pod("dns-lookalike", {"k8s-app": "kube-dns"}),
    "node-local-dns": External.at("169.254.20.10"),
    "metadata-dns": External.at("169.254.169.254"),
    "listed-network": External.at("203.0.113.0/24"),
    "listed-host": External.at("203.0.113.10"),
    "unlisted-host": External.at("198.51.100.10"),
}

FLOWS = """
source            destination    port     verdict egress-allowed-by              ingress-allowed-by

controller        web            8000/TCP allow   -                              allow-ingress-controller-to-web
controller        web            3000/TCP deny
controller        frontend       3000/TCP allow   -                              allow-ingress-controller-to-frontend
controller        frontend       8000/TCP deny
controller        worker         8000/TCP deny
proxy-lookalike   web            8000/TCP deny
proxy-neighbour   web            8000/TCP deny
controller        acme-solver    8089/TCP allow   -                              allow-ingress-controller-to-acme-solver
controller        acme-solver    8000/TCP deny
proxy-lookalike   acme-solver    8089/TCP deny
web               acme-solver    8089/TCP deny

frontend          web            8000/TCP allow   allow-frontend-to-web          allow-web-from-frontend
frontend          web            3000/TCP deny
web               frontend       3000/TCP deny
web               frontend       8000/TCP deny
worker            web            8000/TCP deny
frontend          worker         8000/TCP deny
web               web            8000/TCP deny

prometheus        web            9000/TCP allow   -                              allow-monitoring-to-web-metrics
prometheus        web            8000/TCP deny
prometheus        worker         9000/TCP deny
scraper-lookalike web            9000/TCP deny
web               web            9000/TCP deny

web               postgres       5432/TCP allow   allow-app-to-postgres          allow-postgres-from-app
worker            postgres       5432/TCP allow   allow-app-to-postgres          allow-postgres-from-app
web               postgres       6379/TCP deny
web               postgres       5432/UDP deny
frontend          postgres       5432/TCP deny
stray             postgres       5432/TCP deny
postgres          web            5432/TCP deny
web               redis          6379/TCP allow   allow-app-to-redis             allow-redis-from-app
worker            redis          6379/TCP allow   allow-app-to-redis             allow-redis-from-app
web               redis          5432/TCP deny
frontend          redis          6379/TCP deny
redis             web            6379/TCP deny

web               kube-dns       53/UDP   allow   allow-dns                      -
web               kube-dns       53/TCP   allow   allow-dns                      -
stray             kube-dns       53/UDP   allow   allow-dns                      -
postgres          kube-dns       53/UDP   allow   allow-dns                      -
web               kube-dns       54/UDP   deny
web               dns-lookalike  53/UDP   deny
web               node-local-dns 53/UDP   allow   allow-dns                      -
stray             metadata-dns   53/TCP   allow   allow-dns                      -
web               node-local-dns 80/TCP   deny

web               listed-host    443/TCP  allow   allow-app-to-external-networks -
worker            listed-network 587/TCP  allow   allow-app-to-external-networks -
web               listed-host    80/TCP   deny
web               listed-host    443/UDP  deny
web               unlisted-host  443/TCP  deny
frontend          listed-host    443/TCP  deny
stray             listed-host    443/TCP  deny

listed-host       worker         8000/TCP deny
listed-host       stray          8000/TCP deny
stray             web            8000/TCP deny
web               stray          8000/TCP deny
"""
"""For flow_args() as they stand: source, destination, port/protocol, verdict, and for an allowed flow the policy
that admits it on each side (`-`: that side is not isolated, being outside the namespace or outside the cluster).
Policies are named after the flow they open, so `kubectl get networkpolicy` reads as this table's allowed rows."""


@dataclass(frozen=True)
class Flow:
    source: str
    destination: str
    port: int
    protocol: str
    allowed: bool
    egress_policy: str = "-"
    ingress_policy: str = "-"


def flows(table: str) -> list[Flow]:
    rows = []
    for line in table.strip().splitlines()[1:]:
        if line.strip():
            source, destination, port, verdict, *policies = line.split()
            number, protocol = port.split("/")
            rows.append(Flow(source, destination, int(number), protocol, verdict == "allow", *policies))
    return rows


def test_each_flow_the_arguments_name_is_allowed_and_nothing_beside_it() -> None:
    """Published services accept the ingress controller on their own port, the caller reaches its callee's pods
    on the callee's port (not its own pods, not its own port), Prometheus the metrics port, app pods the data
    servers, every pod the cluster DNS, app pods the listed networks; look-alikes and other ports are denied.
    Each allowed flow passes by the policies named after it."""
    network = network_of(flow_args())
    wrong = []
    for flow in flows(FLOWS):
        decision = network.decide(CAST[flow.source], CAST[flow.destination], flow.port, flow.protocol)
        admitted_by = (
            (" ".join(decision.egress.admitting) or "-", " ".join(decision.ingress.admitting) or "-")
            if decision.allowed
            else ("-", "-")
        )
        if (decision.allowed, admitted_by) != (flow.allowed, (flow.egress_policy, flow.ingress_policy)):
            wrong.append(f"{flow}: {decision}")
    assert wrong == []


def test_an_internal_call_needs_both_of_its_policies() -> None:
    """The caller's egress and the callee's ingress are separate policies: either alone lets nothing through."""
    network = network_of(flow_args())
    frontend, web = CAST["frontend"], CAST["web"]
    assert network.allows(frontend, web, 8000)
    for name in ("allow-frontend-to-web", "allow-web-from-frontend"):
        assert not network.without(NAMESPACE, name).allows(frontend, web, 8000), name


def test_default_deny_alone_denies_every_direction() -> None:
    """default-deny isolates every pod for ingress and egress and admits nothing, so deleting any allow policy
    can only close flows."""
    only_deny = Network.from_documents(
        document for document in documents(policy_specs(flow_args())) if document["metadata"]["name"] == "default-deny"
    )
    for flow in flows(FLOWS):
        decision = only_deny.decide(CAST[flow.source], CAST[flow.destination], flow.port, flow.protocol)
        assert not decision.allowed, flow
        for side in (decision.egress, decision.ingress):
            assert side.admitting == ()
    web = CAST["web"]
    assert only_deny.decide(web, CAST["listed-host"], 443).egress.isolating == ("default-deny",)
    assert only_deny.decide(CAST["listed-host"], web, 8000).ingress.isolating == ("default-deny",)


def test_every_allow_policy_opens_a_flow_of_the_table() -> None:
    """No policy is dead weight: removing any allow policy denies at least one flow the table allows."""
    network = network_of(flow_args())
    allowed = [flow for flow in flows(FLOWS) if flow.allowed]
    for name in policy_specs(flow_args()):
        if name == "default-deny":
            continue
        without = network.without(NAMESPACE, name)
        assert any(
            not without.allows(CAST[flow.source], CAST[flow.destination], flow.port, flow.protocol) for flow in allowed
        ), name


def test_without_postgres_the_app_reaches_redis_only() -> None:
    """postgres=False drops both PostgreSQL policies; the app still reaches Redis."""
    args = flow_args(postgres=False)
    assert {"allow-app-to-postgres", "allow-postgres-from-app"}.isdisjoint(policy_specs(args))
    network = network_of(args)
    assert not network.allows(CAST["web"], CAST["postgres"], 5432)
    assert network.allows(CAST["web"], CAST["redis"], 6379)
    assert network.allows(CAST["controller"], CAST["web"], 8000)


def test_without_egress_networks_no_address_outside_the_cluster_is_reachable_but_dns() -> None:
    """No egress_cidrs: no external-networks policy, the listed networks are denied, DNS stays."""
    args = flow_args(egress_cidrs=())
    assert "allow-app-to-external-networks" not in policy_specs(args)
    network = network_of(args)
    assert not network.allows(CAST["web"], CAST["listed-host"], 443)
    assert network.allows(CAST["web"], CAST["node-local-dns"], 53, "UDP")


def test_every_listed_network_and_port_is_open_to_the_app() -> None:
    """Each CIDR of egress_cidrs on each port of egress_ports, and no other combination."""
    args = flow_args(egress_cidrs=("203.0.113.0/24", "192.0.2.8/29"), egress_ports=(443, 465))
    network = network_of(args)
    web = CAST["web"]
    for address in ("203.0.113.10", "192.0.2.9"):
        for port in (443, 465):
            assert network.allows(web, External.at(address), port), (address, port)
        assert not network.allows(web, External.at(address), 587), address
    assert not network.allows(web, External.at("192.0.2.16"), 443)


def test_published_services_metrics_and_calls_follow_the_arguments() -> None:
    """Nothing published, scraped or called: the ingress controller, Prometheus and the frontend reach nothing."""
    network = network_of(flow_args(published=(), metrics=(), internal_calls=()))
    assert not network.allows(CAST["controller"], CAST["web"], 8000)
    assert not network.allows(CAST["prometheus"], CAST["web"], 9000)
    assert not network.allows(CAST["frontend"], CAST["web"], 8000)
    assert network.allows(CAST["controller"], CAST["acme-solver"], 8089)


def test_extra_flows_are_added_as_given() -> None:
    """The data components' own policies join the namespace's under their names, unchanged, and their flows pass."""
    specs = policy_specs(flow_args(extra={"allow-postgres-to-peers": SERVER_PEERS}))
    assert specs["allow-postgres-to-peers"] == SERVER_PEERS
    assert {"default-deny", "allow-dns", "allow-app-to-postgres"} < set(specs)
    network = network_of(flow_args(extra={"allow-postgres-to-peers": SERVER_PEERS}))
    other = pod("postgres-2", {endpoints.NETWORK_ROLE: endpoints.POSTGRES_ROLE})
    assert network.decide(CAST["postgres"], other, 8000).egress.admitting == ("allow-postgres-to-peers",)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"allow-dns": SERVER_PEERS}, "network policies defined twice: allow-dns"),
        (
            {"default-deny": SERVER_PEERS, "allow-postgres-to-peers": SERVER_PEERS, "allow-app-to-redis": SERVER_PEERS},
            "network policies defined twice: allow-app-to-redis, default-deny",
        ),
    ],
)
def test_an_extra_policy_may_not_replace_one_of_the_namespaces(extra: dict[str, Any], message: str) -> None:
    """A component handing in a policy under a name the namespace already uses is refused, naming each name."""
    with pytest.raises(ValueError) as raised:
        policy_specs(flow_args(extra=extra))
    assert str(raised.value) == message


def test_the_component_declares_each_policy_in_the_namespace_with_the_stacks_labels() -> None:
    """One NetworkPolicy per spec, named after its flow, in the app namespace, labelled as the network policies'
    component, child of the component and sent to the cluster its options name; the component registers their
    names as its output."""
    args = flow_args()

    def build() -> NetworkPolicies:
        cluster = k8s.Provider("cluster")
        return NetworkPolicies("net", args, pulumi.ResourceOptions(providers={"kubernetes": cluster}))

    declared = declare(build)
    [component] = declared.of_type("crm:net:NetworkPolicies")
    [cluster] = declared.of_type("pulumi:providers:kubernetes")
    expected = {document["metadata"]["name"]: document for document in documents(policy_specs(args))}
    policies = declared.kind("NetworkPolicy")
    assert sorted(document["metadata"]["name"] for document in policies) == sorted(expected)
    for document in policies:
        name = document["metadata"]["name"]
        assert document["spec"] == expected[name]["spec"], name
        assert document["metadata"]["namespace"] == NAMESPACE
        # `kubectl get networkpolicy -l app.kubernetes.io/component=network-policies` lists the namespace's flows.
        assert document["metadata"]["labels"] == with_component(args.labels, "network-policies")
    resources = [resource for resource in declared.resources if resource.type.endswith(":NetworkPolicy")]
    assert sorted(resource.name for resource in resources) == sorted(f"net-{name}" for name in expected)
    assert {resource.parent for resource in resources} == {component.urn}
    assert {resource.provider for resource in resources} == {cluster.urn}
    assert declared.component.names == list(policy_specs(args))
    assert declared.registered_outputs[component.urn] == {"names": list(policy_specs(args))}


def test_every_policy_name_is_a_name_the_api_server_accepts_and_says_its_flow() -> None:
    """NetworkPolicy names are DNS-1123 subdomains (lower case; the API server refuses anything else), and each
    allow policy is named allow-<from>-to-<to> or allow-<to>-from-<from> (allow-dns: every pod to the cluster DNS),
    as `kubectl get networkpolicy` lists them; the ACME solver's and the outside networks' policies included."""
    names = list(policy_specs(flow_args()))
    assert {"allow-ingress-controller-to-acme-solver", "allow-app-to-external-networks"} <= set(names)
    for name in names:
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 253, name
        flow = re.fullmatch(r"allow-[a-z0-9-]+-(to|from)-[a-z0-9-]+", name)
        assert name in ("default-deny", "allow-dns") or flow, name

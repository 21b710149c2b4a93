"""NetworkPolicies: deny everything in the app namespace, then allow each flow by name.

`default-deny` selects every pod for both directions; every other policy opens one flow
and is named after it, so `kubectl get networkpolicy` reads as the list of what may talk
to what. A flow between two pods of the namespace needs both ends: egress on the client,
ingress on the server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.shared import endpoints
from components.shared.labels import with_component
from components.shared.references import IngressController, PublishedService, Scraper, ScrapeTarget
from kube.labels import NAMESPACE_NAME

ACME_SOLVER_LABEL = "acme.cert-manager.io/http01-solver"
"""cert-manager labels its HTTP-01 solver pods with this (value "true")."""
ACME_SOLVER_PORT = 8089
CLUSTER_DNS_NAMESPACE = "kube-system"
CLUSTER_DNS_POD_LABELS = {"k8s-app": "kube-dns"}
"""CoreDNS on kind, k3d, EKS, GKE and AKS carries k8s-app=kube-dns in kube-system."""
NODE_LOCAL_DNS = ("169.254.20.10/32", "169.254.169.254/32")
"""Resolvers a pod selector cannot match: NodeLocal DNSCache's link-local address, and the
metadata server GKE's Cloud DNS answers on (tektoncd/operator#4000)."""


@dataclass(frozen=True)
class NetworkPoliciesArgs:
    namespace: pulumi.Input[str]
    """The app namespace."""
    ingress_controller: IngressController
    """Where the ingress controller's pods run: the only peer the published services accept."""
    published: Sequence[PublishedService]
    """Services reachable through the ingress (web, frontend)."""
    metrics: Sequence[ScrapeTarget]
    """Pods of the namespace that Prometheus scrapes, each on its metrics port."""
    scraper: Scraper
    """Where Prometheus runs: the only peer the metrics ports accept."""
    internal_calls: Sequence[tuple[PublishedService, PublishedService]]
    """(caller, callee) pairs of app services that talk inside the namespace (frontend -> web)."""
    egress_cidrs: Sequence[str]
    """Networks outside the cluster the app may reach."""
    egress_ports: Sequence[int]
    """Ports open towards egress_cidrs: 443 and the SMTP port."""
    labels: Mapping[str, str]
    """Common labels of the stack."""
    extra: Mapping[str, k8s.networking.v1.NetworkPolicySpecArgsDict] = field(default_factory=dict)
    """Flows other components need among their own pods (PostgreSQL, Redis), by policy name."""
    postgres: bool = True
    """The app reaches PostgreSQL (allow-app-to-postgres); False when the stack runs none."""


def _namespace(name: str) -> k8s.meta.v1.LabelSelectorArgsDict:
    return {"match_labels": {NAMESPACE_NAME: name}}


def _role(role: str) -> k8s.meta.v1.LabelSelectorArgsDict:
    return {"match_labels": {endpoints.NETWORK_ROLE: role}}


def _tcp(*ports: int) -> list[k8s.networking.v1.NetworkPolicyPortArgsDict]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def policy_specs(args: NetworkPoliciesArgs) -> dict[str, k8s.networking.v1.NetworkPolicySpecArgsDict]:
    """Every policy of the namespace by name; pure, so tests read the flows directly."""
    app = _role(endpoints.APP_ROLE)
    controller_peer: k8s.networking.v1.NetworkPolicyPeerArgsDict = {
        "namespace_selector": _namespace(args.ingress_controller.namespace),
        "pod_selector": {"match_labels": dict(args.ingress_controller.pod_labels)},
    }
    dns_peers: list[k8s.networking.v1.NetworkPolicyPeerArgsDict] = [
        {
            "namespace_selector": _namespace(CLUSTER_DNS_NAMESPACE),
            "pod_selector": {"match_labels": dict(CLUSTER_DNS_POD_LABELS)},
        }
    ]
    dns_peers += [{"ip_block": {"cidr": cidr}} for cidr in NODE_LOCAL_DNS]
    specs: dict[str, k8s.networking.v1.NetworkPolicySpecArgsDict] = {
        "default-deny": {"pod_selector": {}, "policy_types": ["Ingress", "Egress"]},
        "allow-dns": {
            "pod_selector": {},
            "policy_types": ["Egress"],
            "egress": [
                {
                    "to": dns_peers,
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        },
    }
    for service in args.published:
        specs[f"allow-ingress-controller-to-{service.name}"] = {
            "pod_selector": {"match_labels": dict(service.pod_labels)},
            "policy_types": ["Ingress"],
            "ingress": [{"from_": [controller_peer], "ports": _tcp(service.port)}],
        }
    for caller, callee in args.internal_calls:
        # A server-rendering frontend calls the API inside the cluster.
        specs[f"allow-{caller.name}-to-{callee.name}"] = {
            "pod_selector": {"match_labels": dict(caller.pod_labels)},
            "policy_types": ["Egress"],
            "egress": [
                {"to": [{"pod_selector": {"match_labels": dict(callee.pod_labels)}}], "ports": _tcp(callee.port)}
            ],
        }
        specs[f"allow-{callee.name}-from-{caller.name}"] = {
            "pod_selector": {"match_labels": dict(callee.pod_labels)},
            "policy_types": ["Ingress"],
            "ingress": [
                {"from_": [{"pod_selector": {"match_labels": dict(caller.pod_labels)}}], "ports": _tcp(callee.port)}
            ],
        }
    # Prometheus's own pods, in the cluster's monitoring namespace: not the stack's monitoring namespace,
    # which holds only the PodMonitors, rules and dashboards that tell that Prometheus what to do.
    scraper_peer: k8s.networking.v1.NetworkPolicyPeerArgsDict = {
        "namespace_selector": _namespace(args.scraper.namespace),
        "pod_selector": {"match_labels": dict(args.scraper.pod_labels)},
    }
    for target in args.metrics:
        specs[f"allow-monitoring-to-{target.name}-metrics"] = {
            "pod_selector": {"match_labels": dict(target.pod_labels)},
            "policy_types": ["Ingress"],
            "ingress": [{"from_": [scraper_peer], "ports": _tcp(target.port)}],
        }
    data_servers = [(endpoints.POSTGRES_ROLE, endpoints.POSTGRES_PORT)] if args.postgres else []
    for server_role, port in (*data_servers, (endpoints.REDIS_ROLE, endpoints.REDIS_PORT)):
        specs[f"allow-app-to-{server_role}"] = {
            "pod_selector": app,
            "policy_types": ["Egress"],
            "egress": [{"to": [{"pod_selector": _role(server_role)}], "ports": _tcp(port)}],
        }
        specs[f"allow-{server_role}-from-app"] = {
            "pod_selector": _role(server_role),
            "policy_types": ["Ingress"],
            "ingress": [{"from_": [{"pod_selector": app}], "ports": _tcp(port)}],
        }
    # cert-manager starts HTTP-01 solver pods in this namespace; Let's Encrypt reaches them
    # through the ingress controller.
    specs["allow-ingress-controller-to-acme-solver"] = {
        "pod_selector": {"match_labels": {ACME_SOLVER_LABEL: "true"}},
        "policy_types": ["Ingress"],
        "ingress": [{"from_": [controller_peer], "ports": _tcp(ACME_SOLVER_PORT)}],
    }
    if args.egress_cidrs:
        specs["allow-app-to-external-networks"] = {
            "pod_selector": app,
            "policy_types": ["Egress"],
            "egress": [
                {"to": [{"ip_block": {"cidr": cidr}} for cidr in args.egress_cidrs], "ports": _tcp(*args.egress_ports)}
            ],
        }
    duplicated = sorted(set(specs) & set(args.extra))
    if duplicated:
        raise ValueError(f"network policies defined twice: {', '.join(duplicated)}")
    specs.update(args.extra)
    return specs


class NetworkPolicies(pulumi.ComponentResource):
    """Default deny plus one named NetworkPolicy per allowed flow, in the app namespace."""

    names: list[str]

    def __init__(self, name: str, args: NetworkPoliciesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("crm:net:NetworkPolicies", name, None, opts)
        labels = with_component(args.labels, "network-policies")
        specs = policy_specs(args)
        for policy_name, spec in specs.items():
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{policy_name}",
                metadata={"name": policy_name, "namespace": args.namespace, "labels": labels},
                spec=spec,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.names = list(specs)
        self.register_outputs({"names": self.names})

"""ApiRoutes: the API host's routes, its certificate, and the weights of its releases.

The API host is served by a Traefik IngressRoute (traefik.io/v1alpha1) whose backend is a
TraefikService: a weighted round robin over the released web Service and, while there is one,
the release candidate's. A plain Ingress cannot name a TraefikService as its backend, hence the
IngressRoute; its certificate is an explicit cert-manager Certificate (an IngressRoute has no
annotation cert-manager would read). Every weight is in the declared objects, so `pulumi up` is
the only writer of the traffic split and the render shows it.

Routes, as the Ingresses had them: everything on the host with the security headers and the
body limit; the WebSocket paths without the buffering middleware (it would hold an upgraded
connection forever); /metrics refused to every client through the ingress (403).

The TraefikService waits for the web Deployments: when a weight moves (or a candidate is
promoted and the stable web rolls to its image), Traefik sends requests to a release only
once Pulumi has seen its pods ready.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.edge import charts as edge_charts
from components.edge.edge import BODY_LIMIT, CLUSTER_ONLY, INTERNAL_PATHS, SECURITY_HEADERS
from components.shared.labels import with_component
from stacks.model import EdgeSettings

WEIGHTED_SERVICE = "crm-web-weighted"
"""The TraefikService that splits the API's requests between the releases."""
API_ROUTE = "crm-api"
API_CERTIFICATE = "crm-api"
API_TLS_SECRET = "crm-api-tls"


@dataclass(frozen=True)
class Backend:
    """One release's Service and its share of the API's requests."""

    service: str
    """The Kubernetes Service in front of the release's web pods."""
    port: int
    """Its port."""
    weight: int
    """Percent of the requests (the weights add up to 100)."""


def weighted_backends(
    stable: tuple[str, int], candidate: tuple[str, int] | None, candidate_percent: int
) -> list[Backend]:
    """The releases that take requests: a share of 0 leaves its release out (it runs, but gets nothing)."""
    if candidate is None:
        return [Backend(*stable, 100)]
    backends = [Backend(*stable, 100 - candidate_percent), Backend(*candidate, candidate_percent)]
    return [backend for backend in backends if backend.weight > 0]


def traefik_service_spec(backends: Sequence[Backend]) -> dict[str, object]:
    """A TraefikService's weighted round robin over the releases' Services."""
    return {
        "weighted": {
            "services": [
                {"name": backend.service, "kind": "Service", "port": backend.port, "weight": backend.weight}
                for backend in backends
            ]
        }
    }


def _host_and_prefixes(host: str, prefixes: Sequence[str]) -> str:
    paths = " || ".join(f"PathPrefix(`{prefix}`)" for prefix in prefixes)
    return f"Host(`{host}`) && ({paths})" if len(prefixes) > 1 else f"Host(`{host}`) && {paths}"


def ingress_route_spec(edge: EdgeSettings) -> dict[str, object]:
    """The API host's routes, each through the weighted service, under the host's certificate."""
    backend = [{"name": WEIGHTED_SERVICE, "kind": "TraefikService"}]

    def route(prefixes: Sequence[str], middlewares: Sequence[str]) -> dict[str, object]:
        return {
            "kind": "Rule",
            "match": _host_and_prefixes(edge.api_host, prefixes),
            "middlewares": [{"name": middleware} for middleware in middlewares],
            "services": backend,
        }

    routes = [
        route(["/"], [SECURITY_HEADERS, BODY_LIMIT]),
        # Longer rules win in Traefik (priority = rule length): these two take their paths from "/".
        route(list(INTERNAL_PATHS), [SECURITY_HEADERS, CLUSTER_ONLY]),
    ]
    if edge.websocket_paths:
        routes.append(route(list(edge.websocket_paths), [SECURITY_HEADERS]))
    return {
        "entryPoints": [edge_charts.WEBSECURE_ENTRYPOINT],
        "routes": routes,
        "tls": {"secretName": API_TLS_SECRET},
    }


def certificate_spec(edge: EdgeSettings) -> dict[str, object]:
    """The API host's certificate from the stack's ClusterIssuer (HTTP-01 solves through the ingress class)."""
    return {
        "secretName": API_TLS_SECRET,
        "dnsNames": [edge.api_host],
        "issuerRef": {"name": edge.tls_issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
    }


@dataclass(frozen=True)
class ApiRoutesArgs:
    namespace: pulumi.Input[str]
    """The app namespace (an Output, so objects wait for it)."""
    edge: EdgeSettings
    """The API host, its issuer and WebSocket paths."""
    backends: Sequence[Backend]
    """The releases and their weights (`weighted_backends`)."""
    labels: Mapping[str, str]
    """Common labels of the stack."""
    releases: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """The web Deployments: the weights change only once they have rolled out."""
    edge_ready: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """The Edge (its middlewares, Traefik's and cert-manager's CRDs)."""


class ApiRoutes(pulumi.ComponentResource):
    """The API host's IngressRoute, Certificate and weighted TraefikService."""

    def __init__(self, name: str, args: ApiRoutesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("crm:edge:ApiRoutes", name, None, opts)
        labels = with_component(args.labels, "edge")
        after_edge = pulumi.ResourceOptions(parent=self, depends_on=list(args.edge_ready))
        weighted = k8s.apiextensions.CustomResource(
            f"{name}-weighted",
            api_version="traefik.io/v1alpha1",
            kind="TraefikService",
            metadata={"name": WEIGHTED_SERVICE, "namespace": args.namespace, "labels": labels},
            spec=traefik_service_spec(args.backends),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.edge_ready, *args.releases]),
        )
        certificate = k8s.apiextensions.CustomResource(
            f"{name}-certificate",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata={"name": API_CERTIFICATE, "namespace": args.namespace, "labels": labels},
            spec=certificate_spec(args.edge),
            opts=after_edge,
        )
        k8s.apiextensions.CustomResource(
            f"{name}-route",
            api_version="traefik.io/v1alpha1",
            kind="IngressRoute",
            metadata={"name": API_ROUTE, "namespace": args.namespace, "labels": labels},
            spec=ingress_route_spec(args.edge),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.edge_ready, weighted, certificate]),
        )
        self.weights = {backend.service: backend.weight for backend in args.backends}
        self.register_outputs({"weights": self.weights})

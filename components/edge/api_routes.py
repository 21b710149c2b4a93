"""ApiRoutes: web's routes (the API host, and the tenant hosts where there are any), their certificates, and the
weights of its releases.

The API host is served by a Traefik IngressRoute (traefik.io/v1alpha1) whose backend is a
TraefikService: a weighted round robin over the released web Service and, while there is one,
the release candidate's. A plain Ingress cannot name a TraefikService as its backend, hence the
IngressRoute; its certificate is an explicit cert-manager Certificate (an IngressRoute has no
annotation cert-manager would read). Every weight is in the declared objects, so `pulumi up` is
the only writer of the traffic split and the render shows it.

Routes, as the Ingresses had them: everything on the host with the security headers and the
body limit; the WebSocket paths without the buffering middleware (it would hold an upgraded
connection forever); /metrics refused to every client through the ingress (403).

Tenant hosts (django-tenants: a subdomain per tenant) get the same routes in a second IngressRoute
over the same TraefikService, so a canary or a blue-green switch moves their requests with the
API's: every one-label subdomain of the tenant domain (a Traefik v3 `HostRegexp`) and the domain
itself (the public schema's host), under one Certificate for `*.<tenant domain>` and `<tenant
domain>` from the tenant issuer (DNS-01: HTTP-01 cannot prove a wildcard; self-signed in dev).

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
TENANT_ROUTE = "crm-tenants"
TENANT_CERTIFICATE = "crm-tenants"
TENANT_TLS_SECRET = "crm-tenants-tls"
TENANT_LABEL_PATTERN = "[a-z0-9-]+"
"""One DNS label of a tenant's host (no dot: a.b.<tenant domain> is not a tenant, and the wildcard would not cover
it). Lower case is enough: Traefik v3.7 matches a HostRegexp against the request's canonical host, port stripped and
lower-cased (traefik pkg/muxer/http/matcher.go `hostRegexp`, pkg/types/domains.go `CanonicalDomain`)."""


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


def _hosts_and_prefixes(hosts: str, prefixes: Sequence[str]) -> str:
    """A Traefik v3 rule: `hosts` (a matcher expression) and one of the path prefixes (`&&` binds before `||`)."""
    paths = " || ".join(f"PathPrefix(`{prefix}`)" for prefix in prefixes)
    return f"{hosts} && ({paths})" if len(prefixes) > 1 else f"{hosts} && {paths}"


def tenant_host_regexp(tenant_domain: str) -> str:
    """Traefik v3's HostRegexp (Go regexp syntax, anchored here) of every one-label subdomain of the tenant domain."""
    # Validated host names hold only [a-z0-9-] and dots: the dots are the only characters to escape.
    escaped = tenant_domain.replace(".", r"\.")
    return rf"^{TENANT_LABEL_PATTERN}\.{escaped}$"


def tenant_hosts_matcher(tenant_domain: str) -> str:
    """The tenant hosts as one matcher: the domain itself, or any one-label subdomain of it."""
    return f"(Host(`{tenant_domain}`) || HostRegexp(`{tenant_host_regexp(tenant_domain)}`))"


def web_routes_spec(hosts: str, websocket_paths: Sequence[str], tls_secret: str) -> dict[str, object]:
    """An IngressRoute's spec for web on `hosts`: each route through the weighted service, under `tls_secret`."""
    backend = [{"name": WEIGHTED_SERVICE, "kind": "TraefikService"}]

    def route(prefixes: Sequence[str], middlewares: Sequence[str]) -> dict[str, object]:
        return {
            "kind": "Rule",
            "match": _hosts_and_prefixes(hosts, prefixes),
            "middlewares": [{"name": middleware} for middleware in middlewares],
            "services": backend,
        }

    routes = [
        route(["/"], [SECURITY_HEADERS, BODY_LIMIT]),
        # Longer rules win in Traefik (priority = rule length): these two take their paths from "/".
        route(list(INTERNAL_PATHS), [SECURITY_HEADERS, CLUSTER_ONLY]),
    ]
    if websocket_paths:
        routes.append(route(list(websocket_paths), [SECURITY_HEADERS]))
    return {
        "entryPoints": [edge_charts.WEBSECURE_ENTRYPOINT],
        "routes": routes,
        "tls": {"secretName": tls_secret},
    }


def ingress_route_spec(edge: EdgeSettings) -> dict[str, object]:
    """The API host's routes, each through the weighted service, under the host's certificate."""
    return web_routes_spec(f"Host(`{edge.api_host}`)", edge.websocket_paths, API_TLS_SECRET)


def tenant_route_spec(edge: EdgeSettings) -> dict[str, object]:
    """The tenant hosts' routes: the API host's, on every tenant, under the tenant wildcard."""
    if edge.tenant_domain is None:
        raise ValueError("tenant routes need a tenant domain")
    return web_routes_spec(tenant_hosts_matcher(edge.tenant_domain), edge.websocket_paths, TENANT_TLS_SECRET)


def _issuer_ref(issuer: str) -> dict[str, str]:
    return {"name": issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"}


def certificate_spec(edge: EdgeSettings) -> dict[str, object]:
    """The API host's certificate from the stack's ClusterIssuer (HTTP-01 solves through the ingress class)."""
    return {"secretName": API_TLS_SECRET, "dnsNames": [edge.api_host], "issuerRef": _issuer_ref(edge.tls_issuer)}


def tenant_certificate_spec(edge: EdgeSettings) -> dict[str, object]:
    """The tenant wildcard and the bare tenant domain in one certificate, from the tenant issuer.

    Both names are proved by a TXT record at `_acme-challenge.<tenant domain>`; cert-manager never presents two
    challenges for one name at once (its challenge scheduler), so the DNS-01 solver's UPSERTs do not overwrite
    each other."""
    if edge.tenant_domain is None or edge.tenant_issuer is None:
        raise ValueError("a tenant certificate needs a tenant domain and its issuer")
    return {
        "secretName": TENANT_TLS_SECRET,
        "dnsNames": list(edge.tenant_hosts),
        "issuerRef": _issuer_ref(edge.tenant_issuer),
    }


@dataclass(frozen=True)
class ApiRoutesArgs:
    namespace: pulumi.Input[str]
    """The app namespace (an Output, so objects wait for it)."""
    edge: EdgeSettings
    """The API host, its issuer and WebSocket paths; the tenant domain and its issuer."""
    backends: Sequence[Backend]
    """The releases and their weights (`weighted_backends`)."""
    labels: Mapping[str, str]
    """Common labels of the stack."""
    releases: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """The web Deployments: the weights change only once they have rolled out."""
    edge_ready: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """The Edge (its middlewares, Traefik's and cert-manager's CRDs)."""


class ApiRoutes(pulumi.ComponentResource):
    """The API host's IngressRoute, Certificate and weighted TraefikService; the tenant hosts' IngressRoute and
    wildcard Certificate where the stack has tenants."""

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
        if args.edge.tenant_domain is not None:
            tenant_certificate = k8s.apiextensions.CustomResource(
                f"{name}-tenant-certificate",
                api_version="cert-manager.io/v1",
                kind="Certificate",
                metadata={"name": TENANT_CERTIFICATE, "namespace": args.namespace, "labels": labels},
                spec=tenant_certificate_spec(args.edge),
                opts=after_edge,
            )
            k8s.apiextensions.CustomResource(
                f"{name}-tenant-route",
                api_version="traefik.io/v1alpha1",
                kind="IngressRoute",
                metadata={"name": TENANT_ROUTE, "namespace": args.namespace, "labels": labels},
                spec=tenant_route_spec(args.edge),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.edge_ready, weighted, tenant_certificate]),
            )
        self.weights = {backend.service: backend.weight for backend in args.backends}
        self.register_outputs({"weights": self.weights})

"""Edge: how the world reaches the CRM over TLS.

The stack that owns the cluster add-ons installs Traefik (the one LoadBalancer Service of
the platform) and cert-manager as pinned Helm charts, each in its own restricted namespace,
and the three ClusterIssuers every stack chooses from; where its settings name a tenant domain
and its Route53 zone, also the DNS-01 twins of the two ACME issuers, which tenant wildcards
come from (cert-manager answering as the IAM role of components/edge/dns_challenges.py).
Every stack then declares, in its
app namespace, the Traefik middlewares (security headers, a 50 MB request body limit) and
the frontend's Ingress, with TLS from its chosen issuer. The API host's routes are
IngressRoutes over a weighted TraefikService (components/edge/api_routes.py), so a release
candidate can take a share of its requests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.edge import charts as edge_charts
from components.shared.charts import addon_namespace, install_chart
from components.shared.labels import with_component
from stacks.model import DnsChallengeSettings, EdgeSettings
from stacks.profiles import SELF_SIGNED_ISSUER, dns01_issuer

REQUEST_BODY_LIMIT_BYTES = 50 * 1024 * 1024
"""The seeds' largest upload (001): 50 MB."""
REQUEST_BODY_MEMORY_BYTES = 2 * 1024 * 1024
"""Bodies above this are buffered on Traefik's /tmp emptyDir rather than in memory."""
HSTS_SECONDS = 63072000
"""Two years, the preload list's recommendation."""
SECURITY_HEADERS = "crm-security-headers"
BODY_LIMIT = "crm-request-body-limit"
CLUSTER_ONLY = "crm-cluster-only"
INTERNAL_PATHS = ("/metrics",)
"""Paths of the API host only Prometheus may read: it scrapes pods directly, never through Traefik."""

ACME_DIRECTORIES = {
    "letsencrypt-production": "https://acme-v02.api.letsencrypt.org/directory",
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}
TRAEFIK_RESOURCES: edge_charts.ContainerResources = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"cpu": "1", "memory": "512Mi"},
}


def _acme_spec(issuer: str, directory: str, acme_email: str | None, solver: dict[str, object]) -> dict[str, object]:
    acme: dict[str, object] = {
        "server": directory,
        "privateKeySecretRef": {"name": f"{issuer}-account-key"},
        "solvers": [solver],
    }
    if acme_email:
        acme["email"] = acme_email
    return {"acme": acme}


def dns01_solver(dns: DnsChallengeSettings) -> dict[str, object]:
    """Route53 DNS-01 in the named zone, as the controller's ambient (web identity) credentials, for names in the
    tenant domain only: the selector keeps the issuer from ever writing challenges for another domain."""
    return {
        "selector": {"dnsZones": [dns.zone]},
        "dns01": {"route53": {"region": dns.region, "hostedZoneID": dns.hosted_zone_id}},
    }


def cluster_issuer_specs(
    acme_email: str | None, dns_challenges: DnsChallengeSettings | None = None
) -> dict[str, dict[str, object]]:
    """The ClusterIssuers by name: ACME production and staging (HTTP-01 through Traefik), self-signed; with
    `dns_challenges`, each ACME directory's DNS-01 twin through Route53 (`<issuer>-dns01`, its own account key)."""
    specs: dict[str, dict[str, object]] = {}
    for issuer, directory in ACME_DIRECTORIES.items():
        http01: dict[str, object] = {"http01": {"ingress": {"ingressClassName": edge_charts.INGRESS_CLASS}}}
        specs[issuer] = _acme_spec(issuer, directory, acme_email, http01)
    specs[SELF_SIGNED_ISSUER] = {"selfSigned": {}}
    if dns_challenges is not None:
        for issuer, directory in ACME_DIRECTORIES.items():
            twin = dns01_issuer(issuer)
            specs[twin] = _acme_spec(twin, directory, acme_email, dns01_solver(dns_challenges))
    return specs


def security_headers(hsts: bool) -> dict[str, object]:
    """Traefik `headers` middleware: no framing, no MIME sniffing, HSTS where certificates are trusted."""
    headers: dict[str, object] = {
        "frameDeny": True,
        "contentTypeNosniff": True,
        "referrerPolicy": "strict-origin-when-cross-origin",
        # Do not advertise the server software.
        "customResponseHeaders": {"Server": "", "X-Powered-By": ""},
    }
    if hsts:
        headers.update({"stsSeconds": HSTS_SECONDS, "stsIncludeSubdomains": True, "forceSTSHeader": True})
    return headers


def cluster_only() -> dict[str, object]:
    """Traefik `ipAllowList` middleware that answers 403 to every client through the ingress."""
    return {"sourceRange": ["127.0.0.1/32"]}


def body_limit() -> dict[str, object]:
    """Traefik `buffering` middleware: refuse request bodies above 50 MB with 413."""
    return {"maxRequestBodyBytes": REQUEST_BODY_LIMIT_BYTES, "memRequestBodyBytes": REQUEST_BODY_MEMORY_BYTES}


@dataclass(frozen=True)
class Route:
    """One Ingress: a host, the path prefixes it serves and the Service behind them."""

    name: str
    """The Ingress's name."""
    host: str
    """The host it serves."""
    paths: Sequence[str]
    """Path prefixes it routes (Prefix matching)."""
    service: str
    """The Service behind it."""
    port: int
    """That Service's port."""
    middlewares: Sequence[str]
    """Traefik Middlewares of the app namespace applied in order."""
    tls_secret: str
    """The Secret holding the host's certificate."""
    issues_certificate: bool
    """Whether cert-manager issues `tls_secret` from this Ingress (exactly one per secret)."""


def routes(edge: EdgeSettings, services: Mapping[str, tuple[str, int]]) -> list[Route]:
    """The stack's Ingresses: the frontend's host (the API host is ApiRoutes'). services: "frontend" ->
    (Service name, port)."""
    result = []
    if edge.app_host is not None and "frontend" in services:
        frontend_service, frontend_port = services["frontend"]
        result.append(
            Route(
                "crm-frontend",
                edge.app_host,
                ["/"],
                frontend_service,
                frontend_port,
                # No buffering: it would hold streamed pages (and the frontend takes no uploads).
                [SECURITY_HEADERS],
                "crm-app-tls",
                True,
            )
        )
    return result


def ingress_annotations(route: Route, namespace: str, issuer: str) -> dict[str, str]:
    middlewares = ",".join(f"{namespace}-{middleware}@kubernetescrd" for middleware in route.middlewares)
    annotations = {
        "traefik.ingress.kubernetes.io/router.entrypoints": edge_charts.WEBSECURE_ENTRYPOINT,
        "traefik.ingress.kubernetes.io/router.tls": "true",
        "traefik.ingress.kubernetes.io/router.middlewares": middlewares,
    }
    if route.issues_certificate:
        annotations["cert-manager.io/cluster-issuer"] = issuer
    return annotations


@dataclass(frozen=True)
class EdgeArgs:
    namespace: pulumi.Input[str]
    """The app namespace (an Output, so objects wait for it)."""
    namespace_name: str
    """Its name as text: Traefik's middleware references embed it."""
    edge: EdgeSettings
    """Hosts, issuer, WebSocket paths, HSTS."""
    services: Mapping[str, tuple[str, int]]
    """"frontend" -> (Service name, port), when a frontend runs (web is routed by ApiRoutes)."""
    installs_addons: bool
    """Install Traefik, cert-manager and the ClusterIssuers (the add-on owning stack)."""
    addon_replicas: int
    """Replicas of the add-on controllers: 1 on a laptop, 2+ where a node may be drained."""
    load_balancer: bool
    """Expose Traefik through a LoadBalancer Service (false on laptop clusters)."""
    strict_node_spread: bool
    """Traefik's pods never share a node while another has fewer (a hard spread constraint)."""
    environment: str
    """Value of the `environment` label of the add-ons' namespaces."""
    protect_namespaces: bool
    """Refuse to delete the add-ons' namespaces (production): it would take the ingress down."""
    labels: Mapping[str, str]
    """Common labels of the stack."""
    route53_role: pulumi.Resource | None = None
    """cert-manager's DNS-01 role (DnsChallengeRole), where the add-on owner makes the DNS-01 issuers
    (edge.dns_challenges): the controller assumes it, and the issuers wait for it and its policy."""
    route53_role_arn: pulumi.Input[str] | None = None
    """That role's ARN."""

    def __post_init__(self) -> None:
        makes_dns01 = self.installs_addons and self.edge.dns_challenges is not None
        if makes_dns01 != (self.route53_role is not None and self.route53_role_arn is not None):
            raise ValueError(
                "EdgeArgs: route53_role and route53_role_arn are given exactly when the stack installs the add-ons "
                "and its edge settings have dns_challenges"
            )


class Edge(pulumi.ComponentResource):
    """Ingress controller and cert-manager (add-on owner), middlewares and TLS Ingresses."""

    def __init__(self, name: str, args: EdgeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("crm:edge:Edge", name, None, opts)
        labels = with_component(args.labels, "edge")
        child = pulumi.ResourceOptions(parent=self)
        traefik_chart: list[pulumi.Resource] = []
        self.cert_manager: list[pulumi.Resource] = []
        """What a cert-manager resource must wait for: the API check that proves cert-manager admits them
        (empty where the stack installs no add-ons, as cert-manager is already there)."""
        if args.installs_addons:
            traefik_chart, cert_manager_chart = self._addons(name, args)
            self.cert_manager = [self._cert_manager_api_check(name, labels, cert_manager_chart)]
            dns_challenges = args.edge.dns_challenges
            solve_in_route53 = {dns01_issuer(issuer) for issuer in ACME_DIRECTORIES} if args.route53_role else set()
            for issuer, spec in cluster_issuer_specs(args.edge.acme_email, dns_challenges).items():
                # A DNS-01 issuer also waits for its role's policy: a challenge before it would fail (and retry).
                route53 = [args.route53_role] if args.route53_role and issuer in solve_in_route53 else []
                k8s.apiextensions.CustomResource(
                    f"{name}-issuer-{issuer}",
                    api_version="cert-manager.io/v1",
                    kind="ClusterIssuer",
                    metadata={"name": issuer, "labels": labels},
                    spec=spec,
                    # cert-manager's webhook refuses every resource until its CA is injected.
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[*self.cert_manager, *route53]),
                )
        middleware_options = pulumi.ResourceOptions(parent=self, depends_on=traefik_chart)
        middlewares: dict[str, dict[str, object]] = {
            SECURITY_HEADERS: {"headers": security_headers(args.edge.hsts)},
            BODY_LIMIT: {"buffering": body_limit()},
            CLUSTER_ONLY: {"ipAllowList": cluster_only()},
        }
        for middleware, middleware_spec in middlewares.items():
            k8s.apiextensions.CustomResource(
                f"{name}-{middleware}",
                api_version="traefik.io/v1alpha1",
                kind="Middleware",
                metadata={"name": middleware, "namespace": args.namespace, "labels": labels},
                spec=middleware_spec,
                opts=middleware_options,
            )
        self.hosts = args.edge.hosts
        for route in routes(args.edge, args.services):
            k8s.networking.v1.Ingress(
                f"{name}-{route.name}",
                metadata={
                    "name": route.name,
                    "namespace": args.namespace,
                    "labels": labels,
                    "annotations": ingress_annotations(route, args.namespace_name, args.edge.tls_issuer),
                },
                spec={
                    "ingress_class_name": edge_charts.INGRESS_CLASS,
                    "tls": [{"hosts": [route.host], "secret_name": route.tls_secret}],
                    "rules": [
                        {
                            "host": route.host,
                            "http": {
                                "paths": [
                                    {
                                        "path": path,
                                        "path_type": "Prefix",
                                        "backend": {"service": {"name": route.service, "port": {"number": route.port}}},
                                    }
                                    for path in route.paths
                                ]
                            },
                        }
                    ],
                },
                opts=child,
            )
        self.register_outputs({"hosts": list(self.hosts)})

    def _cert_manager_api_check(
        self, name: str, labels: Mapping[str, str], chart: Sequence[pulumi.Resource]
    ) -> k8s.batch.v1.Job:
        """The plain Job that replaces the chart's startupapicheck hook, with the least RBAC it needs."""
        metadata: k8s.meta.v1.ObjectMetaArgsDict = {
            "name": edge_charts.CERT_MANAGER_API_CHECK,
            "namespace": edge_charts.CERT_MANAGER_NAMESPACE,
            "labels": dict(labels),
        }
        after_chart = pulumi.ResourceOptions(parent=self, depends_on=list(chart))
        account = k8s.core.v1.ServiceAccount(
            f"{name}-cert-manager-api-check",
            metadata=metadata,
            automount_service_account_token=False,
            opts=after_chart,
        )
        role = k8s.rbac.v1.Role(
            f"{name}-cert-manager-api-check",
            metadata=metadata,
            rules=edge_charts.cert_manager_api_check_rules(),
            opts=after_chart,
        )
        binding = k8s.rbac.v1.RoleBinding(
            f"{name}-cert-manager-api-check",
            metadata=metadata,
            role_ref={
                "api_group": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": edge_charts.CERT_MANAGER_API_CHECK,
            },
            subjects=[
                {
                    "kind": "ServiceAccount",
                    "name": edge_charts.CERT_MANAGER_API_CHECK,
                    "namespace": edge_charts.CERT_MANAGER_NAMESPACE,
                }
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account, role]),
        )
        return k8s.batch.v1.Job(
            f"{name}-cert-manager-api-check",
            metadata={
                "name": edge_charts.cert_manager_api_check_name(),
                "namespace": edge_charts.CERT_MANAGER_NAMESPACE,
                "labels": dict(labels),
                # A check that timed out (say, images were slow to pull) runs again on the next `pulumi up`.
                "annotations": {"pulumi.com/replaceUnready": "true"},
            },
            spec=edge_charts.cert_manager_api_check_job(),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*chart, binding],
                custom_timeouts=pulumi.CustomTimeouts(create="20m", update="20m"),
            ),
        )

    def _addons(self, name: str, args: EdgeArgs) -> tuple[list[pulumi.Resource], list[pulumi.Resource]]:
        """Namespaces and charts of Traefik and cert-manager."""
        installs = (
            (
                edge_charts.TRAEFIK_CHART,
                edge_charts.TRAEFIK_NAMESPACE,
                edge_charts.traefik_values(
                    replicas=args.addon_replicas,
                    resources=TRAEFIK_RESOURCES,
                    strict_node_spread=args.strict_node_spread,
                    load_balancer=args.load_balancer,
                ),
            ),
            (
                edge_charts.CERT_MANAGER_CHART,
                edge_charts.CERT_MANAGER_NAMESPACE,
                edge_charts.cert_manager_values(
                    replicas=args.addon_replicas,
                    route53_role_arn=args.route53_role_arn,
                    region=args.edge.dns_challenges.region if args.edge.dns_challenges else "",
                ),
            ),
        )
        charts: list[list[pulumi.Resource]] = []
        for source, namespace, values in installs:
            namespace_resource = addon_namespace(
                f"{name}-{source.name}-namespace",
                namespace,
                labels=args.labels,
                environment=args.environment,
                protect=args.protect_namespaces,
                parent=self,
            )
            chart = install_chart(
                f"{name}-{source.name}", source, namespace, values, parent=self, depends_on=[namespace_resource]
            )
            charts.append([chart])
        return charts[0], charts[1]

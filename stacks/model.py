"""The validated, immutable settings of one stack: what the components are built from.

Plain frozen dataclasses, made by `stacks.build.build()` and never by hand elsewhere. They
hold no secret, so they can be printed, compared and exported safely (`describe()` is the
`settings` stack output and the render summary's Settings section).
"""

from __future__ import annotations

from dataclasses import dataclass

from stacks.data import DataSettings, MediaSettings
from stacks.monitoring import MonitoringSettings, threshold_keys
from stacks.profiles import Environment, QuotaSettings
from stacks.services import Role, ServiceSettings, WebServer

DATABASE_OWNER = "crm"
"""PostgreSQL role that owns the application database (CloudNativePG bootstrap owner)."""


@dataclass(frozen=True)
class ClusterSettings:
    """Which cluster the stack deploys to, and what it installs there for every stack."""

    kubeconfig: str | None
    """Path to a kubeconfig file; None leaves it to $KUBECONFIG / ~/.kube/config."""
    context: str | None
    """kubeconfig context; None is the current context (dev only)."""
    owns_addons: bool
    """Whether this stack installs the cluster-scoped charts."""
    addon_replicas: int
    """Replicas of the add-on controllers (Traefik, cert-manager, CloudNativePG): 1 on a laptop,
    2 wherever a node may be drained."""
    ingress_load_balancer: bool
    """Expose the ingress controller through a LoadBalancer Service (false on laptop clusters,
    which have no load-balancer controller: port-forward instead)."""


@dataclass(frozen=True)
class NamespaceSettings:
    """The stack's own namespaces."""

    app: str
    """The application and its data."""
    monitoring: str
    """The stack's monitoring objects."""
    protect: bool
    """Pulumi refuses to delete protected namespaces."""


@dataclass(frozen=True)
class AccessSettings:
    """Identity-provider groups bound to the namespaced Roles."""

    deployer_groups: tuple[str, ...]
    """Bound to the namespaced deployer Role."""
    read_only_groups: tuple[str, ...]
    """Bound to the namespaced read-only Role (no Secrets)."""


@dataclass(frozen=True)
class SmtpSettings:
    """The SMTP relay; its password is a config secret, read by `stacks.config_secrets()`."""

    host: str
    """The relay's host name."""
    port: int
    """Its submission port (587 STARTTLS, 465 implicit TLS)."""
    username: str
    """The SMTP user."""


@dataclass(frozen=True)
class RegistrySettings:
    """The private image registry; its password is a config secret."""

    server: str
    """Registry host[:port], the key of the pull secret's `auths`."""
    username: str
    """The registry user."""


DJANGO_MIGRATION = ("python", "manage.py", "migrate", "--noinput")
"""The migration command of a Django application (`migrationCommand` "")."""


@dataclass(frozen=True)
class MigrationSettings:
    """The Job every release runs before its code serves: migrations, after the deployment checks."""

    command: tuple[str, ...]
    """What it runs (Django's migrate, or the application's own command)."""
    deploy_check_level: str | None
    """`manage.py check --deploy --fail-level <level>` first, in an init container; None runs no check."""


@dataclass(frozen=True)
class AppSettings:
    """The Django application: its services and how they are configured."""

    django_project: str
    """Python package of the Django project (<project>.wsgi, celery -A <project>)."""
    django_settings_module: str
    """DJANGO_SETTINGS_MODULE of every service."""
    services: tuple[ServiceSettings, ...]
    """The services that run, in Role order; web always."""
    secret_names: tuple[str, ...] = ()
    """Names of the application secrets (appSecrets), sorted; their values are read by `stacks.config_secrets()`."""
    migration: MigrationSettings | None = MigrationSettings(DJANGO_MIGRATION, None)
    """The Job before each release; None runs none (`migrationCommand: none`) and nothing waits."""
    candidate: ServiceSettings | None = None
    """A release candidate: web's settings with the candidate image (release candidate); None without one."""
    candidate_traffic_percent: int = 0
    """The share of the API's requests the candidate serves (0 with no candidate)."""

    def service(self, role: Role) -> ServiceSettings | None:
        return next((service for service in self.services if service.role is role), None)

    @property
    def web(self) -> ServiceSettings:
        return self.services[0]

    @property
    def migration_image(self) -> str:
        """The migration Job runs the web image: the code whose migrations must be applied first."""
        return self.web.image

    @property
    def deployed_services(self) -> tuple[ServiceSettings, ...]:
        """Every Deployment the application runs: its services, and the candidate web while there is one."""
        return self.services if self.candidate is None else (*self.services, self.candidate)

    @property
    def web_releases(self) -> tuple[ServiceSettings, ...]:
        """The web Deployments: the released one, and the candidate while there is one."""
        return (self.web,) if self.candidate is None else (self.web, self.candidate)

    @property
    def release_images(self) -> tuple[str, ...]:
        """The images that get a migration Job (and, where the profile says so, a backup before it)."""
        return tuple(web.image for web in self.web_releases)

    @property
    def channels(self) -> bool:
        """Whether the application runs Django Channels (web on ASGI): it gets a channel layer on the broker."""
        return self.web.server is WebServer.ASGI


@dataclass(frozen=True)
class DnsChallengeSettings:
    """How the add-on owner's DNS-01 ClusterIssuers prove control of tenant names: Route53, as cert-manager's role."""

    hosted_zone_id: str
    """The Route53 hosted zone the `_acme-challenge` TXT records are written to (dnsHostedZoneId)."""
    zone: str
    """The domain the issuers solve for (their dnsZones selector) and under which the role may write challenges:
    the owner's tenant domain; the review stacks' pr-<n>.<zone> lie under it."""
    region: str
    """The solver's AWS region (STS), the stack's awsRegion."""


@dataclass(frozen=True)
class EdgeSettings:
    """Hosts, certificates and routing at the ingress."""

    api_host: str
    """Host of the Django API (web)."""
    app_host: str | None
    """None when no frontend runs."""
    tls_issuer: str
    """The ClusterIssuer of the stack's certificates."""
    acme_email: str | None
    """Contact address of the ACME account; None registers without one."""
    websocket_paths: tuple[str, ...]
    """Path prefixes of the API host routed as WebSockets (no buffering)."""
    hsts: bool
    """Send Strict-Transport-Security (only where certificates are publicly trusted)."""
    tenant_domain: str | None = None
    """Domain whose one-label subdomains (and itself) are the application's tenants, served by web; None: none."""
    tenant_issuer: str | None = None
    """The ClusterIssuer of the tenant wildcard: the DNS-01 twin of tls_issuer, or the self-signed one (dev); None
    without tenant hosts."""
    dns_challenges: DnsChallengeSettings | None = None
    """The DNS-01 ClusterIssuers and cert-manager's Route53 role the stack makes for the cluster (the add-on owner
    with a tenant domain and a hosted zone); None where it makes none."""

    @property
    def hosts(self) -> tuple[str, ...]:
        return (self.api_host,) if self.app_host is None else (self.api_host, self.app_host)

    @property
    def tenant_hosts(self) -> tuple[str, ...]:
        """The tenant names as the certificate lists them: every one-label subdomain, and the domain itself."""
        return () if self.tenant_domain is None else (f"*.{self.tenant_domain}", self.tenant_domain)


@dataclass(frozen=True)
class Settings:
    """Everything the program needs to know about one stack, validated."""

    project: str
    """The Pulumi project, `crm-platform`."""
    stack: str
    """The stack's name; the `crm-platform/stack` label of every object."""
    environment: Environment
    """The profile the stack started from."""
    domain: str
    """Base domain of this stack's hosts (review stacks: pr-<n>.<domain>)."""
    cluster: ClusterSettings
    """Which cluster, and what the stack installs there for everyone."""
    namespaces: NamespaceSettings
    """The stack's namespaces."""
    quota: QuotaSettings
    """Totals of the app namespace's ResourceQuota."""
    access: AccessSettings
    """Groups bound to the namespaced Roles."""
    secrets_rotation: int
    """Generation of every generated secret; raising it rotates them all."""
    smtp: SmtpSettings | None
    """The SMTP relay; None when the stack sends no mail."""
    registry: RegistrySettings | None
    """The private registry; None pulls without a pull secret."""
    egress_cidrs: tuple[str, ...]
    """Networks outside the cluster the app may reach (443, the SMTP port and `egress_ports`)."""
    egress_ports: tuple[int, ...]
    """TCP ports the app may reach on `egress_cidrs` besides 443 and the SMTP port (an external database)."""
    app: AppSettings
    """The application's services."""
    edge: EdgeSettings
    """Hosts, TLS and routing."""
    data: DataSettings
    """PostgreSQL, Redis, backups."""
    media: MediaSettings | None
    """Where user uploads live and which services handle them; None for an application without uploads."""
    strict_node_spread: bool
    """Pods of a replicated service never share a node while another has fewer: the app's services and
    Traefik spread over nodes as a hard constraint, PostgreSQL instances by required anti-affinity
    (production, where losing a node must never take most of a service with it)."""
    monitoring: MonitoringSettings
    """Prometheus's retention and volume, alert thresholds, receivers (without credentials), business metrics."""

    @property
    def smoke_targets(self) -> list[str]:
        """What a deploy checks from outside (stack output `smokeTargets`): the API's readiness path over HTTPS,
        the same path on the tenant domain (its route and wildcard certificate) where tenants are served, and the
        frontend's root where one runs. Each must answer 200."""
        web = self.app.web
        path = web.readiness.http_path or "/"
        targets = [f"https://{self.edge.api_host}{path}"]
        if self.edge.tenant_domain is not None:
            targets.append(f"https://{self.edge.tenant_domain}{path}")
        if self.edge.app_host is not None:
            targets.append(f"https://{self.edge.app_host}/")
        return targets

    def describe(self) -> dict[str, object]:
        """The resolved settings as plain data, for stack outputs and the render summary."""
        postgres = self.data.postgres
        return {
            "environment": self.environment.value,
            "domain": self.domain,
            "kubeContext": self.cluster.context or "(current context)",
            "clusterAddons": self.cluster.owns_addons,
            "addonReplicas": self.cluster.addon_replicas,
            "ingressLoadBalancer": self.cluster.ingress_load_balancer,
            "strictNodeSpread": self.strict_node_spread,
            "appNamespace": self.namespaces.app,
            "monitoringNamespace": self.namespaces.monitoring,
            "protectNamespaces": self.namespaces.protect,
            "quota": {
                "cpuRequests": self.quota.cpu_requests,
                "cpuLimits": self.quota.cpu_limits,
                "memoryRequests": self.quota.memory_requests,
                "memoryLimits": self.quota.memory_limits,
                "pods": self.quota.pods,
            },
            "deployerGroups": list(self.access.deployer_groups),
            "readOnlyGroups": list(self.access.read_only_groups),
            "secretsRotation": self.secrets_rotation,
            "smtp": f"{self.smtp.host}:{self.smtp.port}" if self.smtp else "(none)",
            "registry": self.registry.server if self.registry else "(none)",
            "egressCidrs": list(self.egress_cidrs),
            "services": {service.role.value: describe_service(service) for service in self.app.services},
            "appSecrets": list(self.app.secret_names),
            "migration": " ".join(self.app.migration.command) if self.app.migration else "(none)",
            "deployChecks": (self.app.migration.deploy_check_level if self.app.migration else None) or "off",
            "candidate": (
                f"{self.app.candidate.image} at {self.app.candidate_traffic_percent} %"
                if self.app.candidate
                else "(none)"
            ),
            "hosts": list(self.edge.hosts),
            "tlsIssuer": self.edge.tls_issuer,
            "tenantHosts": (
                f"{', '.join(self.edge.tenant_hosts)} from {self.edge.tenant_issuer}"
                if self.edge.tenant_domain
                else "(none)"
            ),
            "dnsChallenges": (
                f"Route53 zone {self.edge.dns_challenges.hosted_zone_id} for {self.edge.dns_challenges.zone} "
                f"({self.edge.dns_challenges.region})"
                if self.edge.dns_challenges
                else "(none)"
            ),
            "egressPorts": list(self.egress_ports),
            "postgres": (
                f"{postgres.instances} x {postgres.cpu}/{postgres.memory}, "
                f"{postgres.storage} + WAL {postgres.wal_storage}; "
                f"pooler x {postgres.pooler_instances}"
                if postgres
                else "(none: the application brings its own database)"
            ),
            "redis": (
                f"{self.data.redis.replicas} per role; cache {self.data.redis.cache_memory}, "
                f"broker {self.data.redis.broker_memory} + {self.data.redis.broker_storage}"
            ),
            "backups": (
                f"{self.data.backups.schedule} to "
                + (f"S3 ({self.data.aws.region})" if self.data.aws else "a volume")
                + f", kept {self.data.backups.retention_days} days; "
                + f"restore test {self.data.backups.restore_test_schedule}"
                if postgres
                else "(none: no PostgreSQL)"
            ),
            "walArchiving": bool(postgres and postgres.wal_archiving),
            "objectLock": self.data.backups.object_lock,
            "preMigrationBackup": self.data.backups.pre_migration_backup,
            "media": describe_media(self.media, self.data.aws.region if self.data.aws else None),
            "monitoring": describe_monitoring(self.monitoring),
        }


def describe_service(service: ServiceSettings) -> dict[str, object]:
    """One service's image and size as plain data."""
    scale = service.scale
    resources = service.resources
    extra: dict[str, object] = {"server": service.server.value} if service.role is Role.WEB else {}
    return {
        **extra,
        "secrets": list(service.secrets),
        "image": service.image,
        "replicas": f"{scale.minimum}-{scale.maximum} (autoscaled)" if scale.autoscaling else scale.replicas,
        "requests": f"{resources.cpu_request}/{resources.memory_request}",
        "limits": f"{resources.cpu_limit}/{resources.memory_limit}",
    }


def describe_media(media: MediaSettings | None, region: str | None) -> str:
    """Where uploads live, for how long a replaced one stays recoverable, and who handles them."""
    if media is None:
        return "(none)"
    services = ", ".join(role.value for role in media.services)
    if media.bucket is not None:
        bucket = media.bucket
        egress = ", ".join(bucket.egress_cidrs) or "any address"
        return (
            f"S3 ({region}) under {bucket.prefix}/, replaced uploads kept {bucket.noncurrent_days} days; "
            f"{services} (443 to {egress})"
        )
    assert media.volume is not None
    return f"volume {media.volume.size} {media.volume.access_mode} at {media.path}; {services}"


def describe_monitoring(monitoring: MonitoringSettings) -> dict[str, object]:
    """The monitoring settings as plain data: no receiver credential, only which receivers exist."""
    receivers = monitoring.receivers
    return {
        "prometheus": (
            f"{monitoring.prometheus_retention} or {monitoring.prometheus_retention_size} "
            f"on {monitoring.prometheus_storage}"
        ),
        "alertmanagerReplicas": monitoring.alertmanager_replicas,
        "managedControlPlane": monitoring.managed_control_plane,
        "receivers": list(receivers.configured) or "(none)",
        "alertEmailTo": list(receivers.email_to),
        "pages": receivers.pages,
        "alertThresholds": {key: getattr(monitoring.thresholds, name) for key, name in threshold_keys().items()},
        "businessMetrics": {metric.title: metric.counter for metric in monitoring.business_metrics},
    }

"""Per-environment defaults: what a stack gets for every key it leaves at "" or 0.

`dev` runs on a laptop cluster, `staging` is production's shape at small size,
`production` is full size, and `review` (stacks named pr-<number>) derives from staging
at minimum size in its own namespaces, on the staging cluster, owning no add-ons.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from kube.stack_names import is_review_stack
from stacks.data import MediaVolume, PostgresSettings, RedisSettings
from stacks.monitoring import MonitoringProfile
from stacks.services import AUTOSCALING, PRODUCTION_WEB_AUTOSCALING, Autoscaling, Role, Scale


class Environment(StrEnum):
    DEV = "dev"
    STAGING = "staging"
    PRODUCTION = "production"
    REVIEW = "review"


@dataclass(frozen=True)
class QuotaSettings:
    """Namespace-wide totals for the app namespace's ResourceQuota."""

    cpu_requests: str
    """Total CPU all pods may request."""
    cpu_limits: str
    """Total CPU limit of all pods."""
    memory_requests: str
    """Total memory all pods may request."""
    memory_limits: str
    """Total memory limit of all pods."""
    pods: int
    """Most pods at once."""


@dataclass(frozen=True)
class Profile:
    """Defaults and rules of one environment."""

    environment: Environment
    """The environment this profile is."""
    domain: str | None
    """Base domain; None means the stack must set `domain`."""
    requires_kube_context: bool
    """False only for dev: a laptop may deploy to its current context."""
    owns_cluster_addons: bool
    """Install the cluster-scoped charts (cert-manager, Traefik, operators)."""
    requires_email: bool
    """A deployed CRM sends password resets and notifications: staging and production need SMTP."""
    protect_namespaces: bool
    """Pulumi refuses to delete protected namespaces (and everything in them)."""
    quota: QuotaSettings
    """The app namespace's default quota."""
    scales: Mapping[Role, Scale]
    """How many pods each application service runs (beat is always one)."""
    tls_issuer: str
    """The ClusterIssuer of the environment's certificates."""
    hsts: bool
    """Send Strict-Transport-Security; only where certificates are publicly trusted."""
    postgres: PostgresSettings
    """Default PostgreSQL size and WAL archiving."""
    redis: RedisSettings
    """Default Redis sizes and servers per role."""
    backups_to_s3: bool
    """Backups go to an S3 bucket (needs awsRegion); dev keeps them on a volume."""
    media_to_s3: bool
    """User uploads go to an S3 bucket of the stack, which django-storages reaches through IRSA (needs
    backups_to_s3, which brings the AWS account); otherwise to a PersistentVolumeClaim (media_volume)."""
    media_volume: MediaVolume | None
    """Default size and access mode of the uploads' PersistentVolumeClaim; None exactly where media_to_s3."""
    addon_replicas: int
    """Replicas of the cluster add-ons' controllers: 1 on a laptop, 2 where a node may be drained."""
    ingress_load_balancer: bool
    """The ingress controller gets a LoadBalancer Service (a laptop cluster has no load-balancer controller)."""
    strict_node_spread: bool
    """A replicated service never puts two pods on one node while another has fewer (hard spread, required
    anti-affinity for PostgreSQL)."""
    object_lock: bool
    """The backup bucket locks every object version for the retention period (needs backups_to_s3)."""
    pre_migration_backup: bool
    """A logical backup runs before every release's migrations."""
    monitoring: MonitoringProfile
    """Prometheus's retention and volume, Alertmanager's replicas, whether alerts may page, and whether the
    cluster's control plane is out of reach (used by the stack that installs the monitoring add-on)."""
    deploy_check_level: str | None
    """The migration Job first runs Django's `check --deploy`, failing the release at this level (WARNING: every
    check the seeds name, DEBUG, SECRET_KEY, ALLOWED_HOSTS and the HTTPS settings, is a warning); None runs none."""
    dns01_tenant_certificates: bool
    """A tenant wildcard comes from the cluster's DNS-01 twin of the stack's ACME issuer (Route53, through the AWS
    account); False (dev, no AWS account): from the stack's own tlsIssuer, which must then be self-signed."""


SELF_SIGNED_ISSUER = "selfsigned"
ISSUERS = ("letsencrypt-production", "letsencrypt-staging", SELF_SIGNED_ISSUER)
"""ClusterIssuers the add-on owner installs; each stack picks one (tlsIssuer)."""


def dns01_issuer(acme_issuer: str) -> str:
    """The ClusterIssuer beside an ACME one that solves DNS-01 through Route53, for tenant wildcards (HTTP-01
    cannot prove a wildcard): the same directory, another account key."""
    return f"{acme_issuer}-dns01"


DEPLOY_CHECK_LEVELS = ("CRITICAL", "ERROR", "WARNING")
"""`manage.py check --fail-level` values that make sense for a release gate (INFO and DEBUG would fail on notes)."""
DEPLOY_CHECK_WARNING = "WARNING"
"""Django reports DEBUG=True (security.W018), a weak SECRET_KEY (W009), empty ALLOWED_HOSTS (W020) and the missing
HTTPS settings (W004, W008, W012, W016) as warnings: only this level stops a release on them."""

_SINGLE = {role: Scale(1) for role in Role}

DEV = Profile(
    environment=Environment.DEV,
    domain="crm.localhost",  # *.localhost resolves to loopback (RFC 6761), so kind works as is
    requires_kube_context=False,
    owns_cluster_addons=True,
    requires_email=False,
    protect_namespaces=False,
    # Limits above requests: a laptop overcommits, and every pod must still declare its limits.
    quota=QuotaSettings("4", "12", "8Gi", "24Gi", 40),
    scales=_SINGLE,
    tls_issuer="selfsigned",  # a laptop cluster cannot answer Let's Encrypt's HTTP-01 challenge
    hsts=False,
    postgres=PostgresSettings(
        instances=1,
        cpu="500m",
        memory="1Gi",
        storage="5Gi",
        wal_storage="2Gi",
        pooler_instances=1,
        wal_archiving=False,
    ),
    redis=RedisSettings(cache_memory="256Mi", broker_memory="256Mi", broker_storage="1Gi", replicas=1),
    backups_to_s3=False,
    media_to_s3=False,
    # ReadWriteOnce: the only mode the default StorageClass of kind and k3d (local-path) provisions; a
    # ReadWriteMany claim would stay Pending there. Web and worker are then scheduled onto one node.
    media_volume=MediaVolume(size="5Gi", access_mode="ReadWriteOnce"),
    addon_replicas=1,
    # kind, k3d and minikube have no load-balancer controller: the Service would never get an address.
    ingress_load_balancer=False,
    strict_node_spread=False,
    object_lock=False,
    pre_migration_backup=False,
    monitoring=MonitoringProfile(
        prometheus_retention="3d",
        prometheus_retention_size="4GB",
        prometheus_storage="5Gi",
        alertmanager_replicas=1,
        pages=False,
        # kind, k3d and minikube bind the scheduler's, controller-manager's and etcd's metrics to
        # 127.0.0.1 on the control-plane node: Prometheus cannot reach them, and would alert on it.
        managed_control_plane=True,
    ),
    # A laptop runs DEBUG builds and plain HTTP behind port-forward: the deployment checks would refuse it.
    deploy_check_level=None,
    # No AWS account and no public DNS: the tenant wildcard is self-signed like every other certificate.
    dns01_tenant_certificates=False,
)

STAGING = Profile(
    environment=Environment.STAGING,
    domain=None,
    requires_kube_context=True,
    owns_cluster_addons=True,
    requires_email=True,
    protect_namespaces=False,
    quota=QuotaSettings("8", "24", "16Gi", "32Gi", 60),
    # Production's shape at small size: autoscaled, at least two of each, so PDBs and spread apply.
    scales={
        Role.WEB: Scale(AUTOSCALING.min_replicas, AUTOSCALING),
        Role.WORKER: Scale(AUTOSCALING.min_replicas, AUTOSCALING),
        Role.BEAT: Scale(1),
        Role.FRONTEND: Scale(AUTOSCALING.min_replicas, AUTOSCALING),
    },
    # Real ACME flow without production rate limits; browsers do not trust these certificates.
    tls_issuer="letsencrypt-staging",
    hsts=False,
    # Primary + one replica: failover and the -ro service behave as in production.
    postgres=PostgresSettings(
        instances=2,
        cpu="1",
        memory="2Gi",
        storage="20Gi",
        wal_storage="5Gi",
        pooler_instances=2,
        wal_archiving=False,
    ),
    redis=RedisSettings(cache_memory="512Mi", broker_memory="512Mi", broker_storage="2Gi", replicas=1),
    backups_to_s3=True,
    media_to_s3=True,
    media_volume=None,
    addon_replicas=2,
    ingress_load_balancer=True,
    # Two nodes may be all a staging cluster has: a second pod on a node beats a Pending one.
    strict_node_spread=False,
    object_lock=False,
    pre_migration_backup=False,
    monitoring=MonitoringProfile(
        prometheus_retention="15d",
        prometheus_retention_size="16GB",
        prometheus_storage="20Gi",
        alertmanager_replicas=1,
        # Staging never pages: its criticals go to chat (seed 004).
        pages=False,
        # The platform targets managed clusters (EKS: IRSA for backups), whose control plane is the provider's.
        managed_control_plane=True,
    ),
    # Staging releases what production will: the same gate, found here first (seed 003's readiness checks).
    deploy_check_level=DEPLOY_CHECK_WARNING,
    dns01_tenant_certificates=True,
)

PRODUCTION = Profile(
    environment=Environment.PRODUCTION,
    domain=None,
    requires_kube_context=True,
    owns_cluster_addons=True,
    requires_email=True,
    protect_namespaces=True,
    # Room for the seeds' peak: web HPA max 20 x 500m/1Gi limits, workers, 3 PostgreSQL
    # instances, poolers and Redis, with headroom for a rolling update, and for a release
    # candidate as large as web (blue-green at 100 %): 25 CPU / 68Gi requested, 60 CPU limits.
    quota=QuotaSettings("32", "80", "80Gi", "128Gi", 200),
    scales={
        Role.WEB: Scale(PRODUCTION_WEB_AUTOSCALING.min_replicas, PRODUCTION_WEB_AUTOSCALING),
        Role.WORKER: Scale(2, Autoscaling(2, 10, 70, 80, 300)),
        Role.BEAT: Scale(1),
        Role.FRONTEND: Scale(2, Autoscaling(2, 6, 70, 80, 300)),
    },
    tls_issuer="letsencrypt-production",
    hsts=True,
    # Three instances, one per node (required anti-affinity): a node can fail during maintenance.
    postgres=PostgresSettings(
        instances=3,
        cpu="2",
        memory="8Gi",
        storage="100Gi",
        wal_storage="20Gi",
        pooler_instances=3,
        # Continuous WAL archiving and daily base backups: recovery to any point of the retention window.
        wal_archiving=True,
    ),
    redis=RedisSettings(cache_memory="2Gi", broker_memory="1Gi", broker_storage="10Gi", replicas=3),
    backups_to_s3=True,
    media_to_s3=True,
    media_volume=None,
    addon_replicas=2,
    ingress_load_balancer=True,
    strict_node_spread=True,
    # Backups nobody (and no compromised credential) can delete before their retention ends.
    object_lock=True,
    # The seeds' "backup before deploy": every release's migrations wait for a fresh dump.
    pre_migration_backup=True,
    monitoring=MonitoringProfile(
        prometheus_retention="30d",
        prometheus_retention_size="80GB",
        prometheus_storage="100Gi",
        # Two Alertmanagers gossip silences and notifications: an alert survives the loss of a node.
        alertmanager_replicas=2,
        pages=True,
        managed_control_plane=True,
    ),
    deploy_check_level=DEPLOY_CHECK_WARNING,
    dns01_tenant_certificates=True,
)

REVIEW = dataclasses.replace(
    STAGING,
    environment=Environment.REVIEW,
    owns_cluster_addons=False,
    # One pod per service plus a rolling update's surge pod and the migration Job.
    quota=QuotaSettings("4", "12", "8Gi", "24Gi", 30),
    scales=_SINGLE,
    postgres=DEV.postgres,
    redis=DEV.redis,
    # Short-lived: backups stay on a volume that goes with the stack, no bucket per pull request.
    backups_to_s3=False,
    # Uploads too. ReadWriteOnce: the staging cluster's default StorageClass (EBS on EKS) offers no more.
    media_to_s3=False,
    media_volume=MediaVolume(size="2Gi", access_mode="ReadWriteOnce"),
)

PROFILES: dict[Environment, Profile] = {profile.environment: profile for profile in (DEV, STAGING, PRODUCTION, REVIEW)}


def environment_for_stack(stack: str) -> Environment | None:
    """The environment a stack name implies, or None for names with no profile."""
    if is_review_stack(stack):
        return Environment.REVIEW
    try:
        environment = Environment(stack)
    except ValueError:
        return None
    return None if environment is Environment.REVIEW else environment

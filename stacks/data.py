"""Settings of the data layer: PostgreSQL, Redis, backups, user uploads (media) and the AWS account they go to.

Plain frozen dataclasses, filled by `stacks.build.build()` from the profile and the
stack's keys (postgres*, redis*, backup*, media*, aws*). Also the pure sizing rules the
components share, so the quota check counts exactly what will be declared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stacks.services import Role


@dataclass(frozen=True)
class PostgresSettings:
    """The CloudNativePG cluster and its PgBouncer pooler."""

    instances: int
    """Primary plus streaming replicas."""
    cpu: str
    """CPU of each instance (request = limit)."""
    memory: str
    """Request = limit for both: PostgreSQL's memory settings assume the memory is there."""
    storage: str
    """Data volume of each instance."""
    wal_storage: str
    """Separate WAL volume of each instance."""
    pooler_instances: int
    """PgBouncer pods of the read-write Pooler."""
    wal_archiving: bool
    """Archive WAL continuously and take daily base backups to the stack's bucket (point-in-time recovery)."""


@dataclass(frozen=True)
class RedisSettings:
    """The two Redis roles: a cache that may lose data, a broker that must not."""

    cache_memory: str
    """Memory limit of each cache server; maxmemory is a share of it."""
    broker_memory: str
    """Memory limit of each broker server (it never evicts: size it for the queues)."""
    broker_storage: str
    """Volume of each broker server for its append-only file."""
    replicas: int
    """Redis servers per role: 1, or 3 with Sentinel failover (production)."""


@dataclass(frozen=True)
class BackupSettings:
    """The logical backups, their verification and their bucket's protections."""

    schedule: str
    """Cron schedule (UTC) of the daily logical backup."""
    restore_test_schedule: str
    """Cron schedule (UTC) of the restore verification."""
    retention_days: int
    """Days a backup stays current in the bucket (or on the volume)."""
    minimum_rows: Mapping[str, int]
    """Table -> fewest rows the restored copy must hold."""
    object_lock: bool
    """The bucket refuses to delete or overwrite an object version before its retention ends (GOVERNANCE)."""
    pre_migration_backup: bool
    """Every release's migration waits for a logical backup taken just before it."""


@dataclass(frozen=True)
class AwsSettings:
    """Where backups go; None (dev) keeps them on a PersistentVolumeClaim instead."""

    region: str
    """The bucket's region; the AWS provider's only region."""
    oidc_provider_arn: str
    """The cluster's IAM OIDC provider (arn:aws:iam::<account>:oidc-provider/<issuer>)."""
    kms_key_arn: str | None
    """None: the stack creates a dedicated key with rotation."""

    @property
    def account_id(self) -> str:
        """The AWS account of the OIDC provider: the only account the stack's AWS provider may touch."""
        return self.oidc_provider_arn.split(":")[4]

    @property
    def oidc_issuer(self) -> str:
        """The issuer host and path, as IAM condition keys spell it: oidc.eks.<region>.amazonaws.com/id/<id>."""
        return self.oidc_provider_arn.split(":oidc-provider/", 1)[1]


MEDIA_ACCESS_MODES = ("ReadWriteOnce", "ReadWriteMany")
"""Access modes a media volume may have: ReadWriteOncePod would keep a second pod (web beside worker) out."""


@dataclass(frozen=True)
class MediaVolume:
    """The PersistentVolumeClaim that holds user uploads where they stay in the cluster (dev, review stacks)."""

    size: str
    """The claim's storage request."""
    access_mode: str
    """ReadWriteOnce (the services that share it are scheduled onto one node) or ReadWriteMany."""

    @property
    def shared_across_nodes(self) -> bool:
        """Whether pods on different nodes may mount the volume at once."""
        return self.access_mode == "ReadWriteMany"


@dataclass(frozen=True)
class MediaBucket:
    """The stack's S3 media bucket (staging, production), which django-storages writes through IRSA."""

    prefix: str
    """Key prefix of every upload (django-storages' AWS_LOCATION); the role may touch nothing else."""
    noncurrent_days: int
    """Days an overwritten or deleted upload stays recoverable as a noncurrent version."""
    kms_key_arn: str | None
    """None: the stack creates a dedicated key with rotation."""
    egress_cidrs: tuple[str, ...]
    """Networks the media pods may reach on 443 for S3 and STS; empty: any address (S3 has no fixed ones)."""


@dataclass(frozen=True)
class MediaSettings:
    """Where the application's user uploads live and which services handle them; exactly one of bucket and volume."""

    services: tuple[Role, ...]
    """The services that read and write uploads (web and worker by default); the others get no access."""
    path: str
    """Where the volume is mounted (MEDIA_ROOT) when uploads stay in the cluster."""
    bucket: MediaBucket | None
    """The S3 bucket, where the profile keeps uploads in S3."""
    volume: MediaVolume | None
    """The PersistentVolumeClaim, where uploads stay in the cluster."""


@dataclass(frozen=True)
class DataSettings:
    """The data layer as a whole."""

    postgres: PostgresSettings | None
    """The CloudNativePG cluster and its pooler; None when the stack runs no PostgreSQL (`postgres: "false"`):
    then no cluster, pooler, database backup, database network flow or database alert exists."""
    redis: RedisSettings
    """The cache and broker roles."""
    backups: BackupSettings
    """Logical backups of PostgreSQL and their verification (unused without PostgreSQL)."""
    aws: AwsSettings | None
    """Where backups go in S3; None keeps them on a volume (dev, review stacks)."""
    storage_class: str | None
    """StorageClass of every volume; None uses the cluster's default."""

    @property
    def postgres_enabled(self) -> bool:
        """Whether the stack runs PostgreSQL (and so its backups, flows and alerts)."""
        return self.postgres is not None


# Pods of the data layer besides PostgreSQL and Redis themselves, sized once here.
POOLER_RESOURCES = ("100m", "500m", "128Mi", "256Mi")
REDIS_CPU = ("100m", "500m")
SENTINEL_RESOURCES = ("50m", "200m", "64Mi", "128Mi")
EXPORTER_RESOURCES = ("20m", "100m", "32Mi", "64Mi")
PROXY_RESOURCES = ("50m", "250m", "32Mi", "64Mi")
PROXY_REPLICAS = 2
"""HAProxy pods per Redis role in front of a Sentinel-managed trio (docs/decisions/0002)."""
BACKUP_JOB_RESOURCES = ("100m", "1", "256Mi", "1Gi")
"""Each of the two containers of a backup or restore-verification pod. One CPU: at half a CPU the
measured restore of a 10 GB database (docs/PERFORMANCE.md) would miss the 15-minute target."""

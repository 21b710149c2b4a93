"""The data area: PostgreSQL, Redis, the backups and where they are stored, and the application's uploads.

The CloudNativePG cluster with its pooler (and WAL archiving), the cache and broker Redis
roles, the logical backup and restore-verification CronJobs, and the S3 bucket, KMS key and
IAM role they use; the media store (an S3 bucket with its role, or a volume) of the user uploads.
Each component also names the network flows its own pods need.
"""

from components.data.backup_contract import LOGICAL_PREFIX, PHYSICAL_PREFIX, STORE_PREFIX
from components.data.backup_storage import BackupStorage, BackupStorageArgs
from components.data.backups import SERVICE_ACCOUNT as BACKUP_SERVICE_ACCOUNT
from components.data.backups import Backups, BackupsArgs, S3Target
from components.data.backups import network_policy_specs as backup_network_policies
from components.data.media import Media, MediaArgs
from components.data.media import network_policy_specs as media_network_policies
from components.data.postgres import INSTANCE_SERVICE_ACCOUNT as POSTGRES_SERVICE_ACCOUNT
from components.data.postgres import Archive, Postgres, PostgresArgs
from components.data.postgres import metrics_targets as postgres_metrics_targets
from components.data.postgres import network_policy_specs as postgres_network_policies
from components.data.redis import Redis, RedisArgs
from components.data.redis import broker_pods as redis_broker_pods
from components.data.redis import metrics_targets as redis_metrics_targets
from components.data.redis import network_policy_specs as redis_network_policies

__all__ = [
    "BACKUP_SERVICE_ACCOUNT",
    "LOGICAL_PREFIX",
    "PHYSICAL_PREFIX",
    "POSTGRES_SERVICE_ACCOUNT",
    "STORE_PREFIX",
    "Archive",
    "BackupStorage",
    "BackupStorageArgs",
    "Backups",
    "BackupsArgs",
    "Media",
    "MediaArgs",
    "Postgres",
    "PostgresArgs",
    "Redis",
    "RedisArgs",
    "S3Target",
    "backup_network_policies",
    "media_network_policies",
    "postgres_metrics_targets",
    "postgres_network_policies",
    "redis_broker_pods",
    "redis_metrics_targets",
    "redis_network_policies",
]

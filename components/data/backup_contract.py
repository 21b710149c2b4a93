"""The logical backup and restore-verification scripts, and the contract for running them.

Pure data and functions, no resources: the texts of components/data/scripts/*.sh (the ConfigMap
data), the environment variables each script reads, the volumes and mount paths, which
container of which pod runs which script, and how the store is laid out. The Backups
component builds its CronJobs from these names and the tests in tests/components/data/ run the very
same scripts with the very same names against a real PostgreSQL and a moto S3 endpoint.

Logical backup pod (CronJob), both containers at once:
  main  `dump`    official postgres:16     bash backup-dump.sh    pg_dump -Fc into the work emptyDir, then
                                                                  dump-complete.json
  main  `upload`  official amazon/aws-cli  bash backup-upload.sh  streams the dump while it is written, then the
                                                                  manifest LAST, to S3 (SSE-KMS) or a PVC
Restore-verification pod (CronJob):
  init  `fetch`   official amazon/aws-cli  bash restore-fetch.sh  newest manifest + its dump into the work emptyDir
  main  `verify`  official postgres:16     bash restore-verify.sh checks, throwaway initdb, pg_restore, row checks

Store layout: `<prefix>/<backup_id>/<database>.<run>.dump` and `<prefix>/<backup_id>/manifest.json`,
backup_id the UTC start of the dump as YYYYmmddTHHMMSSZ, <run> a random token of the upload (the
manifest's dump_file names the dump). A backup is complete when its manifest exists; no run can
overwrite another's dump (the token), a complete backup's manifest is never overwritten (a
conditional write in S3), and nothing is ever deleted (the IAM role cannot).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Final

SCRIPTS_DIR: Final = Path(__file__).resolve().parent / "scripts"

RUN_AS_UID: Final = 10999
"""The UID (and GID, fsGroup) every container of the backup pods runs as: the postgres image's own
`postgres` user (999) plus 10000, above every host account (Checkov CKV_K8S_40), like the Redis pods.

Neither image has a passwd entry for it, and only initdb needs one: restore-verify.sh gives it one
through nss_wrapper, as the postgres image's entrypoint does for an arbitrary `--user`. The other
programs are given their user names (PGUSER, `--username`) and HOME, and look up nothing. The dev
store volume, written by UID 999 before, is regrouped by the kubelet on its first mount
(fsGroupChangePolicy OnRootMismatch), so the new UID can add to it.
"""

BACKUP_DUMP: Final = "backup-dump.sh"
BACKUP_UPLOAD: Final = "backup-upload.sh"
RESTORE_FETCH: Final = "restore-fetch.sh"
RESTORE_VERIFY: Final = "restore-verify.sh"
SCRIPTS: Final = (BACKUP_DUMP, BACKUP_UPLOAD, RESTORE_FETCH, RESTORE_VERIFY)
"""The four scripts the containers run."""
LIBRARY: Final = "backup-common.sh"
"""Sourced by every script from its own directory: fail/require/one_line, the exit trap, aws_call."""

POSTGRES_IMAGE_REPOSITORY: Final = "postgres"
"""Docker Official Image; pin a 16.x tag (or digest): the dump's pg_dump must not be older than the server."""
POSTGRES_MAJOR: Final = 16
AWS_CLI_IMAGE_REPOSITORY: Final = "amazon/aws-cli"
"""AWS's own image; its entrypoint is `aws`, so the container's command must be `bash <script>`."""

# --- environment variables: the names both the CronJobs and the tests use -------------------

PGHOST: Final = "PGHOST"
PGPORT: Final = "PGPORT"
PGUSER: Final = "PGUSER"
PGPASSWORD: Final = "PGPASSWORD"
PGDATABASE: Final = "PGDATABASE"
PGCONNECT_TIMEOUT: Final = "PGCONNECT_TIMEOUT"
BACKUP_WORK_DIR: Final = "BACKUP_WORK_DIR"
BACKUP_STORE: Final = "BACKUP_STORE"
BACKUP_PREFIX: Final = "BACKUP_PREFIX"
BACKUP_BUCKET: Final = "BACKUP_BUCKET"
BACKUP_KMS_KEY_ID: Final = "BACKUP_KMS_KEY_ID"
BACKUP_DIRECTORY: Final = "BACKUP_DIRECTORY"
BACKUP_WAIT_SECONDS: Final = "BACKUP_WAIT_SECONDS"
AWS_REGION: Final = "AWS_REGION"
AWS_ENDPOINT_URL: Final = "AWS_ENDPOINT_URL"
RESTORE_CLUSTER_DIR: Final = "RESTORE_CLUSTER_DIR"
RESTORE_MINIMUM_ROWS: Final = "RESTORE_MINIMUM_ROWS"
RESTORE_JOBS: Final = "RESTORE_JOBS"
RESTORE_NSS_WRAPPER_LIBRARY: Final = "RESTORE_NSS_WRAPPER_LIBRARY"
NSS_WRAPPER_SEARCH: Final = (
    "/usr/lib/*/libnss_wrapper.so",
    "/usr/lib/libnss_wrapper.so",
    "/lib/*/libnss_wrapper.so",
    "/lib/libnss_wrapper.so",
)
"""Where restore-verify.sh looks for nss_wrapper when RESTORE_NSS_WRAPPER_LIBRARY is unset: the postgres
image's entrypoint's own search (`{/usr,}/lib{/*,}/libnss_wrapper.so`, docker-library/postgres
docker-entrypoint.sh); the bookworm image's libnss-wrapper puts it in /usr/lib/x86_64-linux-gnu/ (amd64)."""


class Need(StrEnum):
    """When a script needs a variable."""

    REQUIRED = "required"
    OPTIONAL = "optional"
    S3 = "required when BACKUP_STORE=s3"
    DIRECTORY = "required when BACKUP_STORE=directory"


class Store(StrEnum):
    """Values of BACKUP_STORE."""

    S3 = "s3"
    DIRECTORY = "directory"


@dataclass(frozen=True)
class EnvironmentVariable:
    name: str
    """The variable's name, as the scripts and the containers spell it."""
    meaning: str
    """What it holds, for the scripts' headers and the README."""
    need: Need
    """When a script needs it."""
    scripts: tuple[str, ...]
    """The scripts that read it."""
    secret: bool = False
    """Comes from a Secret (secretKeyRef), never a literal value."""


ENVIRONMENT: Final[tuple[EnvironmentVariable, ...]] = (
    EnvironmentVariable(
        PGHOST,
        "host of the live database: the primary's -rw Service, not the PgBouncer pooler",
        Need.REQUIRED,
        (BACKUP_DUMP,),
    ),
    EnvironmentVariable(PGPORT, "its port; 5432 when unset", Need.OPTIONAL, (BACKUP_DUMP,)),
    EnvironmentVariable(PGUSER, "role that dumps; needs SELECT on every table", Need.REQUIRED, (BACKUP_DUMP,)),
    EnvironmentVariable(PGPASSWORD, "that role's password", Need.OPTIONAL, (BACKUP_DUMP,), secret=True),
    EnvironmentVariable(
        PGDATABASE,
        "database to dump; names the dump file and key, so letters, digits, _ . - only",
        Need.REQUIRED,
        (BACKUP_DUMP,),
    ),
    EnvironmentVariable(
        PGCONNECT_TIMEOUT, "seconds libpq waits to connect; 10 when unset", Need.OPTIONAL, (BACKUP_DUMP,)
    ),
    EnvironmentVariable(
        BACKUP_WORK_DIR,
        "the emptyDir the two containers of a pod share: the dump, manifest.json (and the backup's hand-over files)",
        Need.REQUIRED,
        SCRIPTS,
    ),
    EnvironmentVariable(
        BACKUP_WAIT_SECONDS,
        "seconds the upload waits for the dump container's plan, and for its dump to grow; 600 when unset",
        Need.OPTIONAL,
        (BACKUP_UPLOAD,),
    ),
    EnvironmentVariable(
        BACKUP_STORE, "where backups are kept: s3 or directory", Need.REQUIRED, (BACKUP_UPLOAD, RESTORE_FETCH)
    ),
    EnvironmentVariable(
        BACKUP_PREFIX,
        "key prefix (s3) or subdirectory (directory) of every backup, e.g. crm/production",
        Need.REQUIRED,
        (BACKUP_UPLOAD, RESTORE_FETCH),
    ),
    EnvironmentVariable(BACKUP_BUCKET, "the backup bucket's name", Need.S3, (BACKUP_UPLOAD, RESTORE_FETCH)),
    EnvironmentVariable(
        AWS_REGION, "the bucket's region (the aws CLI reads it)", Need.S3, (BACKUP_UPLOAD, RESTORE_FETCH)
    ),
    EnvironmentVariable(
        BACKUP_KMS_KEY_ID,
        "KMS key (id or ARN) for SSE-KMS of each object; unset uses the bucket's default key",
        Need.OPTIONAL,
        (BACKUP_UPLOAD,),
    ),
    EnvironmentVariable(
        AWS_ENDPOINT_URL,
        "another S3 endpoint, tests only (moto); the aws CLI reads it itself",
        Need.OPTIONAL,
        (BACKUP_UPLOAD, RESTORE_FETCH),
    ),
    EnvironmentVariable(
        BACKUP_DIRECTORY,
        "the mounted store directory (a PersistentVolumeClaim in dev)",
        Need.DIRECTORY,
        (BACKUP_UPLOAD, RESTORE_FETCH),
    ),
    EnvironmentVariable(
        RESTORE_CLUSTER_DIR,
        "a writable emptyDir for the throwaway cluster (data, WAL, socket, log)",
        Need.REQUIRED,
        (RESTORE_VERIFY,),
    ),
    EnvironmentVariable(
        RESTORE_MINIMUM_ROWS,
        "table=count,schema.table=count: fewest rows each table must hold after the restore",
        Need.REQUIRED,
        (RESTORE_VERIFY,),
    ),
    EnvironmentVariable(RESTORE_JOBS, "pg_restore --jobs; 1 when unset", Need.OPTIONAL, (RESTORE_VERIFY,)),
    EnvironmentVariable(
        RESTORE_NSS_WRAPPER_LIBRARY,
        "nss_wrapper's libnss_wrapper.so, which gives a uid without a passwd entry one for initdb; "
        "unset: the first of NSS_WRAPPER_SEARCH, as the postgres image's entrypoint looks",
        Need.OPTIONAL,
        (RESTORE_VERIFY,),
    ),
)


def environment_of(script: str) -> tuple[EnvironmentVariable, ...]:
    """The variables `script` reads."""
    return tuple(variable for variable in ENVIRONMENT if script in variable.scripts)


# --- volumes, mounts and containers --------------------------------------------------------


class VolumeKind(StrEnum):
    CONFIG_MAP = "configMap"
    EMPTY_DIR = "emptyDir"
    PERSISTENT_VOLUME_CLAIM = "persistentVolumeClaim"


@dataclass(frozen=True)
class Mount:
    volume: str
    """Volume name in the pod spec."""
    path: str
    """Where the containers mount it."""
    kind: VolumeKind
    """What kind of volume backs it."""
    meaning: str
    """What it holds and how large it must be."""


SCRIPTS_MOUNT: Final = Mount(
    "backup-scripts",
    "/opt/crm-backup",
    VolumeKind.CONFIG_MAP,
    "the four scripts and their library (script_texts()), mounted read-only",
)
WORK_MOUNT: Final = Mount(
    "backup-work",
    "/var/lib/crm-backup/work",
    VolumeKind.EMPTY_DIR,
    "shared by both containers of a pod: the dump and manifest.json; size it for the largest dump",
)
STORE_MOUNT: Final = Mount(
    "backup-store",
    "/var/lib/crm-backup/store",
    VolumeKind.PERSISTENT_VOLUME_CLAIM,
    "BACKUP_STORE=directory only: the backups themselves, mounted in the upload and fetch containers",
)
CLUSTER_MOUNT: Final = Mount(
    "restore-cluster",
    "/var/lib/crm-backup/cluster",
    VolumeKind.EMPTY_DIR,
    "restore-verify's throwaway cluster; several times the dump's size (indexes, WAL)",
)
# Unix socket paths must stay short: restore-verify.sh refuses RESTORE_CLUSTER_DIR/socket above 90 bytes.


@dataclass(frozen=True)
class Container:
    name: str
    """The container's name in the pod."""
    image_repository: str
    """The official image it runs (the tag is the component's choice)."""
    init: bool
    """An init container: it must succeed before the main container starts."""
    script: str
    """The script it runs with `bash <SCRIPTS_MOUNT>/<script>`."""
    mounts: tuple[Mount, ...]
    """Always mounted; STORE_MOUNT is added in directory mode where `mounts_store`."""
    mounts_store: bool
    """Whether it reads or writes the store itself (directory mode only)."""

    @property
    def command(self) -> list[str]:
        """`bash <script>`: ConfigMap files are not executable, and aws-cli's entrypoint is `aws`."""
        return ["bash", f"{SCRIPTS_MOUNT.path}/{self.script}"]

    @property
    def environment(self) -> tuple[EnvironmentVariable, ...]:
        return environment_of(self.script)

    @property
    def fixed_environment(self) -> dict[str, str]:
        """Literal variables the container needs besides the contract: the aws CLI wants a writable HOME
        (the image's is /root, and the root filesystem is read-only)."""
        return {"HOME": WORK_MOUNT.path} if self.image_repository == AWS_CLI_IMAGE_REPOSITORY else {}


BACKUP_POD: Final = (
    Container("dump", POSTGRES_IMAGE_REPOSITORY, False, BACKUP_DUMP, (SCRIPTS_MOUNT, WORK_MOUNT), mounts_store=False),
    Container("upload", AWS_CLI_IMAGE_REPOSITORY, False, BACKUP_UPLOAD, (SCRIPTS_MOUNT, WORK_MOUNT), mounts_store=True),
)
"""The logical backup CronJob's pod: dump and upload at once (the upload follows the dump file as it grows)."""
RESTORE_POD: Final = (
    Container("fetch", AWS_CLI_IMAGE_REPOSITORY, True, RESTORE_FETCH, (SCRIPTS_MOUNT, WORK_MOUNT), mounts_store=True),
    Container(
        "verify",
        POSTGRES_IMAGE_REPOSITORY,
        False,
        RESTORE_VERIFY,
        (SCRIPTS_MOUNT, WORK_MOUNT, CLUSTER_MOUNT),
        mounts_store=False,
    ),
)
"""The restore-verification CronJob's pod: fetch (init), then verify; verify must run as a non-root uid (RUN_AS_UID)."""

BACKUP_S3_ACTIONS: Final = ("s3:ListBucket", "s3:PutObject", "s3:GetObject")
"""What backup-upload.sh calls: cp of the dump (PutObject, multipart), head-object (GetObject), put-object of the
manifest (PutObject; its If-None-Match conditional write needs no other permission). ListBucket on the prefix: the
role may list what it wrote, and a head-object of a missing key is then a 404 rather than a 403."""
RESTORE_S3_ACTIONS: Final = ("s3:ListBucket", "s3:GetObject")
"""What restore-fetch.sh calls: list-objects-v2, cp (GetObject). Neither script deletes anything."""
BACKUP_KMS_ACTIONS: Final = ("kms:GenerateDataKey", "kms:Decrypt")
"""SSE-KMS uploads; Decrypt too, because multipart uploads read back their encrypted parts."""
RESTORE_KMS_ACTIONS: Final = ("kms:Decrypt",)


# --- store layout and the environment of each store ------------------------------------------

STORE_PREFIX: Final = "backups"
"""Every backup of a stack's bucket lives under this key prefix; the backup role may touch nothing else."""
LOGICAL_PREFIX: Final = f"{STORE_PREFIX}/logical"
"""The logical dumps and their manifests."""
PHYSICAL_PREFIX: Final = f"{STORE_PREFIX}/physical"
"""CloudNativePG's base backups and WAL (Barman Cloud plugin, production)."""

MANIFEST_FILE: Final = "manifest.json"
# The backup pod's hand-over files on the work emptyDir (backup-dump.sh's header describes them): one of
# the two scripts writes each, the other reads it.
PLAN_FILE: Final = "plan.json"
DUMP_COMPLETE_FILE: Final = "dump-complete.json"
HEARTBEAT_FILE: Final = "dump.alive"
DUMP_FAILED_FILE: Final = "dump.failed"
UPLOAD_FAILED_FILE: Final = "upload.failed"
HANDOVER_FILES: Final = (PLAN_FILE, DUMP_COMPLETE_FILE, HEARTBEAT_FILE, DUMP_FAILED_FILE, UPLOAD_FAILED_FILE)
BACKUP_ID_FORMAT: Final = "%Y%m%dT%H%M%SZ"
"""strftime of a backup id (UTC): ids sort in time order."""
MANIFEST_FIELDS: Final = (
    "manifest_version",
    "backup_id",
    "database",
    "dump_file",
    "format",
    "size_bytes",
    "sha256",
    "server_version",
    "pg_dump_version",
    "user_tables",
    "created_at",
    "completed_at",
)
_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*")
_TABLE = re.compile(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?")


def _checked_prefix(prefix: str) -> str:
    stripped = prefix.strip("/")
    if not _PREFIX.fullmatch(stripped):
        raise ValueError(
            f"backup prefix {prefix!r} is not a plain path: segments of letters, digits, '_', '.', '-', "
            "each starting with a letter or digit"
        )
    return stripped


def run_keys(prefix: str, backup_id: str, dump_file: str) -> tuple[str, str]:
    """The dump's and the manifest's key (or path under the store directory) of one backup; `dump_file` is
    the manifest's (`<database>.<run>.dump`)."""
    run = f"{_checked_prefix(prefix)}/{backup_id}"
    return f"{run}/{dump_file}", f"{run}/{MANIFEST_FILE}"


@dataclass(frozen=True)
class S3Store:
    bucket: str
    """The stack's backup bucket."""
    region: str
    """The bucket's region."""
    prefix: str
    """Key prefix of the logical backups (no slash at either end)."""
    kms_key_id: str | None = None
    """None: the bucket's default encryption key (still SSE-KMS)."""
    endpoint_url: str | None = None
    """Tests only (moto)."""

    def environment(self) -> dict[str, str]:
        environment = {
            BACKUP_STORE: Store.S3.value,
            BACKUP_BUCKET: self.bucket,
            AWS_REGION: self.region,
            BACKUP_PREFIX: _checked_prefix(self.prefix),
        }
        if self.kms_key_id:
            environment[BACKUP_KMS_KEY_ID] = self.kms_key_id
        if self.endpoint_url:
            environment[AWS_ENDPOINT_URL] = self.endpoint_url
        return environment


@dataclass(frozen=True)
class DirectoryStore:
    prefix: str
    """Directory under the store's mount that holds the backups."""
    directory: str = STORE_MOUNT.path
    """Where the store's PersistentVolumeClaim is mounted."""

    def environment(self) -> dict[str, str]:
        return {
            BACKUP_STORE: Store.DIRECTORY.value,
            BACKUP_DIRECTORY: self.directory,
            BACKUP_PREFIX: _checked_prefix(self.prefix),
        }


BackupStore = S3Store | DirectoryStore


def format_minimum_rows(minimum_rows: Mapping[str, int]) -> str:
    """RESTORE_MINIMUM_ROWS from a table -> fewest rows mapping: `a=1,b=2`, sorted, validated."""
    if not minimum_rows:
        raise ValueError("the restore verification needs at least one table=count in RESTORE_MINIMUM_ROWS")
    items = []
    for table, minimum in sorted(minimum_rows.items()):
        if not _TABLE.fullmatch(table):
            raise ValueError(f"{table!r} is not a lower-case table name, optionally schema-qualified")
        if isinstance(minimum, bool) or minimum < 0:
            raise ValueError(f"minimum rows of {table} must be a whole number >= 0, not {minimum!r}")
        items.append(f"{table}={minimum}")
    return ",".join(items)


def dump_environment(host: str, port: int, user: str, database: str, work_dir: str = WORK_MOUNT.path) -> dict[str, str]:
    """backup-dump.sh's literal variables; PGPASSWORD comes from a Secret (secretKeyRef) beside them."""
    return {PGHOST: host, PGPORT: str(port), PGUSER: user, PGDATABASE: database, BACKUP_WORK_DIR: work_dir}


def transfer_environment(store: BackupStore, work_dir: str = WORK_MOUNT.path) -> dict[str, str]:
    """backup-upload.sh's and restore-fetch.sh's variables."""
    return {BACKUP_WORK_DIR: work_dir, **store.environment()}


def verify_environment(
    minimum_rows: Mapping[str, int],
    *,
    jobs: int = 1,
    work_dir: str = WORK_MOUNT.path,
    cluster_dir: str = CLUSTER_MOUNT.path,
) -> dict[str, str]:
    """restore-verify.sh's variables."""
    if not 1 <= jobs <= 99:
        raise ValueError(f"restore jobs must be 1-99, not {jobs}")
    return {
        BACKUP_WORK_DIR: work_dir,
        RESTORE_CLUSTER_DIR: cluster_dir,
        RESTORE_MINIMUM_ROWS: format_minimum_rows(minimum_rows),
        RESTORE_JOBS: str(jobs),
    }


# --- script texts -----------------------------------------------


@cache
def script_text(script: str) -> str:
    """One script's text, as the ConfigMap carries it."""
    if script not in (*SCRIPTS, LIBRARY):
        raise ValueError(f"{script!r} is not one of the backup scripts: {', '.join((*SCRIPTS, LIBRARY))}")
    return (SCRIPTS_DIR / script).read_text(encoding="utf-8")


def script_texts() -> dict[str, str]:
    """ConfigMap data: file name -> text of every script and of the library they source."""
    return {script: script_text(script) for script in (*SCRIPTS, LIBRARY)}

"""Backups: the logical backup CronJob, the weekly restore verification, the pre-migration backup.

Built only from official upstream images (postgres, amazon/aws-cli) and the scripts in
components/data/scripts/, mounted from a ConfigMap; components/data/backup_contract.py is the contract
(variables, mounts, which container runs which script) these pods and the tests share.

Where the stack has an S3 bucket (staging, production) the pods reach it as the backup IAM
role through a projected ServiceAccount token (IRSA); elsewhere backups go to a
PersistentVolumeClaim. The pre-migration backup (production) is a one-off Job of the same
pod per release image (the released one, and a candidate's), named after it, that the
migration Job of that image waits for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.data import backup_contract as contract
from components.shared import endpoints, pods
from components.shared.checksums import release_id
from components.shared.irsa import ROLE_ARN_ANNOTATION, token_mount, token_volume, web_identity_environment
from components.shared.labels import COMPONENT, with_component
from components.shared.references import SecretKeyRef
from stacks.data import BACKUP_JOB_RESOURCES, BackupSettings

POSTGRES_IMAGE = "postgres:16.13-bookworm"
"""Docker Official Image, the server's major and minor (pg_dump must not be older than the server)."""
AWS_CLI_IMAGE = "amazon/aws-cli:2.27.0"
BACKUP_ROLE = "backup"
"""Network role of the backup pods (components/endpoints.NETWORK_ROLE)."""
SERVICE_ACCOUNT = "crm-backup"
SCRIPTS_CONFIG_MAP = "crm-backup-scripts"
STORE_CLAIM = "crm-backup-store"
STARTING_DEADLINE_SECONDS = 3600
"""A backup that could not start within an hour of its time (cluster down) is skipped, not run late twice."""
BACKUP_DEADLINE_SECONDS = 3 * 3600
RESTORE_DEADLINE_SECONDS = 4 * 3600


@dataclass(frozen=True)
class S3Target:
    bucket: pulumi.Input[str]
    """The stack's backup bucket."""
    region: str
    """The bucket's region (the aws CLI's AWS_REGION)."""
    kms_key_arn: pulumi.Input[str]
    """Every upload names this key: the bucket policy refuses any other."""
    role_arn: pulumi.Input[str]
    """The backup IAM role the pods assume through their ServiceAccount's web identity."""


@dataclass(frozen=True)
class BackupsArgs:
    namespace: pulumi.Input[str]
    """The app namespace: the database's, and where the backup pods run."""
    stack: str
    """Stack name, the `app.kubernetes.io/instance` of every pod."""
    settings: BackupSettings
    """Schedules, retention, the restore test's minimum rows, the pre-migration backup."""
    database_secret: SecretKeyRef
    """The database owner's password (it owns every table, so it can dump them)."""
    s3: S3Target | None
    """None: backups go to a PersistentVolumeClaim of `store_size`."""
    store_size: str
    """Size of the backup volume where there is no S3 bucket (dev, review stacks)."""
    storage_class: str | None
    """StorageClass of that volume; None uses the cluster's default."""
    work_size: str
    """Scratch space of each pod: the dump, and the restored copy for the verification."""
    pre_migration_images: Sequence[str]
    """The release images in production (the released one, a candidate): a one-off backup runs before the
    migration of each. Empty elsewhere."""
    labels: Mapping[str, str]
    """Common labels of the stack."""


def pod_labels(labels: Mapping[str, str], component: str) -> dict[str, str]:
    return {**labels, COMPONENT: component, endpoints.NETWORK_ROLE: BACKUP_ROLE}


def network_policy_specs(*, object_storage: bool) -> dict[str, k8s.networking.v1.NetworkPolicySpecArgsDict]:
    """The backup pods reach the primary on 5432 (and S3 on 443 where they use it); the primary accepts them."""
    backup: k8s.meta.v1.LabelSelectorArgsDict = {"match_labels": {endpoints.NETWORK_ROLE: BACKUP_ROLE}}
    postgres: k8s.meta.v1.LabelSelectorArgsDict = {"match_labels": {endpoints.NETWORK_ROLE: endpoints.POSTGRES_ROLE}}
    postgres_port: list[k8s.networking.v1.NetworkPolicyPortArgsDict] = [
        {"protocol": "TCP", "port": endpoints.POSTGRES_PORT}
    ]
    specs: dict[str, k8s.networking.v1.NetworkPolicySpecArgsDict] = {
        "allow-backup-to-postgres": {
            "pod_selector": backup,
            "policy_types": ["Egress"],
            "egress": [{"to": [{"pod_selector": postgres}], "ports": postgres_port}],
        },
        "allow-postgres-from-backup": {
            "pod_selector": postgres,
            "policy_types": ["Ingress"],
            "ingress": [{"from_": [{"pod_selector": backup}], "ports": postgres_port}],
        },
    }
    if object_storage:
        # S3 (and STS for the web identity) answer on public addresses of their own.
        specs["allow-backup-to-object-storage"] = {
            "pod_selector": backup,
            "policy_types": ["Egress"],
            "egress": [{"ports": [{"protocol": "TCP", "port": 443}]}],
        }
    return specs


class Backups(pulumi.ComponentResource):
    """Logical backup and restore-verification CronJobs, and production's pre-migration backup Job."""

    pre_migration_backups: dict[str, k8s.batch.v1.Job]
    """Release image -> the backup Job its migration waits for."""

    def __init__(self, name: str, args: BackupsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("crm:data:Backups", name, None, opts)
        self._args = args
        self._name = name
        labels = with_component(args.labels, "backups")
        child = pulumi.ResourceOptions(parent=self)

        annotations = {ROLE_ARN_ANNOTATION: args.s3.role_arn} if args.s3 else {}
        account = k8s.core.v1.ServiceAccount(
            f"{name}-account",
            metadata={
                "name": SERVICE_ACCOUNT,
                "namespace": args.namespace,
                "labels": labels,
                "annotations": annotations,
            },
            automount_service_account_token=False,
            opts=child,
        )
        scripts = k8s.core.v1.ConfigMap(
            f"{name}-scripts",
            metadata={"name": SCRIPTS_CONFIG_MAP, "namespace": args.namespace, "labels": labels},
            data=contract.script_texts(),
            opts=child,
        )
        waits_for: list[pulumi.Resource] = [account, scripts]
        if args.s3 is None:
            claim: k8s.core.v1.PersistentVolumeClaimSpecArgsDict = {
                "access_modes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": args.store_size}},
            }
            if args.storage_class:
                claim["storage_class_name"] = args.storage_class
            waits_for.append(
                k8s.core.v1.PersistentVolumeClaim(
                    f"{name}-store",
                    metadata={"name": STORE_CLAIM, "namespace": args.namespace, "labels": labels},
                    spec=claim,
                    # The claim may stay Pending until a pod uses it (WaitForFirstConsumer).
                    opts=pulumi.ResourceOptions(parent=self, retain_on_delete=False),
                )
            )
        after = pulumi.ResourceOptions(parent=self, depends_on=waits_for)

        k8s.batch.v1.CronJob(
            f"{name}-logical",
            metadata={"name": "crm-backup", "namespace": args.namespace, "labels": labels},
            spec=self._cron_spec(args.settings.schedule, self._backup_job(), successful=3),
            opts=after,
        )
        k8s.batch.v1.CronJob(
            f"{name}-restore-verification",
            metadata={"name": "crm-restore-verification", "namespace": args.namespace, "labels": labels},
            spec=self._cron_spec(args.settings.restore_test_schedule, self._restore_job(), successful=2),
            opts=after,
        )
        self.pre_migration_backups = {}
        for image in args.pre_migration_images:
            # Named like the release's migration Job, which waits for it; the same name when a candidate
            # is promoted, so promotion neither repeats nor loses the backup.
            job_name = f"crm-pre-migration-backup-{release_id(image)}"
            self.pre_migration_backups[image] = k8s.batch.v1.Job(
                f"{name}-{job_name}",
                metadata={
                    "name": job_name,
                    "namespace": args.namespace,
                    "labels": labels,
                    "annotations": {"pulumi.com/replaceUnready": "true"},
                },
                spec=self._backup_job(),
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=waits_for,
                    custom_timeouts=pulumi.CustomTimeouts(create="3h", update="3h"),
                ),
            )
        self.register_outputs({"service_account": SERVICE_ACCOUNT})

    @staticmethod
    def _cron_spec(
        schedule: str, job: k8s.batch.v1.JobSpecArgsDict, successful: int
    ) -> k8s.batch.v1.CronJobSpecArgsDict:
        return {
            "schedule": schedule,
            "time_zone": "Etc/UTC",
            # Two dumps at once would double the load and race for the same minute's key.
            "concurrency_policy": "Forbid",
            "starting_deadline_seconds": STARTING_DEADLINE_SECONDS,
            "successful_jobs_history_limit": successful,
            "failed_jobs_history_limit": 5,
            "job_template": {"spec": job},
        }

    def _store(self) -> dict[str, pulumi.Input[str]]:
        prefix = contract.LOGICAL_PREFIX
        s3 = self._args.s3
        if s3 is None:
            return dict(contract.DirectoryStore(prefix=prefix).environment())
        return {
            contract.BACKUP_STORE: contract.Store.S3.value,
            contract.BACKUP_BUCKET: s3.bucket,
            contract.BACKUP_PREFIX: prefix,
            contract.BACKUP_KMS_KEY_ID: s3.kms_key_arn,
            # The aws CLI assumes the backup role with the projected token (IRSA), in the bucket's region.
            **web_identity_environment(s3.role_arn, s3.region),
            # It caches credentials under $HOME; the image's root filesystem is read-only here.
            "HOME": "/tmp",
        }

    def _container(
        self, spec: contract.Container, environment: Mapping[str, pulumi.Input[str]], secret_env: bool = False
    ) -> k8s.core.v1.ContainerArgsDict:
        cpu_request, cpu_limit, memory_request, memory_limit = BACKUP_JOB_RESOURCES
        mounts: list[k8s.core.v1.VolumeMountArgsDict] = [
            {"name": mount.volume, "mount_path": mount.path, "read_only": mount is contract.SCRIPTS_MOUNT}
            for mount in spec.mounts
        ]
        mounts.append({"name": "tmp", "mount_path": "/tmp"})
        if spec.mounts_store and self._args.s3 is None:
            mounts.append({"name": contract.STORE_MOUNT.volume, "mount_path": contract.STORE_MOUNT.path})
        if spec.mounts_store and self._args.s3 is not None:
            mounts.append(token_mount())
        # fixed_environment: HOME on a writable mount for the aws CLI (the root filesystem is read-only).
        literal = {**environment, **spec.fixed_environment}
        env: list[k8s.core.v1.EnvVarArgsDict] = [
            {"name": key, "value": value} for key, value in sorted(literal.items())
        ]
        if secret_env:
            ref = self._args.database_secret
            env.append(
                {"name": contract.PGPASSWORD, "value_from": {"secret_key_ref": {"name": ref.name, "key": ref.key}}}
            )
        return {
            "name": spec.name,
            "image": POSTGRES_IMAGE if spec.image_repository == contract.POSTGRES_IMAGE_REPOSITORY else AWS_CLI_IMAGE,
            "image_pull_policy": pods.IMAGE_PULL_POLICY,
            "command": spec.command,
            "env": env,
            "resources": {
                "requests": {"cpu": cpu_request, "memory": memory_request},
                "limits": {"cpu": cpu_limit, "memory": memory_limit},
            },
            "security_context": pods.container_security_context(),
            "volume_mounts": mounts,
        }

    def _volumes(self, with_cluster: bool) -> list[k8s.core.v1.VolumeArgsDict]:
        volumes: list[k8s.core.v1.VolumeArgsDict] = [
            {"name": contract.SCRIPTS_MOUNT.volume, "config_map": {"name": SCRIPTS_CONFIG_MAP, "default_mode": 0o444}},
            {"name": contract.WORK_MOUNT.volume, "empty_dir": {"size_limit": self._args.work_size}},
            {"name": "tmp", "empty_dir": {"size_limit": pods.TMP_SIZE_LIMIT}},
        ]
        if with_cluster:
            volumes.append({"name": contract.CLUSTER_MOUNT.volume, "empty_dir": {"size_limit": self._args.work_size}})
        if self._args.s3 is None:
            volumes.append(
                {"name": contract.STORE_MOUNT.volume, "persistent_volume_claim": {"claim_name": STORE_CLAIM}}
            )
        else:
            volumes.append(token_volume())
        return volumes

    def _pod(
        self,
        component: str,
        containers: Sequence[tuple[contract.Container, k8s.core.v1.ContainerArgsDict]],
        *,
        cluster: bool,
    ) -> k8s.core.v1.PodTemplateSpecArgsDict:
        """A pod of the contract's containers: init containers where the contract says so, the rest at once."""
        security = pods.pod_security_context(contract.RUN_AS_UID)
        spec: k8s.core.v1.PodSpecArgsDict = {
            "service_account_name": SERVICE_ACCOUNT,
            # The projected volume below carries the one token these pods need (STS only).
            "automount_service_account_token": False,
            "enable_service_links": False,
            # Never restart a container in place: the two backup containers hand over through files
            # on the work emptyDir, which a restart would find half-written. The Job retries with a new pod.
            "restart_policy": "Never",
            "security_context": security,
            "containers": [container for spec_of, container in containers if not spec_of.init],
            "volumes": self._volumes(with_cluster=cluster),
        }
        init = [container for spec_of, container in containers if spec_of.init]
        if init:
            spec["init_containers"] = init
        return {"metadata": {"labels": pod_labels(self._args.labels, component)}, "spec": spec}

    def _backup_job(self) -> k8s.batch.v1.JobSpecArgsDict:
        dump, upload = contract.BACKUP_POD
        dump_env = contract.dump_environment(
            endpoints.DATABASE_DIRECT_HOST, endpoints.POSTGRES_PORT, "crm", endpoints.DATABASE_NAME
        )
        upload_env = {contract.BACKUP_WORK_DIR: contract.WORK_MOUNT.path, **self._store()}
        return {
            "backoff_limit": 2,
            "active_deadline_seconds": BACKUP_DEADLINE_SECONDS,
            "template": self._pod(
                "backup",
                [
                    (dump, self._container(dump, dump_env, secret_env=True)),
                    (upload, self._container(upload, upload_env)),
                ],
                cluster=False,
            ),
        }

    def _restore_job(self) -> k8s.batch.v1.JobSpecArgsDict:
        fetch, verify = contract.RESTORE_POD
        fetch_env = {contract.BACKUP_WORK_DIR: contract.WORK_MOUNT.path, **self._store()}
        fetch_env.pop(contract.BACKUP_KMS_KEY_ID, None)
        verify_env = contract.verify_environment(self._args.settings.minimum_rows)
        return {
            # A failed verification is the finding: do not retry it into a success.
            "backoff_limit": 0,
            "active_deadline_seconds": RESTORE_DEADLINE_SECONDS,
            "template": self._pod(
                "restore-verification",
                [(fetch, self._container(fetch, fetch_env)), (verify, self._container(verify, verify_env))],
                cluster=True,
            ),
        }

"""Postgres: the CloudNativePG operator (add-on owner), the stack's cluster, pooler and archive.

The Cluster `crm-postgres` runs a primary and streaming replicas of PostgreSQL 16 on their
own data and WAL volumes, bootstraps the application database and its owner from the
Secrets component's basic-auth Secret, and takes its settings from the instance memory
(components/data/postgres_parameters.py). The application writes through a PgBouncer Pooler
(`crm-postgres-pooler-rw`) and reads from the replicas' `crm-postgres-ro` Service.

In production the Barman Cloud plugin archives WAL continuously and takes a daily base
backup to S3, so the database can be recovered to any point of the retention window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.data import postgres_parameters
from components.shared import endpoints, pods
from components.shared.charts import ChartSource, addon_namespace, install_chart
from components.shared.labels import with_component
from components.shared.references import ScrapeTarget
from kube import quantities
from kube.labels import NAMESPACE_NAME
from stacks.data import POOLER_RESOURCES, PostgresSettings

OPERATOR_CHART = ChartSource(
    name="cloudnative-pg", version="0.29.0", repository="https://cloudnative-pg.github.io/charts"
)
BARMAN_PLUGIN_CHART = ChartSource(
    name="plugin-barman-cloud", version="0.7.0", repository="https://cloudnative-pg.github.io/charts"
)
OPERATOR_NAMESPACE = "cnpg-system"
OPERATOR_POD_LABELS = {"app.kubernetes.io/name": "cloudnative-pg"}
BARMAN_PLUGIN = "barman-cloud.cloudnative-pg.io"
INSTANCE_SERVICE_ACCOUNT = endpoints.POSTGRES_CLUSTER
"""CloudNativePG runs a Cluster's instances as a ServiceAccount named after the Cluster: the account the
backup role must trust for WAL archiving."""

# PostgreSQL 16 (the seeds' major), the operator project's image pinned by digest
# (postgres-containers ClusterImageCatalog-bookworm, 2026-02-26).
POSTGRES_IMAGE = (
    "ghcr.io/cloudnative-pg/postgresql:16.13-202602261637-system-bookworm"
    "@sha256:350f717de1e417cf017c10716378f5614a85361d9acb3c3e630b3704f30eb2ce"
)
ARCHIVE_OBJECT_STORE = f"{endpoints.POSTGRES_CLUSTER}-archive"
BASE_BACKUP_SCHEDULE = "0 0 1 * * *"
"""CloudNativePG schedules have a seconds field: 01:00:00 daily, an hour before the logical dump."""
OPERATOR_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
RESERVED_CONNECTIONS = 20
"""Server connections kept out of the poolers' reach: the operator, replication, an operator's psql."""


# The two CloudNativePG charts accept only part of the restricted contexts (their values schemas).
CHART_POD_SECURITY_CONTEXT = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
CHART_CONTAINER_SECURITY_CONTEXT = {
    key: value
    for key, value in pods.chart_container_security_context().items()
    if key in ("allowPrivilegeEscalation", "readOnlyRootFilesystem", "capabilities", "seccompProfile")
}


def operator_values(replicas: int) -> dict[str, object]:
    """cloudnative-pg chart values: restricted pods, resources, CRDs from the chart, no PodMonitor yet."""
    return {
        "replicaCount": replicas,
        "crds": {"create": True},
        "podSecurityContext": CHART_POD_SECURITY_CONTEXT,
        "containerSecurityContext": {**CHART_CONTAINER_SECURITY_CONTEXT, "runAsUser": 10001, "runAsGroup": 10001},
        "resources": OPERATOR_RESOURCES,
        # The databases are scraped through the instances' and poolers' PodMonitors (metrics_targets); the
        # chart's PodMonitor of the operator would be applied before kube-prometheus-stack has made its CRD,
        # and dashboards are the monitoring area's.
        "monitoring": {"podMonitorEnabled": False, "grafanaDashboard": {"create": False}},
    }


def barman_plugin_values() -> dict[str, object]:
    """plugin-barman-cloud chart values: restricted pods with resources; certificates from cert-manager."""
    return {
        "podSecurityContext": CHART_POD_SECURITY_CONTEXT,
        "containerSecurityContext": CHART_CONTAINER_SECURITY_CONTEXT,
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
    }


def pool_size(settings: PostgresSettings) -> int:
    """Server connections each PgBouncer pod may open: the server's budget shared by the poolers."""
    budget = postgres_parameters.max_connections(quantities.memory_bytes(settings.memory)) - RESERVED_CONNECTIONS
    return max(10, budget // settings.pooler_instances)


@dataclass(frozen=True)
class Archive:
    """Where WAL and base backups go (production): the stack's bucket, reached with an IAM role."""

    bucket: pulumi.Input[str]
    """The stack's backup bucket."""
    prefix: str
    """Key prefix of the base backups and WAL (no slash at either end)."""
    role_arn: pulumi.Input[str]
    """The IAM role the instances' archiver assumes through their ServiceAccount (IRSA)."""
    retention_days: int
    """How long the bucket keeps them; the point-in-time window (object_store_spec)."""


def cluster_spec(
    settings: PostgresSettings,
    *,
    owner_secret: str,
    storage_class: str | None,
    strict_node_spread: bool,
    labels: Mapping[str, str],
    archive: Archive | None,
) -> dict[str, object]:
    """The CloudNativePG Cluster's spec (camelCase: custom resources are passed through as is)."""
    resources = {"cpu": settings.cpu, "memory": settings.memory}
    storage: dict[str, object] = {"size": settings.storage}
    wal_storage: dict[str, object] = {"size": settings.wal_storage}
    if storage_class:
        storage["storageClass"] = storage_class
        wal_storage["storageClass"] = storage_class
    spec: dict[str, object] = {
        "instances": settings.instances,
        "imageName": POSTGRES_IMAGE,
        # Replicas are updated first, then the primary is switched over without waiting for a person.
        "primaryUpdateStrategy": "unsupervised",
        "enableSuperuserAccess": False,
        "enablePDB": True,
        "postgresql": {"parameters": postgres_parameters.parameters(settings.memory)},
        "bootstrap": {
            "initdb": {
                "database": endpoints.DATABASE_NAME,
                "owner": "crm",
                "secret": {"name": owner_secret},
                # Detects silent corruption on disk, at a few per cent of CPU.
                "dataChecksums": True,
            }
        },
        # The operator keeps the owner's password equal to the Secret's from then on, so a
        # rotation (secretsRotation) reaches PostgreSQL without anyone running ALTER ROLE.
        "managed": {
            "roles": [
                {
                    "name": "crm",
                    "ensure": "present",
                    "login": True,
                    "passwordSecret": {"name": owner_secret},
                }
            ]
        },
        "storage": storage,
        "walStorage": wal_storage,
        # Guaranteed QoS: PostgreSQL sizes its memory from this, so it must really be there.
        "resources": {"requests": resources, "limits": resources},
        "affinity": {
            "enablePodAntiAffinity": True,
            "podAntiAffinityType": "required" if strict_node_spread else "preferred",
            "topologyKey": "kubernetes.io/hostname",
        },
        # Every pod the operator creates carries the label the network policies select on.
        "inheritedMetadata": {"labels": {**labels, endpoints.NETWORK_ROLE: endpoints.POSTGRES_ROLE}},
        "monitoring": {"enablePodMonitor": False},
    }
    if archive is not None:
        spec["plugins"] = [
            {"name": BARMAN_PLUGIN, "isWALArchiver": True, "parameters": {"barmanObjectName": ARCHIVE_OBJECT_STORE}}
        ]
        # The plugin's sidecar reaches S3 as the backup role (IRSA on EKS).
        spec["serviceAccountTemplate"] = {"metadata": {"annotations": {"eks.amazonaws.com/role-arn": archive.role_arn}}}
    return spec


def pooler_spec(settings: PostgresSettings, labels: Mapping[str, str]) -> dict[str, object]:
    """The read-write PgBouncer Pooler in transaction mode."""
    cpu_request, cpu_limit, memory_request, memory_limit = POOLER_RESOURCES
    return {
        "cluster": {"name": endpoints.POSTGRES_CLUSTER},
        "instances": settings.pooler_instances,
        "type": "rw",
        "pgbouncer": {
            # Transaction pooling multiplexes many app connections over few server ones.
            # Django needs DISABLE_SERVER_SIDE_CURSORS=True with it (README).
            "poolMode": "transaction",
            "parameters": {
                "max_client_conn": "1000",
                "default_pool_size": str(pool_size(settings)),
            },
        },
        "template": {
            "metadata": {"labels": {**labels, endpoints.NETWORK_ROLE: endpoints.POSTGRES_ROLE}},
            "spec": {
                "containers": [
                    {
                        "name": "pgbouncer",
                        "resources": {
                            "requests": {"cpu": cpu_request, "memory": memory_request},
                            "limits": {"cpu": cpu_limit, "memory": memory_limit},
                        },
                    }
                ]
            },
        },
    }


def object_store_spec(archive: Archive) -> dict[str, object]:
    """Barman Cloud ObjectStore: WAL and base backups to s3://<bucket>/<prefix>/.

    No `retentionPolicy`: enforcing it means deleting objects, which the backup role may not do
    (a compromised pod must not be able to destroy backups). The bucket's lifecycle expires
    base backups and WAL after the retention days instead; the point-in-time window is the
    retention minus the age of the oldest kept base backup (at most a day).
    """
    return {
        "configuration": {
            "destinationPath": pulumi.Output.concat("s3://", archive.bucket, f"/{archive.prefix}/"),
            "s3Credentials": {"inheritFromIAMRole": True},
            "wal": {"compression": "gzip", "maxParallel": 4},
            "data": {"compression": "gzip", "jobs": 2},
        },
    }


# CloudNativePG's own pod labels (pkg/utils/labels_annotations.go, 1.30): poolers carry the cluster label
# too, so the instances are told apart by their role.
CLUSTER_LABEL = "cnpg.io/cluster"
POD_ROLE_LABEL = "cnpg.io/podRole"
POOLER_LABEL = "cnpg.io/poolerName"
INSTANCE_METRICS_PORT = 9187
"""The instance manager's exporter (`metrics` port of the postgres container: pg_*, cnpg_*)."""
POOLER_METRICS_PORT = 9127
"""The pooler's exporter (`metrics` port of the pgbouncer container: cnpg_pgbouncer_*)."""


def metrics_targets() -> list[ScrapeTarget]:
    """The instances' and the read-write pooler's exporters, for their PodMonitors and the Prometheus flows.

    The operator's own PodMonitor (`spec.monitoring.enablePodMonitor`) is deprecated since 1.26: these are
    declared by hand, as its documentation recommends (docs/src/monitoring.md).
    """
    return [
        ScrapeTarget(
            endpoints.POSTGRES_CLUSTER,
            {CLUSTER_LABEL: endpoints.POSTGRES_CLUSTER, POD_ROLE_LABEL: "instance"},
            INSTANCE_METRICS_PORT,
            "metrics",
        ),
        ScrapeTarget(endpoints.DATABASE_HOST, {POOLER_LABEL: endpoints.DATABASE_HOST}, POOLER_METRICS_PORT, "metrics"),
    ]


def network_policy_specs() -> dict[str, k8s.networking.v1.NetworkPolicySpecArgsDict]:
    """Flows the database pods need besides the application's: operator, replication, API server, S3."""
    postgres: k8s.meta.v1.LabelSelectorArgsDict = {"match_labels": {endpoints.NETWORK_ROLE: endpoints.POSTGRES_ROLE}}
    operator: k8s.networking.v1.NetworkPolicyPeerArgsDict = {
        "namespace_selector": {"match_labels": {NAMESPACE_NAME: OPERATOR_NAMESPACE}},
        "pod_selector": {"match_labels": dict(OPERATOR_POD_LABELS)},
    }
    tcp: list[k8s.networking.v1.NetworkPolicyPortArgsDict] = [
        {"protocol": "TCP", "port": port} for port in (endpoints.POSTGRES_PORT, 8000)
    ]
    return {
        # The operator reads each instance's status on 8000 and connects on 5432; instances and
        # poolers stream and pool among themselves.
        "allow-postgres-from-operator-and-peers": {
            "pod_selector": postgres,
            "policy_types": ["Ingress"],
            "ingress": [{"from_": [operator, {"pod_selector": postgres}], "ports": tcp}],
        },
        "allow-postgres-to-peers": {
            "pod_selector": postgres,
            "policy_types": ["Egress"],
            "egress": [{"to": [{"pod_selector": postgres}], "ports": tcp}],
        },
        # Instance managers and poolers watch the Kubernetes API, and the archiver writes to S3;
        # neither address is known in advance (the API server is outside the pod network).
        "allow-postgres-to-api-server-and-object-storage": {
            "pod_selector": postgres,
            "policy_types": ["Egress"],
            "egress": [{"ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]}],
        },
    }


@dataclass(frozen=True)
class PostgresArgs:
    namespace: pulumi.Input[str]
    """The app namespace."""
    settings: PostgresSettings | None
    """Instances, their size and volumes, the pooler's size; None when the stack runs no database and only
    installs the operator for the cluster's other stacks (the add-on owner)."""
    owner_secret: str | None
    """basic-auth Secret with the database owner's user name and password (None with no database)."""
    storage_class: str | None
    """StorageClass of the data and WAL volumes; None uses the cluster's default."""
    installs_operator: bool
    """Install the operator and the Barman Cloud plugin charts (the add-on owning stack)."""
    operator_replicas: int
    """Replicas of the operator; above one, a PodDisruptionBudget keeps one through drains."""
    strict_node_spread: bool
    """Never two instances on one node (required anti-affinity); otherwise preferred."""
    archive: Archive | None
    """WAL archiving and base backups to S3, or None."""
    environment: str
    """Value of the `environment` label of the operator's namespace."""
    protect_namespaces: bool
    """Refuse to delete the operator's namespace (it would take every database's operator with it)."""
    labels: Mapping[str, str]
    """Common labels of the stack."""
    cert_manager: Sequence[pulumi.Resource] = ()
    """The plugin's certificates come from cert-manager: wait for it."""


class Postgres(pulumi.ComponentResource):
    """CloudNativePG cluster with replicas, a PgBouncer pooler, and WAL archiving in production."""

    cluster: k8s.apiextensions.CustomResource | None
    pooler: k8s.apiextensions.CustomResource | None

    def __init__(self, name: str, args: PostgresArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("crm:data:Postgres", name, None, opts)
        operator: list[pulumi.Resource] = []
        if args.installs_operator:
            operator = self._operator(name, args)
        self.cluster = self.pooler = None
        if args.settings is not None and args.owner_secret is not None:
            self._database(name, args, args.settings, args.owner_secret, operator)
        self.register_outputs(
            {
                "cluster": endpoints.POSTGRES_CLUSTER if self.cluster else None,
                "pooler": endpoints.DATABASE_HOST if self.pooler else None,
            }
        )

    def _database(
        self,
        name: str,
        args: PostgresArgs,
        settings: PostgresSettings,
        owner_secret: str,
        operator: list[pulumi.Resource],
    ) -> None:
        """The Cluster, its Pooler and (with archiving) the ObjectStore and daily base backup."""
        labels = with_component(args.labels, "postgres")

        after_operator = pulumi.ResourceOptions(parent=self, depends_on=operator)
        archive = args.archive
        object_store: list[pulumi.Resource] = []
        if archive is not None:
            object_store.append(
                k8s.apiextensions.CustomResource(
                    f"{name}-archive",
                    api_version="barmancloud.cnpg.io/v1",
                    kind="ObjectStore",
                    metadata={"name": ARCHIVE_OBJECT_STORE, "namespace": args.namespace, "labels": labels},
                    spec=object_store_spec(archive),
                    opts=after_operator,
                )
            )
        self.cluster = k8s.apiextensions.CustomResource(
            f"{name}-cluster",
            api_version="postgresql.cnpg.io/v1",
            kind="Cluster",
            metadata={
                "name": endpoints.POSTGRES_CLUSTER,
                "namespace": args.namespace,
                "labels": labels,
                # Pulumi waits until the operator reports the cluster Ready, so what depends on
                # the database (the migration Job) starts only when it accepts connections.
                "annotations": {"pulumi.com/waitFor": "condition=Ready"},
            },
            spec=cluster_spec(
                settings,
                owner_secret=owner_secret,
                storage_class=args.storage_class,
                strict_node_spread=args.strict_node_spread,
                labels=args.labels,
                archive=archive,
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*operator, *object_store],
                custom_timeouts=pulumi.CustomTimeouts(create="30m", update="30m"),
            ),
        )
        self.pooler = k8s.apiextensions.CustomResource(
            f"{name}-pooler",
            api_version="postgresql.cnpg.io/v1",
            kind="Pooler",
            metadata={"name": endpoints.DATABASE_HOST, "namespace": args.namespace, "labels": labels},
            spec=pooler_spec(settings, args.labels),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.cluster]),
        )
        if archive is not None:
            k8s.apiextensions.CustomResource(
                f"{name}-base-backup",
                api_version="postgresql.cnpg.io/v1",
                kind="ScheduledBackup",
                metadata={"name": f"{endpoints.POSTGRES_CLUSTER}-daily", "namespace": args.namespace, "labels": labels},
                spec={
                    "schedule": BASE_BACKUP_SCHEDULE,
                    "cluster": {"name": endpoints.POSTGRES_CLUSTER},
                    "method": "plugin",
                    "pluginConfiguration": {"name": BARMAN_PLUGIN},
                    "backupOwnerReference": "self",
                    # A first base backup right away: PITR needs one before the first night.
                    "immediate": True,
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.cluster]),
            )

    def _operator(self, name: str, args: PostgresArgs) -> list[pulumi.Resource]:
        namespace = addon_namespace(
            f"{name}-operator-namespace",
            OPERATOR_NAMESPACE,
            labels=args.labels,
            environment=args.environment,
            protect=args.protect_namespaces,
            parent=self,
        )
        operator = install_chart(
            f"{name}-operator",
            OPERATOR_CHART,
            OPERATOR_NAMESPACE,
            operator_values(args.operator_replicas),
            parent=self,
            depends_on=[namespace],
        )
        plugin = install_chart(
            f"{name}-barman-plugin",
            BARMAN_PLUGIN_CHART,
            OPERATOR_NAMESPACE,
            barman_plugin_values(),
            parent=self,
            # Its webhook and TLS certificates are issued by cert-manager, and it extends the operator.
            depends_on=[namespace, operator, *args.cert_manager],
        )
        resources: list[pulumi.Resource] = [operator, plugin]
        if args.operator_replicas > 1:
            # The chart (0.29.0) renders no PodDisruptionBudget: without one a node drain may evict both
            # operator replicas at once, and no Cluster is reconciled (or failed over) until one is back.
            resources.append(
                k8s.policy.v1.PodDisruptionBudget(
                    f"{name}-operator-pdb",
                    metadata={
                        "name": "cloudnative-pg",
                        "namespace": OPERATOR_NAMESPACE,
                        "labels": with_component(args.labels, "postgres"),
                    },
                    spec={
                        "max_unavailable": 1,
                        "selector": {"match_labels": dict(OPERATOR_POD_LABELS)},
                        # A crash-looping operator pod must not block node drains.
                        "unhealthy_pod_eviction_policy": "AlwaysAllow",
                    },
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
                )
            )
        return resources

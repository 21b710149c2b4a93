"""crm-platform: everything a Django + Celery CRM needs on Kubernetes, one stack per environment.

Composition root: validate the stack's settings (nothing is declared if they are wrong),
build the components from them, export what operators and later stacks need.
"""

import pulumi

import stacks
from components.app.app_config import AppConfigInputs
from components.app.workloads import AppWorkloads, AppWorkloadsArgs, selector_labels
from components.data import backups as backups_component
from components.data import postgres as postgres_component
from components.data import redis as redis_component
from components.data.backup_storage import BackupStorage, BackupStorageArgs
from components.data.backups import Backups, BackupsArgs, S3Target
from components.data.postgres import Archive, Postgres, PostgresArgs
from components.data.redis import Redis, RedisArgs
from components.edge.charts import TRAEFIK_NAMESPACE, TRAEFIK_POD_LABELS
from components.edge.edge import Edge, EdgeArgs
from components.platform.access import Access, AccessArgs
from components.platform.namespaces import Namespaces, NamespacesArgs
from components.platform.network_policies import (
    IngressController,
    NetworkPolicies,
    NetworkPoliciesArgs,
)
from components.platform.providers import aws_options, aws_provider, kubernetes_options, kubernetes_provider
from components.platform.secrets import DATABASE_SECRET, RegistryCredentials, Secrets, SecretsArgs, SmtpCredentials
from components.shared import endpoints
from components.shared.labels import common_labels
from components.shared.references import PublishedService
from stacks.profiles import Environment
from stacks.services import Role
from stacks.settings import DATABASE_OWNER

settings = stacks.load()
config_secrets = stacks.config_secrets(settings)
labels = common_labels(settings)
on_cluster = kubernetes_options(kubernetes_provider(settings))

namespaces = Namespaces(
    "namespaces",
    NamespacesArgs(
        app=settings.namespaces.app,
        monitoring=settings.namespaces.monitoring,
        environment=settings.environment.value,
        quota=settings.quota,
        protect=settings.namespaces.protect,
        labels=labels,
    ),
    on_cluster,
)

access = Access(
    "access",
    AccessArgs(
        namespace=namespaces.app,
        deployer_groups=settings.access.deployer_groups,
        read_only_groups=settings.access.read_only_groups,
        labels=labels,
    ),
    on_cluster,
)

secrets = Secrets(
    "secrets",
    SecretsArgs(
        app_namespace=namespaces.app,
        monitoring_namespace=namespaces.monitoring,
        rotation=settings.secrets_rotation,
        database_owner=DATABASE_OWNER,
        smtp=(
            SmtpCredentials(settings.smtp.username, config_secrets.smtp_password)
            if settings.smtp and config_secrets.smtp_password
            else None
        ),
        registry=(
            RegistryCredentials(settings.registry.server, settings.registry.username, config_secrets.registry_password)
            if settings.registry and config_secrets.registry_password
            else None
        ),
        labels=labels,
    ),
    on_cluster,
)

# Cluster-scoped add-ons (cert-manager, Traefik, CloudNativePG, kube-prometheus-stack) are
# installed only by the stack whose settings own them: settings.cluster.owns_addons.

edge = Edge(
    "edge",
    EdgeArgs(
        namespace=namespaces.app,
        namespace_name=settings.namespaces.app,
        edge=settings.edge,
        services={
            service.role.value: (service.name, service.port) for service in settings.app.services if service.port
        },
        installs_addons=settings.cluster.owns_addons,
        addon_replicas=1 if settings.environment is Environment.DEV else 2,
        # A laptop cluster has no load balancer controller: port-forward to Traefik instead.
        load_balancer=settings.environment is not Environment.DEV,
        environment=settings.environment.value,
        protect_namespaces=settings.namespaces.protect,
        labels=labels,
    ),
    on_cluster,
)

# Backups leave the cluster for S3 where the profile says so (staging, production); dev and
# review stacks keep them on a volume and have no AWS provider at all.
BACKUP_PREFIX = "backups"
BACKUP_SERVICE_ACCOUNT = "crm-backup"
aws_settings = settings.data.aws
backup_storage = None
if aws_settings is not None:
    backup_storage = BackupStorage(
        "backups",
        BackupStorageArgs(
            stack=settings.stack,
            namespace=settings.namespaces.app,
            service_account=BACKUP_SERVICE_ACCOUNT,
            prefix=BACKUP_PREFIX,
            retention_days=settings.data.backups.retention_days,
            object_lock=settings.environment is Environment.PRODUCTION,
            kms_key_arn=aws_settings.kms_key_arn,
            oidc_provider_arn=aws_settings.oidc_provider_arn,
            oidc_issuer=aws_settings.oidc_issuer,
            ephemeral=False,
            tags={"environment": settings.environment.value},
            # CloudNativePG runs the instances as a ServiceAccount named after the cluster.
            other_service_accounts=(endpoints.POSTGRES_CLUSTER,),
        ),
        aws_options(
            aws_provider(
                aws_settings.region,
                settings.stack,
                account_id=aws_settings.oidc_provider_arn.split(":")[4],
            )
        ),
    )

postgres = Postgres(
    "postgres",
    PostgresArgs(
        namespace=namespaces.app,
        settings=settings.data.postgres,
        owner_secret=DATABASE_SECRET,
        storage_class=settings.data.storage_class,
        installs_operator=settings.cluster.owns_addons,
        operator_replicas=1 if settings.environment is Environment.DEV else 2,
        required_anti_affinity=settings.environment is Environment.PRODUCTION,
        # Continuous WAL archiving and daily base backups (point-in-time recovery) in production.
        archive=(
            Archive(
                bucket=backup_storage.bucket_name,
                prefix=f"{BACKUP_PREFIX}/physical",
                role_arn=backup_storage.role_arn,
                retention_days=settings.data.backups.retention_days,
            )
            if backup_storage is not None and settings.environment is Environment.PRODUCTION
            else None
        ),
        image_pull_secret=None,
        environment=settings.environment.value,
        protect_namespaces=settings.namespaces.protect,
        labels=labels,
        cert_manager=edge.cert_manager,
    ),
    # The owner Secret must exist before the operator bootstraps the database from it.
    pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[secrets])),
)

redis = Redis(
    "redis",
    RedisArgs(
        namespace=namespaces.app,
        stack=settings.stack,
        settings=settings.data.redis,
        cache_password=secrets.app_env["REDIS_CACHE_PASSWORD"],
        broker_password=secrets.app_env["REDIS_BROKER_PASSWORD"],
        storage_class=settings.data.storage_class,
        labels=labels,
        waits_for=[secrets],
    ),
    on_cluster,
)

backups = Backups(
    "backups",
    BackupsArgs(
        namespace=namespaces.app,
        stack=settings.stack,
        settings=settings.data.backups,
        database_secret=secrets.refs["database_password"],
        s3=(
            S3Target(
                bucket=backup_storage.bucket_name,
                region=aws_settings.region,
                kms_key_arn=backup_storage.kms_key_arn,
                role_arn=backup_storage.role_arn,
            )
            if backup_storage is not None and aws_settings is not None
            else None
        ),
        store_size=settings.data.postgres.storage,
        storage_class=settings.data.storage_class,
        work_size=settings.data.postgres.storage,
        # Production backs up before every release's migrations (the seeds' "backup before deploy").
        pre_migration_image=(settings.app.migration_image if settings.environment is Environment.PRODUCTION else None),
        labels=labels,
    ),
    pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[postgres])),
)

workloads = AppWorkloads(
    "app",
    AppWorkloadsArgs(
        namespace=namespaces.app,
        stack=settings.stack,
        app=settings.app,
        config=AppConfigInputs(
            django_settings_module=settings.app.django_settings_module,
            api_host=settings.edge.api_host,
            app_host=settings.edge.app_host,
            smtp=settings.smtp,
            extra={},
        ),
        secrets=secrets.app_env,
        checksum_key=secrets.django_secret_key,
        image_pull_secret=secrets.image_pull_secret,
        strict_node_spread=settings.environment is Environment.PRODUCTION,
        labels=labels,
        # Migrations start once the database is Ready (and, in production, after the pre-migration backup).
        before_migration=[
            postgres.cluster,
            postgres.pooler,
            *([backups.pre_migration_backup] if backups.pre_migration_backup is not None else []),
        ],
    ),
    on_cluster,
)

published_by_role = {
    role: PublishedService(name, selector_labels(settings.stack, role), workloads.ports[role])
    for role, name in workloads.service_names.items()
}
published = list(published_by_role.values())
network_policies = NetworkPolicies(
    "network-policies",
    NetworkPoliciesArgs(
        namespace=namespaces.app,
        ingress_controller=IngressController(TRAEFIK_NAMESPACE, TRAEFIK_POD_LABELS),
        published=published,
        # Django exports /metrics on its own port (django-prometheus); Redis through its exporters.
        metrics=[published_by_role[Role.WEB], *redis_component.metrics_targets(settings.stack)],
        internal_calls=(
            [(published_by_role[Role.FRONTEND], published_by_role[Role.WEB])]
            if Role.FRONTEND in published_by_role
            else []
        ),
        monitoring_namespace=settings.namespaces.monitoring,
        egress_cidrs=settings.egress_cidrs,
        egress_ports=[443] + ([settings.smtp.port] if settings.smtp else []),
        labels=labels,
        extra={
            **postgres_component.network_policy_specs(),
            **backups_component.network_policy_specs(object_storage=backup_storage is not None),
            **redis_component.network_policy_specs(settings.stack, high_availability=redis.high_availability),
        },
    ),
    on_cluster,
)

pulumi.export("settings", settings.describe())
pulumi.export("appNamespace", namespaces.app)
pulumi.export("monitoringNamespace", namespaces.monitoring)
pulumi.export("deployerServiceAccount", access.deployer_service_account)
pulumi.export("imagePullSecret", secrets.image_pull_secret)
pulumi.export("hosts", list(settings.edge.hosts))
if backup_storage is not None:
    pulumi.export("backupBucket", backup_storage.bucket_name)
    pulumi.export("backupRoleArn", backup_storage.role_arn)
pulumi.export("migrationJob", workloads.migration_job.metadata.apply(lambda metadata: metadata.name))
pulumi.export("grafanaAdminPassword", secrets.grafana_admin_password)  # a secret output

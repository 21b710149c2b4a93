"""crm-platform: everything a Django + Celery CRM needs on Kubernetes, one stack per environment.

Composition root: validate the stack's settings (nothing is declared if they are wrong),
build the components from them, export what operators and later stacks need. It wires and
decides nothing: every environment choice is a field of the settings (stacks/profiles.py).
"""

import pulumi

import stacks
from components.app import AppConfigInputs, AppWorkloads, AppWorkloadsArgs
from components.data import (
    BACKUP_SERVICE_ACCOUNT,
    PHYSICAL_PREFIX,
    POSTGRES_SERVICE_ACCOUNT,
    STORE_PREFIX,
    Archive,
    Backups,
    BackupsArgs,
    BackupStorage,
    BackupStorageArgs,
    Media,
    MediaArgs,
    Postgres,
    PostgresArgs,
    Redis,
    RedisArgs,
    S3Target,
    backup_network_policies,
    media_network_policies,
    postgres_metrics_targets,
    postgres_network_policies,
    redis_broker_pods,
    redis_metrics_targets,
    redis_network_policies,
)
from components.edge import (
    EDGE_METRICS_TARGETS,
    INGRESS_CONTROLLER,
    ApiRoutes,
    ApiRoutesArgs,
    DnsChallengeRole,
    DnsChallengeRoleArgs,
    Edge,
    EdgeArgs,
    weighted_backends,
)
from components.monitoring import (
    SCRAPER,
    Monitoring,
    MonitoringArgs,
    celery_exporter_network_policies,
    stack_signals,
)
from components.platform import (
    Access,
    AccessArgs,
    ApplicationSecrets,
    Namespaces,
    NamespacesArgs,
    NetworkPolicies,
    NetworkPoliciesArgs,
    RegistryCredentials,
    Secrets,
    SecretsArgs,
    SmtpCredentials,
    aws_options,
    aws_provider,
    kubernetes_options,
    kubernetes_provider,
)
from components.shared.labels import common_labels
from stacks.model import DATABASE_OWNER
from stacks.services import Role

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
        rotation=settings.secrets_rotation,
        database_owner=DATABASE_OWNER if settings.data.postgres_enabled else None,
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
        application=(
            ApplicationSecrets(settings.app.secret_names, config_secrets.app_secrets)
            if config_secrets.app_secrets is not None
            else None
        ),
    ),
    on_cluster,
)

# Backups, uploads and cert-manager's DNS-01 challenges reach AWS where the settings name an account (staging,
# production); dev and review stacks keep backups and uploads on volumes and have no AWS provider at all.
aws_settings = settings.data.aws
on_aws = (
    aws_options(aws_provider(aws_settings.region, settings.stack, account_id=aws_settings.account_id))
    if aws_settings is not None
    else None
)

# Tenant wildcards are proved by DNS-01: the add-on owner's cert-manager answers in Route53 as its own IAM role.
dns_challenges = settings.edge.dns_challenges
route53_role = None
if dns_challenges is not None and aws_settings is not None and on_aws is not None:
    route53_role = DnsChallengeRole(
        "cert-manager-dns01",
        DnsChallengeRoleArgs(
            stack=settings.stack,
            settings=dns_challenges,
            oidc_provider_arn=aws_settings.oidc_provider_arn,
            oidc_issuer=aws_settings.oidc_issuer,
            tags={"environment": settings.environment.value},
        ),
        on_aws,
    )

# Cluster-scoped add-ons (cert-manager, Traefik, CloudNativePG) are installed only by the
# stack whose settings own them: settings.cluster.owns_addons.
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
        addon_replicas=settings.cluster.addon_replicas,
        load_balancer=settings.cluster.ingress_load_balancer,
        strict_node_spread=settings.strict_node_spread,
        environment=settings.environment.value,
        protect_namespaces=settings.namespaces.protect,
        labels=labels,
        route53_role=route53_role,
        route53_role_arn=route53_role.role_arn if route53_role is not None else None,
    ),
    on_cluster,
)

# Backups leave the cluster for S3 where the settings name an AWS account; a stack without PostgreSQL has nothing
# to back up.
database = settings.data.postgres
backup_storage = None
if aws_settings is not None and on_aws is not None and database is not None:
    backup_storage = BackupStorage(
        "backups",
        BackupStorageArgs(
            stack=settings.stack,
            namespace=settings.namespaces.app,
            service_account=BACKUP_SERVICE_ACCOUNT,
            prefix=STORE_PREFIX,
            retention_days=settings.data.backups.retention_days,
            object_lock=settings.data.backups.object_lock,
            kms_key_arn=aws_settings.kms_key_arn,
            oidc_provider_arn=aws_settings.oidc_provider_arn,
            oidc_issuer=aws_settings.oidc_issuer,
            tags={"environment": settings.environment.value},
            other_service_accounts=(POSTGRES_SERVICE_ACCOUNT,),
        ),
        on_aws,
    )

# User uploads: the S3 media bucket and its IRSA role, or a volume (settings.media says which); None without uploads.
media = None
if settings.media is not None:
    media = Media(
        "media",
        MediaArgs(
            namespace=namespaces.app,
            namespace_name=settings.namespaces.app,
            stack=settings.stack,
            settings=settings.media,
            # A candidate web handles uploads as web does: its account is trusted too.
            service_accounts=tuple(
                service.name for service in settings.app.deployed_services if service.role in settings.media.services
            ),
            aws=aws_settings,
            storage_class=settings.data.storage_class,
            labels=labels,
            tags={"environment": settings.environment.value},
        ),
        pulumi.ResourceOptions.merge(on_cluster, on_aws),
    )

# The add-on owner installs the CloudNativePG operator even without a database of its own: the
# cluster's other stacks may run one.
postgres = None
if database is not None or settings.cluster.owns_addons:
    postgres = Postgres(
        "postgres",
        PostgresArgs(
            namespace=namespaces.app,
            settings=database,
            owner_secret=secrets.database_owner_secret,
            storage_class=settings.data.storage_class,
            installs_operator=settings.cluster.owns_addons,
            operator_replicas=settings.cluster.addon_replicas,
            strict_node_spread=settings.strict_node_spread,
            archive=(
                Archive(
                    bucket=backup_storage.bucket_name,
                    prefix=PHYSICAL_PREFIX,
                    role_arn=backup_storage.role_arn,
                    retention_days=settings.data.backups.retention_days,
                )
                if backup_storage is not None and database is not None and database.wal_archiving
                else None
            ),
            environment=settings.environment.value,
            protect_namespaces=settings.namespaces.protect,
            labels=labels,
            cert_manager=edge.cert_manager,
        ),
        # The owner Secret must exist before the operator bootstraps the database from it.
        pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[secrets])),
    )
database_ready = [postgres.cluster, postgres.pooler] if postgres and postgres.cluster and postgres.pooler else []

redis = Redis(
    "redis",
    RedisArgs(
        namespace=namespaces.app,
        stack=settings.stack,
        settings=settings.data.redis,
        cache_password=secrets.app.redis_cache_password,
        broker_password=secrets.app.redis_broker_password,
        storage_class=settings.data.storage_class,
        labels=labels,
        waits_for=[secrets],
    ),
    on_cluster,
)

backups = None
if database is not None and secrets.app.database_password is not None:
    backups = Backups(
        "backups",
        BackupsArgs(
            namespace=namespaces.app,
            stack=settings.stack,
            settings=settings.data.backups,
            database_secret=secrets.app.database_password.ref,
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
            store_size=database.storage,
            storage_class=settings.data.storage_class,
            work_size=database.storage,
            # Every release image, a candidate's too: its migration is the one that changes the schema now.
            pre_migration_images=settings.app.release_images if settings.data.backups.pre_migration_backup else (),
            labels=labels,
        ),
        pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=database_ready)),
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
            postgres=settings.data.postgres_enabled,
            channels=settings.app.channels,
            tenant_domain=settings.edge.tenant_domain,
        ),
        secrets=secrets.app.environment(),
        application_secrets=secrets.app.application,
        checksum_key=secrets.app.secret_key.value,
        image_pull_secret=secrets.image_pull_secret,
        strict_node_spread=settings.strict_node_spread,
        labels=labels,
        # Migrations start once the database is Ready, and after the image's pre-migration backup where there is one.
        before_migration=database_ready,
        before_release={image: [job] for image, job in (backups.pre_migration_backups if backups else {}).items()},
        media=media.attachment if media is not None else None,
    ),
    on_cluster,
)

# The API host's routes (and the tenant hosts', where there are tenants) split their requests between the released
# web and a candidate, by the stack's weights; they move only once the web Deployments have rolled out.
candidate = workloads.candidate_published
api_routes = ApiRoutes(
    "api",
    ApiRoutesArgs(
        namespace=namespaces.app,
        edge=settings.edge,
        backends=weighted_backends(
            (workloads.service_names[Role.WEB], workloads.ports[Role.WEB]),
            (candidate.name, candidate.port) if candidate else None,
            settings.app.candidate_traffic_percent,
        ),
        labels=labels,
        releases=[
            workloads.deployments[Role.WEB],
            *([workloads.candidate_deployment] if workloads.candidate_deployment else []),
        ],
        edge_ready=[edge],
    ),
    on_cluster,
)

# What Prometheus scrapes in the app namespace: Django's /metrics on its own port (django-prometheus), the
# PostgreSQL instances and pooler, the Redis exporters; the Celery exporter where a worker runs.
worker = settings.app.service(Role.WORKER)
scrape_targets = [
    workloads.metrics_target,
    *([workloads.candidate_metrics_target] if workloads.candidate_metrics_target else []),
    *(postgres_metrics_targets() if database is not None else []),
    *redis_metrics_targets(settings.stack),
]
broker_pods = redis_broker_pods(settings.stack, high_availability=redis.high_availability)

# Receiver credentials, for the Alertmanager configuration (keys as alertmanager_config takes them).
alertmanager_credentials = {
    key: value
    for key, value in {
        "chat_webhook_url": config_secrets.alert_chat_webhook_url,
        "pager_routing_key": config_secrets.alert_pager_routing_key,
        "database_chat_webhook_url": config_secrets.alert_database_chat_webhook_url,
        "smtp_password": config_secrets.smtp_password if settings.monitoring.receivers.email_to else None,
    }.items()
    if value is not None
}
signals = stack_signals(settings)
monitoring = Monitoring(
    "monitoring",
    MonitoringArgs(
        namespace=namespaces.monitoring,
        app_namespace=namespaces.app,
        app_namespace_name=settings.namespaces.app,
        stack=settings.stack,
        settings=settings.monitoring,
        installs_stack=settings.cluster.owns_addons,
        storage_class=settings.data.storage_class,
        strict_node_spread=settings.strict_node_spread,
        environment=settings.environment.value,
        protect_namespaces=settings.namespaces.protect,
        labels=labels,
        targets=scrape_targets,
        addon_targets=EDGE_METRICS_TARGETS,
        worker_args=worker.args if worker is not None else None,
        broker_password=secrets.app.redis_broker_password,
        broker_pods=broker_pods,
        grafana_admin_password=secrets.grafana_admin_password,
        alertmanager_credentials=alertmanager_credentials,
        alertmanager_config=signals.alertmanager_config,
        rule_groups=signals.rule_groups,
        dashboards=signals.dashboards,
        cert_manager=edge.cert_manager,
        waits_for=[redis],
    ),
    on_cluster,
)

published = workloads.published
network_policies = NetworkPolicies(
    "network-policies",
    NetworkPoliciesArgs(
        namespace=namespaces.app,
        ingress_controller=INGRESS_CONTROLLER,
        published=[*published.values(), *([candidate] if candidate else [])],
        metrics=monitoring.scrape_targets,
        scraper=SCRAPER,
        internal_calls=[(published[Role.FRONTEND], published[Role.WEB])] if Role.FRONTEND in published else [],
        egress_cidrs=settings.egress_cidrs,
        egress_ports=[443, *([settings.smtp.port] if settings.smtp else []), *settings.egress_ports],
        labels=labels,
        postgres=database is not None,
        extra={
            **(postgres_network_policies() if database is not None else {}),
            **(backup_network_policies(object_storage=backup_storage is not None) if backups is not None else {}),
            **media_network_policies(settings.media),
            **redis_network_policies(settings.stack, high_availability=redis.high_availability),
            **(celery_exporter_network_policies(settings.stack, broker_pods) if worker is not None else {}),
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
# What the deploy workflow's smoke test GETs (scripts/delivery/smoke-test.sh): each must answer 200.
pulumi.export("smokeTargets", settings.smoke_targets)
if settings.edge.tenant_domain is not None:
    pulumi.export("tenantHosts", list(settings.edge.tenant_hosts))
if route53_role is not None:
    pulumi.export("dnsChallengeRoleArn", route53_role.role_arn)
if backup_storage is not None:
    pulumi.export("backupBucket", backup_storage.bucket_name)
    pulumi.export("backupRoleArn", backup_storage.role_arn)
if media is not None and media.bucket_name is not None:
    pulumi.export("mediaBucket", media.bucket_name)
    pulumi.export("mediaRoleArn", media.role_arn)
if workloads.migration_job is not None:
    pulumi.export("migrationJob", workloads.migration_job.metadata.apply(lambda metadata: metadata.name))
pulumi.export("releaseWeights", api_routes.weights)
if settings.cluster.owns_addons:
    # Grafana runs where the add-ons are installed (one per cluster).
    pulumi.export("grafanaAdminPassword", secrets.grafana_admin_password)  # a secret output

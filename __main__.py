"""crm-platform: everything a Django + Celery CRM needs on Kubernetes, one stack per environment.

Composition root: validate the stack's settings (nothing is declared if they are wrong),
build the components from them, export what operators and later stacks need.
"""

import pulumi

import stacks
from components.access import Access, AccessArgs
from components.labels import common_labels
from components.namespaces import Namespaces, NamespacesArgs
from components.provider import kubernetes_options, kubernetes_provider
from components.secrets import RegistryCredentials, Secrets, SecretsArgs, SmtpCredentials
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

pulumi.export("settings", settings.describe())
pulumi.export("appNamespace", namespaces.app)
pulumi.export("monitoringNamespace", namespaces.monitoring)
pulumi.export("deployerServiceAccount", access.deployer_service_account)
pulumi.export("imagePullSecret", secrets.image_pull_secret)
pulumi.export("grafanaAdminPassword", secrets.grafana_admin_password)  # a secret output

"""Every config key the program reads: name, Pulumi type, description, project default.

This table is the single source for `Pulumi.yaml`'s `config:` block and the README's
configuration reference; tests fail when either drifts from it.

Why the project defaults are "empty" values: the Pulumi CLI writes a key's `default` from
`Pulumi.yaml` into every stack that does not set the key, so the program cannot tell a
default from a choice. Keys whose sensible value depends on the environment therefore
default to "" (or 0), which means "the environment's profile decides" (stacks/profiles.py).
See docs/decisions/0001-flat-config-keys.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PROJECT = "crm-platform"

ConfigType = Literal["string", "integer", "array", "object"]


@dataclass(frozen=True)
class ConfigKey:
    """One key of the `crm-platform:` config namespace."""

    name: str
    """The key without the project prefix (`smtpPort`)."""
    type: ConfigType
    """Its Pulumi config type."""
    description: str
    """What it means: Pulumi.yaml's description and the README's configuration table."""
    default: str | int | list[str] | dict[str, object]
    """The `Pulumi.yaml` default; "" or 0 means the profile decides."""
    secret: bool = False
    """Set only with `pulumi config set --secret`; never shown."""
    needed_when_set: str = ""
    """For a secret: the key whose being set makes this secret required; "" for an optional secret whose
    own presence switches its feature on (a receiver's credential)."""

    @property
    def full_name(self) -> str:
        return f"{PROJECT}:{self.name}"


PROFILE_DECIDES = ""
"""The project default of every string key whose value the environment profile picks."""

KEYS: tuple[ConfigKey, ...] = (
    ConfigKey(
        "environment",
        "string",
        'Profile to start from: dev, staging, production or review. "" derives it from the '
        "stack name (dev, staging, production, pr-<number>).",
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "domain",
        "string",
        "Base DNS domain of the environment's hosts (api.<domain>, app.<domain>); review "
        'stacks prefix it with pr-<number>. "" takes the profile value; required for '
        "staging and production.",
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "kubeContext",
        "string",
        'kubeconfig context to deploy to. "" uses the current context, which only the dev profile allows.',
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "kubeconfig",
        "string",
        'Path to the kubeconfig file. "" uses $KUBECONFIG or ~/.kube/config.',
        "",
    ),
    ConfigKey(
        "clusterAddons",
        "string",
        "Whether this stack installs the cluster-scoped charts (cert-manager, ingress "
        'controller, operators): "true", "false", or "" for the profile value. Review stacks '
        "never do.",
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "appNamespace",
        "string",
        'Namespace of the application and its data. "" gives crm-<stack>.',
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "monitoringNamespace",
        "string",
        'Namespace of the stack\'s monitoring objects. "" gives crm-<stack>-monitoring.',
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "quotaCpuRequests",
        "string",
        'Total CPU all pods of the app namespace may request (ResourceQuota). "" takes the profile value.',
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "quotaCpuLimits",
        "string",
        'Total CPU limit of all pods of the app namespace. "" takes the profile value.',
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "quotaMemoryRequests",
        "string",
        'Total memory all pods of the app namespace may request. "" takes the profile value.',
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "quotaMemoryLimits",
        "string",
        'Total memory limit of all pods of the app namespace. "" takes the profile value.',
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "quotaPods",
        "integer",
        "Most pods the app namespace may run at once. 0 takes the profile value.",
        0,
    ),
    ConfigKey(
        "deployerGroups",
        "array",
        "Identity-provider groups bound to the namespaced deployer Role.",
        [],
    ),
    ConfigKey(
        "readOnlyGroups",
        "array",
        "Identity-provider groups bound to the namespaced read-only Role (no Secrets).",
        [],
    ),
    ConfigKey(
        "secretsRotation",
        "integer",
        "Generation of every generated secret (Django SECRET_KEY, database, Redis and "
        "Grafana passwords); raise it by one to rotate them all.",
        0,
    ),
    ConfigKey(
        "smtpHost",
        "string",
        'SMTP relay for outgoing mail. Required for staging and production; "" in dev uses no SMTP.',
        "",
    ),
    ConfigKey("smtpPort", "integer", "SMTP port (587 for STARTTLS submission).", 587),
    ConfigKey("smtpUsername", "string", "SMTP user; required when smtpHost is set.", ""),
    ConfigKey(
        "smtpPassword",
        "string",
        "SMTP password; required when smtpHost is set. Set with `pulumi config set --secret`.",
        "",
        secret=True,
        needed_when_set="smtpHost",
    ),
    ConfigKey(
        "registryServer",
        "string",
        'Private image registry (ghcr.io, registry.example.com:5000); "" pulls without a pull secret.',
        "",
    ),
    ConfigKey("registryUsername", "string", "Registry user; required when registryServer is set.", ""),
    ConfigKey(
        "registryPassword",
        "string",
        "Registry password or token; required when registryServer is set. Set with `pulumi config set --secret`.",
        "",
        secret=True,
        needed_when_set="registryServer",
    ),
    ConfigKey(
        "appImage",
        "string",
        "The Django application's image with a pinned tag or digest "
        "(ghcr.io/acme/crm-backend:2.4.1); web, worker, beat and the migration Job run it. "
        "Releasing a version means changing this value. Required.",
        "",
    ),
    ConfigKey(
        "candidateImage",
        "string",
        "A release candidate of the Django application's image, pinned and different from the released "
        "one: it runs as its own web Deployment (crm-web-candidate, after its own migration Job) behind "
        'the same hosts, taking candidateTrafficPercent of the API\'s requests. "" runs no candidate. '
        'Promote it by setting appImage to it and this key back to "". See README, Releases.',
        "",
    ),
    ConfigKey(
        "candidateTrafficPercent",
        "integer",
        "Share of the API's requests (0-100) the candidate serves, the rest going to the released web: "
        "5, 20, 50, 100 for a canary; 0 or 100 with both running for blue-green. Needs candidateImage.",
        0,
    ),
    ConfigKey(
        "frontendImage",
        "string",
        'The optional frontend\'s image (React/Next, port 3000) with a pinned tag; "" runs no frontend.',
        "",
    ),
    ConfigKey(
        "djangoProject",
        "string",
        "Python package of the Django project: the default commands run "
        "<project>.wsgi:application and celery -A <project>.",
        "crm",
    ),
    ConfigKey(
        "djangoSettingsModule",
        "string",
        'DJANGO_SETTINGS_MODULE of every service; "" gives <djangoProject>.settings.',
        "",
    ),
    ConfigKey(
        "services",
        "object",
        "Per-service overrides of web, worker, beat and frontend: image, command, args, port, "
        "livenessPath/readinessPath or livenessCommand/readinessCommand, resources "
        "(cpuRequest, cpuLimit, memoryRequest, memoryLimit), replicas, autoscaling "
        "(minReplicas, maxReplicas, cpuUtilization, memoryUtilization, "
        "scaleDownStabilizationSeconds, or false), env (non-secret), secrets (names from appSecrets), "
        "writablePaths, runAsUser, terminationGracePeriodSeconds, server (web: wsgi or asgi), enabled "
        "(not web). See README, Declaring the services.",
        {},
    ),
    ConfigKey(
        "appSecrets",
        "object",
        "The application's own credentials (API keys, a Sentry DSN, payment keys), by environment "
        "variable name, each set with `pulumi config set --secret --path 'appSecrets.<NAME>' <value>`. "
        "They go to one Kubernetes Secret, crm-app-secrets, and reach web, worker and beat (the "
        "frontend none) by secretKeyRef, unless a service lists its own in services.<role>.secrets. "
        "Names the platform sets (SECRET_KEY, DATABASE_*, REDIS_*, ...) are refused.",
        {},
        secret=True,
    ),
    ConfigKey(
        "migrationCommand",
        "string",
        'What the migration Job runs before each release, e.g. "python migrate_database.py" (split like a '
        'shell would, run without one). "" runs Django\'s `python manage.py migrate --noinput`; "none" runs no '
        "migration Job, and nothing waits for one.",
        "",
    ),
    ConfigKey(
        "deployChecks",
        "string",
        "Django's deployment checks (`manage.py check --deploy`) in the migration Job, before the "
        'migrations: "WARNING" fails the release on any warning (DEBUG on, a weak SECRET_KEY, missing '
        'HTTPS settings), "ERROR" only on errors, "off" runs none. "" takes the profile value: WARNING '
        "in staging, production and review stacks, off in dev.",
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "apiHost",
        "string",
        'Host name of the Django API (web); "" gives api.<domain>.',
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "appHost",
        "string",
        'Host name of the frontend; "" gives app.<domain>. Unused without a frontend.',
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "websocketPaths",
        "array",
        "URL path prefixes on the API host served as WebSockets: routed without request "
        "buffering, which would break the upgrade.",
        ["/ws/"],
    ),
    ConfigKey(
        "tlsIssuer",
        "string",
        "cert-manager ClusterIssuer of the stack's certificates: letsencrypt-production, "
        'letsencrypt-staging or selfsigned; "" takes the profile value.',
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "acmeEmail",
        "string",
        "Contact address of the Let's Encrypt account, used by the stack that installs the "
        'cluster add-ons; "" registers without one.',
        "",
    ),
    ConfigKey(
        "tenantDomain",
        "string",
        "Domain whose one-label subdomains are the application's tenants (django-tenants): <tenant>.<tenantDomain> "
        "and <tenantDomain> itself are routed to web through the same release weights as the API, admitted by "
        "ALLOWED_HOSTS and CSRF_TRUSTED_ORIGINS, and served under one wildcard certificate issued by DNS-01 (the "
        "cluster's Route53 issuers; dev: self-signed). It may not be, or contain, apiHost or appHost. Review stacks "
        'prefix it with pr-<number>. "" serves no tenant hosts. See README, Tenant hosts.',
        "",
    ),
    ConfigKey(
        "dnsHostedZoneId",
        "string",
        "ID of the Route53 hosted zone holding tenantDomain's records (Z...), where cert-manager writes the DNS-01 "
        "challenges of tenant certificates. Used by the stack that installs the cluster add-ons: it makes the "
        "DNS-01 ClusterIssuers (letsencrypt-staging-dns01, letsencrypt-production-dns01) and cert-manager's IAM "
        "role, allowed to change only _acme-challenge TXT records under tenantDomain in this zone. Required there "
        'with tenantDomain (staging, production); refused in dev, which has no AWS account; "" elsewhere.',
        "",
    ),
    ConfigKey(
        "postgres",
        "string",
        'Whether the stack runs PostgreSQL: "true", "false", or "" (true). Without it there is no '
        "database cluster, pooler, database backup or database network flow; the application brings "
        "its own database, whose URL may then be an application secret (appSecrets.DATABASE_URL) and "
        "whose port egressPorts opens.",
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "postgresInstances",
        "integer",
        "PostgreSQL instances (primary + streaming replicas) of the CloudNativePG cluster. "
        "0 takes the profile value: dev 1, staging 2, production 3.",
        0,
    ),
    ConfigKey(
        "postgresCpu",
        "string",
        'CPU of each PostgreSQL instance (request = limit). "" takes the profile value.',
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "postgresMemory",
        "string",
        "Memory of each PostgreSQL instance (request = limit); shared_buffers, "
        'effective_cache_size, work_mem and max_connections follow from it. "" takes the profile value.',
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "postgresStorage",
        "string",
        'Data volume of each PostgreSQL instance. "" takes the profile value.',
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "postgresWalStorage",
        "string",
        'Separate WAL volume of each PostgreSQL instance. "" takes the profile value.',
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "poolerInstances",
        "integer",
        "PgBouncer pods of the read-write Pooler. 0 takes the profile value.",
        0,
    ),
    ConfigKey(
        "storageClass",
        "string",
        'StorageClass of every volume (PostgreSQL, Redis broker, dev backups); "" uses the cluster default.',
        "",
    ),
    ConfigKey(
        "redisCacheMemory",
        "string",
        'Memory limit of the cache Redis; maxmemory is 80 % of it. "" takes the profile value.',
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "redisBrokerMemory",
        "string",
        'Memory limit of each broker Redis (never evicts: size it for the queues). "" takes the profile value.',
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "redisBrokerStorage",
        "string",
        'Volume of each broker Redis for its append-only file. "" takes the profile value.',
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "backupSchedule",
        "string",
        "Cron schedule (UTC) of the logical backup CronJob.",
        "0 2 * * *",
    ),
    ConfigKey(
        "restoreTestSchedule",
        "string",
        "Cron schedule (UTC) of the weekly restore verification.",
        "0 4 * * 0",
    ),
    ConfigKey(
        "backupRetentionDays",
        "integer",
        "Days backups are kept (logical dumps, and base backups and WAL in production). 0 means 30.",
        0,
    ),
    ConfigKey(
        "restoreMinimumRows",
        "object",
        "Tables the restore verification checks, each with the fewest rows it must hold after a "
        'restore, e.g. {"crm_contact": 1000}. {} checks django_migrations has rows.',
        {},
    ),
    ConfigKey(
        "awsRegion",
        "string",
        "AWS region of the backup and media buckets; required where they are in S3 (staging, production). "
        '"" where they are not.',
        "",
    ),
    ConfigKey(
        "oidcProviderArn",
        "string",
        "ARN of the cluster's IAM OIDC provider, which the backup and media roles trust "
        "(arn:aws:iam::<account>:oidc-provider/<issuer>); required with awsRegion.",
        "",
    ),
    ConfigKey(
        "backupKmsKeyArn",
        "string",
        'KMS key that encrypts the backup bucket; "" creates a dedicated key with rotation.',
        "",
    ),
    ConfigKey(
        "egressCidrs",
        "array",
        "Networks (CIDR) the application may reach on port 443 and on smtpPort: the "
        "allow-list of its egress network policies; empty allows no internet egress. "
        "Required when smtpHost is set.",
        [],
    ),
    ConfigKey(
        "media",
        "string",
        'Whether the application keeps user uploads: "true" gives the services in mediaServices a media store '
        "(an S3 bucket where the profile says so, staging and production; a PersistentVolumeClaim elsewhere); "
        '"false" for an application without uploads.',
        "true",
    ),
    ConfigKey(
        "mediaServices",
        "array",
        "Services that read and write uploads (web, worker, beat, frontend): only they get the media volume, or "
        "the media bucket's IAM role and a network path to S3. [] gives web and worker (those that run).",
        [],
    ),
    ConfigKey(
        "mediaPath",
        "string",
        "Where the media volume is mounted in those services (MEDIA_ROOT) where uploads stay in the cluster.",
        "/app/media",
    ),
    ConfigKey(
        "mediaStorage",
        "string",
        'Size of the media PersistentVolumeClaim (dev and review stacks), in storageClass. "" takes the profile '
        "value; refused where uploads go to S3.",
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "mediaAccessMode",
        "string",
        "Access mode of the media PersistentVolumeClaim: ReadWriteOnce (the media services are scheduled onto "
        "one node) or ReadWriteMany (pods anywhere; the storageClass must offer it, e.g. EFS, NFS, CephFS). "
        '"" takes the profile value; refused where uploads go to S3.',
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "mediaPrefix",
        "string",
        "Key prefix of every upload in the media bucket (django-storages' AWS_LOCATION); the media role may "
        "touch no other key.",
        "media",
    ),
    ConfigKey(
        "mediaNoncurrentDays",
        "integer",
        "Days an overwritten or deleted upload stays recoverable in the media bucket as a noncurrent version "
        "(docs/runbooks/media.md), from 1 to 3650.",
        30,
    ),
    ConfigKey(
        "mediaKmsKeyArn",
        "string",
        'KMS key (its key/<id> ARN) that encrypts the media bucket; "" creates a dedicated key with rotation.',
        "",
    ),
    ConfigKey(
        "mediaEgressCidrs",
        "array",
        "Networks the media services may reach on 443 for S3 and STS (VPC endpoints' subnets, the region's S3 "
        "ranges); empty allows 443 to any address, as S3 has no fixed addresses.",
        [],
    ),
    ConfigKey(
        "prometheusRetention",
        "string",
        "How long Prometheus keeps samples, a Prometheus duration from 2h to 10y (15d, 12h). Used by the stack "
        'that installs the cluster add-ons (Prometheus is one per cluster). "" takes the profile value.',
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "prometheusRetentionSize",
        "string",
        "The most disk Prometheus's samples may use before the oldest go (40GB; Prometheus counts GB in "
        'GiB), at most 90 % of prometheusStorage. "" takes the profile value.',
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "prometheusStorage",
        "string",
        'Prometheus\'s PersistentVolumeClaim (100Gi), in storageClass. "" takes the profile value.',
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "managedControlPlane",
        "string",
        "Whether the cluster hides its control plane (EKS, GKE, AKS; kind binds it to localhost): "
        '"true" scrapes and alerts on none of etcd, the scheduler, the controller-manager or kube-proxy, '
        '"false" scrapes them; "" takes the profile value.',
        PROFILE_DECIDES,
    ),
    ConfigKey(
        "alertThresholds",
        "object",
        "Where alerts start firing, any of: cpuPercentOfLimit (80), memoryPercentOfLimit (90), "
        "diskPercent (90), errorRatioPercent (5), latencyP95Seconds (2), databaseConnectionsPercent (80), "
        "replicationLagSeconds (30), queueBacklog (1000), taskFailurePercent (10), brokerMemoryPercent (80), "
        "availabilitySloPercent (99.9), certificateExpiryDays (14). {} keeps the seeds' values.",
        {},
    ),
    ConfigKey(
        "alertEmailTo",
        "array",
        "Addresses that get critical alerts by mail through the stack's SMTP relay (needs smtpHost).",
        [],
    ),
    ConfigKey(
        "alertEmailFrom",
        "string",
        'Sender address of alert mail; "" gives alertmanager@<domain>.',
        "",
    ),
    ConfigKey(
        "alertChatWebhookUrl",
        "string",
        "Chat webhook (Slack-compatible) for warnings, and criticals where nothing pages; "
        '"" sends no chat. Set with `pulumi config set --secret`.',
        "",
        secret=True,
    ),
    ConfigKey(
        "alertPagerRoutingKey",
        "string",
        "PagerDuty Events v2 routing key that critical alerts page, in the environments that page "
        '(production); "" pages nobody. Set with `pulumi config set --secret`.',
        "",
        secret=True,
    ),
    ConfigKey(
        "alertDatabaseChatWebhookUrl",
        "string",
        'Chat webhook of the database team, for the database alerts; "" sends them with the rest. '
        "Set with `pulumi config set --secret`.",
        "",
        secret=True,
    ),
    ConfigKey(
        "businessMetrics",
        "object",
        "Counters of the application's own that the business dashboard plots, panel title to counter name "
        '(with its _total suffix), e.g. {"User registrations": "user_registrations_total"}.',
        {},
    ),
    ConfigKey(
        "egressPorts",
        "array",
        "More TCP ports the application may reach on egressCidrs, besides 443 and smtpPort: an external "
        "database, e.g. [27017] for MongoDB.",
        [],
    ),
)

KEYS_BY_NAME: dict[str, ConfigKey] = {key.name: key for key in KEYS}
SECRET_KEY_NAMES: frozenset[str] = frozenset(key.name for key in KEYS if key.secret)

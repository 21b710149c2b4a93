"""Settings of a stack's monitoring: what Prometheus keeps, when alerts fire, where they go.

Plain frozen dataclasses, filled by `stacks.build.build()` from the profile and the stack's
monitoring keys. The thresholds' defaults are the seeds' (002: CPU 80 %, memory 90 % of the
limit, 5xx above 5 %; 003: disk 90 %, response time 2 s, database pool 80 %; 004: 99.9 %
availability). Receivers are described without their credentials: the chat webhook URL, the
pager routing key and the database team's webhook are config secrets, read as Pulumi secrets
by `stacks.config_secrets()` and never held here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class AlertThresholds:
    """Where an alert starts firing; a team tunes these per stack (`alertThresholds`)."""

    cpu_percent_of_limit: int = 80
    """A container's CPU use against its limit, sustained 10 minutes (seed 002, 003)."""
    memory_percent_of_limit: int = 90
    """A container's working set against its memory limit, sustained 10 minutes (seed 002)."""
    disk_percent: int = 90
    """A PersistentVolume's used share (PostgreSQL data and WAL, Redis broker, Prometheus) (seed 003)."""
    error_ratio_percent: float = 5.0
    """The web's share of 5xx responses over 5 minutes (seed 002)."""
    latency_p95_seconds: float = 2.0
    """The web's 95th-percentile response time over 5 minutes (seed 003)."""
    database_connections_percent: int = 80
    """Server connections in use against max_connections (seed 003: database pool 80 %)."""
    replication_lag_seconds: int = 30
    """How far a PostgreSQL replica may trail its primary."""
    queue_backlog: int = 1000
    """Tasks waiting in one Celery queue, sustained 15 minutes."""
    task_failure_percent: float = 10.0
    """The share of Celery tasks that fail over 15 minutes."""
    broker_memory_percent: int = 80
    """The broker Redis's memory against its maxmemory: it refuses writes when full."""
    availability_slo_percent: float = 99.9
    """The web's availability objective over 30 days, for the burn-rate alerts (seed 004)."""
    certificate_expiry_days: int = 14
    """A TLS certificate this close to expiry (cert-manager renews at 30 days) means renewal is failing."""


THRESHOLD_RANGES: dict[str, tuple[Decimal, Decimal, str]] = {
    "cpu_percent_of_limit": (Decimal(1), Decimal(100), ""),
    "memory_percent_of_limit": (Decimal(1), Decimal(100), ""),
    # 100 % full is too late to warn about: the volume is already refusing writes.
    "disk_percent": (Decimal(1), Decimal(99), ""),
    "error_ratio_percent": (Decimal("0.01"), Decimal(100), ""),
    "latency_p95_seconds": (Decimal("0.001"), Decimal(600), ""),
    "database_connections_percent": (Decimal(1), Decimal(100), ""),
    "replication_lag_seconds": (Decimal(1), Decimal(86400), ""),
    "queue_backlog": (Decimal(1), Decimal(10_000_000), ""),
    "task_failure_percent": (Decimal("0.01"), Decimal(100), ""),
    # Redis refuses writes at maxmemory: the warning must come before.
    "broker_memory_percent": (Decimal(1), Decimal(99), ""),
    # 100 % leaves no error budget, which the burn-rate alerts divide by.
    "availability_slo_percent": (Decimal(90), Decimal("99.999"), " (100 leaves no error budget to burn)"),
    # cert-manager renews 30 days before expiry: a larger threshold fires on every healthy certificate.
    "certificate_expiry_days": (
        Decimal(1),
        Decimal(29),
        " (cert-manager renews at 30 days, so more would fire on healthy certificates)",
    ),
}
"""Allowed values of each threshold: (lowest, highest, why the bound is there, if not obvious). Decimals, so a value is
compared with the bound exactly as written here and as the error message shows it (the float 0.01 is a little more
than 0.01)."""


def threshold_keys() -> dict[str, str]:
    """Each threshold's key inside the `alertThresholds` config object (camelCase) -> its field name."""
    keys = {}
    for field in dataclasses.fields(AlertThresholds):
        first, *rest = field.name.split("_")
        keys[first + "".join(word.capitalize() for word in rest)] = field.name
    return keys


@dataclass(frozen=True)
class Receivers:
    """Who is told: which receivers the stack configured (their credentials are config secrets)."""

    chat: bool
    """A chat webhook (alertChatWebhookUrl, Slack-compatible) gets warnings, and criticals where nothing pages."""
    pager: bool
    """A pager (alertPagerRoutingKey, PagerDuty Events v2) gets criticals, where the profile pages."""
    database_team: bool
    """A separate chat webhook (alertDatabaseChatWebhookUrl) gets the database alerts."""
    email_to: tuple[str, ...]
    """Addresses that get criticals by mail through the stack's SMTP relay (needs smtpHost)."""
    pages: bool
    """Whether this environment may page anyone at all: production does, staging never does."""
    email_smarthost: str = ""
    """The SMTP relay as host:port (Alertmanager's `smtp_smarthost`) when email_to is set; its password is
    the smtpPassword config secret."""
    email_username: str = ""
    """The SMTP login (smtpUsername) when email_to is set."""
    email_from: str = ""
    """The sender of alert mail (alertEmailFrom, or alertmanager@<domain>) when email_to is set."""

    @property
    def configured(self) -> tuple[str, ...]:
        """The receivers this stack configured, by name, for the settings summary."""
        named = (("chat", self.chat), ("pager", self.pager), ("database chat", self.database_team))
        return tuple(name for name, present in named if present) + (("email",) if self.email_to else ())


@dataclass(frozen=True)
class BusinessMetric:
    """A counter the application exports that the business dashboard plots (seed 002: registrations)."""

    title: str
    """What the panel is called: "User registrations"."""
    counter: str
    """The Prometheus counter, with its `_total` suffix: `user_registrations_total`."""


@dataclass(frozen=True)
class MonitoringProfile:
    """What an environment's profile gives its monitoring (stacks/profiles.py)."""

    prometheus_retention: str
    """How long Prometheus keeps samples."""
    prometheus_retention_size: str
    """The most disk the samples may use."""
    prometheus_storage: str
    """Prometheus's volume."""
    alertmanager_replicas: int
    """Alertmanager pods."""
    pages: bool
    """Whether alerts of this environment may page anyone."""
    managed_control_plane: bool
    """Whether the control plane is the provider's (no scrapes of it, no alerts on it)."""


@dataclass(frozen=True)
class MonitoringSettings:
    """The stack's monitoring as a whole."""

    prometheus_retention: str
    """How long Prometheus keeps samples ("15d")."""
    prometheus_retention_size: str
    """The most disk the samples may use before the oldest go ("40GB"); below the volume's size."""
    prometheus_storage: str
    """Prometheus's PersistentVolumeClaim ("50Gi")."""
    alertmanager_replicas: int
    """Alertmanager pods: 2 in production, so an alert survives a node."""
    managed_control_plane: bool
    """The cluster hides its control plane (EKS, GKE, AKS): no scrape, and no alert, of etcd, the
    scheduler, the controller-manager or kube-proxy, which nobody using the cluster can fix."""
    thresholds: AlertThresholds
    """Where the alerts start firing."""
    receivers: Receivers
    """Who is told."""
    business_metrics: tuple[BusinessMetric, ...]
    """Counters of the application's own that the business dashboard plots, in order."""


CELERY_EXPORTER_RESOURCES = ("20m", "100m", "96Mi", "192Mi")
"""The Celery exporter (one pod in the app namespace, counted against its quota by stacks/capacity.py): a
Python process holding one broker connection and the task state of the last minutes."""
CELERY_EXPORTER_REPLICAS = 1
"""One exporter per stack: two would each count every task event, doubling every rate."""

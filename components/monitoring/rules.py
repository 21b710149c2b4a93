"""The alerting and recording rules of one stack: the `spec.groups` of its PrometheusRule objects.

Pure data, no resources. `alert_groups()` returns the typed rules (tests and the runbook check
read them); `rule_groups()` the same as plain dicts for a PrometheusRule's `spec.groups`.

Every expression selects the stack's own series only, so two stacks on one cluster never mix:
- series scraped from the stack's pods and those kube-state-metrics, cAdvisor and the kubelet
  report about its objects carry `namespace="<app namespace>"`;
- cert-manager's series carry the certificate's namespace as `exported_namespace` (their own
  `namespace` is cert-manager's).
Metric names are those the real emitters produce (REFERENCE.md section 2, "Monitoring facts"):
django-prometheus 2.5.0, celery-exporter 0.12.2, redis_exporter v1.88.0, CloudNativePG 1.30.0
(its default query set `cnpg_<query>_<column>`, its collector `cnpg_collector_*` and the
pooler's `cnpg_pgbouncer_*`), the Barman Cloud plugin, kube-state-metrics 2.20, cAdvisor,
kubelet volume stats and cert-manager v1.21.

What the rules assume of the scrape configuration (the Monitoring component's ServiceMonitors
and PodMonitors): the web's /metrics target is the pod's container `web` (the `container` target
label prometheus-operator sets from the pod); each Redis exporter is scraped as a target of its
server pod (`pod` = `crm-redis-cache-<n>` / `crm-redis-broker-<n>`); celery-exporter runs in the
app namespace (or its monitor sets `namespace` to it), like the PostgreSQL instances and poolers;
kube-state-metrics and the kubelet are scraped with honorLabels (their series keep the object's
`namespace`, `pod`, `container`), as kube-prometheus-stack does.

Every alert carries `severity` (critical, warning, info; `none` for the Watchdog), `service`
(web, worker, beat, postgres, redis, backups, certificates, platform, or the workload an object
belongs to), `stack`, `environment` and `namespace`, and the annotations `summary`,
`description` (with the value, humanized) and `runbook_url` (docs/runbooks/alerts.md#<alert>).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from components.shared import endpoints
from stacks.monitoring import MonitoringSettings

RUNBOOK_DOCUMENT: Final = "docs/runbooks/alerts.md"
"""Where every alert's runbook entry lives, relative to the repository root. The default base of
`runbook_url`; a stack can pass the document's browsable address (its repository's web URL)."""

REDIS_CACHE: Final = endpoints.REDIS_CACHE_HOST
REDIS_BROKER: Final = endpoints.REDIS_BROKER_HOST
POSTGRES_CLUSTER: Final = endpoints.POSTGRES_CLUSTER
LOGICAL_BACKUP_CRONJOB: Final = "crm-backup"
"""components/data/backups.py: the daily logical backup."""
RESTORE_VERIFICATION_CRONJOB: Final = "crm-restore-verification"
"""components/data/backups.py: the weekly restore test."""
PRE_MIGRATION_BACKUP_PREFIX: Final = "crm-pre-migration-backup-"
"""components/data/backups.py: production's backup before every release's migrations."""
BEAT_DEPLOYMENT: Final = "crm-beat"
WEB_CONTAINER: Final = "web"
"""The container of the web pods (components/app/workloads.py names containers by role)."""

BACKUP_MAX_AGE_SECONDS: Final = 26 * 3600
"""A daily backup, plus two hours for a slow run, before its absence is an alert."""
RESTORE_VERIFICATION_MAX_AGE_SECONDS: Final = 8 * 86400
"""A weekly test, plus a day."""
BASE_BACKUP_MAX_AGE_SECONDS: Final = 86400
"""The Barman Cloud plugin's daily base backup (production), with an hour's grace in `for`."""
BEAT_SILENCE_WINDOW: Final = "1h"
"""No task received by any worker this long, with workers up, means nothing is scheduling work: the
periodic tasks beat sends run at least hourly in every seed application."""

SLO_WINDOW_DAYS: Final = 30
"""The availability objective's window (SRE workbook, chapter 5)."""
SLO_RATIO_WINDOWS: Final = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
"""Every window a burn-rate alert reads, recorded once per stack."""


class Severity(StrEnum):
    CRITICAL = "critical"
    """Someone acts now: pages where the environment pages."""
    WARNING = "warning"
    """Someone acts today: chat."""
    INFO = "info"
    """For awareness: chat, inhibited by any warning or critical of the same service."""
    NONE = "none"
    """The Watchdog: never a problem, only proof that the pipeline delivers."""


@dataclass(frozen=True)
class Alert:
    """One alerting rule, with what a test needs to know about it."""

    name: str
    """The alert's name (alertname), its runbook entry's heading."""
    expr: str
    """The PromQL condition."""
    severity: Severity
    """critical, warning or info: where Alertmanager routes it."""
    summary: str
    """One line for the notification's title."""
    description: str
    """A Prometheus template: `{{ $value | humanize... }}` and `{{ $labels.<name> }}`."""
    signals: tuple[str, ...]
    """The expression's measured parts without their thresholds: each returns data on a healthy,
    running platform (the real-Prometheus test runs them, since an unknown metric name is no error)."""
    for_: str = "0m"
    """How long the condition must hold before the alert fires."""
    service: str | None = None
    """None: the expression itself sets `service` from the object's name (see `service_from`)."""


@dataclass(frozen=True)
class Recording:
    record: str
    """The recorded series' name."""
    expr: str
    """The PromQL it records."""


@dataclass(frozen=True)
class RuleGroup:
    name: str
    """The group's name in the PrometheusRule."""
    rules: tuple[Alert | Recording, ...]
    """Its recording rules and alerts, in evaluation order."""

    @property
    def alerts(self) -> tuple[Alert, ...]:
        return tuple(rule for rule in self.rules if isinstance(rule, Alert))


@dataclass(frozen=True)
class StackFacts:
    """What the rules need to know about the stack besides its monitoring settings."""

    stack: str
    """The stack's name (the `stack` label of every alert)."""
    environment: str
    """The stack's environment (the `environment` label; routing decides paging by it)."""
    app_namespace: str
    """The namespace every expression is scoped to."""
    high_availability_redis: bool
    """Redis runs Sentinel trios: alert on a set without a master."""
    wal_archiving: bool
    """PostgreSQL archives WAL: alert on failed archiving and old base backups."""
    postgres_instances: int
    """Instances of the Cluster; 0 when the stack runs no PostgreSQL."""
    celery_worker: bool
    """Workers run: alert on workers down, backlog and failures."""
    celery_beat: bool
    """Beat runs: alert when it stops scheduling."""
    autoscaling: bool
    """A service has an HPA: alert when it sits at its maximum."""
    runbook_base_url: str = RUNBOOK_DOCUMENT
    """Where docs/runbooks/alerts.md is read; each alert links its anchor there."""

    @property
    def labels(self) -> dict[str, str]:
        """The labels every alert of the stack carries: who it concerns, even when its expression has none."""
        return {"stack": self.stack, "environment": self.environment, "namespace": self.app_namespace}


# --- PromQL helpers ------------------------------------------------------------------------------


def number(value: float | int | Decimal) -> str:
    """A threshold as PromQL reads it: 80, 0.05, 0.001 (never 0.05000000000000001)."""
    return format(Decimal(str(value)).normalize(), "f")


def ratio(percent: float | int) -> str:
    """A percentage setting as the ratio the expressions compare against (80 -> 0.8)."""
    return number(Decimal(str(percent)) / 100)


SERVICE_BY_OBJECT_NAME: Final = (
    ("web", "crm-(web|migrate)(-.+)?"),
    ("frontend", "crm-frontend(-.+)?"),
    ("worker", "crm-worker(-.+)?"),
    ("beat", "crm-beat(-.+)?"),
    ("postgres", "crm-postgres(-.+)?"),
    ("redis", "(data-)?crm-redis-.+"),
    ("backups", "crm-(backup|restore-verification|pre-migration-backup)(-.+)?"),
)
"""Which service an object belongs to, by the names the components give (a PVC of a StatefulSet is
`<template>-<pod>`). Anything else in the namespace is `platform`."""


def service_from(expr: str, label: str) -> str:
    """`expr` with a `service` label taken from the object name in `label` (pod, PVC, autoscaler).

    So a crash-looping PostgreSQL pod or a full PostgreSQL volume reaches the database team, and
    a critical alert of a service inhibits that service's warnings. `expr` must aggregate its
    series first: a target's own `service` label (the Service Prometheus scraped) would remain.
    """
    result = f'label_replace({expr}, "service", "platform", "", "")'
    for service, pattern in SERVICE_BY_OBJECT_NAME:
        result = f'label_replace({result}, "service", "{service}", "{label}", "{pattern}")'
    return result


def selector(namespace: str, *matchers: str) -> str:
    """A series selector of the stack's namespace and further matchers."""
    return "{" + ", ".join((f'namespace="{namespace}"', *matchers)) + "}"


def match(label: str, value: str, operator: str = "=") -> str:
    """One label matcher: `label=\"value\"` (or =~, !=, !~)."""
    return f'{label}{operator}"{value}"'


SERVER_ERRORS: Final = match("status", "5..", "=~")


def _redis_pod(server: str) -> str:
    return match("pod", f"{server}-[0-9]+", "=~")


# --- the groups -----------------------------------------------------------------------------------


def alert_groups(settings: MonitoringSettings, facts: StackFacts) -> list[RuleGroup]:
    """Every rule group of the stack, typed."""
    groups = [
        _web(settings, facts),
        _availability(settings, facts),
        _platform(settings, facts),
    ]
    if facts.celery_worker or facts.celery_beat:
        groups.append(_celery(settings, facts))
    if facts.postgres_instances:
        # No PostgreSQL (an external database, issue 13): no database alerts, and no backups to watch.
        groups.append(_postgres(settings, facts))
    groups.append(_redis(settings, facts))
    if facts.postgres_instances:
        groups.append(_backups(facts))
    groups += [_certificates(settings, facts), _watchdog(facts)]
    return groups


def rule_groups(
    settings: MonitoringSettings,
    *,
    stack: str,
    environment: str,
    app_namespace: str,
    high_availability_redis: bool,
    wal_archiving: bool,
    postgres_instances: int,
    celery_worker: bool,
    celery_beat: bool,
    autoscaling: bool,
    runbook_base_url: str = RUNBOOK_DOCUMENT,
) -> list[dict[str, Any]]:
    """The `spec.groups` of the stack's PrometheusRule objects.

    From `stacks.model.Settings`: `stack` = settings.stack, `environment` =
    settings.environment.value, `app_namespace` = settings.namespaces.app,
    `high_availability_redis` = settings.data.redis.replicas > 1 (Sentinel),
    `wal_archiving` = settings.data.postgres.wal_archiving, `postgres_instances` =
    settings.data.postgres.instances (0 when the stack runs no PostgreSQL: no database or backup rules),
    `celery_worker` / `celery_beat` = whether
    settings.app.service(Role.WORKER / Role.BEAT) runs, `autoscaling` = whether any service has an
    HPA. `runbook_base_url` is where docs/runbooks/alerts.md can be read (default: its path).
    """
    facts = StackFacts(
        stack=stack,
        environment=environment,
        app_namespace=app_namespace,
        high_availability_redis=high_availability_redis,
        wal_archiving=wal_archiving,
        postgres_instances=postgres_instances,
        celery_worker=celery_worker,
        celery_beat=celery_beat,
        autoscaling=autoscaling,
        runbook_base_url=runbook_base_url,
    )
    return [group_spec(group, facts) for group in alert_groups(settings, facts)]


def runbook_anchor(alert_name: str) -> str:
    """The anchor of an alert's entry: its `### <AlertName>` heading as GitHub and mkdocs slug it."""
    return alert_name.lower()


def group_spec(group: RuleGroup, facts: StackFacts) -> dict[str, Any]:
    """One group as a PrometheusRule (and a Prometheus rule file) spells it."""
    rules: list[dict[str, Any]] = []
    for rule in group.rules:
        if isinstance(rule, Recording):
            rules.append({"record": rule.record, "expr": rule.expr, "labels": {"stack": facts.stack}})
            continue
        labels = {"severity": rule.severity.value, **facts.labels}
        if rule.service is not None:
            labels["service"] = rule.service
        spec: dict[str, Any] = {"alert": rule.name, "expr": rule.expr}
        if rule.for_ != "0m":
            spec["for"] = rule.for_
        spec["labels"] = labels
        spec["annotations"] = {
            "summary": rule.summary,
            "description": rule.description,
            "runbook_url": f"{facts.runbook_base_url}#{runbook_anchor(rule.name)}",
        }
        rules.append(spec)
    return {"name": group.name, "rules": rules}


def _group(facts: StackFacts, area: str, rules: Sequence[Alert | Recording]) -> RuleGroup:
    return RuleGroup(name=f"crm-{facts.stack}-{area}", rules=tuple(rules))


# --- web ---------------------------------------------------------------------------------------------

RESPONSES: Final = "django_http_responses_total_by_status_view_method_total"
REQUESTS: Final = "django_http_requests_total_by_view_transport_method_total"
LATENCY_BUCKETS: Final = "django_http_requests_latency_seconds_by_view_method_bucket"


def error_ratio(namespace: str, window: str, by: str = "namespace") -> str:
    """The share of the web's responses that are 5xx over `window`; 0 (not nothing) without any 5xx."""
    server_errors = selector(namespace, SERVER_ERRORS)
    errors = f"sum by ({by}) (rate({RESPONSES}{server_errors}[{window}]))"
    total = f"sum by ({by}) (rate({RESPONSES}{selector(namespace)}[{window}]))"
    return f"({errors} or {total} * 0) / {total}"


def latency_quantile(namespace: str, quantile: str, window: str, by: str = "namespace") -> str:
    buckets = f"sum by ({by}, le) (rate({LATENCY_BUCKETS}{selector(namespace)}[{window}]))"
    return f"histogram_quantile({quantile}, {buckets})"


def _web(settings: MonitoringSettings, facts: StackFacts) -> RuleGroup:
    namespace = facts.app_namespace
    thresholds = settings.thresholds
    web_up = f"sum(up{selector(namespace, match('container', WEB_CONTAINER))})"
    errors = error_ratio(namespace, "5m")
    p95 = latency_quantile(namespace, "0.95", "5m")
    return _group(
        facts,
        "web",
        [
            Alert(
                name="WebDown",
                expr=f"({web_up} or vector(0)) < 1",
                for_="2m",
                severity=Severity.CRITICAL,
                service="web",
                summary=f"The CRM web of {facts.stack} is down",
                description=(
                    "No web pod has answered Prometheus's scrape of /metrics for 2 minutes "
                    "({{ $value }} answering): users get errors or nothing."
                ),
                signals=(web_up,),
            ),
            Alert(
                name="WebHighErrorRatio",
                expr=f"{errors} > {ratio(thresholds.error_ratio_percent)}",
                for_="5m",
                severity=Severity.WARNING,
                service="web",
                summary=f"The CRM web of {facts.stack} answers too many requests with 5xx",
                description=(
                    "{{ $value | humanizePercentage }} of the web's responses over the last 5 minutes were "
                    f"server errors (alert above {number(thresholds.error_ratio_percent)}%)."
                ),
                signals=(errors,),
            ),
            Alert(
                name="WebHighLatency",
                expr=f"{p95} > {number(thresholds.latency_p95_seconds)}",
                for_="10m",
                severity=Severity.WARNING,
                service="web",
                summary=f"The CRM web of {facts.stack} is slow",
                description=(
                    "The web's 95th-percentile response time over 5 minutes is {{ $value | humanizeDuration }} "
                    f"(alert above {number(thresholds.latency_p95_seconds)}s)."
                ),
                signals=(p95,),
            ),
        ],
    )


# --- availability objective ---------------------------------------------------------------------------


def ratio_record(window: str) -> str:
    """The recording rule of the web's 5xx share over `window`."""
    return f"namespace:django_http_responses_5xx:ratio_rate{window}"


RESPONSE_RATE_RECORD: Final = "namespace:django_http_responses:rate5m"
ERROR_RATE_RECORD: Final = "namespace:django_http_responses_5xx:rate5m"
"""Rates recorded every evaluation, so the 30-day error budget is a cheap sum_over_time of them."""

BURN_RATE_ALERTS: Final = (
    # (name, long window, short window, burn rate, for, severity): SRE workbook, chapter 5, table 5-8.
    ("WebErrorBudgetBurn1h", "1h", "5m", "14.4", "2m", Severity.CRITICAL),
    ("WebErrorBudgetBurn6h", "6h", "30m", "6", "15m", Severity.CRITICAL),
    ("WebErrorBudgetBurn1d", "1d", "2h", "3", "1h", Severity.WARNING),
    ("WebErrorBudgetBurn3d", "3d", "6h", "1", "3h", Severity.WARNING),
)
WINDOW_WORDS: Final = {"5m": "5 minutes", "30m": "30 minutes", "1h": "1 hour", "2h": "2 hours", "6h": "6 hours"}
WINDOW_WORDS_LONG: Final = {"1h": "hour", "6h": "6 hours", "1d": "day", "3d": "3 days"}


def error_budget(settings: MonitoringSettings) -> Decimal:
    """The share of requests the objective allows to fail: 0.001 for 99.9 %."""
    return (Decimal(100) - Decimal(str(settings.thresholds.availability_slo_percent))) / 100


def _availability(settings: MonitoringSettings, facts: StackFacts) -> RuleGroup:
    namespace = facts.app_namespace
    budget = error_budget(settings)
    rules: list[Alert | Recording] = [
        Recording(RESPONSE_RATE_RECORD, f"sum by (namespace) (rate({RESPONSES}{selector(namespace)}[5m]))"),
        Recording(
            ERROR_RATE_RECORD,
            # 0 rather than nothing while no request fails, so the error budget reads 100 %, not "no data".
            f"sum by (namespace) (rate({RESPONSES}{selector(namespace, SERVER_ERRORS)}[5m])) or "
            f"sum by (namespace) (rate({RESPONSES}{selector(namespace)}[5m])) * 0",
        ),
        *(Recording(ratio_record(window), error_ratio(namespace, window)) for window in SLO_RATIO_WINDOWS),
    ]
    objective = number(settings.thresholds.availability_slo_percent)
    for name, long_window, short_window, burn_rate, for_, severity in BURN_RATE_ALERTS:
        threshold = f"({burn_rate} * {number(budget)})"
        long_ratio = f'{ratio_record(long_window)}{{namespace="{namespace}"}}'
        short_ratio = f'{ratio_record(short_window)}{{namespace="{namespace}"}}'
        days_left = Decimal(SLO_WINDOW_DAYS) / Decimal(burn_rate)
        rules.append(
            Alert(
                name=name,
                expr=f"{long_ratio} > {threshold} and {short_ratio} > {threshold}",
                for_=for_,
                severity=severity,
                service="web",
                summary=f"The CRM web of {facts.stack} is spending its error budget {burn_rate} times too fast",
                description=(
                    "{{ $value | humanizePercentage }} of the web's requests failed over the last "
                    f"{WINDOW_WORDS_LONG[long_window]}, and still over the last {WINDOW_WORDS[short_window]}: "
                    f"{burn_rate} times the rate a {objective}% objective allows; at this pace the "
                    f"{SLO_WINDOW_DAYS}-day error budget is gone in {number(days_left.quantize(Decimal('0.1')))} days."
                ),
                signals=(long_ratio, short_ratio),
            )
        )
    return _group(facts, "availability", rules)


# --- pods, containers, autoscalers, volumes --------------------------------------------------------------

CONTAINER_CPU: Final = "container_cpu_usage_seconds_total"
CONTAINER_MEMORY: Final = "container_memory_working_set_bytes"


def container_usage(namespace: str, resource: str) -> str:
    """cAdvisor's use per container (its per-pod and pause-container series, container "" and "POD", left out)."""
    containers = selector(namespace, 'container!=""', 'container!="POD"')
    if resource == "cpu":
        return f"sum by (namespace, pod, container) (rate({CONTAINER_CPU}{containers}[5m]))"
    return f"max by (namespace, pod, container) ({CONTAINER_MEMORY}{containers})"


def container_resource(namespace: str, kind: str, resource: str) -> str:
    """kube-state-metrics' request or limit per container (`kind` requests|limits)."""
    of_resource = selector(namespace, match("resource", resource))
    return f"max by (namespace, pod, container) (kube_pod_container_resource_{kind}{of_resource})"


def _container_alert(
    facts: StackFacts, name: str, resource: str, kind: str, percent: int, severity: Severity, for_: str
) -> Alert:
    namespace = facts.app_namespace
    usage = container_usage(namespace, resource)
    reference = container_resource(namespace, kind, resource)
    share = f"{usage} / {reference}"
    what = "CPU" if resource == "cpu" else "memory (working set)"
    consequence = {
        ("cpu", "limits"): "it is being throttled, so requests slow down",
        ("memory", "limits"): "the kernel kills it (OOMKilled) when it reaches the limit",
        ("cpu", "requests"): "the scheduler and the autoscaler plan with too little; raise the request",
        ("memory", "requests"): "under node memory pressure it is among the first pods evicted",
    }[(resource, kind)]
    return Alert(
        name=name,
        expr=service_from(f"{share} > {ratio(percent)}", "pod"),
        for_=for_,
        severity=severity,
        summary=f"{{{{ $labels.pod }}}}/{{{{ $labels.container }}}} uses {percent}% or more of its {what} {kind[:-1]}",
        description=(
            f"Container {{{{ $labels.container }}}} of pod {{{{ $labels.pod }}}} has used {{{{ $value | "
            f"humanizePercentage }}}} of its {what} {kind[:-1]} for {for_.removesuffix('m')} minutes: {consequence}."
        ),
        signals=(usage, reference),
    )


def _platform(settings: MonitoringSettings, facts: StackFacts) -> RuleGroup:
    namespace = facts.app_namespace
    thresholds = settings.thresholds
    restarts = (
        "max by (namespace, pod, container) "
        f"(increase(kube_pod_container_status_restarts_total{selector(namespace)}[15m]))"
    )
    waiting = f"max by (namespace, pod, container) (kube_pod_container_status_waiting_reason{selector(namespace)})"
    crash_looping = (
        "max by (namespace, pod, container) "
        f"(kube_pod_container_status_waiting_reason{selector(namespace, match('reason', 'CrashLoopBackOff'))})"
    )
    used = f"max by (namespace, persistentvolumeclaim) (kubelet_volume_stats_used_bytes{selector(namespace)})"
    capacity = f"max by (namespace, persistentvolumeclaim) (kubelet_volume_stats_capacity_bytes{selector(namespace)})"
    rules: list[Alert | Recording] = [
        Alert(
            name="PodCrashLooping",
            expr=service_from(f"{restarts} > 0 and on (namespace, pod, container) {crash_looping} >= 1", "pod"),
            for_="10m",
            severity=Severity.WARNING,
            summary="{{ $labels.pod }}/{{ $labels.container }} is crash looping",
            description=(
                "Container {{ $labels.container }} of pod {{ $labels.pod }} restarted {{ $value | humanize }} times "
                "in the last 15 minutes and is waiting in CrashLoopBackOff."
            ),
            signals=(restarts, waiting),
        ),
        _container_alert(
            facts, "ContainerCpuNearLimit", "cpu", "limits", thresholds.cpu_percent_of_limit, Severity.WARNING, "10m"
        ),
        _container_alert(
            facts,
            "ContainerMemoryNearLimit",
            "memory",
            "limits",
            thresholds.memory_percent_of_limit,
            Severity.WARNING,
            "10m",
        ),
        _container_alert(facts, "ContainerCpuOverRequest", "cpu", "requests", 100, Severity.INFO, "30m"),
        _container_alert(facts, "ContainerMemoryOverRequest", "memory", "requests", 100, Severity.INFO, "30m"),
        Alert(
            name="PersistentVolumeFillingUp",
            expr=service_from(f"{used} / {capacity} > {ratio(thresholds.disk_percent)}", "persistentvolumeclaim"),
            for_="5m",
            severity=Severity.CRITICAL,
            summary="Volume {{ $labels.persistentvolumeclaim }} is almost full",
            description=(
                "PersistentVolumeClaim {{ $labels.persistentvolumeclaim }} is {{ $value | humanizePercentage }} "
                f"full (alert above {thresholds.disk_percent}%): a full PostgreSQL or broker volume stops writes."
            ),
            signals=(used, capacity),
        ),
    ]
    if facts.autoscaling:
        current = (
            "max by (namespace, horizontalpodautoscaler) "
            f"(kube_horizontalpodautoscaler_status_current_replicas{selector(namespace)})"
        )
        maximum = (
            "max by (namespace, horizontalpodautoscaler) "
            f"(kube_horizontalpodautoscaler_spec_max_replicas{selector(namespace)})"
        )
        rules.append(
            Alert(
                name="HpaAtMaximum",
                expr=service_from(f"{current} >= {maximum}", "horizontalpodautoscaler"),
                for_="15m",
                severity=Severity.WARNING,
                summary="Autoscaler {{ $labels.horizontalpodautoscaler }} is at its maximum",
                description=(
                    "{{ $labels.horizontalpodautoscaler }} has run {{ $value }} replicas, its maximum, for 15 "
                    "minutes: it cannot add capacity if the load grows further."
                ),
                signals=(current, maximum),
            )
        )
    return _group(facts, "platform", rules)


# --- Celery ---------------------------------------------------------------------------------------------


def _celery(settings: MonitoringSettings, facts: StackFacts) -> RuleGroup:
    namespace = facts.app_namespace
    thresholds = settings.thresholds
    workers_up = f"sum(celery_worker_up{selector(namespace)})"
    queue = f"max by (namespace, queue_name) (celery_queue_length{selector(namespace)})"
    failed = f"sum by (namespace) (rate(celery_task_failed_total{selector(namespace)}[15m]))"
    finished = (
        f'sum by (namespace) (rate({{namespace="{namespace}", __name__=~"celery_task_(succeeded|failed)_total"}}[15m]))'
    )
    received = f"sum(increase(celery_task_received_total{selector(namespace)}[{BEAT_SILENCE_WINDOW}]))"
    beat_available = (
        f"sum(kube_deployment_status_replicas_available{selector(namespace, match('deployment', BEAT_DEPLOYMENT))})"
    )
    rules: list[Alert | Recording] = []
    if facts.celery_worker:
        rules += [
            Alert(
                name="CeleryWorkersDown",
                expr=f"({workers_up} or vector(0)) < 1",
                for_="5m",
                severity=Severity.CRITICAL,
                service="worker",
                summary=f"No Celery worker of {facts.stack} is up",
                description=(
                    "{{ $value }} Celery workers have sent a heartbeat to the exporter for 5 minutes: background "
                    "tasks (mail, imports, scheduled jobs) are not running."
                ),
                signals=(workers_up,),
            ),
            Alert(
                name="CeleryQueueBacklog",
                expr=f"{queue} > {number(thresholds.queue_backlog)}",
                for_="15m",
                severity=Severity.WARNING,
                service="worker",
                summary="Celery queue {{ $labels.queue_name }} is backing up",
                description=(
                    "{{ $value | humanize }} tasks have waited in queue {{ $labels.queue_name }} for 15 minutes "
                    f"(alert above {thresholds.queue_backlog}): the workers do not keep up."
                ),
                signals=(queue,),
            ),
            Alert(
                name="CeleryTaskFailureRatio",
                expr=f"{failed} / {finished} > {ratio(thresholds.task_failure_percent)}",
                for_="5m",
                severity=Severity.WARNING,
                service="worker",
                summary=f"Celery tasks of {facts.stack} fail too often",
                description=(
                    "{{ $value | humanizePercentage }} of the Celery tasks that finished in the last 15 minutes "
                    f"failed (alert above {number(thresholds.task_failure_percent)}%)."
                ),
                signals=(failed, finished),
            ),
        ]
    if facts.celery_beat:
        rules.append(
            Alert(
                name="CeleryBeatDown",
                expr=f"({beat_available} or vector(0)) < 1",
                for_="5m",
                severity=Severity.WARNING,
                service="beat",
                summary=f"Celery beat of {facts.stack} is not running",
                description=(
                    "Deployment crm-beat has had {{ $value }} available pods for 5 minutes: no periodic task is "
                    "being scheduled."
                ),
                signals=(beat_available,),
            )
        )
        if facts.celery_worker:
            rules.append(
                Alert(
                    name="CeleryBeatNotScheduling",
                    expr=f"({received} or vector(0)) < 1 and on () {workers_up} > 0",
                    for_="15m",
                    severity=Severity.WARNING,
                    service="beat",
                    summary=f"Celery of {facts.stack} has received no task for an hour",
                    description=(
                        "Workers are up but received {{ $value | humanize }} tasks in the last hour: beat is not "
                        "sending the periodic tasks (nor is anything else enqueuing work)."
                    ),
                    signals=(received, workers_up),
                )
            )
    return _group(facts, "celery", rules)


# --- PostgreSQL --------------------------------------------------------------------------------------------

BARMAN_LAST_BACKUP: Final = "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp"
BARMAN_LAST_FAILED_BACKUP: Final = "barman_cloud_cloudnative_pg_io_last_failed_backup_timestamp"


def _postgres(settings: MonitoringSettings, facts: StackFacts) -> RuleGroup:
    namespace = facts.app_namespace
    thresholds = settings.thresholds
    instances_up = f"sum(cnpg_collector_up{selector(namespace, match('cluster', POSTGRES_CLUSTER))})"
    backends = f"sum by (namespace, pod) (cnpg_backends_total{selector(namespace)})"
    max_connections = (
        f"max by (namespace, pod) (cnpg_pg_settings_setting{selector(namespace, match('name', 'max_connections'))})"
    )
    waiting = f"sum by (namespace, pod) (cnpg_pgbouncer_pools_cl_waiting{selector(namespace)})"
    rules: list[Alert | Recording] = [
        Alert(
            name="PostgresDown",
            expr=f"({instances_up} or vector(0)) < 1",
            for_="2m",
            severity=Severity.CRITICAL,
            service="postgres",
            summary=f"PostgreSQL of {facts.stack} is down",
            description=(
                f"{{{{ $value }}}} of {facts.postgres_instances} PostgreSQL instances of cluster {POSTGRES_CLUSTER} "
                "have answered their instance manager for 2 minutes: the CRM cannot read or write."
            ),
            signals=(instances_up,),
        ),
        Alert(
            name="PostgresConnectionsHigh",
            expr=f"{backends} / {max_connections} > {ratio(thresholds.database_connections_percent)}",
            for_="5m",
            severity=Severity.WARNING,
            service="postgres",
            summary="PostgreSQL {{ $labels.pod }} is running out of connections",
            description=(
                "{{ $labels.pod }} serves {{ $value | humanizePercentage }} of its max_connections (alert above "
                f"{thresholds.database_connections_percent}%): new connections will be refused."
            ),
            signals=(backends, max_connections),
        ),
        Alert(
            name="PostgresPoolerClientsWaiting",
            expr=f"{waiting} > 0",
            for_="5m",
            severity=Severity.WARNING,
            service="postgres",
            summary="Clients wait for a PostgreSQL connection at pooler {{ $labels.pod }}",
            description=(
                "{{ $value | humanize }} clients of PgBouncer pod {{ $labels.pod }} have been waiting for a server "
                "connection for 5 minutes: the pool is exhausted (the seeds' measured bottleneck)."
            ),
            signals=(waiting,),
        ),
    ]
    if facts.postgres_instances > 1:
        primaries = f"count(cnpg_pg_replication_in_recovery{selector(namespace)} == 0)"
        lag = f"max by (namespace, pod) (cnpg_pg_replication_lag{selector(namespace)})"
        rules += [
            Alert(
                name="PostgresInstanceDown",
                expr=f"({instances_up} or vector(0)) < {facts.postgres_instances}",
                for_="5m",
                severity=Severity.WARNING,
                service="postgres",
                summary=f"A PostgreSQL instance of {facts.stack} is down",
                description=(
                    f"Only {{{{ $value }}}} of {facts.postgres_instances} PostgreSQL instances have answered for 5 "
                    "minutes: a failover would have fewer replicas to promote."
                ),
                signals=(instances_up,),
            ),
            Alert(
                name="PostgresNoPrimary",
                expr=f"({primaries} or vector(0)) < 1",
                for_="2m",
                severity=Severity.CRITICAL,
                service="postgres",
                summary=f"PostgreSQL of {facts.stack} has no primary",
                description=(
                    "{{ $value }} PostgreSQL instances have been out of recovery for 2 minutes: no instance accepts "
                    "writes, and the failover has not completed."
                ),
                signals=(f"cnpg_pg_replication_in_recovery{selector(namespace)}",),
            ),
            Alert(
                name="PostgresReplicationLag",
                expr=f"{lag} > {number(thresholds.replication_lag_seconds)}",
                for_="5m",
                severity=Severity.WARNING,
                service="postgres",
                summary="PostgreSQL replica {{ $labels.pod }} is lagging",
                description=(
                    "Replica {{ $labels.pod }} replays its primary's changes {{ $value | humanizeDuration }} late "
                    f"(alert above {thresholds.replication_lag_seconds}s): reads from the -ro service are stale and "
                    "a failover would lose recent commits."
                ),
                signals=(lag,),
            ),
        ]
    if facts.wal_archiving:
        since_archival = (
            f"max by (namespace, pod) (cnpg_pg_stat_archiver_seconds_since_last_archival{selector(namespace)})"
        )
        last_failed = f"max by (namespace, pod) (cnpg_pg_stat_archiver_last_failed_time{selector(namespace)})"
        last_archived = f"max by (namespace, pod) (cnpg_pg_stat_archiver_last_archived_time{selector(namespace)})"
        backup_age = f"time() - max by (namespace) ({BARMAN_LAST_BACKUP}{selector(namespace)})"
        failed_backup = f"max by (namespace) ({BARMAN_LAST_FAILED_BACKUP}{selector(namespace)})"
        available_backup = f"max by (namespace) ({BARMAN_LAST_BACKUP}{selector(namespace)})"
        rules += [
            Alert(
                name="PostgresWalArchivingFailing",
                expr=f"{since_archival} and on (namespace, pod) {last_failed} > {last_archived}",
                for_="5m",
                severity=Severity.WARNING,
                service="postgres",
                summary="PostgreSQL {{ $labels.pod }} cannot archive WAL",
                description=(
                    "The last WAL archiving attempt of {{ $labels.pod }} failed; the last success was "
                    "{{ $value | humanizeDuration }} ago. Point-in-time recovery stops there, and unarchived WAL "
                    "fills the WAL volume."
                ),
                signals=(since_archival, last_failed, last_archived),
            ),
            Alert(
                name="PostgresBaseBackupTooOld",
                expr=f"{backup_age} > {BASE_BACKUP_MAX_AGE_SECONDS}",
                for_="1h",
                severity=Severity.WARNING,
                service="postgres",
                summary=f"The newest PostgreSQL base backup of {facts.stack} is over a day old",
                description=(
                    "The last base backup the Barman Cloud plugin completed is {{ $value | humanizeDuration }} old: "
                    "a point-in-time recovery has to replay that much WAL, and the WAL since then is the only copy."
                ),
                signals=(backup_age,),
            ),
            Alert(
                name="PostgresBaseBackupFailed",
                expr=(f"time() - {failed_backup} and on (namespace) {failed_backup} > {available_backup}"),
                for_="5m",
                severity=Severity.WARNING,
                service="postgres",
                summary=f"The last PostgreSQL base backup of {facts.stack} failed",
                description=(
                    "The Barman Cloud plugin's last base backup failed {{ $value | humanizeDuration }} ago, after "
                    "its last successful one."
                ),
                signals=(failed_backup, available_backup),
            ),
        ]
    return _group(facts, "postgres", rules)


# --- Redis ----------------------------------------------------------------------------------------------


def _redis(settings: MonitoringSettings, facts: StackFacts) -> RuleGroup:
    namespace = facts.app_namespace
    thresholds = settings.thresholds
    rules: list[Alert | Recording] = []
    for server, role_name, alert_role, consequence in (
        (REDIS_CACHE, "cache", "Cache", "pages that read the cache fail or slow down"),
        (REDIS_BROKER, "broker", "Broker", "no Celery task can be queued or run"),
    ):
        servers_up = f"sum(redis_up{selector(namespace, _redis_pod(server))})"
        rules.append(
            Alert(
                name=f"Redis{alert_role}Down",
                expr=f"({servers_up} or vector(0)) < 1",
                for_="2m",
                severity=Severity.CRITICAL,
                service="redis",
                summary=f"The Redis {role_name} of {facts.stack} is down",
                description=(
                    f"{{{{ $value }}}} {server} servers have answered their exporter for 2 minutes: {consequence}."
                ),
                signals=(servers_up,),
            )
        )
        if facts.high_availability_redis:
            masters = f"count(redis_instance_info{selector(namespace, _redis_pod(server), match('role', 'master'))})"
            rules.append(
                Alert(
                    name=f"Redis{alert_role}NoMaster",
                    expr=f"({masters} or vector(0)) < 1 and on () {servers_up} > 0",
                    for_="1m",
                    severity=Severity.CRITICAL,
                    service="redis",
                    summary=f"The Redis {role_name} of {facts.stack} has no master",
                    description=(
                        f"{{{{ $value }}}} of the running {server} servers report role master for a minute: the "
                        "Sentinels have not elected one, and every write fails."
                    ),
                    signals=(f"redis_instance_info{selector(namespace, _redis_pod(server))}", servers_up),
                )
            )
    broker = selector(namespace, _redis_pod(REDIS_BROKER))
    used = f"max by (namespace, pod) (redis_memory_used_bytes{broker})"
    maximum = f"max by (namespace, pod) (redis_memory_max_bytes{broker})"
    evicted = f"sum by (namespace, pod) (increase(redis_evicted_keys_total{broker}[5m]))"
    rules += [
        Alert(
            name="RedisBrokerMemoryHigh",
            # maxmemory 0 means no limit: no share to compare (the broker always sets one).
            expr=f"{used} / ({maximum} > 0) > {ratio(thresholds.broker_memory_percent)}",
            for_="5m",
            severity=Severity.WARNING,
            service="redis",
            summary="Redis broker {{ $labels.pod }} is nearly full",
            description=(
                "Broker {{ $labels.pod }} uses {{ $value | humanizePercentage }} of its maxmemory (alert above "
                f"{thresholds.broker_memory_percent}%): when full, it refuses every write (noeviction) and no "
                "task can be queued."
            ),
            signals=(used, maximum),
        ),
        Alert(
            name="RedisBrokerEvictions",
            expr=f"{evicted} > 0",
            severity=Severity.CRITICAL,
            service="redis",
            summary="Redis broker {{ $labels.pod }} is evicting keys",
            description=(
                "Broker {{ $labels.pod }} evicted {{ $value | humanize }} keys in the last 5 minutes: queued Celery "
                "tasks are being lost. Its policy must be noeviction."
            ),
            signals=(evicted,),
        ),
    ]
    return _group(facts, "redis", rules)


# --- backups ---------------------------------------------------------------------------------------------


def cronjob_age(namespace: str, cronjob: str) -> str:
    """Seconds since the CronJob last succeeded; since it was created, if it never has."""
    of_cronjob = selector(namespace, match("cronjob", cronjob))
    succeeded = f"max by (namespace) (kube_cronjob_status_last_successful_time{of_cronjob})"
    created = f"max by (namespace) (kube_cronjob_created{of_cronjob})"
    return f"(time() - {succeeded} or time() - {created} unless on (namespace) {succeeded})"


def failed_job_age(namespace: str, job_pattern: str, cronjob: str) -> str:
    """Seconds since each failed Job of `job_pattern` started, for failures after the CronJob's last success.

    kube-state-metrics gives `kube_job_status_failed` a non-empty `reason` only once the Job has its
    Failed condition (backoff limit or deadline reached); a pod failing while retries remain counts
    with reason "" and is no failure of the Job yet.
    """
    jobs = selector(namespace, f'job_name=~"{job_pattern}"')
    started = f"max by (namespace, job_name) (kube_job_status_start_time{jobs})"
    failed_jobs = selector(namespace, match("job_name", job_pattern, "=~"), match("reason", "", "!="))
    failed = f"max by (namespace, job_name) (kube_job_status_failed{failed_jobs})"
    last_success = (
        f"max by (namespace) (kube_cronjob_status_last_successful_time{selector(namespace, match('cronjob', cronjob))})"
    )
    return (
        f"time() - {started} and on (namespace, job_name) {failed} > 0 "
        f"unless on (namespace, job_name) {started} < on (namespace) group_left () {last_success}"
    )


def _backups(facts: StackFacts) -> RuleGroup:
    namespace = facts.app_namespace
    backup_age = cronjob_age(namespace, LOGICAL_BACKUP_CRONJOB)
    restore_age = cronjob_age(namespace, RESTORE_VERIFICATION_CRONJOB)
    backup_jobs = f"{LOGICAL_BACKUP_CRONJOB}-[0-9]+|{PRE_MIGRATION_BACKUP_PREFIX}.+"
    restore_jobs = f"{RESTORE_VERIFICATION_CRONJOB}-[0-9]+"

    def job_signals(pattern: str, cronjob: str) -> tuple[str, ...]:
        jobs = selector(namespace, f'job_name=~"{pattern}"')
        return (
            f"kube_job_status_start_time{jobs}",
            f"kube_job_status_failed{jobs}",
            f"kube_cronjob_status_last_successful_time{selector(namespace, match('cronjob', cronjob))}",
        )

    return _group(
        facts,
        "backups",
        [
            Alert(
                name="LogicalBackupTooOld",
                expr=f"{backup_age} > {BACKUP_MAX_AGE_SECONDS}",
                for_="10m",
                severity=Severity.CRITICAL,
                service="backups",
                summary=f"No logical backup of {facts.stack} for over a day",
                description=(
                    "CronJob crm-backup last succeeded {{ $value | humanizeDuration }} ago (or never, and was "
                    "created that long ago): the newest restorable dump is older than a day."
                ),
                signals=(backup_age,),
            ),
            Alert(
                name="BackupJobFailed",
                expr=failed_job_age(namespace, backup_jobs, LOGICAL_BACKUP_CRONJOB),
                severity=Severity.WARNING,
                service="backups",
                summary="Backup Job {{ $labels.job_name }} failed",
                description=(
                    "Backup Job {{ $labels.job_name }}, started {{ $value | humanizeDuration }} ago, failed, and no "
                    "backup has succeeded since."
                ),
                signals=job_signals(backup_jobs, LOGICAL_BACKUP_CRONJOB),
            ),
            Alert(
                name="RestoreVerificationFailed",
                expr=failed_job_age(namespace, restore_jobs, RESTORE_VERIFICATION_CRONJOB),
                severity=Severity.WARNING,
                service="backups",
                summary="Restore verification {{ $labels.job_name }} failed",
                description=(
                    "The restore test {{ $labels.job_name }}, started {{ $value | humanizeDuration }} ago, could not "
                    "restore the newest backup or found it incomplete: the backups may not be restorable."
                ),
                signals=job_signals(restore_jobs, RESTORE_VERIFICATION_CRONJOB),
            ),
            Alert(
                name="RestoreVerificationTooOld",
                expr=f"{restore_age} > {RESTORE_VERIFICATION_MAX_AGE_SECONDS}",
                for_="10m",
                severity=Severity.WARNING,
                service="backups",
                summary=f"No successful restore test of {facts.stack} for over a week",
                description=(
                    "CronJob crm-restore-verification last succeeded {{ $value | humanizeDuration }} ago (or never): "
                    "nobody knows whether the backups restore."
                ),
                signals=(restore_age,),
            ),
        ],
    )


# --- certificates ------------------------------------------------------------------------------------------


def _certificates(settings: MonitoringSettings, facts: StackFacts) -> RuleGroup:
    # cert-manager's own pods are scraped, so the certificate's namespace arrives as exported_namespace.
    certificates = f'{{exported_namespace="{facts.app_namespace}"}}'
    expires_in = (
        "min by (exported_namespace, name) "
        f"(certmanager_certificate_expiration_timestamp_seconds{certificates}) - time()"
    )
    not_ready = (
        "max by (exported_namespace, name, condition) "
        f'(certmanager_certificate_ready_status{{exported_namespace="{facts.app_namespace}", condition!="True"}})'
    )
    days = settings.thresholds.certificate_expiry_days
    return _group(
        facts,
        "certificates",
        [
            Alert(
                name="CertificateExpiringSoon",
                expr=f"{expires_in} < {days * 86400}",
                for_="1h",
                severity=Severity.WARNING,
                service="certificates",
                summary="Certificate {{ $labels.name }} expires soon",
                description=(
                    "Certificate {{ $labels.name }} expires in {{ $value | humanizeDuration }} (alert under "
                    f"{days} days; cert-manager renews 30 days ahead, so renewal is failing)."
                ),
                signals=(expires_in,),
            ),
            Alert(
                name="CertificateNotReady",
                expr=f"{not_ready} == 1",
                for_="15m",
                severity=Severity.WARNING,
                service="certificates",
                summary="Certificate {{ $labels.name }} is not ready",
                description=(
                    "Certificate {{ $labels.name }} has reported Ready={{ $labels.condition }} for 15 minutes: "
                    "cert-manager cannot issue or renew it (see its CertificateRequest and Order)."
                ),
                signals=(f"certmanager_certificate_ready_status{certificates}",),
            ),
        ],
    )


# --- the pipeline's heartbeat ----------------------------------------------------------------------------


def _watchdog(facts: StackFacts) -> RuleGroup:
    return _group(
        facts,
        "watchdog",
        [
            Alert(
                name="Watchdog",
                expr="vector(1)",
                severity=Severity.NONE,
                service="platform",
                summary=f"The alerting pipeline of {facts.stack} works",
                description=(
                    "Always firing, by design: Alertmanager routes it to the heartbeat receiver. If a dead man's "
                    "switch stops hearing it, Prometheus, its rules or Alertmanager are broken."
                ),
                signals=("vector(1)",),
            )
        ],
    )

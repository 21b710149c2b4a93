"""The stack's Grafana dashboards as JSON, built with grafana-foundation-sdk (pinned 0.0.21).

Pure data, no resources: `dashboards()` returns file name -> dashboard model, which the
Monitoring component puts in ConfigMaps labelled for Grafana's dashboard sidecar. One set per
stack: uids `crm-<stack>-<name>`, titles `<stack> / <Name>`, every query fixed to the stack's
app namespace (cert-manager's certificate series are not shown here: the alert covers them).
Panels read a `datasource` variable (Grafana's Prometheus data sources), so the dashboards
work whatever the data source's uid.

Dashboards: application (traffic, errors, latency by view, the availability objective's error
budget), Celery, PostgreSQL, Redis, infrastructure (pods, CPU and memory against requests and
limits per workload, autoscalers, volumes, restarts), backups, and business metrics (the
counters a stack names in settings). Queries use the series and recording rules rules.py uses;
`$__rate_interval` is Grafana's (at least four scrape intervals).
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from components.monitoring import rules
from components.monitoring.rules import (
    BARMAN_LAST_BACKUP,
    ERROR_RATE_RECORD,
    LOGICAL_BACKUP_CRONJOB,
    POSTGRES_CLUSTER,
    PRE_MIGRATION_BACKUP_PREFIX,
    REDIS_BROKER,
    REDIS_CACHE,
    REQUESTS,
    RESPONSE_RATE_RECORD,
    RESPONSES,
    RESTORE_VERIFICATION_CRONJOB,
    WEB_CONTAINER,
    error_budget,
    error_ratio,
    latency_quantile,
    match,
    ratio_record,
    selector,
)
from stacks.monitoring import MonitoringSettings

# The SDK warns that it prefers its v2 dashboard model. The v1 model is what Grafana provisions from
# files (the sidecar's ConfigMaps) and what ../shared/grafana-schemas describes; v2 is the resource of
# Grafana's Kubernetes-style API. So: v1, without the warning.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from grafana_foundation_sdk.builders import common as common_builders
    from grafana_foundation_sdk.builders import dashboard, prometheus, stat, text, timeseries
    from grafana_foundation_sdk.cog.builder import Builder
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import common
    from grafana_foundation_sdk.models import dashboard as dashboard_model
    from grafana_foundation_sdk.models import text as text_model

RATE: Final = "$__rate_interval"
DATASOURCE: Final = common.DataSourceRef(type_val="prometheus", uid="${datasource}")
METRIC_NAME: Final = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
UID_LENGTH: Final = 40
"""Grafana's limit on a dashboard uid."""


@dataclass(frozen=True)
class Query:
    expr: str
    """The PromQL expression."""
    legend: str = ""
    """The series' legend format."""


def uid(stack: str, name: str) -> str:
    """`crm-<stack>-<name>`, stable per stack; shortened with a hash past Grafana's 40 characters."""
    full = f"crm-{stack}-{name}"
    if len(full) <= UID_LENGTH:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{full[: UID_LENGTH - 9]}-{digest}"


class _Board:
    """Panels laid out in rows on Grafana's 24-column grid, numbered in order."""

    def __init__(self, stack: str, name: str, title: str, description: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            builder = dashboard.Dashboard(f"{stack} / {title}")
        self.builder = (
            builder.uid(uid(stack, name))
            .description(description)
            .tags(["crm", stack])
            .refresh("1m")
            .time("now-6h", "now")
            .timezone("browser")
            .tooltip(dashboard_model.DashboardCursorSync.CROSSHAIR)
            .readonly()
            .with_variable(dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus"))
        )
        self.next_id = 1

    def row(self, title: str) -> None:
        self.builder.with_row(dashboard.Row(title).id(self._id()))

    def add(self, panel: Any) -> None:
        self.builder.with_panel(panel.id(self._id()))

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def build(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(json.dumps(self.builder.build(), cls=JSONEncoder))
        return document


def _targets(queries: Sequence[Query]) -> list[Builder[Any]]:
    targets: list[Builder[Any]] = []
    for index, query in enumerate(queries):
        target = prometheus.Dataquery().expr(query.expr).ref_id(chr(ord("A") + index))
        if query.legend:
            target = target.legend_format(query.legend)
        targets.append(target)
    return targets


def graph(title: str, description: str, unit: str, *queries: Query, span: int = 12) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(span)
        .height(8)
        .line_width(1)
        .fill_opacity(10)
        .legend(
            common_builders.VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
        )
        .tooltip(
            common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI).sort(common.SortOrder.DESCENDING)
        )
        .targets(_targets(queries))
    )


def number(title: str, description: str, unit: str, query: Query, span: int = 4) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(span)
        .height(4)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .graph_mode(common.BigValueGraphMode.AREA)
        .color_mode(common.BigValueColorMode.VALUE)
        .targets(_targets([query]))
    )


def note(title: str, content: str, span: int = 12) -> text.Panel:
    return text.Panel().title(title).mode(text_model.TextMode.MARKDOWN).content(content).span(span).height(4)


def by_workload(expr: str) -> str:
    """`expr` with a `workload` label from the pod's name: its Deployment, StatefulSet, CronJob or cluster.

    Deployment pods are `<name>-<template hash>-<5 chars>` (and CronJob pods `<name>-<time>-<5 chars>`);
    StatefulSet and CloudNativePG pods `<name>-<ordinal>`. kube-state-metrics knows owners, but only
    via ReplicaSets and Jobs (two joins); the names are the components' own.
    """
    expr = f'label_replace({expr}, "workload", "$1", "pod", "(.+)")'
    expr = f'label_replace({expr}, "workload", "$1", "pod", "(.+)-[0-9]+")'
    return f'label_replace({expr}, "workload", "$1", "pod", "(.+)-[a-z0-9]{{8,10}}-[a-z0-9]{{5}}")'


def redis_role(expr: str) -> str:
    """`expr` with a `redis_role` label (cache, broker) from the server pod's name."""
    return f'label_replace({expr}, "redis_role", "$1", "pod", "crm-redis-(cache|broker)-[0-9]+")'


# --- the dashboards --------------------------------------------------------------------------------


def _application(settings: MonitoringSettings, stack: str, namespace: str) -> dict[str, Any]:
    board = _Board(
        stack,
        "application",
        "Application",
        "The CRM web: traffic, server errors, response times by view and the availability objective's error budget.",
    )
    budget = rules.number(error_budget(settings))
    objective = rules.number(settings.thresholds.availability_slo_percent)
    ns = selector(namespace)
    budget_left = (
        f"1 - (sum(sum_over_time({ERROR_RATE_RECORD}{ns}[{rules.SLO_WINDOW_DAYS}d])) / "
        f"sum(sum_over_time({RESPONSE_RATE_RECORD}{ns}[{rules.SLO_WINDOW_DAYS}d]))) / {budget}"
    )
    board.row("Service level")
    board.add(
        number(
            "Requests per second", "All requests the web served.", "reqps", Query(f"sum(rate({REQUESTS}{ns}[{RATE}]))")
        )
    )
    board.add(
        number(
            "Server errors (5 min)",
            "Share of responses that were 5xx over the last 5 minutes.",
            "percentunit",
            Query(f"sum({ratio_record('5m')}{ns})"),
        )
    )
    board.add(
        number(
            "p95 response time (5 min)",
            "95th-percentile response time over the last 5 minutes.",
            "s",
            Query(latency_quantile(namespace, "0.95", "5m")),
        )
    )
    board.add(
        number(
            f"Error budget left ({rules.SLO_WINDOW_DAYS} d)",
            f"Share of the {objective}% objective's error budget not yet spent over {rules.SLO_WINDOW_DAYS} days (or "
            "as far back as Prometheus keeps samples). Below 0: the objective is missed.",
            "percentunit",
            Query(budget_left),
        )
    )
    board.add(
        number(
            "Web pods answering",
            "Web pods whose /metrics Prometheus scraped successfully.",
            "none",
            Query(f"sum(up{selector(namespace, match('container', WEB_CONTAINER))})"),
        )
    )
    board.add(
        number(
            "Requests (24 h)",
            "Requests served over the last day.",
            "short",
            Query(f"sum(increase({REQUESTS}{ns}[1d]))"),
        )
    )
    board.row("Traffic and errors")
    board.add(
        graph(
            "Requests by view",
            "Requests per second by Django view.",
            "reqps",
            Query(f"sum by (view) (rate({REQUESTS}{ns}[{RATE}]))", "{{view}}"),
        )
    )
    board.add(
        graph(
            "Responses by status",
            "Responses per second by HTTP status.",
            "reqps",
            Query(f"sum by (status) (rate({RESPONSES}{ns}[{RATE}]))", "{{status}}"),
        )
    )
    board.add(
        graph(
            "Server error ratio by view",
            "Share of each view's responses that were 5xx.",
            "percentunit",
            Query(error_ratio(namespace, RATE, by="view"), "{{view}}"),
        )
    )
    board.add(
        graph(
            "Server error ratio",
            f"Share of all responses that were 5xx; the alert fires above {settings.thresholds.error_ratio_percent}%.",
            "percentunit",
            Query(error_ratio(namespace, RATE), "5xx"),
        )
    )
    board.row("Latency")
    board.add(
        graph(
            "Response time percentiles",
            f"50th, 95th and 99th percentile; the alert fires when the 95th stays above "
            f"{rules.number(settings.thresholds.latency_p95_seconds)} s.",
            "s",
            *(Query(latency_quantile(namespace, q, RATE), f"p{q[2:]}") for q in ("0.50", "0.95", "0.99")),
        )
    )
    board.add(
        graph(
            "95th percentile by view",
            "Which views are slow.",
            "s",
            Query(latency_quantile(namespace, "0.95", RATE, by="view"), "{{view}}"),
        )
    )
    board.row("Error budget")
    board.add(
        graph(
            "Burn rate",
            "How many times faster than the objective allows the error budget is being spent, per window. "
            "1 spends it exactly in 30 days; the alerts page at 14.4 (1 h) and 6 (6 h), ticket at 3 (1 d) and 1 (3 d).",
            "none",
            *(
                Query(f"sum({ratio_record(window)}{ns}) / {budget}", f"{window} window")
                for window in ("1h", "6h", "1d", "3d")
            ),
            span=24,
        )
    )
    return board.build()


def _celery(stack: str, namespace: str, beat: bool) -> dict[str, Any]:
    board = _Board(
        stack, "celery", "Celery", "Celery workers and queues as celery-exporter sees them (the workers' task events)."
    )
    ns = selector(namespace)
    finished = f'{{namespace="{namespace}", __name__=~"celery_task_(succeeded|failed)_total"}}'
    board.row("Now")
    board.add(
        number("Workers up", "Workers that sent a heartbeat recently.", "none", Query(f"sum(celery_worker_up{ns})"))
    )
    board.add(
        number(
            "Tasks waiting", "Messages waiting in the broker's queues.", "short", Query(f"sum(celery_queue_length{ns})")
        )
    )
    board.add(
        number(
            "Failure ratio (15 min)",
            "Share of finished tasks that failed over 15 minutes.",
            "percentunit",
            Query(f"sum(rate(celery_task_failed_total{ns}[15m])) / sum(rate({finished}[15m]))"),
        )
    )
    if beat:
        beat_deployment = selector(namespace, match("deployment", rules.BEAT_DEPLOYMENT))
        board.add(
            number(
                "Beat running",
                "Available pods of Deployment crm-beat (exactly one when healthy).",
                "none",
                Query(f"sum(kube_deployment_status_replicas_available{beat_deployment})"),
            )
        )
    board.row("Tasks")
    board.add(
        graph(
            "Tasks by state",
            "Task events per second: sent (by the web or beat), received and started by a worker, then succeeded, "
            "failed or retried.",
            "ops",
            *(
                Query(f"sum(rate(celery_task_{state}_total{ns}[{RATE}]))", state)
                for state in ("sent", "received", "started", "succeeded", "failed", "retried")
            ),
        )
    )
    board.add(
        graph(
            "Failure ratio",
            "Share of finished tasks that failed.",
            "percentunit",
            Query(f"sum(rate(celery_task_failed_total{ns}[{RATE}])) / sum(rate({finished}[{RATE}]))", "failed"),
        )
    )
    board.add(
        graph(
            "Queue length",
            "Messages waiting per queue.",
            "short",
            Query(f"max by (queue_name) (celery_queue_length{ns})", "{{queue_name}}"),
        )
    )
    board.add(
        graph(
            "Failures by task and exception",
            "Failed tasks per second.",
            "ops",
            Query(f"sum by (name, exception) (rate(celery_task_failed_total{ns}[{RATE}]))", "{{name}}: {{exception}}"),
        )
    )
    board.add(
        graph(
            "Task runtime (95th percentile)",
            "How long each task runs.",
            "s",
            Query(
                f"histogram_quantile(0.95, sum by (name, le) (rate(celery_task_runtime_bucket{ns}[{RATE}])))",
                "{{name}}",
            ),
        )
    )
    board.add(
        graph(
            "Tasks running per worker",
            "Tasks each worker is executing.",
            "short",
            Query(f"sum by (hostname) (celery_worker_tasks_active{ns})", "{{hostname}}"),
        )
    )
    return board.build()


def _postgres(stack: str, namespace: str, instances: int, wal_archiving: bool) -> dict[str, Any]:
    board = _Board(
        stack, "postgres", "PostgreSQL", f"CloudNativePG cluster {POSTGRES_CLUSTER} and its PgBouncer pooler."
    )
    ns = selector(namespace)
    cluster = selector(namespace, match("cluster", POSTGRES_CLUSTER))
    max_connections = f"max by (pod) (cnpg_pg_settings_setting{selector(namespace, match('name', 'max_connections'))})"
    board.row("Now")
    board.add(
        number(
            "Instances up",
            f"Instances answering their instance manager, of {instances}.",
            "none",
            Query(f"sum(cnpg_collector_up{cluster})"),
        )
    )
    board.add(
        number(
            "Primaries",
            "Instances accepting writes (exactly one when healthy).",
            "none",
            Query(f"count(cnpg_pg_replication_in_recovery{ns} == 0)"),
        )
    )
    board.add(
        number(
            "Connections in use",
            "Server connections against max_connections, the busiest instance.",
            "percentunit",
            Query(f"max(sum by (pod) (cnpg_backends_total{ns}) / {max_connections})"),
        )
    )
    board.row("Load")
    board.add(
        graph(
            "Connections against max_connections",
            "Server connections per instance, and each instance's max_connections.",
            "short",
            Query(f"sum by (pod) (cnpg_backends_total{ns})", "{{pod}}"),
            Query(max_connections, "{{pod}} max"),
        )
    )
    board.add(
        graph(
            "Connections by state",
            "Active, idle, idle in transaction...",
            "short",
            Query(f"sum by (state) (cnpg_backends_total{ns})", "{{state}}"),
        )
    )
    board.add(
        graph(
            "Transactions per second",
            "Commits and rollbacks per second, all databases.",
            "ops",
            Query(f"sum by (pod) (rate(cnpg_pg_stat_database_xact_commit{ns}[{RATE}]))", "{{pod}} commits"),
            Query(f"sum by (pod) (rate(cnpg_pg_stat_database_xact_rollback{ns}[{RATE}]))", "{{pod}} rollbacks"),
        )
    )
    board.add(
        graph(
            "Pooler clients",
            "PgBouncer clients linked to a server connection, and clients waiting for one (the pool is exhausted).",
            "short",
            Query(f"sum by (pod) (cnpg_pgbouncer_pools_cl_active{ns})", "{{pod}} active"),
            Query(f"sum by (pod) (cnpg_pgbouncer_pools_cl_waiting{ns})", "{{pod}} waiting"),
        )
    )
    board.add(
        graph(
            "Backends waiting on locks",
            "Backends blocked by another's lock.",
            "short",
            Query(f"sum by (pod) (cnpg_backends_waiting_total{ns})", "{{pod}}"),
        )
    )
    board.add(
        graph(
            "Buffer cache hit ratio",
            "Share of block reads served from shared_buffers.",
            "percentunit",
            Query(
                f"sum by (datname) (rate(cnpg_pg_stat_database_blks_hit{ns}[{RATE}])) / "
                f"(sum by (datname) (rate(cnpg_pg_stat_database_blks_hit{ns}[{RATE}])) + "
                f"sum by (datname) (rate(cnpg_pg_stat_database_blks_read{ns}[{RATE}])))",
                "{{datname}}",
            ),
        )
    )
    board.add(
        graph(
            "Deadlocks",
            "Deadlocks detected per second.",
            "ops",
            Query(f"sum by (datname) (rate(cnpg_pg_stat_database_deadlocks{ns}[{RATE}]))", "{{datname}}"),
        )
    )
    board.row("Storage and replication")
    claims = selector(namespace, f'persistentvolumeclaim=~"{POSTGRES_CLUSTER}-[0-9]+(-wal)?"')
    board.add(
        graph(
            "Volume usage",
            "Used share of each instance's data and WAL volume; the alert fires above the disk threshold.",
            "percentunit",
            Query(
                f"max by (persistentvolumeclaim) (kubelet_volume_stats_used_bytes{claims}) / "
                f"max by (persistentvolumeclaim) (kubelet_volume_stats_capacity_bytes{claims})",
                "{{persistentvolumeclaim}}",
            ),
        )
    )
    board.add(
        graph(
            "Database size",
            "Disk space of each database.",
            "bytes",
            Query(f"max by (datname) (cnpg_pg_database_size_bytes{ns})", "{{datname}}"),
        )
    )
    if instances > 1:
        board.add(
            graph(
                "Replication lag",
                "How far each replica trails its primary.",
                "s",
                Query(f"max by (pod) (cnpg_pg_replication_lag{ns})", "{{pod}}"),
            )
        )
    if wal_archiving:
        board.add(
            graph(
                "WAL archiving",
                "Seconds since each instance last archived a WAL segment to the bucket (-1: never).",
                "s",
                Query(f"max by (pod) (cnpg_pg_stat_archiver_seconds_since_last_archival{ns})", "{{pod}}"),
            )
        )
        board.add(
            number(
                "Last base backup",
                "Age of the newest base backup the Barman Cloud plugin completed.",
                "s",
                Query(f"time() - max({BARMAN_LAST_BACKUP}{ns})"),
            )
        )
    return board.build()


def _redis(stack: str, namespace: str, high_availability: bool) -> dict[str, Any]:
    board = _Board(
        stack,
        "redis",
        "Redis",
        f"The cache ({REDIS_CACHE}, LRU) and the broker ({REDIS_BROKER}, "
        "AOF, noeviction), from each server's redis_exporter.",
    )
    servers = selector(namespace, 'pod=~"crm-redis-(cache|broker)-[0-9]+"')
    broker = selector(namespace, f'pod=~"{REDIS_BROKER}-[0-9]+"')
    cache = selector(namespace, match("pod", f"{REDIS_CACHE}-[0-9]+", "=~"))
    celery_list = selector(namespace, match("pod", f"{REDIS_BROKER}-[0-9]+", "=~"), match("key", "celery"))
    masters = selector(namespace, match("pod", "crm-redis-(cache|broker)-[0-9]+", "=~"), match("role", "master"))
    board.row("Now")
    board.add(
        number("Servers up", "Servers answering their exporter, both roles.", "none", Query(f"sum(redis_up{servers})"))
    )
    board.add(
        number(
            "Broker memory",
            "The broker's memory against its maxmemory: full means no task can be queued.",
            "percentunit",
            Query(f"max(redis_memory_used_bytes{broker} / (redis_memory_max_bytes{broker} > 0))"),
        )
    )
    board.add(
        number(
            "Broker evictions (1 h)",
            "Keys the broker evicted in the last hour: must be 0.",
            "short",
            Query(f"sum(increase(redis_evicted_keys_total{broker}[1h]))"),
        )
    )
    board.row("Memory and load")
    board.add(
        graph(
            "Memory against maxmemory",
            "Memory used per server, and its maxmemory.",
            "bytes",
            Query(f"max by (pod) (redis_memory_used_bytes{servers})", "{{pod}}"),
            Query(f"max by (pod) (redis_memory_max_bytes{servers})", "{{pod}} max"),
        )
    )
    board.add(
        graph(
            "Evictions",
            "Keys evicted per second (the cache evicts by design, the broker never should).",
            "ops",
            Query(f"sum by (pod) (rate(redis_evicted_keys_total{servers}[{RATE}]))", "{{pod}}"),
        )
    )
    board.add(
        graph(
            "Connected clients",
            "Client connections per server.",
            "short",
            Query(f"sum by (pod) (redis_connected_clients{servers})", "{{pod}}"),
        )
    )
    board.add(
        graph(
            "Commands per second",
            "Commands processed per second, per role.",
            "ops",
            Query(
                f"sum by (redis_role) ({redis_role(f'rate(redis_commands_processed_total{servers}[{RATE}])')})",
                "{{redis_role}}",
            ),
        )
    )
    board.add(
        graph(
            "Cache hit ratio",
            "Share of the cache's key lookups that found the key.",
            "percentunit",
            Query(
                f"sum(rate(redis_keyspace_hits_total{cache}[{RATE}])) / (sum(rate(redis_keyspace_hits_total{cache}"
                f"[{RATE}])) + sum(rate(redis_keyspace_misses_total{cache}[{RATE}])))",
                "hits",
            ),
        )
    )
    board.add(
        graph(
            "Broker queue",
            "Length of Celery's default queue (the list `celery`, which the broker's exporter checks).",
            "short",
            Query(f"max by (pod) (redis_key_size{celery_list})", "{{pod}}"),
        )
    )
    if high_availability:
        board.row("Failover")
        board.add(
            graph(
                "Masters per role",
                "Servers reporting role master (exactly one per role).",
                "none",
                Query(f"count by (redis_role) ({redis_role(f'redis_instance_info{masters}')})", "{{redis_role}}"),
            )
        )
        board.add(
            graph(
                "Replicas connected",
                "Replicas connected to each server (the master's count matters).",
                "none",
                Query(f"max by (pod) (redis_connected_slaves{servers})", "{{pod}}"),
            )
        )
    return board.build()


def _infrastructure(stack: str, namespace: str, autoscaling: bool) -> dict[str, Any]:
    board = _Board(
        stack,
        "infrastructure",
        "Infrastructure",
        "Pods, CPU and memory against requests and limits per workload, autoscalers, volumes, restarts.",
    )
    ns = selector(namespace)
    containers = selector(namespace, 'container!=""', 'container!="POD"')
    cpu_used = f"sum by (namespace, pod, container) (rate(container_cpu_usage_seconds_total{containers}[{RATE}]))"
    memory_used = f"max by (namespace, pod, container) (container_memory_working_set_bytes{containers})"

    def per_workload(expr: str) -> str:
        return f"sum by (workload) ({by_workload(expr)})"

    def resource(kind: str, name: str) -> str:
        return f"kube_pod_container_resource_{kind}{selector(namespace, match('resource', name))}"

    def against_limit(used: str, name: str) -> str:
        limit = f"max by (namespace, pod, container) ({resource('limits', name)})"
        return f"max by (workload) ({by_workload(f'{used} / {limit}')})"

    board.row("Pods")
    board.add(
        number(
            "Pods ready",
            "Pods whose Ready condition is true.",
            "none",
            Query(f"sum(kube_pod_status_ready{selector(namespace, match('condition', 'true'))})"),
        )
    )
    board.add(
        number(
            "Pods not ready",
            "Pods whose Ready condition is false.",
            "none",
            Query(f"sum(kube_pod_status_ready{selector(namespace, match('condition', 'false'))})"),
        )
    )
    board.add(
        number(
            "Restarts (1 h)",
            "Container restarts in the last hour.",
            "short",
            Query(f"sum(increase(kube_pod_container_status_restarts_total{ns}[1h]))"),
        )
    )
    board.add(
        graph(
            "Deployments: available and desired",
            "Available pods against the desired count.",
            "none",
            Query(f"max by (deployment) (kube_deployment_status_replicas_available{ns})", "{{deployment}}"),
            Query(f"max by (deployment) (kube_deployment_spec_replicas{ns})", "{{deployment}} desired"),
        )
    )
    board.add(
        graph(
            "Restarts by workload",
            "Container restarts per workload.",
            "short",
            Query(per_workload(f"increase(kube_pod_container_status_restarts_total{ns}[{RATE}])"), "{{workload}}"),
        )
    )
    board.row("CPU and memory")
    board.add(
        graph(
            "CPU by workload",
            "Cores used, requested and allowed (limits) per workload.",
            "short",
            Query(per_workload(cpu_used), "{{workload}} used"),
            Query(per_workload(resource("requests", "cpu")), "{{workload}} requested"),
            Query(per_workload(resource("limits", "cpu")), "{{workload}} limit"),
        )
    )
    board.add(
        graph(
            "Memory by workload",
            "Working set, requests and limits per workload.",
            "bytes",
            Query(per_workload(memory_used), "{{workload}} used"),
            Query(per_workload(resource("requests", "memory")), "{{workload}} requested"),
            Query(per_workload(resource("limits", "memory")), "{{workload}} limit"),
        )
    )
    board.add(
        graph(
            "CPU against limit (busiest container)",
            "The highest share of its CPU limit any container of the workload uses; throttling starts at 100 %.",
            "percentunit",
            Query(against_limit(cpu_used, "cpu"), "{{workload}}"),
        )
    )
    board.add(
        graph(
            "Memory against limit (fullest container)",
            "The highest share of its memory limit any container of the workload uses; at 100 % it is OOMKilled.",
            "percentunit",
            Query(against_limit(memory_used, "memory"), "{{workload}}"),
        )
    )
    board.row("Capacity")
    if autoscaling:
        board.add(
            graph(
                "Autoscalers",
                "Current replicas of each HorizontalPodAutoscaler against its minimum and maximum.",
                "none",
                Query(
                    f"max by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_status_current_replicas{ns})",
                    "{{horizontalpodautoscaler}}",
                ),
                Query(
                    f"max by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_spec_min_replicas{ns})",
                    "{{horizontalpodautoscaler}} min",
                ),
                Query(
                    f"max by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_spec_max_replicas{ns})",
                    "{{horizontalpodautoscaler}} max",
                ),
            )
        )
    board.add(
        graph(
            "Volume usage",
            "Used share of every PersistentVolumeClaim of the namespace.",
            "percentunit",
            Query(
                f"max by (persistentvolumeclaim) (kubelet_volume_stats_used_bytes{ns}) / "
                f"max by (persistentvolumeclaim) (kubelet_volume_stats_capacity_bytes{ns})",
                "{{persistentvolumeclaim}}",
            ),
        )
    )
    return board.build()


def _backups(stack: str, namespace: str, wal_archiving: bool) -> dict[str, Any]:
    board = _Board(
        stack,
        "backups",
        "Backups",
        "Logical backups (CronJob crm-backup), the weekly restore test and, with WAL archiving, base backups.",
    )
    backup_jobs = selector(namespace, f'job_name=~"{LOGICAL_BACKUP_CRONJOB}-[0-9]+"')
    any_backup_jobs = selector(
        namespace, f'job_name=~"{LOGICAL_BACKUP_CRONJOB}-[0-9]+|{PRE_MIGRATION_BACKUP_PREFIX}.+"'
    )
    restore_jobs = selector(namespace, f'job_name=~"{RESTORE_VERIFICATION_CRONJOB}-[0-9]+"')
    backup_cronjob = selector(namespace, match("cronjob", LOGICAL_BACKUP_CRONJOB))

    def duration(jobs: str) -> str:
        return (
            f"max by (job_name) (kube_job_status_completion_time{jobs}) - "
            f"max by (job_name) (kube_job_status_start_time{jobs})"
        )

    board.row("Now")
    board.add(
        number(
            "Last logical backup",
            "Time since crm-backup last succeeded (or since it exists, if never).",
            "s",
            Query(rules.cronjob_age(namespace, LOGICAL_BACKUP_CRONJOB)),
        )
    )
    board.add(
        number(
            "Last restore test",
            "Time since crm-restore-verification last succeeded.",
            "s",
            Query(rules.cronjob_age(namespace, RESTORE_VERIFICATION_CRONJOB)),
        )
    )
    board.add(
        number(
            "Next backup in",
            "Time until crm-backup's next scheduled run.",
            "s",
            Query(f"min(kube_cronjob_next_schedule_time{backup_cronjob}) - time()"),
        )
    )
    board.row("Runs")
    board.add(
        graph(
            "Backup duration",
            "How long each backup Job ran (start to completion).",
            "s",
            Query(duration(backup_jobs), "{{job_name}}"),
        )
    )
    board.add(
        graph(
            "Restore test duration",
            "How long each restore verification ran.",
            "s",
            Query(duration(restore_jobs), "{{job_name}}"),
        )
    )
    board.add(
        graph(
            "Failed backup and restore Jobs",
            "Failed pods of each Job (a Job retries up to its backoff limit).",
            "short",
            Query(f"sum by (job_name) (kube_job_status_failed{any_backup_jobs})", "{{job_name}}"),
            Query(f"sum by (job_name) (kube_job_status_failed{restore_jobs})", "{{job_name}}"),
        )
    )
    board.add(
        note(
            "Dump size",
            "No metric carries a dump's size: kube-state-metrics reports Jobs, not what they wrote. Each backup's "
            "`manifest.json` records `size_bytes` next to its dump (`backups/logical/<backup>/` in the stack's bucket, "
            "or the backup volume in dev); the bucket's storage metrics show the total.",
        )
    )
    if wal_archiving:
        board.row("Point-in-time recovery")
        ns = selector(namespace)
        board.add(
            number(
                "Last base backup",
                "Age of the newest base backup the Barman Cloud plugin completed.",
                "s",
                Query(f"time() - max({BARMAN_LAST_BACKUP}{ns})"),
            )
        )
        board.add(
            graph(
                "WAL segments archived",
                "WAL segments archived to the bucket per hour.",
                "short",
                Query(f"sum(increase(cnpg_pg_stat_archiver_archived_count{ns}[1h]))", "archived"),
            )
        )
    return board.build()


def _business(settings: MonitoringSettings, stack: str, namespace: str) -> dict[str, Any]:
    board = _Board(stack, "business", "Business", "The application's own counters, as the stack's settings name them.")
    ns = selector(namespace)
    board.row("Last 24 hours")
    for metric in settings.business_metrics:
        board.add(
            number(
                metric.title,
                f"{metric.counter} over the last 24 hours.",
                "short",
                Query(f"sum(increase({metric.counter}{ns}[1d]))"),
            )
        )
    board.row("Rate")
    for metric in settings.business_metrics:
        board.add(
            graph(
                f"{metric.title} per hour",
                f"{metric.counter}, per hour.",
                "short",
                Query(f"sum(rate({metric.counter}{ns}[{RATE}])) * 3600", metric.title),
            )
        )
    return board.build()


def dashboards(
    settings: MonitoringSettings,
    *,
    stack: str,
    app_namespace: str,
    autoscaling: bool,
    wal_archiving: bool,
    postgres_instances: int,
    high_availability_redis: bool,
    celery_worker: bool,
    celery_beat: bool,
) -> dict[str, dict[str, Any]]:
    """File name -> dashboard model, for the Grafana sidecar's ConfigMaps.

    The keyword arguments come from `stacks.model.Settings` as for `rules.rule_groups()`. The
    business dashboard exists when the settings name business metrics; Celery's when workers run.
    """
    for metric in settings.business_metrics:
        if not METRIC_NAME.fullmatch(metric.counter):
            raise ValueError(
                f"business metric {metric.title!r}: counter {metric.counter!r} is not a Prometheus metric name "
                "(letters, digits, _ and :, not starting with a digit)"
            )
    boards = {
        "application": _application(settings, stack, app_namespace),
        "infrastructure": _infrastructure(stack, app_namespace, autoscaling),
    }
    if postgres_instances:
        boards["postgres"] = _postgres(stack, app_namespace, postgres_instances, wal_archiving)
    boards["redis"] = _redis(stack, app_namespace, high_availability_redis)
    if postgres_instances:
        # Backups are of the stack's PostgreSQL: none without it.
        boards["backups"] = _backups(stack, app_namespace, wal_archiving)
    if celery_worker:
        boards["celery"] = _celery(stack, app_namespace, celery_beat)
    if settings.business_metrics:
        boards["business"] = _business(settings, stack, app_namespace)
    return {f"crm-{stack}-{name}.json": board for name, board in boards.items()}

"""For every alert: series on which it fires, and a healthy platform on which it stays silent.

The table behind the `promtool test rules` files (test_rules.py writes one per rule group). Each
firing case states the labels the alert must carry besides its rule's own and how its
description must show the value (`humanize*` as Prometheus renders it). The silent case runs the
healthy series of the stack's namespace together with the firing series of another namespace:
a stack's alert must neither fire on a healthy stack nor on another stack's trouble.

Series names and labels are those the emitters produce (REFERENCE.md section 2): promtool's
input needs no running emitter, and the real-Prometheus test (test_queries.py) checks the same
names against emitters that run here. Evaluation times sit well inside each `for` and range
window, away from window boundaries, where Prometheus 3 (left-open ranges) and promtool 2.42 differ.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

OTHER_NAMESPACE = "crm-elsewhere"
"""Another stack's app namespace on the same cluster."""


@dataclass(frozen=True)
class Series:
    metric: str
    values: str
    """promtool's expanding notation: '0+60x90' is 0, 60, 120, ... one sample per interval."""
    labels: Mapping[str, str] = field(default_factory=dict)

    def notation(self) -> str:
        inner = ", ".join(f'{name}="{value}"' for name, value in sorted(self.labels.items()))
        return f"{self.metric}{{{inner}}}"


@dataclass(frozen=True)
class Context:
    namespace: str
    postgres_instances: int


@dataclass(frozen=True)
class Firing:
    series: tuple[Series, ...]
    eval_time: str
    labels: Mapping[str, str]
    """Labels the expression gives the alert (pod, service, ...), besides the rule's labels."""
    value: str
    """How `{{ $value | ... }}` renders in the description."""


@dataclass(frozen=True)
class AlertCases:
    firing: Callable[[Context], tuple[Firing, ...]]
    healthy: Callable[[Context], tuple[Series, ...]]


def s(metric: str, values: str, **labels: str) -> Series:
    return Series(metric, values, labels)


def minutes(text: str) -> int:
    number, unit = int(text[:-1]), text[-1]
    return number * {"m": 1, "h": 60, "d": 1440}[unit]


# --- web -------------------------------------------------------------------------------------------

RESPONSES = "django_http_responses_total_by_status_view_method_total"
BUCKETS = "django_http_requests_latency_seconds_by_view_method_bucket"


def responses(ns: str, ok_per_minute: int, errors_per_minute: int, samples: int) -> tuple[Series, ...]:
    labels = {"namespace": ns, "view": "contacts", "method": "GET"}
    return (
        s(RESPONSES, f"0+{ok_per_minute}x{samples}", status="200", **labels),
        s(RESPONSES, f"0+{errors_per_minute}x{samples}", status="500", **labels),
    )


def latency(ns: str, seconds_bucket: str) -> tuple[Series, ...]:
    """Ten requests a minute, all in the bucket ending at `seconds_bucket`."""
    bounds = ("0.5", "1", "2.5", "5", "+Inf")
    first = bounds.index(seconds_bucket)
    return tuple(
        s(BUCKETS, "0+10x60" if index >= first else "0x60", namespace=ns, view="contacts", method="GET", le=bound)
        for index, bound in enumerate(bounds)
    )


def web_up(ns: str, value: int) -> tuple[Series, ...]:
    return (s("up", f"{value}x30", namespace=ns, container="web", pod="crm-web-5d8f7c9b6d-x2x7q", job="crm-web"),)


def burn(ok: int, errors: int, samples: int, eval_time: str, shown: str) -> AlertCases:
    return AlertCases(
        firing=lambda c: (Firing(responses(c.namespace, ok, errors, samples), eval_time, {}, shown),),
        # 0.05 % of requests fail: below every burn threshold of a 99.9 % objective.
        healthy=lambda c: responses(c.namespace, 1999, 1, samples),
    )


# --- containers -------------------------------------------------------------------------------------

WEB_POD = {"pod": "crm-web-5d8f7c9b6d-x2x7q", "container": "web"}
CPU = "container_cpu_usage_seconds_total"
MEMORY = "container_memory_working_set_bytes"


def resource(ns: str, kind: str, resource_name: str, value: str) -> Series:
    unit = "core" if resource_name == "cpu" else "byte"
    return s(
        f"kube_pod_container_resource_{kind}",
        f"{value}x60",
        namespace=ns,
        resource=resource_name,
        unit=unit,
        node="node-a",
        uid="3f1c",
        **WEB_POD,
    )


def cadvisor(ns: str, metric: str, values: str) -> Series:
    return s(metric, values, namespace=ns, image="registry.example/crm:1.4.2", id="/kubepods/pod3f1c/web", **WEB_POD)


def container(kind: str, resource_name: str, used_firing: str, used_healthy: str, reference: str) -> AlertCases:
    """Container use against a request or limit; CPU in cores a minute (counter steps), memory in bytes."""
    metric = CPU if resource_name == "cpu" else MEMORY

    def values(used: str) -> str:
        return f"0+{int(float(used) * 60)}x60" if resource_name == "cpu" else f"{used}x60"

    def share(used: str) -> str:
        return f"{float(used) / float(reference) * 100:.4g}%"

    return AlertCases(
        firing=lambda c: (
            Firing(
                (
                    cadvisor(c.namespace, metric, values(used_firing)),
                    resource(c.namespace, kind, resource_name, reference),
                ),
                "45m",
                {**WEB_POD, "service": "web"},
                share(used_firing),
            ),
        ),
        healthy=lambda c: (
            cadvisor(c.namespace, metric, values(used_healthy)),
            resource(c.namespace, kind, resource_name, reference),
        ),
    )


# --- Celery, PostgreSQL, Redis ------------------------------------------------------------------------

WORKER = {"hostname": "celery@crm-worker-6c9d7b8f5-k2j4m"}
TASK = {"name": "crm.tasks.send_digest", "queue_name": "celery", **WORKER}


def postgres_up(ns: str, instances: int, down: int) -> tuple[Series, ...]:
    return tuple(
        s(
            "cnpg_collector_up",
            "0x60" if index < down else "1x60",
            namespace=ns,
            cluster="crm-postgres",
            pod=f"crm-postgres-{index + 1}",
        )
        for index in range(instances)
    )


def in_recovery(ns: str, instances: int, primary: bool) -> tuple[Series, ...]:
    return tuple(
        s(
            "cnpg_pg_replication_in_recovery",
            "0x60" if primary and index == 0 else "1x60",
            namespace=ns,
            pod=f"crm-postgres-{index + 1}",
        )
        for index in range(instances)
    )


def backends(ns: str, active: int, idle: int) -> tuple[Series, ...]:
    labels = {"namespace": ns, "pod": "crm-postgres-1", "datname": "crm", "usename": "crm", "application_name": ""}
    return (
        s("cnpg_backends_total", f"{active}x60", state="active", **labels),
        s("cnpg_backends_total", f"{idle}x60", state="idle", **labels),
        s("cnpg_pg_settings_setting", "100x60", namespace=ns, pod="crm-postgres-1", name="max_connections"),
    )


def archiver(ns: str, last_failed: int, last_archived: int) -> tuple[Series, ...]:
    labels = {"namespace": ns, "pod": "crm-postgres-1"}
    return (
        s("cnpg_pg_stat_archiver_seconds_since_last_archival", "900x60", **labels),
        s("cnpg_pg_stat_archiver_last_failed_time", f"{last_failed}x60", **labels),
        s("cnpg_pg_stat_archiver_last_archived_time", f"{last_archived}x60", **labels),
    )


BARMAN_LAST = "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp"
BARMAN_FAILED = "barman_cloud_cloudnative_pg_io_last_failed_backup_timestamp"


def redis_servers(ns: str, server: str, up: int, master: bool) -> tuple[Series, ...]:
    series: list[Series] = []
    for ordinal in range(3):
        pod = f"{server}-{ordinal}"
        series.append(s("redis_up", f"{up}x60", namespace=ns, pod=pod))
        role = "master" if master and ordinal == 0 else "slave"
        series.append(
            s(
                "redis_instance_info",
                "1x60",
                namespace=ns,
                pod=pod,
                role=role,
                redis_version="7.4.11",
                redis_mode="standalone",
                maxmemory_policy="noeviction",
            )
        )
    return tuple(series)


def redis_down(server: str) -> AlertCases:
    return AlertCases(
        firing=lambda c: (Firing((s("redis_up", "0x60", namespace=c.namespace, pod=f"{server}-0"),), "10m", {}, "0"),),
        healthy=lambda c: (s("redis_up", "1x60", namespace=c.namespace, pod=f"{server}-0"),),
    )


def no_master(server: str) -> AlertCases:
    return AlertCases(
        firing=lambda c: (Firing(redis_servers(c.namespace, server, 1, master=False), "10m", {}, "0"),),
        healthy=lambda c: redis_servers(c.namespace, server, 1, master=True),
    )


BROKER_POD = {"pod": "crm-redis-broker-0"}

# --- backups and certificates -------------------------------------------------------------------------


def cronjob(ns: str, name: str, last_success: str | None, created: str) -> tuple[Series, ...]:
    series = [s("kube_cronjob_created", f"{created}x60", namespace=ns, cronjob=name)]
    if last_success is not None:
        series.append(s("kube_cronjob_status_last_successful_time", f"{last_success}x60", namespace=ns, cronjob=name))
    return tuple(series)


def failed_job(ns: str, job: str, cronjob_name: str, last_success: str) -> tuple[Series, ...]:
    """A Job that started at 600 s and hit its backoff limit; the CronJob last succeeded at `last_success`."""
    return (
        s("kube_job_status_start_time", "600x60", namespace=ns, job_name=job),
        s("kube_job_status_failed", "1x60", namespace=ns, job_name=job, reason="BackoffLimitExceeded"),
        s("kube_job_status_failed", "0x60", namespace=ns, job_name=job, reason="DeadlineExceeded"),
        s("kube_job_status_failed", "0x60", namespace=ns, job_name=job, reason="Evicted"),
        *cronjob(ns, cronjob_name, last_success, "-864000"),
    )


def job_failure(job: str, cronjob_name: str) -> AlertCases:
    return AlertCases(
        firing=lambda c: (Firing(failed_job(c.namespace, job, cronjob_name, "0"), "30m", {"job_name": job}, "20m 0s"),),
        # The same failure, but the CronJob has succeeded since (at 1200 s).
        healthy=lambda c: failed_job(c.namespace, job, cronjob_name, "1200"),
    )


CERTIFICATE = {
    "name": "crm-api-tls",
    "issuer_name": "letsencrypt-production",
    "issuer_kind": "ClusterIssuer",
    "issuer_group": "cert-manager.io",
}


def certificate_expiry(ns: str, expires: int) -> Series:
    return s(
        "certmanager_certificate_expiration_timestamp_seconds",
        f"{expires}x180",
        namespace="cert-manager",
        exported_namespace=ns,
        **CERTIFICATE,
    )


def certificate_ready(ns: str, condition: str) -> tuple[Series, ...]:
    return tuple(
        s(
            "certmanager_certificate_ready_status",
            "1x60" if state == condition else "0x60",
            namespace="cert-manager",
            exported_namespace=ns,
            condition=state,
            **CERTIFICATE,
        )
        for state in ("True", "False", "Unknown")
    )


# --- the table ------------------------------------------------------------------------------------------

CASES: dict[str, AlertCases] = {
    "WebDown": AlertCases(
        firing=lambda c: (Firing(web_up(c.namespace, 0), "10m", {}, "0"),),
        healthy=lambda c: web_up(c.namespace, 1),
    ),
    # 10 of 100 responses a minute are 500s.
    "WebHighErrorRatio": AlertCases(
        firing=lambda c: (Firing(responses(c.namespace, 90, 10, 60), "20m", {}, "10%"),),
        healthy=lambda c: responses(c.namespace, 99, 1, 60),
    ),
    # Every request between 2.5 and 5 s: the 95th percentile interpolates to 4.875 s.
    "WebHighLatency": AlertCases(
        firing=lambda c: (Firing(latency(c.namespace, "5"), "25m", {}, "4.875s"),),
        healthy=lambda c: latency(c.namespace, "0.5"),
    ),
    # Burn rates against a 0.1 % budget: 2 % > 14.4x, 1 % > 6x, 0.5 % > 3x, 0.2 % > 1x.
    "WebErrorBudgetBurn1h": burn(98, 2, 60, "30m", "2%"),
    "WebErrorBudgetBurn6h": burn(99, 1, 180, "2h", "1%"),
    "WebErrorBudgetBurn1d": burn(199, 1, 240, "3h", "0.5%"),
    "WebErrorBudgetBurn3d": burn(499, 1, 360, "5h", "0.2%"),
    # One restart every 5 minutes (3 in 15), waiting in CrashLoopBackOff.
    "PodCrashLooping": AlertCases(
        firing=lambda c: (
            Firing(
                (
                    s(
                        "kube_pod_container_status_restarts_total",
                        "0+0.2x60",
                        namespace=c.namespace,
                        pod="crm-postgres-2",
                        container="postgres",
                        uid="9a7e",
                    ),
                    s(
                        "kube_pod_container_status_waiting_reason",
                        "1x60",
                        namespace=c.namespace,
                        pod="crm-postgres-2",
                        container="postgres",
                        uid="9a7e",
                        reason="CrashLoopBackOff",
                    ),
                ),
                "30m",
                {"pod": "crm-postgres-2", "container": "postgres", "service": "postgres"},
                "3",
            ),
        ),
        healthy=lambda c: (
            s(
                "kube_pod_container_status_restarts_total",
                "2x60",
                namespace=c.namespace,
                pod="crm-postgres-2",
                container="postgres",
                uid="9a7e",
            ),
            s(
                "kube_pod_container_status_waiting_reason",
                "1x60",
                namespace=c.namespace,
                pod="crm-backup-29000000-q8w7e",
                container="dump",
                uid="77b1",
                reason="ContainerCreating",
            ),
        ),
    ),
    "ContainerCpuNearLimit": container("limits", "cpu", "0.45", "0.2", "0.5"),
    "ContainerMemoryNearLimit": container("limits", "memory", "950000000", "500000000", "1000000000"),
    "ContainerCpuOverRequest": container("requests", "cpu", "0.3", "0.1", "0.25"),
    "ContainerMemoryOverRequest": container("requests", "memory", "600000000", "400000000", "500000000"),
    "PersistentVolumeFillingUp": AlertCases(
        firing=lambda c: (
            Firing(
                (
                    s(
                        "kubelet_volume_stats_used_bytes",
                        "95x60",
                        namespace=c.namespace,
                        persistentvolumeclaim="crm-postgres-1-wal",
                    ),
                    s(
                        "kubelet_volume_stats_capacity_bytes",
                        "100x60",
                        namespace=c.namespace,
                        persistentvolumeclaim="crm-postgres-1-wal",
                    ),
                ),
                "15m",
                {"persistentvolumeclaim": "crm-postgres-1-wal", "service": "postgres"},
                "95%",
            ),
            Firing(
                (
                    s(
                        "kubelet_volume_stats_used_bytes",
                        "99x60",
                        namespace=c.namespace,
                        persistentvolumeclaim="data-crm-redis-broker-0",
                    ),
                    s(
                        "kubelet_volume_stats_capacity_bytes",
                        "100x60",
                        namespace=c.namespace,
                        persistentvolumeclaim="data-crm-redis-broker-0",
                    ),
                ),
                "15m",
                {"persistentvolumeclaim": "data-crm-redis-broker-0", "service": "redis"},
                "99%",
            ),
        ),
        healthy=lambda c: (
            s(
                "kubelet_volume_stats_used_bytes",
                "50x60",
                namespace=c.namespace,
                persistentvolumeclaim="crm-postgres-1-wal",
            ),
            s(
                "kubelet_volume_stats_capacity_bytes",
                "100x60",
                namespace=c.namespace,
                persistentvolumeclaim="crm-postgres-1-wal",
            ),
        ),
    ),
    "HpaAtMaximum": AlertCases(
        firing=lambda c: (
            Firing(
                (
                    s(
                        "kube_horizontalpodautoscaler_status_current_replicas",
                        "20x60",
                        namespace=c.namespace,
                        horizontalpodautoscaler="crm-web",
                    ),
                    s(
                        "kube_horizontalpodautoscaler_spec_max_replicas",
                        "20x60",
                        namespace=c.namespace,
                        horizontalpodautoscaler="crm-web",
                    ),
                ),
                "30m",
                {"horizontalpodautoscaler": "crm-web", "service": "web"},
                "20",
            ),
        ),
        healthy=lambda c: (
            s(
                "kube_horizontalpodautoscaler_status_current_replicas",
                "8x60",
                namespace=c.namespace,
                horizontalpodautoscaler="crm-web",
            ),
            s(
                "kube_horizontalpodautoscaler_spec_max_replicas",
                "20x60",
                namespace=c.namespace,
                horizontalpodautoscaler="crm-web",
            ),
        ),
    ),
    "CeleryWorkersDown": AlertCases(
        firing=lambda c: (Firing((s("celery_worker_up", "0x60", namespace=c.namespace, **WORKER),), "15m", {}, "0"),),
        healthy=lambda c: (s("celery_worker_up", "1x60", namespace=c.namespace, **WORKER),),
    ),
    "CeleryQueueBacklog": AlertCases(
        firing=lambda c: (
            Firing(
                (s("celery_queue_length", "1500x60", namespace=c.namespace, queue_name="celery"),),
                "30m",
                {"queue_name": "celery"},
                "1.5k",
            ),
        ),
        healthy=lambda c: (s("celery_queue_length", "12x60", namespace=c.namespace, queue_name="celery"),),
    ),
    # 3 of 20 tasks a minute fail.
    "CeleryTaskFailureRatio": AlertCases(
        firing=lambda c: (
            Firing(
                (
                    s("celery_task_failed_total", "0+3x60", namespace=c.namespace, exception="SMTPException", **TASK),
                    s("celery_task_succeeded_total", "0+17x60", namespace=c.namespace, **TASK),
                ),
                "30m",
                {},
                "15%",
            ),
        ),
        healthy=lambda c: (
            s("celery_task_failed_total", "0+1x60", namespace=c.namespace, exception="SMTPException", **TASK),
            s("celery_task_succeeded_total", "0+99x60", namespace=c.namespace, **TASK),
        ),
    ),
    "CeleryBeatDown": AlertCases(
        firing=lambda c: (
            Firing(
                (s("kube_deployment_status_replicas_available", "0x60", namespace=c.namespace, deployment="crm-beat"),),
                "15m",
                {},
                "0",
            ),
        ),
        healthy=lambda c: (
            s("kube_deployment_status_replicas_available", "1x60", namespace=c.namespace, deployment="crm-beat"),
        ),
    ),
    # Workers up, no task received for 90 minutes.
    "CeleryBeatNotScheduling": AlertCases(
        firing=lambda c: (
            Firing(
                (
                    s("celery_task_received_total", "5x120", namespace=c.namespace, **TASK),
                    s("celery_worker_up", "1x120", namespace=c.namespace, **WORKER),
                ),
                "90m",
                {},
                "0",
            ),
        ),
        healthy=lambda c: (
            s("celery_task_received_total", "0+1x120", namespace=c.namespace, **TASK),
            s("celery_worker_up", "1x120", namespace=c.namespace, **WORKER),
        ),
    ),
    "PostgresDown": AlertCases(
        firing=lambda c: (
            Firing(postgres_up(c.namespace, c.postgres_instances, c.postgres_instances), "10m", {}, "0"),
        ),
        healthy=lambda c: postgres_up(c.namespace, c.postgres_instances, 0),
    ),
    # 88 of max_connections 100.
    "PostgresConnectionsHigh": AlertCases(
        firing=lambda c: (Firing(backends(c.namespace, 45, 43), "15m", {"pod": "crm-postgres-1"}, "88%"),),
        healthy=lambda c: backends(c.namespace, 5, 15),
    ),
    "PostgresPoolerClientsWaiting": AlertCases(
        firing=lambda c: (
            Firing(
                (
                    s(
                        "cnpg_pgbouncer_pools_cl_waiting",
                        "7x60",
                        namespace=c.namespace,
                        pod="crm-postgres-pooler-rw-6f7d8c9b5-abcde",
                        database="crm",
                        user="crm",
                    ),
                ),
                "15m",
                {"pod": "crm-postgres-pooler-rw-6f7d8c9b5-abcde"},
                "7",
            ),
        ),
        healthy=lambda c: (
            s(
                "cnpg_pgbouncer_pools_cl_waiting",
                "0x60",
                namespace=c.namespace,
                pod="crm-postgres-pooler-rw-6f7d8c9b5-abcde",
                database="crm",
                user="crm",
            ),
        ),
    ),
    "PostgresInstanceDown": AlertCases(
        firing=lambda c: (
            Firing(postgres_up(c.namespace, c.postgres_instances, 1), "15m", {}, str(c.postgres_instances - 1)),
        ),
        healthy=lambda c: postgres_up(c.namespace, c.postgres_instances, 0),
    ),
    "PostgresNoPrimary": AlertCases(
        firing=lambda c: (Firing(in_recovery(c.namespace, c.postgres_instances, primary=False), "10m", {}, "0"),),
        healthy=lambda c: in_recovery(c.namespace, c.postgres_instances, primary=True),
    ),
    "PostgresReplicationLag": AlertCases(
        firing=lambda c: (
            Firing(
                (s("cnpg_pg_replication_lag", "45x60", namespace=c.namespace, pod="crm-postgres-2"),),
                "15m",
                {"pod": "crm-postgres-2"},
                "45s",
            ),
        ),
        healthy=lambda c: (s("cnpg_pg_replication_lag", "0x60", namespace=c.namespace, pod="crm-postgres-2"),),
    ),
    # The last attempt (at 2000 s) failed after the last success (at 1000 s).
    "PostgresWalArchivingFailing": AlertCases(
        firing=lambda c: (Firing(archiver(c.namespace, 2000, 1000), "15m", {"pod": "crm-postgres-1"}, "15m 0s"),),
        healthy=lambda c: archiver(c.namespace, 1000, 2000),
    ),
    # The last base backup finished 27 hours before the evaluation at 2 h.
    "PostgresBaseBackupTooOld": AlertCases(
        firing=lambda c: (
            Firing(
                (
                    s(BARMAN_LAST, "-90000x180", namespace=c.namespace, pod="crm-postgres-1"),
                    s(BARMAN_FAILED, "0x180", namespace=c.namespace, pod="crm-postgres-1"),
                ),
                "2h",
                {},
                "1d 3h 0m 0s",
            ),
        ),
        healthy=lambda c: (
            s(BARMAN_LAST, "3600x180", namespace=c.namespace, pod="crm-postgres-1"),
            s(BARMAN_FAILED, "0x180", namespace=c.namespace, pod="crm-postgres-1"),
        ),
    ),
    # A backup failed at 5000 s, after the last success at 1000 s; evaluated at 6000 s.
    "PostgresBaseBackupFailed": AlertCases(
        firing=lambda c: (
            Firing(
                (
                    s(BARMAN_LAST, "1000x120", namespace=c.namespace, pod="crm-postgres-1"),
                    s(BARMAN_FAILED, "5000x120", namespace=c.namespace, pod="crm-postgres-1"),
                ),
                "100m",
                {},
                "16m 40s",
            ),
        ),
        healthy=lambda c: (
            s(BARMAN_LAST, "5000x120", namespace=c.namespace, pod="crm-postgres-1"),
            s(BARMAN_FAILED, "1000x120", namespace=c.namespace, pod="crm-postgres-1"),
        ),
    ),
    "RedisCacheDown": redis_down("crm-redis-cache"),
    "RedisBrokerDown": redis_down("crm-redis-broker"),
    "RedisCacheNoMaster": no_master("crm-redis-cache"),
    "RedisBrokerNoMaster": no_master("crm-redis-broker"),
    "RedisBrokerMemoryHigh": AlertCases(
        firing=lambda c: (
            Firing(
                (
                    s("redis_memory_used_bytes", "900x60", namespace=c.namespace, **BROKER_POD),
                    s("redis_memory_max_bytes", "1000x60", namespace=c.namespace, **BROKER_POD),
                ),
                "15m",
                BROKER_POD,
                "90%",
            ),
        ),
        healthy=lambda c: (
            s("redis_memory_used_bytes", "100x60", namespace=c.namespace, **BROKER_POD),
            s("redis_memory_max_bytes", "1000x60", namespace=c.namespace, **BROKER_POD),
            # The cache may fill up: it evicts by design.
            s("redis_memory_used_bytes", "990x60", namespace=c.namespace, pod="crm-redis-cache-0"),
            s("redis_memory_max_bytes", "1000x60", namespace=c.namespace, pod="crm-redis-cache-0"),
        ),
    ),
    # Two keys evicted a minute: 10 in 5 minutes.
    "RedisBrokerEvictions": AlertCases(
        firing=lambda c: (
            Firing(
                (s("redis_evicted_keys_total", "0+2x60", namespace=c.namespace, **BROKER_POD),), "20m", BROKER_POD, "10"
            ),
        ),
        healthy=lambda c: (
            s("redis_evicted_keys_total", "0x60", namespace=c.namespace, **BROKER_POD),
            s("redis_evicted_keys_total", "0+50x60", namespace=c.namespace, pod="crm-redis-cache-0"),
        ),
    ),
    # Evaluated at 30 m: last success 30 h before; never succeeded, created 30 h before.
    "LogicalBackupTooOld": AlertCases(
        firing=lambda c: (
            Firing(cronjob(c.namespace, "crm-backup", "-106200", "-864000"), "30m", {}, "1d 6h 0m 0s"),
            Firing(cronjob(c.namespace, "crm-backup", None, "-106200"), "30m", {}, "1d 6h 0m 0s"),
        ),
        healthy=lambda c: cronjob(c.namespace, "crm-backup", "0", "-864000"),
    ),
    "BackupJobFailed": job_failure("crm-backup-29000000", "crm-backup"),
    "RestoreVerificationFailed": job_failure("crm-restore-verification-29000000", "crm-restore-verification"),
    # Last success 9 days before the evaluation at 30 m.
    "RestoreVerificationTooOld": AlertCases(
        firing=lambda c: (
            Firing(cronjob(c.namespace, "crm-restore-verification", "-775800", "-8640000"), "30m", {}, "9d 0h 0m 0s"),
        ),
        healthy=lambda c: cronjob(c.namespace, "crm-restore-verification", "0", "-8640000"),
    ),
    # Evaluated at 2 h: expires 10 days later.
    "CertificateExpiringSoon": AlertCases(
        firing=lambda c: (
            Firing(
                (certificate_expiry(c.namespace, 7200 + 10 * 86400),),
                "2h",
                {"exported_namespace": c.namespace, "name": "crm-api-tls"},
                "10d 0h 0m 0s",
            ),
        ),
        healthy=lambda c: (certificate_expiry(c.namespace, 60 * 86400),),
    ),
    "CertificateNotReady": AlertCases(
        firing=lambda c: (
            Firing(
                certificate_ready(c.namespace, "False"),
                "30m",
                {"exported_namespace": c.namespace, "name": "crm-api-tls", "condition": "False"},
                "1",
            ),
        ),
        healthy=lambda c: certificate_ready(c.namespace, "True"),
    ),
    "Watchdog": AlertCases(firing=lambda c: (Firing((), "5m", {}, "1"),), healthy=lambda c: ()),
}

ALWAYS_FIRING = frozenset({"Watchdog"})
"""Alerts with no silent case, by design."""

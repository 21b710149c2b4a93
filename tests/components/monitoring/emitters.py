"""The metric emitters behind the real-Prometheus test: real ones where they run here, documented ones elsewhere.

Real, scraped by Prometheus:
- the web: django-prometheus 2.5.0 in a minimal Django application (django_app.py);
- Redis: Debian's redis_exporter (1.45; clusters run v1.88.0, whose names for the series used
  here are the same) against a real redis-server;
- CloudNativePG's instance metrics: each query of its default query set
  (../shared/metrics/cloudnative-pg-1.30.0-default-monitoring.yaml) run on a real PostgreSQL,
  every GAUGE/COUNTER column of every row turned into `cnpg_<query name>_<column>` labelled by
  its LABEL columns, as the instance manager does.

Synthesized (`synthetic_exposition`), because their emitters need a cluster or a broker this
machine has not: kube-state-metrics 2.20 (docs/metrics/*), cAdvisor and the kubelet's volume
stats, cert-manager v1.21 (the certificate's namespace as `exported_namespace`), celery-exporter
0.12.2 (src/exporter.py: task counters by name, hostname and queue_name, worker_up by hostname,
queue_length by queue_name), CloudNativePG's own collector (`cnpg_collector_up{cluster}`) and
pooler exporter (`cnpg_pgbouncer_pools_cl_*{database,user}`), and the Barman Cloud plugin's
backup timestamps. Names and labels are those upstream documents; values are those of a healthy
stack, counters growing with time so that rates are real rates.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from components.monitoring.rules import StackFacts
from tests.components.monitoring.support import SHARED
from tests.support.backup_harness import PostgresServer

CNPG_QUERIES = SHARED / "metrics" / "cloudnative-pg-1.30.0-default-monitoring.yaml"

Labels = Mapping[str, str]


def sample(metric: str, labels: Labels, value: float) -> str:
    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    inner = ",".join(f'{name}="{escape(value)}"' for name, value in sorted(labels.items()))
    return f"{metric}{{{inner}}} {value!r}"


def exposition(lines: Sequence[str]) -> str:
    """Text exposition with each metric's samples together (the format wants a family's lines adjacent)."""
    return "\n".join(sorted(lines, key=lambda line: line.split("{", 1)[0])) + "\n"


# --- HTTP -----------------------------------------------------------------------------------------


@contextmanager
def metrics_server(pages: Mapping[str, Callable[[], str]]) -> Iterator[int]:
    """Serve each path's exposition on 127.0.0.1 (a fresh rendering per scrape); yields the port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            render = pages.get(self.path)
            if render is None:
                self.send_error(404)
                return
            body = render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


# --- CloudNativePG's query set on a real PostgreSQL --------------------------------------------------


def _version_ok(requirement: str, version: tuple[int, int, int]) -> bool:
    """A `runonserver` range of the query set (">=17.0.0", "<17.0.0") against the server's version."""
    for clause in requirement.split():
        match = re.fullmatch(r"(>=|<=|>|<|=)?(\d+)\.(\d+)\.(\d+)", clause)
        assert match, f"unexpected runonserver clause {clause!r}"
        wanted = (int(match[2]), int(match[3]), int(match[4]))
        operator = match[1] or "="
        holds = {
            ">=": version >= wanted,
            "<=": version <= wanted,
            ">": version > wanted,
            "<": version < wanted,
            "=": version == wanted,
        }[operator]
        if not holds:
            return False
    return True


def _rows(server: PostgresServer, sql: str, database: str) -> list[dict[str, str]]:
    output = server.psql(f"COPY ({sql.strip().rstrip(';')}) TO STDOUT WITH (FORMAT csv, HEADER)", database=database)
    return list(csv.DictReader(io.StringIO(output)))


def _number(text: str) -> float | None:
    if text == "":
        return None  # NULL: the instance manager reports nothing for it
    if text in ("t", "f"):
        return 1.0 if text == "t" else 0.0
    return float(text)


def cnpg_query_metrics(server: PostgresServer, databases: Sequence[str]) -> list[tuple[str, dict[str, str], float]]:
    """Every series CloudNativePG's default queries yield on this server: (name, labels, value)."""
    configmap = yaml.safe_load(CNPG_QUERIES.read_text())
    queries: dict[str, Any] = yaml.safe_load(configmap["data"]["queries"])
    number = int(server.psql("SHOW server_version_num").strip())
    version = (number // 10000, number // 100 % 100, number % 100)
    series: list[tuple[str, dict[str, str], float]] = []
    for key, query in queries.items():
        if "runonserver" in query and not _version_ok(query["runonserver"], version):
            continue
        predicate = query.get("predicate_query")
        if predicate and server.psql(predicate).strip() != "t":
            continue
        name = query.get("name", key)
        columns = {column: spec["usage"] for item in query["metrics"] for column, spec in item.items()}
        targets = databases if query.get("target_databases") else databases[:1]
        for database in targets:
            for row in _rows(server, query["query"], database):
                labels = {column: row[column] for column, usage in columns.items() if usage == "LABEL"}
                for column, usage in columns.items():
                    if usage in ("GAUGE", "COUNTER"):
                        value = _number(row[column])
                        if value is not None:
                            series.append((f"cnpg_{name}_{column}", labels, value))
    return series


# --- the emitters that cannot run here ------------------------------------------------------------------


def synthetic_exposition(stacks: Sequence[StackFacts], started: float) -> str:
    """A healthy stack's series of every emitter that cannot run here, for each stack, at this moment."""
    now = time.time()
    elapsed = now - started
    lines: list[str] = []
    for facts in stacks:
        lines += _stack_series(facts, now, elapsed)
    return exposition(lines)


def _stack_series(facts: StackFacts, now: float, elapsed: float) -> list[str]:
    ns = facts.app_namespace
    lines: list[str] = []

    def add(metric: str, value: float, **labels: str) -> None:
        lines.append(sample(metric, {"namespace": ns, **labels}, value))

    def counter(per_second: float, base: float = 0.0) -> float:
        return base + per_second * elapsed

    pods = {
        # pod: (container, cpu request, cpu limit, memory request, memory limit, cores used, bytes used)
        "crm-web-5d8f7c9b6d-x2x7q": ("web", 0.25, 0.5, 512e6, 1e9, 0.12, 300e6),
        "crm-worker-6c9d7b8f5-k2j4m": ("worker", 0.25, 1.0, 512e6, 1e9, 0.08, 250e6),
        "crm-beat-7b6f5d4c8-p9q8r": ("beat", 0.05, 0.2, 128e6, 256e6, 0.01, 90e6),
        "crm-postgres-1": ("postgres", 1.0, 1.0, 2e9, 2e9, 0.2, 800e6),
        "crm-postgres-pooler-rw-6f7d8c9b5-abcde": ("pgbouncer", 0.1, 0.5, 128e6, 256e6, 0.02, 30e6),
        "crm-redis-broker-0": ("redis", 0.1, 0.5, 600e6, 600e6, 0.02, 40e6),
        "crm-redis-cache-0": ("redis", 0.1, 0.5, 600e6, 600e6, 0.03, 60e6),
    }
    # kube-state-metrics (docs/metrics/workload/pod-metrics.md) and cAdvisor (container_*)
    for pod, (container, cpu_request, cpu_limit, memory_request, memory_limit, cores, used) in pods.items():
        ids = {"pod": pod, "container": container}
        for kind, cpu, memory in (("requests", cpu_request, memory_request), ("limits", cpu_limit, memory_limit)):
            add(f"kube_pod_container_resource_{kind}", cpu, resource="cpu", unit="core", node="node-a", uid=pod, **ids)
            add(
                f"kube_pod_container_resource_{kind}",
                memory,
                resource="memory",
                unit="byte",
                node="node-a",
                uid=pod,
                **ids,
            )
        add("kube_pod_container_status_restarts_total", 1, uid=pod, **ids)
        add("kube_pod_status_ready", 1, pod=pod, uid=pod, condition="true")
        add("kube_pod_status_ready", 0, pod=pod, uid=pod, condition="false")
        add("kube_pod_status_ready", 0, pod=pod, uid=pod, condition="unknown")
        add(
            "container_cpu_usage_seconds_total",
            counter(cores, 1000),
            image="registry.example/crm:1.4.2",
            id=f"/kubepods/{pod}/{container}",
            name=container,
            **ids,
        )
        add(
            "container_memory_working_set_bytes",
            used,
            image="registry.example/crm:1.4.2",
            id=f"/kubepods/{pod}/{container}",
            name=container,
            **ids,
        )
    # A backup pod just scheduled: kube-state-metrics reports the reason a container waits.
    add(
        "kube_pod_container_status_waiting_reason",
        1,
        pod="crm-backup-29000000-q8w7e",
        container="dump",
        uid="crm-backup-29000000-q8w7e",
        reason="ContainerCreating",
    )
    for deployment, replicas in (("crm-web", 3), ("crm-worker", 2), ("crm-beat", 1)):
        add("kube_deployment_status_replicas_available", replicas, deployment=deployment)
        add("kube_deployment_spec_replicas", replicas, deployment=deployment)
    if facts.autoscaling:
        for hpa, (minimum, current, maximum) in {"crm-web": (4, 5, 20), "crm-worker": (2, 2, 10)}.items():
            add("kube_horizontalpodautoscaler_spec_min_replicas", minimum, horizontalpodautoscaler=hpa)
            add("kube_horizontalpodautoscaler_status_current_replicas", current, horizontalpodautoscaler=hpa)
            add("kube_horizontalpodautoscaler_spec_max_replicas", maximum, horizontalpodautoscaler=hpa)
    # kube-state-metrics' CronJobs and Jobs (docs/metrics/workload/cronjob-metrics.md, job-metrics.md)
    for cronjob, job, age in (
        ("crm-backup", "crm-backup-29000000", 6 * 3600),
        ("crm-restore-verification", "crm-restore-verification-28990000", 3 * 86400),
    ):
        add("kube_cronjob_created", now - 30 * 86400, cronjob=cronjob)
        add("kube_cronjob_status_last_successful_time", now - age + 300, cronjob=cronjob)
        add("kube_cronjob_next_schedule_time", now + 18 * 3600, cronjob=cronjob)
        add("kube_job_status_start_time", now - age, job_name=job)
        add("kube_job_status_completion_time", now - age + 300, job_name=job)
        add("kube_job_status_failed", 0, job_name=job)
        add("kube_job_status_succeeded", 1, job_name=job)
    # The kubelet's volume stats
    claims = {"crm-postgres-1": 20e9, "crm-postgres-1-wal": 5e9, "data-crm-redis-broker-0": 2e9}
    for claim, capacity in claims.items():
        add("kubelet_volume_stats_capacity_bytes", capacity, persistentvolumeclaim=claim)
        add("kubelet_volume_stats_used_bytes", capacity * 0.3, persistentvolumeclaim=claim)
    # cert-manager (its own namespace; the certificate's as exported_namespace)
    for certificate in ("crm-api-tls", "crm-app-tls"):
        cert = {
            "name": certificate,
            "exported_namespace": ns,
            "issuer_name": "letsencrypt-production",
            "issuer_kind": "ClusterIssuer",
            "issuer_group": "cert-manager.io",
        }
        lines.append(
            sample(
                "certmanager_certificate_expiration_timestamp_seconds",
                {"namespace": "cert-manager", **cert},
                now + 60 * 86400,
            )
        )
        for condition in ("True", "False", "Unknown"):
            lines.append(
                sample(
                    "certmanager_certificate_ready_status",
                    {"namespace": "cert-manager", "condition": condition, **cert},
                    1.0 if condition == "True" else 0.0,
                )
            )
    # celery-exporter 0.12.2
    if facts.celery_worker:
        worker = {"hostname": "celery@crm-worker-6c9d7b8f5-k2j4m"}
        task = {"name": "crm.tasks.send_digest", "queue_name": "celery", **worker}
        add("celery_worker_up", 1, **worker)
        add("celery_worker_tasks_active", 2, **worker)
        add("celery_queue_length", 3, queue_name="celery")
        for state, per_second in (
            ("sent", 2.0),
            ("received", 2.0),
            ("started", 2.0),
            ("succeeded", 1.9),
            ("retried", 0.05),
        ):
            add(f"celery_task_{state}_total", counter(per_second), **task)
        add("celery_task_failed_total", counter(0.05), exception="SMTPException", **task)
        # Every task takes between 0.25 and 0.5 s (the exporter's default histogram buckets).
        for bound in ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "+Inf"):
            add("celery_task_runtime_bucket", counter(1.9 if float(bound) >= 0.5 else 0.0), le=bound, **task)
    # CloudNativePG's collector and pooler exporter, the Barman Cloud plugin
    for ordinal in range(1, facts.postgres_instances + 1):
        add("cnpg_collector_up", 1, cluster="crm-postgres", pod=f"crm-postgres-{ordinal}")
    pooler = {"pod": "crm-postgres-pooler-rw-6f7d8c9b5-abcde", "database": "crm", "user": "crm"}
    add("cnpg_pgbouncer_pools_cl_active", 4, **pooler)
    add("cnpg_pgbouncer_pools_cl_waiting", 0, **pooler)
    if facts.wal_archiving:
        add("barman_cloud_cloudnative_pg_io_last_available_backup_timestamp", now - 5 * 3600, pod="crm-postgres-1")
        add("barman_cloud_cloudnative_pg_io_last_failed_backup_timestamp", 0, pod="crm-postgres-1")
    return lines


# --- real processes --------------------------------------------------------------------------------------


def wait_for_http(url: str, process: subprocess.Popen[Any], log: Path, timeout: float = 60) -> None:
    """Until `url` answers 200; fails with the end of the process's log if it exits or times out first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log.is_file() else "(no log)"
            raise RuntimeError(f"{url} did not come up (exit code {process.poll()}); {log.name} ends:\n{tail}")
        time.sleep(0.1)

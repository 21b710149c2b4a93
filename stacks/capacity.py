"""Capacity planning: what the stack's pods ask of the namespace at their largest.

Pure arithmetic over settings, shared by the quota check (`stacks.build` refuses sizes the
ResourceQuota would stop) and the render summary (offline/sizes.py): every service at its
maximum scale during a rolling update, the migration Job, and every data-layer pod the
components declare, counted from the same sizing constants they use (stacks/data.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from kube import quantities
from stacks.data import (
    BACKUP_JOB_RESOURCES,
    EXPORTER_RESOURCES,
    POOLER_RESOURCES,
    PROXY_REPLICAS,
    PROXY_RESOURCES,
    REDIS_CPU,
    SENTINEL_RESOURCES,
    DataSettings,
)
from stacks.model import AppSettings
from stacks.monitoring import CELERY_EXPORTER_REPLICAS, CELERY_EXPORTER_RESOURCES
from stacks.services import Role

ROLLING_SURGE = Decimal("0.25")
"""maxSurge of every rolling update: a quarter more pods while a new version starts."""


@dataclass(frozen=True)
class PeakUsage:
    """What the application's pods ask of the namespace at their largest."""

    pods: int
    """Pods at once."""
    cpu_requests: Decimal
    """CPU requested, in millicores."""
    cpu_limits: Decimal
    """CPU limits, in millicores."""
    memory_requests: Decimal
    """Memory requested, in bytes."""
    memory_limits: Decimal
    """Memory limits, in bytes."""


def _pod(cpu_request: str, cpu_limit: str, memory_request: str, memory_limit: str) -> tuple[Decimal, ...]:
    return (
        quantities.cpu_millicores(cpu_request),
        quantities.cpu_millicores(cpu_limit),
        quantities.memory_bytes(memory_request),
        quantities.memory_bytes(memory_limit),
    )


def _add(totals: tuple[Decimal, ...], sizes: tuple[Decimal, ...], count: int) -> tuple[Decimal, ...]:
    """The totals plus `count` pods of these sizes, entry by entry (CPU request and limit, memory request and limit)."""
    pairs = zip(totals, sizes, strict=True)  # pragma: no mutate every tuple is _pod's four entries: strict never fires
    return tuple(total + size * count for total, size in pairs)


def data_pods(data: DataSettings) -> list[tuple[str, int, tuple[Decimal, ...]]]:
    """(what, how many, per-pod requests and limits) of every data-layer pod at its largest."""
    postgres, redis = data.postgres, data.redis
    exporter = _pod(*EXPORTER_RESOURCES)
    sentinel = _pod(*SENTINEL_RESOURCES) if redis.replicas > 1 else (Decimal(0),) * 4

    def redis_pod(memory: str) -> tuple[Decimal, ...]:
        server = _pod(REDIS_CPU[0], REDIS_CPU[1], memory, memory)
        return _add(_add(server, exporter, 1), sentinel, 1)

    backup_job = tuple(2 * value for value in _pod(*BACKUP_JOB_RESOURCES))
    proxies = [("redis proxies", 2 * PROXY_REPLICAS, _pod(*PROXY_RESOURCES))] if redis.replicas > 1 else []
    database = (
        [
            ("postgres", postgres.instances, _pod(postgres.cpu, postgres.cpu, postgres.memory, postgres.memory)),
            ("pooler", postgres.pooler_instances, _pod(*POOLER_RESOURCES)),
            # The backup and the restore verification may overlap; each pod has two containers.
            ("backup jobs", 2, backup_job),
        ]
        if postgres is not None
        else []
    )
    return [
        *proxies,
        *database,
        ("redis cache", redis.replicas, redis_pod(data.redis.cache_memory)),
        ("redis broker", redis.replicas, redis_pod(data.redis.broker_memory)),
    ]


def peak_usage(app: AppSettings, data: DataSettings | None = None) -> PeakUsage:
    """Every service (and a release candidate) at its maximum scale during a rolling update, the migration Job,
    the Celery exporter and the data layer."""
    counts = []
    services = app.services if app.candidate is None else (*app.services, app.candidate)
    for service in services:
        count = service.scale.maximum
        if service.role is not Role.BEAT:  # beat is replaced with Recreate: never two at once
            count += math.ceil(count * ROLLING_SURGE)
        counts.append((service, count))
    if app.migration is not None:
        # One migration pod at a time, sized like web (a finished Job's pod no longer counts against the quota);
        # its deploy-check init container runs before the migration container, never beside it.
        counts.append((app.web, 1))
    pods = 0
    totals: tuple[Decimal, ...] = (Decimal(0),) * 4
    for service, count in counts:
        pods += count
        resources = service.resources
        sizes = _pod(resources.cpu_request, resources.cpu_limit, resources.memory_request, resources.memory_limit)
        totals = _add(totals, sizes, count)
    if app.service(Role.WORKER) is not None:
        # The Celery exporter watches the workers' events; replaced with Recreate, so never two at once.
        pods += CELERY_EXPORTER_REPLICAS
        totals = _add(totals, _pod(*CELERY_EXPORTER_RESOURCES), CELERY_EXPORTER_REPLICAS)
    for _what, data_count, data_sizes in data_pods(data) if data else []:
        pods += data_count
        totals = _add(totals, data_sizes, data_count)
    return PeakUsage(pods, *totals)

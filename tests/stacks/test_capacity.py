"""Capacity: what the stack's pods ask of the namespace at their largest, pod by pod and in total.

Covers stacks/capacity.py directly (the quota check in stacks/build.py and offline/sizes.py consume it): the
data-layer pods with their containers summed, Sentinel and the proxies only beside more than one Redis server,
no database pods without PostgreSQL, and the application's services at maximum scale with their rolling surge.
Sizes are in millicores and bytes, written out so each sum can be read against the containers it adds.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from stacks import Settings
from stacks.capacity import PeakUsage, data_pods, peak_usage
from stacks.data import DataSettings, PostgresSettings, RedisSettings
from stacks.services import Role
from tests.stacks.test_services import build_with, services

MI = 2**20
GI = 2**30

POSTGRES = PostgresSettings(
    instances=3,
    cpu="2",
    memory="4Gi",
    storage="20Gi",
    wal_storage="5Gi",
    pooler_instances=2,
    wal_archiving=False,
)
SINGLE_REDIS = RedisSettings(cache_memory="256Mi", broker_memory="512Mi", broker_storage="1Gi", replicas=1)


def _data(postgres: PostgresSettings | None, redis: RedisSettings) -> DataSettings:
    """The staging stack's data settings with the PostgreSQL and Redis under test."""
    return dataclasses.replace(build_with("staging").data, postgres=postgres, redis=redis)


def _sizes(cpu_request: int, cpu_limit: int, memory_request: int, memory_limit: int) -> tuple[Decimal, ...]:
    return (Decimal(cpu_request), Decimal(cpu_limit), Decimal(memory_request), Decimal(memory_limit))


def test_data_pods_of_a_single_redis_stack_with_postgres() -> None:
    """Each PostgreSQL instance asks its cpu and memory as request and limit; two backup pods of two containers
    may overlap; each Redis pod is its server (sized by its role's memory) and its exporter, with no Sentinel."""
    assert data_pods(_data(POSTGRES, SINGLE_REDIS)) == [
        ("postgres", 3, _sizes(2000, 2000, 4 * GI, 4 * GI)),
        ("pooler", 2, _sizes(100, 500, 128 * MI, 256 * MI)),
        # Two containers of 100m/1 CPU, 256Mi/1Gi each.
        ("backup jobs", 2, _sizes(200, 2000, 512 * MI, 2 * GI)),
        # Server 100m/500m at the role's memory, exporter 20m/100m, 32Mi/64Mi.
        ("redis cache", 1, _sizes(120, 600, 288 * MI, 320 * MI)),
        ("redis broker", 1, _sizes(120, 600, 544 * MI, 576 * MI)),
    ]


@pytest.mark.parametrize("replicas", [2, 3])
def test_more_than_one_redis_server_brings_sentinel_and_the_proxies(replicas: int) -> None:
    """Above one Redis server per role (the components' high-availability rule), every Redis pod also runs
    Sentinel, and each role gets its two HAProxy pods in front."""
    redis = dataclasses.replace(SINGLE_REDIS, replicas=replicas)
    pods = data_pods(_data(POSTGRES, redis))
    assert pods[0] == ("redis proxies", 4, _sizes(50, 250, 32 * MI, 64 * MI))
    # Server, exporter and Sentinel (50m/200m, 64Mi/128Mi).
    assert pods[-2:] == [
        ("redis cache", replicas, _sizes(170, 800, 352 * MI, 448 * MI)),
        ("redis broker", replicas, _sizes(170, 800, 608 * MI, 704 * MI)),
    ]


def test_without_postgres_only_redis_remains() -> None:
    """A stack without PostgreSQL runs no instance, pooler or backup pod."""
    assert [(what, count) for what, count, _sizes in data_pods(_data(None, SINGLE_REDIS))] == [
        ("redis cache", 1),
        ("redis broker", 1),
    ]


def _fixed_web_and_worker() -> Settings:
    """Staging with web at 4 fixed replicas and worker at 2, each of one known size (beat keeps its own)."""
    size = {"cpuRequest": "100m", "cpuLimit": "200m", "memoryRequest": "100Mi", "memoryLimit": "200Mi"}
    return build_with(
        "staging",
        services(
            {
                "web": {"autoscaling": False, "replicas": 4, "resources": size},
                "worker": {"autoscaling": False, "replicas": 2, "resources": size},
            }
        ),
    )


def test_peak_usage_adds_every_data_pod_to_the_application() -> None:
    """With the data settings, the peak is the application's plus each data pod times its count."""
    resolved = _fixed_web_and_worker()
    data = _data(POSTGRES, SINGLE_REDIS)
    application = peak_usage(resolved.app)
    with_data = peak_usage(resolved.app, data)
    # 3 PostgreSQL, 2 poolers, 2 backup pods, 1 cache, 1 broker.
    assert with_data.pods - application.pods == 9
    assert with_data.cpu_requests - application.cpu_requests == 3 * 2000 + 2 * 100 + 2 * 200 + 120 + 120
    assert with_data.cpu_limits - application.cpu_limits == 3 * 2000 + 2 * 500 + 2 * 2000 + 600 + 600
    assert with_data.memory_requests - application.memory_requests == (
        3 * 4 * GI + 2 * 128 * MI + 2 * 512 * MI + 288 * MI + 544 * MI
    )
    assert with_data.memory_limits - application.memory_limits == (
        3 * 4 * GI + 2 * 256 * MI + 2 * 2 * GI + 320 * MI + 576 * MI
    )


def test_peak_usage_of_services_without_migration_or_worker() -> None:
    """Without a migration Job there is no migration pod, and without a worker no Celery exporter: web at 4 plus
    its surge of 1 (100m/200m, 100Mi/200Mi each) and beat alone (50m/200m, 128Mi/256Mi)."""
    resolved = _fixed_web_and_worker()
    app = dataclasses.replace(
        resolved.app,
        services=tuple(service for service in resolved.app.services if service.role is not Role.WORKER),
        migration=None,
    )
    assert [service.name for service in app.services] == ["crm-web", "crm-beat"]
    assert peak_usage(app) == PeakUsage(
        pods=5 + 1,
        cpu_requests=Decimal(5 * 100 + 50),
        cpu_limits=Decimal(5 * 200 + 200),
        memory_requests=Decimal((5 * 100 + 128) * MI),
        memory_limits=Decimal((5 * 200 + 256) * MI),
    )

"""The application's size in each environment, side by side, for the render summary.

Built from each stack's validated settings (the same objects the components are built
from), so a reviewer sees what a change does to staging and production in one table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from kube.quantities import format_cores, format_gibibytes
from offline.stack_config import StackConfigError, load_stack_config
from stacks import SettingsError, build
from stacks.capacity import peak_usage
from stacks.model import Settings
from stacks.services import Role, ServiceSettings

COMPARED_STACKS = ("dev", "staging", "production")


def _settings(project_dir: Path, stack: str) -> Settings | str:
    try:
        config = load_stack_config(project_dir, stack)
        return build(stack, config.values, config.secret_keys)
    except (StackConfigError, SettingsError) as error:
        return f"invalid ({type(error).__name__}): render this stack to see why"


def _service_cell(service: ServiceSettings | None) -> str:
    if service is None:
        return "—"
    scale = service.scale
    count = (
        f"HPA {scale.minimum}-{scale.maximum} (CPU {scale.autoscaling.cpu_utilization} %, "
        f"memory {scale.autoscaling.memory_utilization} %)"
        if scale.autoscaling
        else f"{scale.replicas} replica{'s' if scale.replicas > 1 else ''}"
    )
    resources = service.resources
    return (
        f"{count}; requests {resources.cpu_request}/{resources.memory_request}, "
        f"limits {resources.cpu_limit}/{resources.memory_limit}"
    )


def sizes_table(project_dir: Path, current: str, stacks: Sequence[str] = COMPARED_STACKS) -> list[str]:
    """Markdown lines: one column per stack, one row per service, then peak totals and quota."""
    columns = list(stacks) if current in stacks else [*stacks, current]
    resolved = {stack: _settings(project_dir, stack) for stack in columns}
    header = "| | " + " | ".join(f"**{stack}** (this stack)" if stack == current else stack for stack in columns) + " |"
    lines = [header, "|---|" + "---|" * len(columns)]
    for role in Role:
        cells = []
        for stack in columns:
            settings = resolved[stack]
            cells.append(settings if isinstance(settings, str) else _service_cell(settings.app.service(role)))
        lines.append(f"| {role.value} | " + " | ".join(cells) + " |")
    data_rows: dict[str, Callable[[Settings], str]] = {
        "postgres": lambda settings: (
            f"{settings.data.postgres.instances} x {settings.data.postgres.cpu}/{settings.data.postgres.memory}, "
            f"{settings.data.postgres.storage} + WAL {settings.data.postgres.wal_storage}; "
            f"pooler x {settings.data.postgres.pooler_instances}"
            if settings.data.postgres
            else "none (the application's own database)"
        ),
        "redis": lambda settings: (
            f"{settings.data.redis.replicas} per role"
            + (" (Sentinel + HAProxy)" if settings.data.redis.replicas > 1 else "")
            + f"; cache {settings.data.redis.cache_memory}, broker {settings.data.redis.broker_memory}"
            + f" + {settings.data.redis.broker_storage}"
        ),
        "backups": lambda settings: (
            f"{settings.data.backups.schedule} to " + ("S3" if settings.data.aws else "a volume")
            if settings.data.postgres
            else "none (no PostgreSQL)"
        ),
    }
    for label, describe in data_rows.items():
        cells = [value if isinstance(value, str) else describe(value) for value in (resolved[s] for s in columns)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    peaks, quotas = [], []
    for stack in columns:
        settings = resolved[stack]
        if isinstance(settings, str):
            peaks.append("—")
            quotas.append("—")
            continue
        peak = peak_usage(settings.app, settings.data)
        peaks.append(
            f"{peak.pods} pods, CPU {format_cores(peak.cpu_requests)}/{format_cores(peak.cpu_limits)}, "
            f"memory {format_gibibytes(peak.memory_requests)}/{format_gibibytes(peak.memory_limits)}"
        )
        quota = settings.quota
        quotas.append(
            f"{quota.pods} pods, CPU {quota.cpu_requests}/{quota.cpu_limits}, "
            f"memory {quota.memory_requests}/{quota.memory_limits}"
        )
    lines.append(
        "| peak (max scale + rollout surge + migration + data layer; requests/limits) | " + " | ".join(peaks) + " |"
    )
    lines.append("| namespace quota (requests/limits) | " + " | ".join(quotas) + " |")
    return lines

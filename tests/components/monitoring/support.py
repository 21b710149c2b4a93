"""What the monitoring tests share: each stack's facts, its monitoring settings, the OS tools.

The stacks' settings are the real ones (their Pulumi.<stack>.yaml through stacks.build). The
monitoring settings are not wired into `Settings` yet (the Monitoring component's work): until
they are, `monitoring_settings()` gives each stack the model's default thresholds and the
receivers its environment would configure (production pages, staging and review stacks never do).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from functools import cache

import pytest

from components.monitoring.rules import StackFacts
from components.monitoring.signals import stack_facts
from offline.program import PROJECT_DIR
from offline.schemas import SHARED_DIR
from offline.stack_config import load_stack_config
from stacks import Environment, Settings, build
from stacks.monitoring import AlertThresholds, BusinessMetric, MonitoringSettings, Receivers
from tests.conftest import STACKS
from tests.support import tools

__all__ = ["SHARED", "STACKS", "StackUnderTest", "announce", "require_tool", "stack_under_test", "tool_version"]

SHARED = SHARED_DIR
"""The shared reference data (schemas, CRDs, metric query sets): beside the checkout, or $CRM_SHARED_DIR."""

BUSINESS_METRICS = (
    BusinessMetric("User registrations", "user_registrations_total"),
    BusinessMetric("Deal conversions", "deal_conversions_total"),
)
"""Seed 002's business counters."""


PACKAGES = {
    "promtool": "prometheus",
    "prometheus": "prometheus",
    "amtool": "prometheus-alertmanager",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "prometheus-redis-exporter": "prometheus-redis-exporter",
    "redis-server": "redis-server",
}
"""The Debian package of each tool these tests run (scripts/bootstrap.sh installs them)."""


def require_tool(name: str) -> str:
    """The tool's path; a missing tool fails the test under CI and skips it elsewhere (tests/support/tools.py)."""
    return tools.require_tool(name, package=PACKAGES[name])


def tool_version(path: str, *arguments: str) -> str:
    """The first line a tool prints about its version."""
    result = subprocess.run([path, *arguments], capture_output=True, text=True, check=False, timeout=30)
    return (result.stdout or result.stderr).strip().splitlines()[0]


def announce(config: pytest.Config, line: str) -> None:
    """Write a line into the test output, whatever the capture mode (tool versions, set-up times)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.ensure_newline()
        reporter.write_line(line)


@dataclass(frozen=True)
class StackUnderTest:
    settings: Settings
    monitoring: MonitoringSettings
    facts: StackFacts


def facts_of(settings: Settings) -> StackFacts:
    """The rules' view of a stack, exactly as the program derives it (components/monitoring/signals.py)."""
    return StackFacts(environment=settings.environment.value, **stack_facts(settings))


def monitoring_settings(settings: Settings) -> MonitoringSettings:
    production = settings.environment is Environment.PRODUCTION
    return MonitoringSettings(
        prometheus_retention="15d",
        prometheus_retention_size="40GB",
        prometheus_storage="50Gi",
        alertmanager_replicas=2 if production else 1,
        managed_control_plane=production,
        thresholds=AlertThresholds(),
        receivers=Receivers(
            chat=settings.environment is not Environment.DEV,
            pager=production,
            database_team=production,
            email_to=("oncall@example.com",) if production else (),
            pages=production,
        ),
        business_metrics=BUSINESS_METRICS,
    )


@cache
def stack_under_test(stack: str) -> StackUnderTest:
    config = load_stack_config(PROJECT_DIR, stack, {})
    settings = build(stack, config.values, config.secret_keys)
    return StackUnderTest(settings=settings, monitoring=monitoring_settings(settings), facts=facts_of(settings))

"""A stack's signals from its settings: the alert rules, the dashboards and the Alertmanager configuration.

`rules.rule_groups`, `dashboards.dashboards` and `alertmanager.alertmanager_config` are pure and
take the facts of the stack they watch as plain arguments (is Redis replicated, is WAL archived,
do workers run, ...); `stack_signals` reads those facts from the settings once, so the rules
and the dashboards always describe the same stack, and `__main__.py` only wires the result
into the Monitoring component.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from components.monitoring.alertmanager import MailRelay, alertmanager_config
from components.monitoring.dashboards import dashboards
from components.monitoring.monitoring import AlertmanagerConfigBuilder
from components.monitoring.rules import rule_groups
from stacks.model import Settings
from stacks.services import Role


@dataclass(frozen=True)
class StackSignals:
    """What the Monitoring component delivers for one stack."""

    rule_groups: list[dict[str, Any]]
    """The PrometheusRule's `spec.groups`."""
    dashboards: dict[str, str]
    """Dashboard file name -> its JSON, one ConfigMap each for Grafana's sidecar."""
    alertmanager_config: AlertmanagerConfigBuilder
    """credentials -> alertmanager.yaml (the credentials exist only as Pulumi secrets)."""


def stack_facts(settings: Settings) -> dict[str, Any]:
    """What the rules and dashboards need to know about the stack beyond its monitoring settings."""
    return {
        "stack": settings.stack,
        "app_namespace": settings.namespaces.app,
        "high_availability_redis": settings.data.redis.replicas > 1,
        "wal_archiving": settings.data.postgres is not None and settings.data.postgres.wal_archiving,
        # 0: no PostgreSQL (an external database), so no database or backup rules and dashboards.
        "postgres_instances": settings.data.postgres.instances if settings.data.postgres is not None else 0,
        "celery_worker": settings.app.service(Role.WORKER) is not None,
        "celery_beat": settings.app.service(Role.BEAT) is not None,
        "autoscaling": any(service.scale.autoscaling is not None for service in settings.app.services),
    }


def mail_relay(settings: Settings) -> MailRelay | None:
    """The SMTP relay criticals are mailed through, where the stack mails anyone."""
    receivers = settings.monitoring.receivers
    if not receivers.email_to or settings.smtp is None:
        return None
    sender = receivers.email_from or f"alertmanager@{settings.domain}"
    return MailRelay(settings.smtp.host, settings.smtp.port, settings.smtp.username, sender)


def stack_signals(settings: Settings) -> StackSignals:
    """The rule groups, dashboards and Alertmanager configuration builder of `settings`' stack."""
    facts = stack_facts(settings)
    boards = dashboards(settings.monitoring, **facts)
    return StackSignals(
        rule_groups=rule_groups(settings.monitoring, environment=settings.environment.value, **facts),
        dashboards={name: json.dumps(board, sort_keys=True) for name, board in boards.items()},
        alertmanager_config=functools.partial(
            alertmanager_config, settings.monitoring, settings.environment.value, mail=mail_relay(settings)
        ),
    )

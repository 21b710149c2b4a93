"""The monitoring area: what every stack tells the cluster's Prometheus, and (add-on owner) that Prometheus.

kube-prometheus-stack (Prometheus, Alertmanager, Grafana; installed by the stack that owns the cluster
add-ons), each stack's PodMonitors, its Celery exporter, its alert rules (`rules`), the Alertmanager
configuration (`alertmanager`) and its dashboards (`dashboards`), the last three as pure data.
"""

from components.monitoring.alertmanager import MailRelay, alertmanager_config
from components.monitoring.celery_exporter import network_policy_specs as celery_exporter_network_policies
from components.monitoring.chart import SCRAPER
from components.monitoring.dashboards import dashboards
from components.monitoring.monitoring import AlertmanagerConfigBuilder, Monitoring, MonitoringArgs
from components.monitoring.rules import rule_groups
from components.monitoring.signals import StackSignals, stack_signals

__all__ = [
    "SCRAPER",
    "AlertmanagerConfigBuilder",
    "MailRelay",
    "Monitoring",
    "MonitoringArgs",
    "StackSignals",
    "alertmanager_config",
    "celery_exporter_network_policies",
    "dashboards",
    "rule_groups",
    "stack_signals",
]

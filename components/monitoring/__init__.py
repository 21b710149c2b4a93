"""The monitoring area: what every stack tells the cluster's Prometheus, and (add-on owner) that Prometheus.

kube-prometheus-stack (Prometheus, Alertmanager, Grafana; installed by the stack that owns the cluster
add-ons), each stack's PodMonitors, its Celery exporter, its alert rules and its dashboards.
"""

from components.monitoring.celery_exporter import network_policy_specs as celery_exporter_network_policies
from components.monitoring.chart import SCRAPER
from components.monitoring.monitoring import AlertmanagerConfigBuilder, Monitoring, MonitoringArgs

__all__ = [
    "SCRAPER",
    "AlertmanagerConfigBuilder",
    "Monitoring",
    "MonitoringArgs",
    "celery_exporter_network_policies",
]

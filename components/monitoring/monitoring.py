"""Monitoring: what Prometheus scrapes of a stack, and (add-on owner) the Prometheus, Alertmanager and Grafana.

The stack that owns the cluster add-ons installs kube-prometheus-stack into the cluster's `monitoring`
namespace, with the Grafana admin Secret, the ClusterRole Grafana's dashboard sidecar runs with and
(when the Alertmanager configuration is given) the Secret holding alertmanager.yaml. Prometheus reads
the monitors, rules and dashboards of every namespace labelled as a monitoring namespace, so every
stack, add-on owner or not, declares its own in its monitoring namespace:

- a PodMonitor per scrape target (web's /metrics, PostgreSQL and its pooler, the Redis exporters, the
  Celery exporter; the add-on owner adds Traefik and cert-manager), each setting its `job` label to the
  target's name;
- the Celery exporter in the app namespace, where the broker Secret is;
- the PrometheusRule and the dashboard ConfigMaps it is given (one Grafana folder per stack).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.monitoring import celery_exporter, chart
from components.shared import checksums
from components.shared.charts import addon_namespace, install_chart
from components.shared.labels import COMPONENT, with_component
from components.shared.references import AppSecret, ScrapeTarget
from stacks.monitoring import MonitoringSettings

RULES_NAME = "crm-alerts"
"""The stack's PrometheusRule, in its monitoring namespace."""
DASHBOARD_PREFIX = "crm-dashboard-"

AlertmanagerConfigBuilder = Callable[[Mapping[str, str]], Mapping[str, Any]]
"""credentials -> the alertmanager.yaml document: `functools.partial(components.monitoring.alertmanager.
alertmanager_config, settings.monitoring, environment)`, called with the receivers' credentials (keys
chat_webhook_url, pager_routing_key, database_chat_webhook_url, smtp_password, each only when configured)."""


def pod_monitor_spec(target: ScrapeTarget, app_namespace: str) -> dict[str, Any]:
    """A PodMonitor of `target` (camelCase: custom resources are passed through as is).

    The `job` label of its series is the target's job (crm-web, crm-postgres, traefik, ...), whatever the
    PodMonitor's namespace: rules and dashboards select on it. The operator adds namespace, pod and container;
    `label_from_pod` copies pod labels onto the series (web's `release`: stable or candidate, which the
    promotion compares).
    """
    relabelings: list[dict[str, Any]] = [
        {"action": "replace", "targetLabel": "job", "replacement": target.job or target.name}
    ]
    relabelings += [
        {
            "action": "replace",
            "sourceLabels": [f"__meta_kubernetes_pod_label_{re.sub(r'[^A-Za-z0-9_]', '_', pod_label)}"],
            "targetLabel": series_label,
        }
        for series_label, pod_label in sorted(target.label_from_pod.items())
    ]
    return {
        "namespaceSelector": {"matchNames": [target.namespace or app_namespace]},
        "selector": {"matchLabels": dict(target.pod_labels)},
        "podMetricsEndpoints": [{"port": target.port_name, "path": target.path, "relabelings": relabelings}],
    }


def dashboard_config_map_name(file_name: str) -> str:
    """crm-dashboard-<slug of the file name>: application-overview.json -> crm-dashboard-application-overview."""
    stem = file_name.removesuffix(".json")
    slug = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")
    if not slug:
        raise ValueError(f"dashboard file name {file_name!r} has no letters or digits; name it like overview.json")
    return f"{DASHBOARD_PREFIX}{slug}"[:63].rstrip("-")


@dataclass(frozen=True)
class MonitoringArgs:
    namespace: pulumi.Input[str]
    """The stack's monitoring namespace (an Output, so its objects wait for it)."""
    app_namespace: pulumi.Input[str]
    """The app namespace, where the Celery exporter runs."""
    app_namespace_name: str
    """Its name as text: the PodMonitors select pods there."""
    stack: str
    """Stack name: the `app.kubernetes.io/instance` of the exporter and the Grafana folder of the dashboards."""
    settings: MonitoringSettings
    """Retention, receivers, thresholds and business metrics of the stack."""
    installs_stack: bool
    """Install kube-prometheus-stack (the add-on owning stack): one per cluster."""
    storage_class: str | None
    """StorageClass of Prometheus's volume; None uses the cluster's default."""
    strict_node_spread: bool
    """Alertmanager's replicas never share a node (production)."""
    environment: str
    """Value of the `environment` label of the cluster's monitoring namespace."""
    protect_namespaces: bool
    """Refuse to delete the monitoring namespace (production): it would take every stack's alerting with it."""
    labels: Mapping[str, str]
    """Common labels of the stack."""
    targets: Sequence[ScrapeTarget]
    """The stack's scrape targets in its app namespace (web, PostgreSQL, Redis); the exporter's is added here."""
    addon_targets: Sequence[ScrapeTarget]
    """The add-ons' scrape targets (Traefik, cert-manager), monitored where the add-ons are installed."""
    worker_args: Sequence[str] | None
    """The Celery worker's arguments (its --queues), or None when no worker runs: then no exporter."""
    broker_password: AppSecret
    """The broker's password: the exporter reads it by reference, its value only hashed into a checksum."""
    broker_pods: Mapping[str, Mapping[str, str]]
    """Name -> selector of the pods behind the broker's Service, for the exporter's flows."""
    grafana_admin_password: pulumi.Output[str]
    """Generated by the Secrets component (secretsRotation rotates it); a Pulumi secret."""
    alertmanager_credentials: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)
    """The receivers' credentials, Pulumi secrets, by the builder's keys (only those configured)."""
    alertmanager_config: AlertmanagerConfigBuilder | None = None
    """Builds alertmanager.yaml from the credentials; None leaves the chart's own configuration (no receiver)."""
    rule_groups: Sequence[Mapping[str, Any]] = ()
    """The stack's alerting and recording rule groups ({name, rules}), as PrometheusRule `spec.groups`."""
    dashboards: Mapping[str, str] = field(default_factory=dict)
    """Dashboard file name (overview.json) -> the dashboard's JSON, each delivered as a ConfigMap."""
    cert_manager: Sequence[pulumi.Resource] = ()
    """What must be ready before the chart's Issuer and Certificate (the operator's webhook certificate)."""
    waits_for: Sequence[pulumi.Resource] = ()
    """What the exporter waits for (the broker): Pulumi waits for it to be ready, which needs the broker."""


class Monitoring(pulumi.ComponentResource):
    """kube-prometheus-stack (add-on owner), the stack's PodMonitors, Celery exporter, rules and dashboards."""

    chart: list[pulumi.Resource]
    """The kube-prometheus-stack chart, for what needs its CRDs (empty where another stack installs it)."""
    monitors: list[str]
    """The PodMonitors this stack declares, by name."""
    scrape_targets: list[ScrapeTarget]
    """What Prometheus scrapes in the app namespace (the targets given and the exporter), for the network
    policies that let it in."""

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("crm:monitoring:Monitoring", name, None, opts)
        self._name = name
        self._args = args
        self._labels = with_component(args.labels, "monitoring")
        self.chart = self._install(name, args) if args.installs_stack else []
        after_chart = pulumi.ResourceOptions(parent=self, depends_on=self.chart)

        targets = list(args.targets)
        if args.worker_args is not None:
            self._celery_exporter(name, args, args.worker_args)
            targets.append(celery_exporter.scrape_target(args.stack))
        self.scrape_targets = targets
        self.monitors = []
        for target in targets:
            self._pod_monitor(target, args.namespace, after_chart)
        if args.installs_stack:
            # The add-ons are the cluster's: monitored once, from the cluster's monitoring namespace.
            for target in args.addon_targets:
                self._pod_monitor(target, chart.NAMESPACE, after_chart)

        if args.rule_groups:
            k8s.apiextensions.CustomResource(
                f"{name}-rules",
                api_version="monitoring.coreos.com/v1",
                kind="PrometheusRule",
                metadata={"name": RULES_NAME, "namespace": args.namespace, "labels": self._labels},
                spec={"groups": [dict(group) for group in args.rule_groups]},
                opts=after_chart,
            )
        for file_name, dashboard in sorted(args.dashboards.items()):
            config_map_name = dashboard_config_map_name(file_name)
            k8s.core.v1.ConfigMap(
                f"{name}-{config_map_name}",
                metadata={
                    "name": config_map_name,
                    "namespace": args.namespace,
                    "labels": {**self._labels, chart.DASHBOARD_LABEL: chart.DASHBOARD_LABEL_VALUE},
                    # The Grafana folder this stack's dashboards go to: one per stack.
                    "annotations": {chart.FOLDER_ANNOTATION: args.stack},
                },
                data={file_name: dashboard},
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"monitors": self.monitors})

    def _pod_monitor(self, target: ScrapeTarget, namespace: pulumi.Input[str], options: pulumi.ResourceOptions) -> None:
        k8s.apiextensions.CustomResource(
            f"{self._name}-{target.name}",
            api_version="monitoring.coreos.com/v1",
            kind="PodMonitor",
            metadata={"name": target.name, "namespace": namespace, "labels": self._labels},
            spec=pod_monitor_spec(target, self._args.app_namespace_name),
            opts=options,
        )
        self.monitors.append(target.name)

    def _install(self, name: str, args: MonitoringArgs) -> list[pulumi.Resource]:
        """The cluster's monitoring namespace, what the chart's values point at, and the chart."""
        namespace = addon_namespace(
            f"{name}-namespace",
            chart.NAMESPACE,
            labels=args.labels,
            environment=args.environment,
            protect=args.protect_namespaces,
            parent=self,
            # Prometheus reads the chart's own monitors (kubelet, kube-state-metrics, itself) from here.
            role=chart.MONITORING_ROLE,
        )
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        grafana_admin = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata={"name": chart.GRAFANA_ADMIN_SECRET, "namespace": chart.NAMESPACE, "labels": self._labels},
            type="Opaque",
            string_data=pulumi.Output.secret(
                {
                    chart.GRAFANA_ADMIN_USER_KEY: chart.GRAFANA_ADMIN_USER,
                    chart.GRAFANA_ADMIN_PASSWORD_KEY: args.grafana_admin_password,
                }
            ),
            opts=in_namespace,
        )
        reader = k8s.rbac.v1.ClusterRole(
            f"{name}-grafana-dashboard-reader",
            metadata={"name": chart.GRAFANA_DASHBOARD_READER, "labels": self._labels},
            # The dashboard sidecar lists and watches labelled ConfigMaps in every namespace; the data-source
            # init container reads the chart's ConfigMap once. Nothing else, and no Secret.
            rules=[{"api_groups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}],
            opts=pulumi.ResourceOptions(parent=self),
        )
        prerequisites: list[pulumi.Resource] = [namespace, grafana_admin, reader]
        config_secret = None
        if args.alertmanager_config is not None:
            prerequisites.append(self._alertmanager_config(name, args, args.alertmanager_config, in_namespace))
            config_secret = chart.ALERTMANAGER_CONFIG_SECRET
        values = chart.chart_values(
            args.settings,
            storage_class=args.storage_class,
            strict_node_spread=args.strict_node_spread,
            alertmanager_config_secret=config_secret,
        )
        installed = install_chart(
            f"{name}-kube-prometheus-stack",
            chart.KUBE_PROMETHEUS_STACK_CHART,
            chart.NAMESPACE,
            values,
            parent=self,
            # The chart renders a cert-manager Issuer and Certificate (the operator's webhook certificate).
            depends_on=[*prerequisites, *args.cert_manager],
            transforms=[chart.retain_custom_resource_definitions],
        )
        return [installed]

    def _alertmanager_config(
        self,
        name: str,
        args: MonitoringArgs,
        build: AlertmanagerConfigBuilder,
        options: pulumi.ResourceOptions,
    ) -> k8s.core.v1.Secret:
        """alertmanager.yaml as a Secret: the whole document is secret, for it holds the receivers' credentials."""
        keys = sorted(args.alertmanager_credentials)
        document = pulumi.Output.all(*(args.alertmanager_credentials[key] for key in keys)).apply(
            lambda values: yaml.safe_dump(dict(build(dict(zip(keys, values, strict=True)))), sort_keys=False)
        )
        return k8s.core.v1.Secret(
            f"{name}-alertmanager-config",
            metadata={"name": chart.ALERTMANAGER_CONFIG_SECRET, "namespace": chart.NAMESPACE, "labels": self._labels},
            type="Opaque",
            string_data=pulumi.Output.secret({chart.ALERTMANAGER_CONFIG_KEY: document}),
            opts=options,
        )

    def _celery_exporter(self, name: str, args: MonitoringArgs, worker_args: Sequence[str]) -> None:
        labels = {**self._labels, COMPONENT: "celery-exporter", **celery_exporter.selector_labels(args.stack)}
        account = k8s.core.v1.ServiceAccount(
            f"{name}-celery-exporter",
            metadata={"name": celery_exporter.NAME_VALUE, "namespace": args.app_namespace, "labels": labels},
            automount_service_account_token=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        password = args.broker_password
        checksum = pulumi.Output.unsecret(
            password.value.apply(lambda value: checksums.secrets_checksum(value, [celery_exporter.NAME_VALUE]))
        )
        k8s.apps.v1.Deployment(
            f"{name}-celery-exporter",
            metadata={"name": celery_exporter.NAME_VALUE, "namespace": args.app_namespace, "labels": labels},
            spec=celery_exporter.deployment_spec(
                args.stack,
                labels,
                celery_exporter.worker_queues(worker_args),
                password.ref,
                checksum,
                checksums.SECRETS_CHECKSUM,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account, *args.waits_for]),
        )

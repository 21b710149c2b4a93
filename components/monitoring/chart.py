"""kube-prometheus-stack: the one Prometheus, Alertmanager and Grafana of a cluster, as Helm values.

Pure data and functions, no resources: the chart source, the names other components rely on (the
namespace, Prometheus's pod labels, the Secrets and the ClusterRole the values point at) and
`chart_values`, the values map the add-on owning stack gives `helm.v4.Chart`. Every key is the
chart's own or its subcharts' (tests/components/monitoring/test_chart.py walks every path against the
defaults in ../shared/helm-values: the chart publishes no values schema, and Helm ignores a misspelt
key silently).

Under Pulumi the chart is applied without its Helm hooks (helm.v4.Chart renders with hooks
disabled), which decides several values below; the reason for each sits next to it. Every pod the
chart runs meets the Pod Security Standards restricted profile with a read-only root filesystem and
has CPU and memory requests and limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pulumi

from components.shared import pods
from components.shared.charts import ChartSource
from components.shared.references import Scraper
from kube.labels import NAMESPACE_ROLE
from stacks.monitoring import MonitoringSettings

KUBE_PROMETHEUS_STACK_CHART = ChartSource(
    name="kube-prometheus-stack", version="88.5.3", repository="oci://ghcr.io/prometheus-community/charts"
)
"""88.5.3: prometheus-operator v0.93.1, Prometheus v3.14.0, Alertmanager v0.34.0, Grafana 13.2.0 (REFERENCE.md)."""

NAMESPACE = "monitoring"
"""The cluster's monitoring namespace, where the chart's pods run (one Prometheus for every stack)."""
MONITORING_ROLE = "monitoring"
"""The namespace role (crm-platform/namespace-role) Prometheus reads monitors, probes and rules from: every
stack's monitoring namespace, and the cluster's own (the chart's monitors of itself and the kubelet)."""

# The chart's names (templates/_helpers.tpl): the release is named after the chart, so its "fullname" is the
# release name, and the operator names its objects after the custom resources the chart declares.
RELEASE = KUBE_PROMETHEUS_STACK_CHART.name
PROMETHEUS_NAME = f"{RELEASE}-prometheus"
"""The Prometheus custom resource; also its Service (port 9090)."""
ALERTMANAGER_NAME = f"{RELEASE}-alertmanager"
"""The Alertmanager custom resource; also its Service (port 9093)."""
GRAFANA_SERVICE = f"{RELEASE}-grafana"
"""Grafana's Service (port 80, the container's 3000); the grafana subchart's fullname."""
PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
GRAFANA_PORT = 80

PROMETHEUS_POD_LABELS: Mapping[str, str] = MappingProxyType(
    {
        # prometheus-operator v0.93 labels every pod of a Prometheus with these (pkg/prometheus/server
        # operator.go makeSelectorLabels): the application, and which Prometheus it is.
        "app.kubernetes.io/name": "prometheus",
        "operator.prometheus.io/name": PROMETHEUS_NAME,
    }
)
SCRAPER = Scraper(NAMESPACE, PROMETHEUS_POD_LABELS)
"""Where Prometheus runs: the only peer every stack's metrics ports accept."""

ALERTMANAGER_CONFIG_SECRET = "alertmanager-crm-config"
"""The Secret holding alertmanager.yaml (receiver credentials included), made by the Monitoring component."""
ALERTMANAGER_CONFIG_KEY = "alertmanager.yaml"
"""The key prometheus-operator reads the configuration from."""
GRAFANA_ADMIN_SECRET = "grafana-admin"
GRAFANA_ADMIN_USER = "admin"
GRAFANA_ADMIN_USER_KEY = "admin-user"
GRAFANA_ADMIN_PASSWORD_KEY = "admin-password"
"""The keys the grafana chart reads from `admin.existingSecret` (its defaults)."""
GRAFANA_DASHBOARD_READER = "crm-grafana-dashboard-reader"
"""The ClusterRole Grafana's sidecar runs with: ConfigMaps only (the chart's own would read every Secret)."""
DASHBOARD_LABEL = "grafana_dashboard"
DASHBOARD_LABEL_VALUE = "1"
FOLDER_ANNOTATION = "grafana_folder"
"""A dashboard ConfigMap's annotation naming the Grafana folder it goes to (the sidecar's folderAnnotation)."""
CHART_DASHBOARDS_FOLDER = "Kubernetes"
"""Where the chart's own dashboards (cluster, namespaces, pods, Prometheus) go."""
SIDECAR_HEALTH_PORT = 8080
"""k8s-sidecar 2.x serves /healthz here (src/healthz.py, HEALTH_PORT's default)."""

UID = 65534
"""`nobody`, the user the operator, Prometheus, Alertmanager, kube-state-metrics and k8s-sidecar images run as
(above 10000, Checkov CKV_K8S_40); Grafana's image makes its writable paths mode 777, so it runs as it too."""

RESOURCES: Mapping[str, Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        "operator": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        "config-reloader": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}},
        # Prometheus's memory follows the series it holds: a few hundred thousand for a cluster of a few
        # stacks; raise the limit with the cluster.
        "prometheus": {"requests": {"cpu": "200m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "3Gi"}},
        "alertmanager": {"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
        "grafana": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        "grafana-sidecar": {"requests": {"cpu": "20m", "memory": "96Mi"}, "limits": {"cpu": "200m", "memory": "192Mi"}},
        "kube-state-metrics": {
            "requests": {"cpu": "20m", "memory": "64Mi"},
            "limits": {"cpu": "200m", "memory": "256Mi"},
        },
    }
)

CRD_TYPE = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"


def retain_custom_resource_definitions(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """Keep the chart's CustomResourceDefinitions when the chart is removed or replaced.

    The chart ships the ten monitoring.coreos.com CRDs (4.5 MB, the largest over client-side apply's 256 KB
    annotation limit: the provider applies server-side) in its `crds` subchart's crds/ directory, which
    helm.v4.Chart installs and, unlike Helm, updates on every `pulumi up`: so they are upgraded with the chart.
    They carry no `helm.sh/resource-policy: keep` (the cert-manager and CloudNativePG charts' do, which the
    provider turns into RetainOnDelete), so deleting the chart would delete them and with them every
    ServiceMonitor, PodMonitor and PrometheusRule of every stack. This transform gives them what `keep` would.
    """
    if args.type_ != CRD_TYPE:
        return None
    return pulumi.ResourceTransformResult(
        props=args.props, opts=pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(retain_on_delete=True))
    )


def _resources(component: str) -> dict[str, dict[str, str]]:
    return {section: dict(values) for section, values in RESOURCES[component].items()}


def _pod_security_context() -> dict[str, Any]:
    """Restricted pod level, and fsGroup so the pods can write their volumes (Prometheus's and Grafana's data)."""
    return {**pods.chart_pod_security_context(UID), "fsGroup": UID}


def _monitored_namespaces() -> dict[str, Any]:
    return {"matchLabels": {NAMESPACE_ROLE: MONITORING_ROLE}}


def _selectors() -> dict[str, Any]:
    """Which monitors, probes and rules Prometheus reads: all of them, from the monitoring namespaces only.

    With `*SelectorNilUsesHelmValues` left true the chart would select only objects labelled
    `release: kube-prometheus-stack`, which nothing of a stack carries; false gives an empty (match-all)
    selector, and the namespace selectors narrow it to the platform's monitoring namespaces.
    """
    values: dict[str, Any] = {}
    for kind in ("serviceMonitor", "podMonitor", "probe", "rule"):
        values[f"{kind}SelectorNilUsesHelmValues"] = False
        values[f"{kind}NamespaceSelector"] = _monitored_namespaces()
    return values


def _control_plane(*, managed: bool) -> dict[str, Any]:
    """Scrapes of the control plane and the chart's rules about it: off where the provider runs it.

    A managed control plane (EKS, GKE, AKS) has no etcd, scheduler or controller-manager endpoint a
    Prometheus in the cluster can reach, and kube-proxy binds its metrics to 127.0.0.1: every scrape would
    fail and the chart's *Down alerts fire for good, about what nobody using the cluster can fix.
    """
    scraped = not managed
    return {
        "kubeControllerManager": {"enabled": scraped},
        "kubeScheduler": {"enabled": scraped},
        "kubeEtcd": {"enabled": scraped},
        "kubeProxy": {"enabled": scraped},
        "rules": {
            "etcd": scraped,
            "kubeControllerManager": scraped,
            "kubeSchedulerAlerting": scraped,
            "kubeSchedulerRecording": scraped,
            "kubeProxy": scraped,
        },
    }


# The chart's rule groups built on node-exporter's series (node_cpu_seconds_total, node_filesystem_*,
# node_network_*): without node-exporter they would evaluate to nothing.
NODE_EXPORTER_RULES = (
    "node",
    "nodeExporterAlerting",
    "nodeExporterRecording",
    "kubePrometheusNodeRecording",
    "network",
)


def _grafana(*, dashboards_folder: str) -> dict[str, Any]:
    container_security_context = pods.chart_container_security_context()
    health_probe = {"httpGet": {"path": "/healthz", "port": SIDECAR_HEALTH_PORT}, "periodSeconds": 10}
    return {
        "enabled": True,
        # A Helm test hook: never applied by helm.v4.Chart; off so nothing pretends otherwise.
        "testFramework": {"enabled": False},
        "admin": {
            "existingSecret": GRAFANA_ADMIN_SECRET,
            "userKey": GRAFANA_ADMIN_USER_KEY,
            "passwordKey": GRAFANA_ADMIN_PASSWORD_KEY,
        },
        "grafana.ini": {
            "auth.anonymous": {"enabled": False},
            "users": {"allow_sign_up": False},
            # No calls home from inside the cluster.
            "analytics": {"check_for_updates": False, "reporting_enabled": False},
        },
        # Dashboards are code (ConfigMaps) and users are the admin: nothing worth a volume, which would
        # also pin Grafana to one node's zone.
        "persistence": {"enabled": False},
        "securityContext": _pod_security_context(),
        "containerSecurityContext": container_security_context,
        "resources": _resources("grafana"),
        # The root filesystem is read-only: /var/lib/grafana (the chart's `storage`), the search index and
        # the sidecar's dashboards directory are emptyDirs of the chart's; /tmp is this one.
        "extraEmptyDirMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "rbac": {
            # The chart's ClusterRole would let the sidecar read every Secret of the cluster; the Monitoring
            # component declares one that reads ConfigMaps only.
            "useExistingClusterRole": GRAFANA_DASHBOARD_READER,
        },
        "sidecar": {
            "securityContext": container_security_context,
            "resources": _resources("grafana-sidecar"),
            "livenessProbe": health_probe,
            "readinessProbe": health_probe,
            "dashboards": {
                "enabled": True,
                "label": DASHBOARD_LABEL,
                "labelValue": DASHBOARD_LABEL_VALUE,
                # Every stack's monitoring namespace holds its dashboards.
                "searchNamespace": "ALL",
                "resource": "configmap",
                # Each ConfigMap's annotation names its folder: one folder per stack.
                "folderAnnotation": FOLDER_ANNOTATION,
                "provider": {"foldersFromFilesStructure": True, "allowUiUpdates": False},
                "annotations": {FOLDER_ANNOTATION: dashboards_folder},
            },
            "datasources": {
                "enabled": True,
                # The chart's Prometheus and Alertmanager data sources, read once at start by an init
                # container: they change only with the chart. A second long-running sidecar would need a
                # health port of its own, and the sidecars share one probe definition.
                "initDatasources": True,
                "resource": "configmap",
            },
        },
    }


def chart_values(
    monitoring: MonitoringSettings,
    *,
    storage_class: str | None,
    strict_node_spread: bool,
    alertmanager_config_secret: str | None,
) -> dict[str, Any]:
    """Values for kube-prometheus-stack 88.5.3, as the add-on owning stack installs it.

    `alertmanager_config_secret` names the Secret that holds alertmanager.yaml (None: the chart's own
    configuration, which sends everything to its `null` receiver). The configuration is never in the values:
    it holds the receivers' credentials, and the values are plain in the state and the render.
    """
    managed = monitoring.managed_control_plane
    control_plane = _control_plane(managed=managed)
    claim: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": monitoring.prometheus_storage}},
    }
    if storage_class:
        claim["storageClassName"] = storage_class
    alertmanager_spec: dict[str, Any] = {
        "replicas": monitoring.alertmanager_replicas,
        "resources": _resources("alertmanager"),
        "securityContext": _pod_security_context(),
        # Alertmanager calls no Kubernetes API.
        "automountServiceAccountToken": False,
        "podAntiAffinity": "hard" if strict_node_spread else "soft",
    }
    if alertmanager_config_secret is not None:
        alertmanager_spec.update({"useExistingSecret": True, "configSecret": alertmanager_config_secret})
    highly_available = monitoring.alertmanager_replicas > 1
    return {
        "crds": {
            # The CRDs come with the chart (its crds subchart's crds/ directory) and stay when it goes
            # (retain_custom_resource_definitions). The upgrade Job is a Helm hook, which Pulumi never runs,
            # and unneeded: helm.v4.Chart applies crds/ on every update.
            "enabled": True,
            "upgradeJob": {"enabled": False},
        },
        "defaultRules": {
            "create": True,
            "rules": {
                **control_plane["rules"],
                **dict.fromkeys(NODE_EXPORTER_RULES, False),
                "windows": False,
            },
        },
        "kubeControllerManager": control_plane["kubeControllerManager"],
        "kubeScheduler": control_plane["kubeScheduler"],
        "kubeEtcd": control_plane["kubeEtcd"],
        "kubeProxy": control_plane["kubeProxy"],
        # node-exporter needs the host's network and PID namespaces and a hostPath of /: the pack's
        # pod-security-restricted is mandatory on every stack and has no exemption, and a baseline namespace
        # would still refuse it. Pod and container CPU, memory and volume usage come from the kubelet and
        # cAdvisor instead; node-level alerts (a node's disk, memory) are the cluster provider's to raise.
        "nodeExporter": {"enabled": False},
        "kube-state-metrics": {
            "securityContext": {"enabled": True, **_pod_security_context()},
            "containerSecurityContext": pods.chart_container_security_context(),
            "resources": _resources("kube-state-metrics"),
            # Its secrets collector would need to list every Secret in the cluster; nothing here uses
            # kube_secret_* series.
            "collectorsExclude": ["secrets"],
        },
        "prometheusOperator": {
            # helm.v4.Chart drops the hook Jobs that would make the webhook certificate, and the operator
            # mounts that certificate's Secret whether or not the webhooks are on: without it the pod never
            # starts. cert-manager issues it instead (the chart renders an Issuer and Certificate), so the
            # chart waits for cert-manager. Ignore: the chart's default rules are created alongside the
            # webhook configuration, before the operator serves it, and a webhook error is never retried;
            # denials still apply once it answers, and the platform's rules pass promtool before they ship.
            "admissionWebhooks": {
                "certManager": {"enabled": True},
                "patch": {"enabled": False},
                "failurePolicy": "Ignore",
            },
            "securityContext": _pod_security_context(),
            "containerSecurityContext": pods.chart_container_security_context(),
            "resources": _resources("operator"),
            "prometheusConfigReloader": {
                "resources": _resources("config-reloader"),
                # Liveness and readiness probes on the reloader sidecars of Prometheus and Alertmanager.
                "enableProbe": True,
            },
        },
        "prometheus": {
            "prometheusSpec": {
                "retention": monitoring.prometheus_retention,
                "retentionSize": monitoring.prometheus_retention_size,
                "storageSpec": {"volumeClaimTemplate": {"spec": claim}},
                "resources": _resources("prometheus"),
                "securityContext": _pod_security_context(),
                **_selectors(),
            },
        },
        "alertmanager": {
            "alertmanagerSpec": alertmanager_spec,
            "podDisruptionBudget": {"enabled": highly_available},
        },
        "grafana": _grafana(dashboards_folder=CHART_DASHBOARDS_FOLDER),
    }

"""kube-prometheus-stack values: every key the chart's, every trap of an install without Helm hooks handled.

The chart publishes no values schema, and Helm ignores a misspelt key: every key path the program sets
is walked against the chart's (and its subcharts') default values in ../shared/helm-values, and every
Kubernetes object the values pass through (security contexts, resources, probes, the volume claim,
selectors) is validated strictly against Kubernetes 1.34's schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

import pulumi
import pytest
import yaml

from components.monitoring import chart
from components.monitoring.chart import chart_values, retain_custom_resource_definitions
from kube.labels import NAMESPACE_ROLE
from offline.mocks import unwrap_secrets
from offline.schemas import SHARED_DIR, core_errors
from policies.pod_security import check_read_only_root, check_restricted
from stacks import build
from stacks.monitoring import MonitoringSettings
from stacks.schema import PROJECT
from tests.conftest import STACKS, RunStack

HELM_VALUES = SHARED_DIR / "helm-values"
CHART_FILE = f"{chart.KUBE_PROMETHEUS_STACK_CHART.name}-{chart.KUBE_PROMETHEUS_STACK_CHART.version}.values.yaml"
SUBCHART_FILES = {
    "grafana": "grafana-12.11.1.values.yaml",
    "kube-state-metrics": "kube-state-metrics-8.4.0.values.yaml",
    "prometheus-node-exporter": "prometheus-node-exporter-4.56.1.values.yaml",
}
"""kube-prometheus-stack 88.5.3's subcharts (Chart.yaml dependencies) and their values at those versions."""

FREE_FORM = {
    ("grafana", "grafana.ini"): "Grafana's own configuration, section by section, written to grafana.ini as given",
}
"""Paths whose content the chart passes through without naming it in its defaults."""

Path = tuple[str, ...]


@cache
def defaults(file_name: str) -> dict[str, Any]:
    document = yaml.safe_load((HELM_VALUES / file_name).read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


@cache
def commented_keys(file_name: str) -> frozenset[Path]:
    """Key paths the values file documents only in a comment (`# configSecret:` under alertmanagerSpec)."""
    active: list[tuple[int, str]] = []
    found: set[Path] = set()
    for line in (HELM_VALUES / file_name).read_text(encoding="utf-8").splitlines():
        key = re.fullmatch(r"(?P<indent>\s*)(?P<key>[A-Za-z0-9_.-]+):.*", line)
        comment = re.fullmatch(r"(?P<indent>\s*)#\s?(?P<key>[A-Za-z0-9_.-]+):.*", line)
        if key is not None:
            indent = len(key["indent"])
            active = [(depth, name) for depth, name in active if depth < indent]
            active.append((indent, key["key"]))
        elif comment is not None:
            indent = len(comment["indent"])
            found.add((*(name for depth, name in active if depth < indent), comment["key"]))
    return frozenset(found)


def lookup(document: Any, path: Path) -> tuple[bool, Any]:
    for key in path:
        if not isinstance(document, dict) or key not in document:
            return False, None
        document = document[key]
    return True, document


# Kubernetes objects the charts hand to pods, custom resources or volume claims as they are: the key must be
# the chart's, its content is Kubernetes' to judge (key -> where in which object it lands).
POD_CONTEXT = "pod securityContext"
CONTAINER_CONTEXT = "container securityContext"
PASSTHROUGH_KINDS = {
    "containerSecurityContext": CONTAINER_CONTEXT,
    "resources": "resources",
    "livenessProbe": "probe",
    "readinessProbe": "probe",
    "serviceMonitorNamespaceSelector": "selector",
    "podMonitorNamespaceSelector": "selector",
    "probeNamespaceSelector": "selector",
    "ruleNamespaceSelector": "selector",
}


def passthrough_kind(path: Path) -> str | None:
    if path[-1] == "securityContext":
        # The grafana chart's sidecar.securityContext is a container's; kube-state-metrics adds `enabled`.
        return CONTAINER_CONTEXT if path[-2:] == ("sidecar", "securityContext") else POD_CONTEXT
    if path[-3:] == ("storageSpec", "volumeClaimTemplate", "spec"):
        return "claim"
    return PASSTHROUGH_KINDS.get(path[-1])


def kubernetes_errors(kind: str, value: Any) -> list[str]:
    """Strict Kubernetes 1.34 validation of a passed-through object, placed where the chart puts it."""
    container: dict[str, Any] = {"name": "c", "image": "registry.example/c:1"}
    pod_spec: dict[str, Any] = {"containers": [container]}
    if kind == POD_CONTEXT:
        pod_spec["securityContext"] = {key: item for key, item in value.items() if key != "enabled"}
    elif kind == CONTAINER_CONTEXT:
        container["securityContext"] = value
    elif kind == "resources":
        container["resources"] = value
    elif kind == "probe":
        container["livenessProbe"] = value
    elif kind == "selector":
        policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "x"}}
        return core_errors({**policy, "spec": {"podSelector": value}})
    elif kind == "claim":
        claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "x"}, "spec": value}
        return core_errors(claim)
    return core_errors({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": pod_spec})


def key_paths(values: Mapping[str, Any], prefix: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every key path the values set, with its value; lists are values, not paths."""
    for key, value in values.items():
        path = (*prefix, key)
        yield path, value
        if isinstance(value, dict) and passthrough_kind(path) is None and path not in FREE_FORM:
            yield from key_paths(value, path)


def documented(file_name: str, path: Path) -> bool:
    """The values file has the key, a free-form ancestor of it (a `{}` default such as storageSpec or
    annotations), or names it in a comment under its parent."""
    present, _ = lookup(defaults(file_name), path)
    free_form_ancestor = any(lookup(defaults(file_name), path[:depth]) == (True, {}) for depth in range(1, len(path)))
    return present or free_form_ancestor or path in commented_keys(file_name)


def unknown_keys(values: Mapping[str, Any]) -> list[str]:
    """Key paths no values file accounts for, and passed-through objects Kubernetes would refuse."""
    problems = []
    for path, value in key_paths(values):
        # Under a subchart's key the parent chart may set keys of its own (grafana.sidecar.dashboards.annotations)
        # besides the subchart's.
        known = documented(CHART_FILE, path) or (
            path[0] in SUBCHART_FILES and len(path) > 1 and documented(SUBCHART_FILES[path[0]], path[1:])
        )
        if not known:
            problems.append(".".join(path))
        kind = passthrough_kind(path)
        if kind is not None:
            problems += [f"{'.'.join(path)}: {error}" for error in kubernetes_errors(kind, value)]
    return problems


def settings_for(stack: str, **config: str) -> MonitoringSettings:
    base = {f"{PROJECT}:appImage": "ghcr.io/acme/crm-backend:2.4.1"}
    base.update({f"{PROJECT}:{key}": value for key, value in config.items()})
    return build("dev", base).monitoring


VARIANTS = {
    "managed-with-config": (settings_for("dev"), "gp3", True, chart.ALERTMANAGER_CONFIG_SECRET),
    "self-managed-without-config": (settings_for("dev", managedControlPlane="false"), None, False, None),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_key_the_program_sets_is_the_charts(variant: str) -> None:
    """Every key path of the values exists in the chart's or a subchart's defaults (or under a free-form
    default, or as a key its values file documents in a comment), and every passed-through Kubernetes object
    is valid for Kubernetes 1.34."""
    monitoring, storage_class, strict, secret = VARIANTS[variant]
    values = chart_values(
        monitoring, storage_class=storage_class, strict_node_spread=strict, alertmanager_config_secret=secret
    )
    assert unknown_keys(values) == []


@pytest.mark.parametrize(
    "misspelt",
    [
        {"prometheus": {"prometheusSpec": {"retension": "15d"}}},
        {"grafana": {"sidecar": {"dashboards": {"serchNamespace": "ALL"}}}},
        {"kube-state-metrics": {"collectorExclude": ["secrets"]}},
        {"alertmanager": {"alertmanagerSpec": {"configSecrets": "x"}}},
        {"prometheusOperator": {"containerSecurityContext": {"readOnlyRootFileSystem": True}}},
    ],
    ids=["chart-key", "subchart-key", "other-subchart-key", "near-a-commented-key", "inside-a-passthrough"],
)
def test_the_key_walk_catches_a_misspelt_key(misspelt: dict[str, Any]) -> None:
    """A key the chart does not have is reported, at any depth, in the chart, a subchart or a passthrough."""
    assert unknown_keys(misspelt)


def test_the_comment_reader_finds_keys_only_where_they_are_documented() -> None:
    """configSecret is documented (commented out) under alertmanager.alertmanagerSpec, and nowhere else."""
    documented = commented_keys(CHART_FILE)
    assert ("alertmanager", "alertmanagerSpec", "configSecret") in documented
    assert ("prometheus", "prometheusSpec", "configSecret") not in documented


def installed_values(run_stack: RunStack, stack: str) -> dict[str, Any]:
    [installed] = [
        resource
        for resource in run_stack(stack).of_type("kubernetes:helm.sh/v4:Chart")
        if resource.inputs["chart"].endswith("/kube-prometheus-stack")
    ]
    values: dict[str, Any] = unwrap_secrets(installed.inputs["values"])
    return values


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_the_installed_values_are_the_charts_own(run_stack: RunStack, stack: str) -> None:
    """What each add-on owning stack really passes passes the key walk too."""
    assert unknown_keys(installed_values(run_stack, stack)) == []


def test_the_chart_is_pinned_and_comes_from_the_oci_registry(run_stack: RunStack) -> None:
    """kube-prometheus-stack 88.5.3 from ghcr.io, released under its own name into the monitoring namespace."""
    [installed] = [
        resource
        for resource in run_stack("production").of_type("kubernetes:helm.sh/v4:Chart")
        if resource.name.endswith("kube-prometheus-stack")
    ]
    assert installed.inputs["chart"] == "oci://ghcr.io/prometheus-community/charts/kube-prometheus-stack"
    assert installed.inputs["version"] == "88.5.3"
    assert installed.inputs["name"] == "kube-prometheus-stack"
    assert installed.inputs["namespace"] == "monitoring"


def test_no_hook_is_relied_on(run_stack: RunStack) -> None:
    """helm.v4.Chart applies no hooks: the webhook certificate comes from cert-manager (no certgen Jobs), the
    webhooks tolerate an operator that is not up yet, and no CRD upgrade Job or Grafana test pod is asked for."""
    values = installed_values(run_stack, "staging")
    webhooks = values["prometheusOperator"]["admissionWebhooks"]
    assert webhooks["certManager"]["enabled"] is True
    assert webhooks["patch"]["enabled"] is False
    assert webhooks["failurePolicy"] == "Ignore"
    assert values["crds"]["upgradeJob"]["enabled"] is False
    assert values["grafana"]["testFramework"]["enabled"] is False


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_the_chart_waits_for_cert_manager_and_what_its_values_point_at(run_stack: RunStack, stack: str) -> None:
    """The chart renders a cert-manager Issuer and Certificate: it waits for the cert-manager API check (the Edge
    component's `cert_manager`), and for its namespace, the Grafana admin Secret and the sidecar's ClusterRole."""
    run = run_stack(stack)
    [installed] = [resource for resource in run.of_type("kubernetes:helm.sh/v4:Chart") if "prometheus" in resource.name]
    dependencies = set(installed.dependencies)
    by_name = {resource.name: resource.urn for resource in run.recording.resources}
    jobs = run.of_type("kubernetes:batch/v1:Job")
    [api_check] = [job.urn for job in jobs if job.name == "edge-cert-manager-api-check"]
    assert api_check in dependencies
    for name in ("monitoring-namespace", "monitoring-grafana-admin", "monitoring-grafana-dashboard-reader"):
        assert by_name[name] in dependencies


def test_the_crds_are_kept_when_the_chart_goes() -> None:
    """The transform gives the chart's CustomResourceDefinitions RetainOnDelete and leaves everything else."""
    crd = pulumi.ResourceTransformArgs(
        custom=True,
        type_="kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
        name="monitoring-kube-prometheus-stack:prometheuses.monitoring.coreos.com",
        props={"spec": {}},
        opts=pulumi.ResourceOptions(protect=False),
    )
    result = retain_custom_resource_definitions(crd)
    assert result is not None
    assert result.opts.retain_on_delete is True
    assert result.props == crd.props
    deployment = pulumi.ResourceTransformArgs(
        custom=True, type_="kubernetes:apps/v1:Deployment", name="d", props={}, opts=pulumi.ResourceOptions()
    )
    assert retain_custom_resource_definitions(deployment) is None


def test_the_chart_is_installed_with_the_crd_transform(run_stack: RunStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The program hands the chart the transform (the mocks do not run a chart, so the call is watched)."""
    from components.monitoring import monitoring

    calls: list[dict[str, Any]] = []
    original = monitoring.install_chart  # type: ignore[attr-defined]

    def watched(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(monitoring, "install_chart", watched)
    run_stack("staging", config={"managedControlPlane": "true"})  # a fresh run, not the session's cached one
    [call] = calls
    assert call["transforms"] == [retain_custom_resource_definitions]


def test_prometheus_reads_every_monitoring_namespace_without_the_release_label(run_stack: RunStack) -> None:
    """Monitors, probes and rules need no `release` label, and come from exactly the namespaces labelled as
    monitoring namespaces: the cluster's own and every stack's."""
    run = run_stack("staging")
    spec = installed_values(run_stack, "staging")["prometheus"]["prometheusSpec"]
    namespaces = {document["metadata"]["name"]: document["metadata"]["labels"] for document in run.kind("Namespace")}
    for kind in ("serviceMonitor", "podMonitor", "probe", "rule"):
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False
        selector = spec[f"{kind}NamespaceSelector"]["matchLabels"]
        selected = {name for name, labels in namespaces.items() if selector.items() <= labels.items()}
        assert selected == {"monitoring", "crm-staging-monitoring"}, kind
    assert selector == {NAMESPACE_ROLE: "monitoring"}


@pytest.mark.parametrize(("managed", "scraped"), [("true", False), ("false", True)])
def test_a_managed_control_plane_is_neither_scraped_nor_alerted_on(
    run_stack: RunStack, managed: str, scraped: bool
) -> None:
    """With managedControlPlane, etcd, the scheduler, the controller-manager and kube-proxy are not scraped
    and the chart's rules about them are off; on a self-managed cluster both are on."""
    run = run_stack("dev", config={"managedControlPlane": managed})
    [installed] = [resource for resource in run.of_type("kubernetes:helm.sh/v4:Chart") if "prometheus" in resource.name]
    values = installed.inputs["values"]
    for component in ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy"):
        assert values[component]["enabled"] is scraped, component
    rules = values["defaultRules"]["rules"]
    for group in ("etcd", "kubeControllerManager", "kubeSchedulerAlerting", "kubeSchedulerRecording", "kubeProxy"):
        assert rules[group] is scraped, group


def test_without_node_exporter_its_rules_are_off_too(run_stack: RunStack) -> None:
    """node-exporter (host namespaces, a hostPath of /) is not installed, and no default rule group that reads
    its series is evaluated."""
    values = installed_values(run_stack, "production")
    assert values["nodeExporter"]["enabled"] is False
    rules = values["defaultRules"]["rules"]
    for group in ("node", "nodeExporterAlerting", "nodeExporterRecording", "kubePrometheusNodeRecording", "network"):
        assert rules[group] is False, group


@pytest.mark.parametrize(
    ("stack", "retention", "size", "storage", "alertmanagers"),
    [("dev", "3d", "4GB", "5Gi", 1), ("staging", "15d", "16GB", "20Gi", 1), ("production", "30d", "80GB", "100Gi", 2)],
)
def test_retention_volume_and_alertmanagers_follow_the_profile(
    run_stack: RunStack, stack: str, retention: str, size: str, storage: str, alertmanagers: int
) -> None:
    """Each profile's retention, retention size and volume reach Prometheus; production runs two Alertmanagers
    with a disruption budget and never on one node."""
    values = installed_values(run_stack, stack)
    spec = values["prometheus"]["prometheusSpec"]
    assert spec["retention"] == retention
    assert spec["retentionSize"] == size
    assert spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == storage
    alertmanager = values["alertmanager"]
    assert alertmanager["alertmanagerSpec"]["replicas"] == alertmanagers
    assert alertmanager["podDisruptionBudget"]["enabled"] is (alertmanagers > 1)
    if stack == "production":
        assert alertmanager["alertmanagerSpec"]["podAntiAffinity"] == "hard"


def test_prometheus_keeps_its_samples_in_the_stacks_storage_class(run_stack: RunStack) -> None:
    """storageClass reaches Prometheus's volume claim."""
    [installed] = [
        resource
        for resource in run_stack("dev", config={"storageClass": "fast-ssd"}).of_type("kubernetes:helm.sh/v4:Chart")
        if "prometheus" in resource.name
    ]
    claim = installed.inputs["values"]["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == "fast-ssd"


def pod(security_context: Mapping[str, Any], containers: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "securityContext": {key: value for key, value in security_context.items() if key != "enabled"},
        "containers": [
            {"name": name, "image": "registry.example/c:1", "securityContext": dict(context)}
            for name, context in containers.items()
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"template": {"spec": spec}},
    }


# Pods whose security contexts the values set, as the charts assemble them (the operator sets Prometheus's,
# Alertmanager's and the config reloader's container contexts itself: read-only, no escalation, drop ALL).
OPERATOR_CONTAINER = {
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}


def chart_pods(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    grafana = values["grafana"]
    return {
        "operator": pod(
            values["prometheusOperator"]["securityContext"],
            {"operator": values["prometheusOperator"]["containerSecurityContext"]},
        ),
        "grafana": pod(
            grafana["securityContext"],
            {"grafana": grafana["containerSecurityContext"], "sidecar": grafana["sidecar"]["securityContext"]},
        ),
        "kube-state-metrics": pod(
            values["kube-state-metrics"]["securityContext"],
            {"kube-state-metrics": values["kube-state-metrics"]["containerSecurityContext"]},
        ),
        "prometheus": pod(
            values["prometheus"]["prometheusSpec"]["securityContext"],
            {"prometheus": OPERATOR_CONTAINER, "config-reloader": OPERATOR_CONTAINER},
        ),
        "alertmanager": pod(
            values["alertmanager"]["alertmanagerSpec"]["securityContext"],
            {"alertmanager": OPERATOR_CONTAINER, "config-reloader": OPERATOR_CONTAINER},
        ),
    }


@pytest.mark.parametrize("stack", ["dev", "production"])
def test_every_chart_pod_meets_the_restricted_profile_with_a_read_only_root(run_stack: RunStack, stack: str) -> None:
    """The security contexts the values give every pod of the chart pass the pack's restricted-profile and
    read-only-root checks, with a UID of 10000 or more."""
    for name, document in chart_pods(installed_values(run_stack, stack)).items():
        assert check_restricted(document) == [], name
        assert check_read_only_root(document) == [], name
        assert document["spec"]["template"]["spec"]["securityContext"]["runAsUser"] >= 10000, name


def test_every_container_of_the_chart_is_sized() -> None:
    """Operator, config reloader, Prometheus, Alertmanager, Grafana and its sidecar, kube-state-metrics: each
    has CPU and memory requests and limits in the values, the limits at least the requests."""
    values = chart_values(
        settings_for("dev"), storage_class=None, strict_node_spread=False, alertmanager_config_secret=None
    )
    sized = {
        "operator": values["prometheusOperator"]["resources"],
        "config-reloader": values["prometheusOperator"]["prometheusConfigReloader"]["resources"],
        "prometheus": values["prometheus"]["prometheusSpec"]["resources"],
        "alertmanager": values["alertmanager"]["alertmanagerSpec"]["resources"],
        "grafana": values["grafana"]["resources"],
        "grafana-sidecar": values["grafana"]["sidecar"]["resources"],
        "kube-state-metrics": values["kube-state-metrics"]["resources"],
    }
    for name, resources in sized.items():
        for section in ("requests", "limits"):
            assert set(resources[section]) == {"cpu", "memory"}, name
        container = {"name": "c", "image": "registry.example/c:1", "resources": resources}
        document = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"containers": [container]}}
        assert core_errors(document) == [], name


def test_grafana_reads_its_admin_password_from_the_secret_the_program_makes(run_stack: RunStack) -> None:
    """admin.existingSecret names the Secret in Grafana's namespace, and the user and password keys it names are
    the Secret's keys; no password in the values, anonymous access off, no volume."""
    run = run_stack("production")
    grafana = installed_values(run_stack, "production")["grafana"]
    secret = run.named("Secret", grafana["admin"]["existingSecret"])
    assert secret["metadata"]["namespace"] == "monitoring"
    assert set(secret["stringData"]) == {grafana["admin"]["userKey"], grafana["admin"]["passwordKey"]}
    assert "adminPassword" not in grafana
    assert grafana["grafana.ini"]["auth.anonymous"]["enabled"] is False
    assert grafana["persistence"]["enabled"] is False


def test_grafana_collects_every_stacks_dashboards_into_its_folder(run_stack: RunStack) -> None:
    """The sidecar watches labelled ConfigMaps in every namespace and files each under its folder annotation,
    which Grafana turns into folders; it runs with the program's ClusterRole, which reads ConfigMaps only."""
    run = run_stack("staging")
    grafana = installed_values(run_stack, "staging")["grafana"]
    dashboards = grafana["sidecar"]["dashboards"]
    assert dashboards["searchNamespace"] == "ALL"
    assert (dashboards["label"], dashboards["labelValue"]) == (chart.DASHBOARD_LABEL, chart.DASHBOARD_LABEL_VALUE)
    assert dashboards["folderAnnotation"] == chart.FOLDER_ANNOTATION
    assert dashboards["provider"]["foldersFromFilesStructure"] is True
    assert dashboards["resource"] == grafana["sidecar"]["datasources"]["resource"] == "configmap"
    role = run.named("ClusterRole", grafana["rbac"]["useExistingClusterRole"])
    assert role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]


def test_the_sidecar_probes_the_health_port_it_serves() -> None:
    """The dashboard sidecar (k8s-sidecar 2.10.1) serves /healthz on 8080 unless HEALTH_PORT says otherwise;
    the probes ask there, and nothing of the values moves the port."""
    values = chart_values(
        settings_for("dev"), storage_class=None, strict_node_spread=False, alertmanager_config_secret=None
    )
    sidecar = values["grafana"]["sidecar"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert sidecar[probe]["httpGet"] == {"path": "/healthz", "port": 8080}
    assert "HEALTH_PORT" not in sidecar["dashboards"].get("env", {})


@pytest.mark.parametrize("secret", [chart.ALERTMANAGER_CONFIG_SECRET, None])
def test_the_alertmanager_configuration_is_never_in_the_values(secret: str | None) -> None:
    """With a configuration Secret, Alertmanager reads it (useExistingSecret, configSecret); the values never
    carry a configuration, so receiver credentials cannot reach the state's plain inputs or the render."""
    values = chart_values(
        settings_for("dev"), storage_class=None, strict_node_spread=False, alertmanager_config_secret=secret
    )
    alertmanager = values["alertmanager"]
    assert "config" not in alertmanager and "stringConfig" not in alertmanager
    spec = alertmanager["alertmanagerSpec"]
    assert spec.get("configSecret") == secret
    assert spec.get("useExistingSecret", False) is (secret is not None)


def test_kube_state_metrics_does_not_read_secrets() -> None:
    """Its secrets collector would list every Secret of the cluster: it is excluded."""
    values = chart_values(
        settings_for("dev"), storage_class=None, strict_node_spread=False, alertmanager_config_secret=None
    )
    assert "secrets" in values["kube-state-metrics"]["collectorsExclude"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_chart_is_installed_by_the_add_on_owner_only(run_stack: RunStack, stack: str) -> None:
    """dev, staging and production install it (and its namespace); a review stack never does."""
    run = run_stack(stack)
    charts = [resource for resource in run.of_type("kubernetes:helm.sh/v4:Chart") if "prometheus" in resource.name]
    namespaces = {document["metadata"]["name"] for document in run.kind("Namespace")}
    owner = stack != "pr-7"
    assert len(charts) == (1 if owner else 0)
    assert ("monitoring" in namespaces) is owner

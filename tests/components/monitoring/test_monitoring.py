"""Monitoring: every scrape target is found by its PodMonitor and let in for Prometheus only; the Celery
exporter watches the worker's queues; rules, dashboards and the Alertmanager configuration arrive where the
cluster's Prometheus, Grafana and Alertmanager read them, credentials masked everywhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components.edge.charts import TRAEFIK_NAMESPACE, TRAEFIK_POD_LABELS
from components.monitoring import chart
from components.monitoring.monitoring import RULES_NAME, dashboard_config_map_name
from components.monitoring.signals import stack_signals
from kube.objects import pod_spec_of
from offline.mocks import is_secret, unwrap_secrets
from offline.program import PROJECT_DIR
from offline.render import inventory
from offline.schemas import CustomResourceSchemas
from offline.stack_config import load_stack_config
from stacks import build
from stacks.monitoring import MonitoringSettings
from tests.components.monitoring.conftest import BuildMonitoring, ComponentRun
from tests.conftest import STACKS, RunStack

APP_TARGETS = {"crm-web", "crm-redis-cache", "crm-redis-broker", "crm-celery-exporter"}
"""Targets whose pods the program declares itself (the rest are made by operators and charts)."""
OPERATOR_TARGETS = {"crm-postgres", "crm-postgres-pooler-rw"}


def pod_monitors(run_stack: RunStack, stack: str, namespace: str) -> dict[str, dict[str, Any]]:
    return {
        document["metadata"]["name"]: document
        for document in run_stack(stack).kind("PodMonitor")
        if document["metadata"]["namespace"] == namespace
    }


def pod_templates(run_stack: RunStack, stack: str, namespace: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """(pod labels, pod spec) of every pod template the program declares in `namespace`."""
    templates = []
    for obj in run_stack(stack).objects:
        spec = pod_spec_of(obj.document)
        if spec is None or obj.namespace != namespace:
            continue
        template = obj.document["spec"].get("template") or obj.document["spec"]["jobTemplate"]["spec"]["template"]
        templates.append((template["metadata"]["labels"], spec))
    return templates


@pytest.mark.parametrize("stack", STACKS)
def test_every_pod_monitor_finds_its_pods_and_their_metrics_port(run_stack: RunStack, stack: str) -> None:
    """Each PodMonitor of the stack's monitoring namespace selects, in the app namespace, pods the program runs
    that have a container port of the endpoint's name: web, both Redis roles and the Celery exporter."""
    app = f"crm-{stack}"
    monitors = pod_monitors(run_stack, stack, f"crm-{stack}-monitoring")
    assert set(monitors) == APP_TARGETS | OPERATOR_TARGETS
    for name in APP_TARGETS:
        spec = monitors[name]["spec"]
        assert spec["namespaceSelector"] == {"matchNames": [app]}
        selector = spec["selector"]["matchLabels"]
        [endpoint] = spec["podMetricsEndpoints"]
        matched = [pod for labels, pod in pod_templates(run_stack, stack, app) if selector.items() <= labels.items()]
        assert matched, name
        for pod in matched:
            ports = {port["name"] for container in pod["containers"] for port in container.get("ports", [])}
            assert endpoint["port"] in ports, name


def test_the_database_monitors_select_the_operators_pods_of_the_stacks_cluster_and_pooler(run_stack: RunStack) -> None:
    """CloudNativePG's pods are the operator's: the monitors select them by its labels (the instances by role,
    since the pooler's pods carry the cluster label too), naming the Cluster and Pooler the stack declares."""
    run = run_stack("production")
    cluster = run.kind("Cluster")[0]["metadata"]["name"]
    pooler = run.kind("Pooler")[0]["metadata"]["name"]
    monitors = pod_monitors(run_stack, "production", "crm-production-monitoring")
    assert monitors[cluster]["spec"]["selector"]["matchLabels"] == {
        "cnpg.io/cluster": cluster,
        "cnpg.io/podRole": "instance",
    }
    assert monitors[pooler]["spec"]["selector"]["matchLabels"] == {"cnpg.io/poolerName": pooler}
    for name in (cluster, pooler):
        assert monitors[name]["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_each_scraped_port_is_open_to_prometheus_at_the_number_the_pods_listen_on(
    run_stack: RunStack, stack: str
) -> None:
    """For every target whose pods the program runs, the Prometheus flow opens the number of the container port
    the PodMonitor scrapes by name."""
    app = f"crm-{stack}"
    monitors = pod_monitors(run_stack, stack, f"crm-{stack}-monitoring")
    policies = {
        document["metadata"]["name"]: document["spec"]
        for document in run_stack(stack).kind("NetworkPolicy")
        if document["metadata"]["namespace"] == app
    }
    for name in APP_TARGETS:
        spec = monitors[name]["spec"]
        port_name = spec["podMetricsEndpoints"][0]["port"]
        selector = spec["selector"]["matchLabels"]
        numbers = {
            port["containerPort"]
            for labels, pod in pod_templates(run_stack, stack, app)
            if selector.items() <= labels.items()
            for container in pod["containers"]
            for port in container.get("ports", [])
            if port["name"] == port_name
        }
        flow = policies[f"allow-monitoring-to-{name}-metrics"]
        assert flow["podSelector"]["matchLabels"] == selector
        assert {port["port"] for rule in flow["ingress"] for port in rule["ports"]} == numbers, name


@pytest.mark.parametrize("stack", STACKS)
def test_every_series_is_labelled_with_its_targets_job_name(run_stack: RunStack, stack: str) -> None:
    """Each PodMonitor sets `job` to its target's name, which rules and dashboards select on; web's also copies
    the pod's release (stable, candidate) onto its series, which the promotion compares."""
    for document in run_stack(stack).kind("PodMonitor"):
        [endpoint] = document["spec"]["podMetricsEndpoints"]
        name = document["metadata"]["name"]
        job = {"action": "replace", "targetLabel": "job", "replacement": name}
        if name == "crm-web":
            release = {
                "action": "replace",
                "sourceLabels": ["__meta_kubernetes_pod_label_crm_platform_release"],
                "targetLabel": "release",
            }
            assert endpoint["relabelings"] == [job, release]
        else:
            assert endpoint["relabelings"] == [job]


def test_a_candidate_is_scraped_as_web_and_told_apart_by_its_release(run_stack: RunStack) -> None:
    """During a canary the candidate's pods are scraped as job crm-web (so web's alerts and dashboards count
    them) with release=candidate taken from their pod label, and their pods carry that label."""
    run = run_stack(
        "staging", config={"candidateImage": "ghcr.io/acme/crm-backend:2.5.0", "candidateTrafficPercent": "5"}
    )
    [endpoint] = run.named("PodMonitor", "crm-web-candidate")["spec"]["podMetricsEndpoints"]
    assert {"action": "replace", "targetLabel": "job", "replacement": "crm-web"} in endpoint["relabelings"]
    pod_labels = run.named("Deployment", "crm-web-candidate")["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["crm-platform/release"] == "candidate"
    source = [relabel for relabel in endpoint["relabelings"] if relabel.get("targetLabel") == "release"]
    assert source[0]["sourceLabels"] == ["__meta_kubernetes_pod_label_crm_platform_release"]


def test_the_add_ons_are_monitored_once_from_the_clusters_monitoring_namespace(run_stack: RunStack) -> None:
    """The add-on owner monitors Traefik and cert-manager's controller where they run; a review stack on the
    same cluster adds no second monitor."""
    monitors = pod_monitors(run_stack, "staging", chart.NAMESPACE)
    assert set(monitors) == {"traefik", "cert-manager"}
    traefik = monitors["traefik"]["spec"]
    assert traefik["namespaceSelector"] == {"matchNames": [TRAEFIK_NAMESPACE]}
    assert traefik["selector"]["matchLabels"] == dict(TRAEFIK_POD_LABELS)
    assert traefik["podMetricsEndpoints"][0]["port"] == "metrics"
    cert_manager = monitors["cert-manager"]["spec"]
    assert cert_manager["namespaceSelector"] == {"matchNames": ["cert-manager"]}
    assert cert_manager["selector"]["matchLabels"]["app.kubernetes.io/component"] == "controller"
    assert cert_manager["podMetricsEndpoints"][0]["port"] == "http-metrics"
    assert pod_monitors(run_stack, "pr-7", chart.NAMESPACE) == {}


def test_traefik_serves_metrics_on_the_entrypoint_its_monitor_scrapes(run_stack: RunStack) -> None:
    """The Traefik chart names the container port after the entrypoint that serves Prometheus metrics."""
    [traefik] = [
        resource
        for resource in run_stack("staging").of_type("kubernetes:helm.sh/v4:Chart")
        if resource.name == "edge-traefik"
    ]
    values = traefik.inputs["values"]
    entrypoint = values["metrics"]["prometheus"]["entryPoint"]
    assert (
        entrypoint
        == pod_monitors(run_stack, "staging", chart.NAMESPACE)["traefik"]["spec"]["podMetricsEndpoints"][0]["port"]
    )
    assert entrypoint in values["ports"]


@pytest.mark.parametrize("stack", STACKS)
def test_monitors_wait_for_the_crds_where_the_stack_installs_them(run_stack: RunStack, stack: str) -> None:
    """An add-on owner's PodMonitors depend on the chart that brings their CRD."""
    run = run_stack(stack)
    charts = [resource.urn for resource in run.of_type("kubernetes:helm.sh/v4:Chart") if "prometheus" in resource.name]
    for monitor in run.of_type("kubernetes:apiextensions.k8s.io:CustomResource"):
        if monitor.inputs.get("kind") == "PodMonitor":
            assert set(charts) <= set(monitor.dependencies), monitor.name


def test_workers_send_the_task_events_the_exporter_counts(run_stack: RunStack) -> None:
    """The default worker command line publishes task events (-E, --task-events)."""
    worker = run_stack("production").named("Deployment", "crm-worker")
    assert "--task-events" in worker["spec"]["template"]["spec"]["containers"][0]["args"]


def exporter(run_stack: RunStack, stack: str, **kwargs: Any) -> dict[str, Any]:
    return run_stack(stack, **kwargs).named("Deployment", "crm-celery-exporter")


def test_the_exporter_reports_the_queues_the_worker_consumes(run_stack: RunStack) -> None:
    """The worker's --queues/-Q reach the exporter's --queues, so their lengths are reported even while idle."""
    services = {"worker": {"args": ["worker", "-Q", "emails,reports", "--queues=default", "--task-events"]}}
    deployment = exporter(run_stack, "staging", config={"services": json.dumps(services)})
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--queues=emails,reports,default" in args
    default = exporter(run_stack, "staging")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--queues=celery" in default


def test_without_a_worker_there_is_no_exporter(run_stack: RunStack) -> None:
    """A stack that runs no worker has no exporter, no monitor of it and no flow of it."""
    run = run_stack("dev", config={"services": json.dumps({"worker": {"enabled": False}})})
    names = {obj.name for obj in run.objects}
    assert "crm-celery-exporter" not in names
    assert not any("celery-exporter" in name for name in names)


def test_the_exporter_reads_the_broker_password_by_reference(run_stack: RunStack) -> None:
    """The broker URL is composed by the kubelet from the broker Secret's password, defined before it; the
    Secret and key are the broker's own."""
    run = run_stack("production")
    container = exporter(run_stack, "production")["spec"]["template"]["spec"]["containers"][0]
    env = container["env"]
    names = [variable["name"] for variable in env]
    password = env[names.index("REDIS_BROKER_PASSWORD")]["valueFrom"]["secretKeyRef"]
    url = env[names.index("CE_BROKER_URL")]["value"]
    assert names.index("REDIS_BROKER_PASSWORD") < names.index("CE_BROKER_URL")
    assert url == "redis://:$(REDIS_BROKER_PASSWORD)@crm-redis-broker:6379/0"
    assert password["key"] in run.named("Secret", password["name"])["stringData"]
    assert run.named("Service", "crm-redis-broker")["spec"]["ports"][0]["port"] == 6379


def test_the_exporter_is_one_pod_replaced_never_doubled(run_stack: RunStack) -> None:
    """Two exporters would both count every event: one replica, Recreate; it restarts with a rotated password."""
    spec = exporter(run_stack, "production")["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    before = spec["template"]["metadata"]["annotations"]
    after = exporter(run_stack, "production", config={"secretsRotation": "1"})["spec"]["template"]["metadata"]
    assert after["annotations"] != before


def test_web_writes_its_workers_metrics_to_a_shared_scratch_directory(run_stack: RunStack) -> None:
    """PROMETHEUS_MULTIPROC_DIR names a directory web's container mounts from an emptyDir (read-only root)."""
    pod = run_stack("production").named("Deployment", "crm-web")["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = {variable["name"]: variable.get("value") for variable in container["env"]}
    directory = env["PROMETHEUS_MULTIPROC_DIR"]
    [mount] = [mount for mount in container["volumeMounts"] if mount["mountPath"] == directory]
    [volume] = [volume for volume in pod["volumes"] if volume["name"] == mount["name"]]
    assert "emptyDir" in volume


# --- what the component does with what the monitoring signals give it -------------------------------------

GROUPS = [
    {
        "name": "crm-web",
        "rules": [
            {
                "alert": "WebDown",
                "expr": 'up{job="crm-web"} == 0',
                "for": "2m",
                "labels": {"severity": "critical"},
                "annotations": {"summary": "web is down"},
            }
        ],
    }
]


def test_rule_groups_become_the_stacks_prometheus_rule(build_monitoring: BuildMonitoring) -> None:
    """The groups arrive as one PrometheusRule in the stack's monitoring namespace, valid for its CRD, after the
    chart that brings that CRD."""
    run = build_monitoring("staging", rule_groups=GROUPS)
    rule = run.named("PrometheusRule", RULES_NAME)
    assert rule.namespace == "crm-staging-monitoring"
    assert rule.document["spec"]["groups"] == GROUPS
    assert CustomResourceSchemas.load().errors(rule.document) == []
    installed = [resource.urn for resource in run.recording.resources if resource.type == "kubernetes:helm.sh/v4:Chart"]
    assert installed and set(installed) <= set(rule.resource.dependencies)


def test_dashboards_become_configmaps_the_sidecar_files_under_the_stacks_folder(
    build_monitoring: BuildMonitoring,
) -> None:
    """Each dashboard is a ConfigMap labelled as the chart's sidecar looks for, annotated with the stack's
    folder under the annotation the sidecar reads."""
    dashboard = json.dumps({"title": "Application overview", "panels": []})
    run = build_monitoring("production", dashboards={"application-overview.json": dashboard})
    config_map = run.named("ConfigMap", "crm-dashboard-application-overview")
    sidecar = chart.chart_values(
        run_stack_settings("production"), storage_class=None, strict_node_spread=False, alertmanager_config_secret=None
    )["grafana"]["sidecar"]["dashboards"]
    document = config_map.document
    assert document["metadata"]["labels"][sidecar["label"]] == sidecar["labelValue"]
    assert document["metadata"]["annotations"] == {sidecar["folderAnnotation"]: "production"}
    assert document["data"] == {"application-overview.json": dashboard}


def run_stack_settings(stack: str) -> MonitoringSettings:
    config = load_stack_config(PROJECT_DIR, stack)
    return build(stack, config.values, config.secret_keys).monitoring


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("application-overview.json", "crm-dashboard-application-overview"),
        ("Celery Tasks.json", "crm-dashboard-celery-tasks"),
        ("x" * 80 + ".json", ("crm-dashboard-" + "x" * 80)[:63]),
    ],
)
def test_dashboard_config_map_names_are_valid_object_names(file_name: str, expected: str) -> None:
    """A dashboard's file name becomes a lower-case DNS name of at most 63 characters."""
    assert dashboard_config_map_name(file_name) == expected


CREDENTIALS = {
    "chat_webhook_url": "https://hooks.example.com/services/PLANTED-chat-7d1e",
    "pager_routing_key": "PLANTEDpager0123456789abcdef01234",
}


def stand_in_config(credentials: Mapping[str, str]) -> dict[str, Any]:
    """A minimal stand-in for components.monitoring.alertmanager.alertmanager_config (the monitoring signals'
    module): one route per receiver, each credential where Alertmanager reads it."""
    receivers: list[dict[str, Any]] = [{"name": "null"}]
    if "chat_webhook_url" in credentials:
        receivers.append(
            {"name": "chat", "slack_configs": [{"api_url": credentials["chat_webhook_url"], "channel": "#x"}]}
        )
    if "pager_routing_key" in credentials:
        receivers.append({"name": "pager", "pagerduty_configs": [{"routing_key": credentials["pager_routing_key"]}]})
    return {"route": {"receiver": "null", "group_by": ["alertname"]}, "receivers": receivers}


def delivered(build_monitoring: BuildMonitoring, received: list[Mapping[str, str]]) -> ComponentRun:
    def builder(credentials: Mapping[str, str]) -> dict[str, Any]:
        received.append(dict(credentials))
        return stand_in_config(credentials)

    return build_monitoring(
        "production",
        alertmanager_config=builder,
        outputs=lambda: {
            "alertmanager_credentials": {key: pulumi.Output.secret(value) for key, value in CREDENTIALS.items()}
        },
    )


def test_the_alertmanager_configuration_is_delivered_as_a_secret_alertmanager_reads(
    build_monitoring: BuildMonitoring,
) -> None:
    """The builder gets exactly the configured credentials; its document reaches Alertmanager as the
    alertmanager.yaml of the Secret the chart's Alertmanager is pointed at, wrapped as a Pulumi secret whole."""
    received: list[Mapping[str, str]] = []
    run = delivered(build_monitoring, received)
    assert received == [CREDENTIALS]
    secret = run.named("Secret", chart.ALERTMANAGER_CONFIG_SECRET)
    assert secret.namespace == chart.NAMESPACE
    assert is_secret(secret.resource.inputs["stringData"])
    document = yaml.safe_load(unwrap_secrets(secret.resource.inputs["stringData"])[chart.ALERTMANAGER_CONFIG_KEY])
    assert document == stand_in_config(CREDENTIALS)
    [installed] = [resource for resource in run.recording.resources if resource.type == "kubernetes:helm.sh/v4:Chart"]
    spec = installed.inputs["values"]["alertmanager"]["alertmanagerSpec"]
    assert (spec["useExistingSecret"], spec["configSecret"]) == (True, chart.ALERTMANAGER_CONFIG_SECRET)
    assert secret.resource.urn in installed.dependencies


def test_no_credential_leaves_the_configuration_secret(build_monitoring: BuildMonitoring) -> None:
    """The planted credentials appear in no rendered object and nowhere in the inventory, in any form."""
    run = delivered(build_monitoring, [])
    rendered = json.dumps([obj.document for obj in run.objects]) + json.dumps(inventory(run.recording))
    for value in CREDENTIALS.values():
        assert value not in rendered and json.dumps(value)[1:-1] not in rendered


def require_tool(name: str) -> str:
    """The tool's path; a missing tool fails under CI and skips elsewhere (DESIGN.md section 4)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian package prometheus-alertmanager)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI is set, so a missing tool fails instead of skipping")
        pytest.skip(message)
    return path


def test_alertmanager_loads_the_delivered_file(build_monitoring: BuildMonitoring, tmp_path: Path) -> None:
    """amtool check-config accepts alertmanager.yaml exactly as the Secret carries it."""
    amtool = require_tool("amtool")
    run = delivered(build_monitoring, [])
    secret = run.named("Secret", chart.ALERTMANAGER_CONFIG_SECRET)
    config = tmp_path / chart.ALERTMANAGER_CONFIG_KEY
    config.write_text(unwrap_secrets(secret.resource.inputs["stringData"])[chart.ALERTMANAGER_CONFIG_KEY])
    result = subprocess.run([amtool, "check-config", str(config)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_a_stack_without_the_alertmanager_delivers_no_configuration(build_monitoring: BuildMonitoring) -> None:
    """A review stack shares staging's Alertmanager: even given a builder, it makes no configuration Secret."""
    received: list[Mapping[str, str]] = []

    def builder(credentials: Mapping[str, str]) -> dict[str, Any]:
        received.append(credentials)
        return stand_in_config(credentials)

    run = build_monitoring("pr-7", alertmanager_config=builder)
    assert received == []
    assert not run.of_kind("Secret")


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_delivers_its_own_rules_dashboards_and_routing(run_stack: RunStack, stack: str) -> None:
    """The program wires the stack's signals: its PrometheusRule holds exactly the rule groups its settings
    give, one ConfigMap carries each dashboard, and the add-on owner's Alertmanager gets a configuration
    Secret (the chart's own configuration, which sends everything to a `null` receiver, is never used)."""
    run = run_stack(stack)
    config = load_stack_config(PROJECT_DIR, stack)
    signals = stack_signals(build(stack, config.values, config.secret_keys))
    rule = run.named("PrometheusRule", RULES_NAME)
    assert rule["spec"]["groups"] == signals.rule_groups
    for file_name, dashboard in signals.dashboards.items():
        assert run.named("ConfigMap", dashboard_config_map_name(file_name))["data"] == {file_name: dashboard}
    secrets = [document["metadata"]["name"] for document in run.kind("Secret")]
    assert (chart.ALERTMANAGER_CONFIG_SECRET in secrets) is (stack != "pr-7")

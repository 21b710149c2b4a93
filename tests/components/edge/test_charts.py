"""Edge charts: Traefik and cert-manager values are the charts' own keys, restricted, sized and routed as designed."""

from __future__ import annotations

from typing import Any

import pytest

from components.edge.charts import (
    CERT_MANAGER_CHART,
    INGRESS_CLASS,
    TRAEFIK_CHART,
    TRAEFIK_METRICS_PORT,
    TRAEFIK_POD_LABELS,
    TRAEFIK_WEB_PORT,
    TRAEFIK_WEBSECURE_PORT,
    ContainerResources,
    cert_manager_values,
    traefik_values,
)
from components.edge.edge import REQUEST_BODY_LIMIT_BYTES
from offline.schemas import helm_values_errors
from tests.support.charts import found_under, security_context_problems

TRAEFIK_RESOURCES: ContainerResources = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"cpu": "1", "memory": "256Mi"},
}

# Which values key holds which level of security context differs per chart.
TRAEFIK_CONTEXT_KEYS = {"podSecurityContext": "pod", "securityContext": "container"}
CERT_MANAGER_CONTEXT_KEYS = {"securityContext": "pod", "containerSecurityContext": "container"}


def traefik(replicas: int = 1, *, strict_node_spread: bool = False) -> dict[str, Any]:
    return traefik_values(replicas=replicas, resources=TRAEFIK_RESOURCES, strict_node_spread=strict_node_spread)


@pytest.mark.parametrize("replicas", [1, 3])
@pytest.mark.parametrize("production", [False, True])
def test_traefik_values_validate_against_the_chart_schema(replicas: int, production: bool) -> None:
    """Traefik values are accepted by chart 41.3.0's values.schema.json at any size."""
    assert (
        helm_values_errors(TRAEFIK_CHART.name, TRAEFIK_CHART.version, traefik(replicas, strict_node_spread=production))
        == []
    )


@pytest.mark.parametrize("replicas", [1, 3])
def test_cert_manager_values_validate_against_the_chart_schema(replicas: int) -> None:
    """cert-manager values are accepted by chart v1.21.1's values.schema.json at any size."""
    values = cert_manager_values(replicas=replicas)
    assert helm_values_errors(CERT_MANAGER_CHART.name, CERT_MANAGER_CHART.version, values) == []


@pytest.mark.parametrize(
    ("chart", "version", "values"),
    [
        ("traefik", "41.3.0", {"deployment": {"replicas": "two"}}),
        ("traefik", "41.3.0", {"ingressClass": {"isDefault": False}}),
        ("cert-manager", "v1.21.1", {"crds": {"enabled": "yes"}}),
        ("cert-manager", "v1.21.1", {"webhook": {"replicas": 3}}),
    ],
    ids=["traefik-wrong-type", "traefik-unknown-key", "cert-manager-wrong-type", "cert-manager-unknown-key"],
)
def test_schema_check_rejects_bad_values(chart: str, version: str, values: dict[str, Any]) -> None:
    """The schema check fails on a wrong type or an unknown key, so a passing check means something."""
    assert helm_values_errors(chart, version, values)


@pytest.mark.parametrize("replicas", [1, 3])
def test_traefik_pod_and_container_are_restricted(replicas: int) -> None:
    """Traefik's pod and container security contexts meet the restricted profile with a read-only root."""
    problems, checked = security_context_problems(traefik(replicas), TRAEFIK_CONTEXT_KEYS)
    assert (problems, checked) == ([], 2)


@pytest.mark.parametrize("replicas", [1, 3])
def test_every_cert_manager_pod_and_container_is_restricted(replicas: int) -> None:
    """Controller, webhook and cainjector all meet the restricted profile with a read-only root."""
    problems, checked = security_context_problems(cert_manager_values(replicas=replicas), CERT_MANAGER_CONTEXT_KEYS)
    # Controller, webhook and cainjector, pod and container each (the API check hook is off: it is a plain Job).
    assert (problems, checked) == ([], 6)


def test_security_context_check_catches_a_violation() -> None:
    """The check reports a writable root, and a seccomp profile missing at both levels (one level is enough for
    Pod Security, so both are removed)."""
    values = traefik()
    values["securityContext"]["readOnlyRootFilesystem"] = False
    del values["podSecurityContext"]["seccompProfile"]
    del values["securityContext"]["seccompProfile"]
    problems, _ = security_context_problems(values, TRAEFIK_CONTEXT_KEYS)
    assert [problem.split(": ", 1)[1].split(" ", 1)[0] for problem in problems] == ["R5", "P1"]


def test_every_container_has_cpu_and_memory_requests_and_limits() -> None:
    """Each container of both charts has cpu and memory requests and limits."""
    all_resources = [resources for _, resources in found_under(traefik(), "resources")]
    all_resources += [resources for _, resources in found_under(cert_manager_values(replicas=1), "resources")]
    # Traefik; cert-manager's controller, webhook and cainjector.
    assert len(all_resources) == 4
    for resources in all_resources:
        for section in ("requests", "limits"):
            assert set(resources[section]) >= {"cpu", "memory"}


def test_traefik_requires_cpu_and_memory_requests_and_limits() -> None:
    """A Traefik size without a memory limit is refused with a message naming what is missing."""
    incomplete: ContainerResources = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1"}}
    with pytest.raises(ValueError, match=r"resources\.limits lacks memory"):
        traefik_values(replicas=1, resources=incomplete, strict_node_spread=False)


def test_zero_replicas_are_refused() -> None:
    """Neither chart accepts fewer than one replica."""
    with pytest.raises(ValueError, match="at least 1"):
        traefik(0)
    with pytest.raises(ValueError, match="at least 1"):
        cert_manager_values(replicas=0)


def test_web_entrypoint_redirects_permanently_to_websecure() -> None:
    """Port 80 answers every request with a permanent redirect to HTTPS on the websecure entrypoint."""
    ports = traefik()["ports"]
    assert ports["web"]["exposedPort"] == 80
    assert ports["web"]["http"]["redirections"]["entryPoint"] == {
        "to": "websecure",
        "scheme": "https",
        "permanent": True,
    }
    assert ports["websecure"]["exposedPort"] == 443
    assert ports["websecure"]["http"]["tls"]["enabled"] is True


def test_only_web_and_websecure_are_exposed_on_the_container_ports_policies_use() -> None:
    """The Service exposes web and websecure only; metrics and the internal API stay in the cluster."""
    ports = traefik()["ports"]
    exposed = {name for name, port in ports.items() if port["expose"]["default"]}
    assert exposed == {"web", "websecure"}
    container_ports = {name: port["port"] for name, port in ports.items()}
    assert container_ports["web"] == TRAEFIK_WEB_PORT
    assert container_ports["websecure"] == TRAEFIK_WEBSECURE_PORT
    assert container_ports["metrics"] == TRAEFIK_METRICS_PORT


def test_traefik_service_is_a_load_balancer_that_keeps_client_ips() -> None:
    """The Traefik Service is of type LoadBalancer with externalTrafficPolicy Local."""
    assert traefik()["service"]["spec"] == {"type": "LoadBalancer", "externalTrafficPolicy": "Local"}


def test_websecure_timeouts_leave_websockets_and_large_uploads_alone() -> None:
    """websecure sets no write deadline (streamed responses and WebSockets are never cut), and gives a request
    long enough to arrive that the largest upload the edge accepts gets through on a 2 Mbit/s uplink."""
    timeouts = traefik()["ports"]["websecure"]["transport"]["respondingTimeouts"]
    assert timeouts["writeTimeout"] == "0s"
    read_seconds = int(timeouts["readTimeout"].removesuffix("s"))
    slowest_uplink_bits_per_second = 2_000_000
    assert REQUEST_BODY_LIMIT_BYTES * 8 / slowest_uplink_bits_per_second <= read_seconds


def test_traefik_serves_its_own_ingress_class_and_crd_middlewares() -> None:
    """Traefik serves class `traefik` (not the cluster default) and CRD Middlewares without cross-namespace refs."""
    values = traefik()
    assert values["ingressClass"] == {"enabled": True, "isDefaultClass": False, "name": INGRESS_CLASS}
    assert values["providers"]["kubernetesIngress"]["ingressClass"] == INGRESS_CLASS
    assert values["providers"]["kubernetesCRD"]["enabled"] is True
    assert values["providers"]["kubernetesCRD"]["allowCrossNamespace"] is False


def test_traefik_pod_labels_are_pinned_for_network_policies() -> None:
    """The instance label is pinned, so TRAEFIK_POD_LABELS match the pods whatever the release is called."""
    values = traefik()
    assert values["instanceLabelOverride"] == TRAEFIK_POD_LABELS["app.kubernetes.io/instance"]
    assert TRAEFIK_POD_LABELS["app.kubernetes.io/name"] == TRAEFIK_CHART.name


def test_single_traefik_replica_has_no_disruption_budget_or_spread() -> None:
    """One Traefik pod gets no PodDisruptionBudget (it would block node drains) and no spread constraints."""
    values = traefik(1)
    assert values["deployment"]["replicas"] == 1
    assert values["podDisruptionBudget"] == {"enabled": False}
    assert values["topologySpreadConstraints"] == []


@pytest.mark.parametrize(("production", "node_spread"), [(True, "DoNotSchedule"), (False, "ScheduleAnyway")])
def test_replicated_traefik_has_a_budget_and_spreads_over_nodes(production: bool, node_spread: str) -> None:
    """Several Traefik pods lose at most one to a drain and spread over nodes, strictly in production."""
    values = traefik(3, strict_node_spread=production)
    assert values["deployment"]["replicas"] == 3
    assert values["podDisruptionBudget"] == {"enabled": True, "maxUnavailable": 1}
    by_key = {constraint["topologyKey"]: constraint for constraint in values["topologySpreadConstraints"]}
    assert by_key["kubernetes.io/hostname"]["whenUnsatisfiable"] == node_spread
    assert by_key["topology.kubernetes.io/zone"]["whenUnsatisfiable"] == "ScheduleAnyway"
    for constraint in by_key.values():
        assert constraint["labelSelector"]["matchLabels"] == dict(TRAEFIK_POD_LABELS)


def test_traefik_exports_prometheus_metrics_and_hides_the_dashboard() -> None:
    """Metrics go to the metrics entrypoint, access logs are JSON, and no dashboard is exposed."""
    values = traefik()
    assert values["metrics"]["prometheus"]["entryPoint"] == "metrics"
    assert values["api"]["dashboard"] is False
    assert values["ingressRoute"]["dashboard"]["enabled"] is False
    assert values["accessLog"]["enabled"] is True
    assert values["accessLog"]["format"] == "json"


def test_cert_manager_installs_its_crds_and_keeps_them() -> None:
    """cert-manager's CRDs are installed by the chart and survive its removal."""
    assert cert_manager_values(replicas=1)["crds"] == {"enabled": True, "keep": True}


def test_cert_manager_keeps_its_leader_election_out_of_kube_system() -> None:
    """The chart puts its leader-election Roles in kube-system unless told otherwise; ours stay in cert-manager."""
    assert cert_manager_values(replicas=2)["global"] == {"leaderElection": {"namespace": "cert-manager"}}


def test_cert_manager_exports_metrics_without_a_service_monitor() -> None:
    """Prometheus metrics are on; no ServiceMonitor or PodMonitor needs the monitoring stack's CRDs."""
    prometheus = cert_manager_values(replicas=1)["prometheus"]
    assert prometheus == {"enabled": True, "servicemonitor": {"enabled": False}, "podmonitor": {"enabled": False}}


def test_single_replica_cert_manager_has_no_disruption_budgets() -> None:
    """With one replica each, no component gets a PodDisruptionBudget that would block drains."""
    values = cert_manager_values(replicas=1)
    for component in (values, values["webhook"], values["cainjector"]):
        assert component["replicaCount"] == 1
        assert component["podDisruptionBudget"] == {"enabled": False}


def test_replicated_cert_manager_scales_the_webhook_and_keeps_one_standby_leader() -> None:
    """At three replicas the webhook runs three, controller and cainjector two, each with minAvailable 1."""
    values = cert_manager_values(replicas=3)
    assert values["webhook"]["replicaCount"] == 3
    assert values["replicaCount"] == 2
    assert values["cainjector"]["replicaCount"] == 2
    for component in (values, values["webhook"], values["cainjector"]):
        assert component["podDisruptionBudget"] == {"enabled": True, "minAvailable": 1}


def test_chart_sources_give_helm_chart_arguments() -> None:
    """The OCI chart is addressed by its full reference alone; the HTTP chart by name plus repository."""
    assert CERT_MANAGER_CHART.chart == "oci://quay.io/jetstack/charts/cert-manager"
    assert CERT_MANAGER_CHART.repo is None
    assert TRAEFIK_CHART.chart == "traefik"
    assert TRAEFIK_CHART.repo == "https://traefik.github.io/charts"

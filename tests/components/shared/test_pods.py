"""The shared pod pieces, judged by what reads them: a pod built from nothing but these functions is a valid
Kubernetes 1.34 object (the strict OpenAPI schema: an unknown or mistyped field is an error), meets the restricted
Pod Security Standard and the platform's read-only root rule (the policy pack's own checks), and passes the
pack's resources and probes rules. The SDK's spelling is turned into the API's by pulumi_kubernetes's own
table, as the provider does; the charts' spelling goes in as it is.

What no consumer here can judge (probe timing, spread constraints, volume names) is pinned by the effect it has:
how long kubelet waits, which pods the scheduler counts, which mount backs which path.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pulumi_kubernetes as k8s
import pytest
from pulumi_kubernetes._tables import SNAKE_TO_CAMEL_CASE_TABLE

from components.shared import pods
from offline.schemas import core_errors
from policies.pod_security import check_read_only_root, check_restricted
from policies.workload_rules import check_probes, check_resources
from stacks.services import Probe, Resources

UID = 10001
LABELS = {"app.kubernetes.io/name": "crm-web", "app.kubernetes.io/instance": "crm-staging"}
RESOURCES = Resources(cpu_request="250m", cpu_limit="2", memory_request="512Mi", memory_limit="1Gi")
HTTP = Probe(http_path="/healthz/")
COMMAND = Probe(command=("celery", "inspect", "ping"))
HOST = "crm.example.com"
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def api_key(key: str) -> str:
    """The SDK's own table (`exec_` is `exec`), else plain camelCase: the table predates some fields
    (matchLabelKeys, nodeTaintsPolicy) that the SDK's typed inputs spell the same way."""
    if key in SNAKE_TO_CAMEL_CASE_TABLE:
        return SNAKE_TO_CAMEL_CASE_TABLE[key]
    first, *rest = key.split("_")
    return first + "".join(word[:1].upper() + word[1:] for word in rest)


def api_spelling(value: Any) -> Any:
    """SDK arguments (snake_case) as the API spells them."""
    if isinstance(value, dict):
        return {api_key(key): api_spelling(item) for key, item in value.items()}
    if isinstance(value, list):
        return [api_spelling(item) for item in value]
    return value


def deployment(pod_security: dict[str, Any], container_security: dict[str, Any], probe: Probe) -> dict[str, Any]:
    volumes, mounts = pods.writable_directories(["/app/media-cache", "/var/run/crm"])
    container: dict[str, Any] = {
        "name": "web",
        "image": "registry.example.com/crm-web:1.4.2",
        "imagePullPolicy": pods.IMAGE_PULL_POLICY,
        "ports": [{"name": "http", "containerPort": 8000}],
        "securityContext": container_security,
        "resources": api_spelling(pods.resource_requirements(RESOURCES)),
        "livenessProbe": api_spelling(pods.probe(probe, 8000, HOST, liveness=True)),
        "readinessProbe": api_spelling(pods.probe(probe, 8000, HOST, liveness=False)),
        "startupProbe": api_spelling(pods.startup_probe(probe, 8000, HOST)),
        "volumeMounts": api_spelling(mounts),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "crm-web", "namespace": "crm-staging"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": LABELS},
            "template": {
                "metadata": {"labels": LABELS},
                "spec": {
                    "securityContext": pod_security,
                    "topologySpreadConstraints": api_spelling(pods.topology_spread(LABELS, strict_nodes=True)),
                    "volumes": api_spelling(volumes),
                    "containers": [container],
                },
            },
        },
    }


def sdk_deployment(probe: Probe = HTTP) -> dict[str, Any]:
    return deployment(
        api_spelling(pods.pod_security_context(UID)), api_spelling(pods.container_security_context()), probe
    )


def chart_deployment() -> dict[str, Any]:
    return deployment(pods.chart_pod_security_context(UID), pods.chart_container_security_context(), HTTP)


def judged(document: dict[str, Any]) -> list[str]:
    """Everything the schema and the policy pack find wrong with `document`."""
    return [
        *core_errors(document),
        *(f"{v.control} {v.path}: {v.message}" for v in check_restricted(document)),
        *(f"{v.control} {v.path}: {v.message}" for v in check_read_only_root(document)),
        *(f"{v.control} {v.path}: {v.message}" for v in check_resources(document, {})),
        *(f"{v.control} {v.path}: {v.message}" for v in check_probes(document, {})),
    ]


# --- the consumers' verdict ------------------------------------------------------------------------------


@pytest.mark.parametrize("probe", [HTTP, COMMAND], ids=["http", "command"])
def test_a_pod_of_the_sdk_pieces_is_valid_and_restricted(probe: Probe) -> None:
    assert judged(sdk_deployment(probe)) == []


def test_a_pod_of_the_chart_pieces_is_valid_and_restricted() -> None:
    assert judged(chart_deployment()) == []


def test_the_charts_spelling_is_the_sdks_definition() -> None:
    """One definition, two spellings: the chart's container context is exactly what the SDK's becomes."""
    assert pods.chart_container_security_context() == api_spelling(pods.container_security_context())
    assert pods.chart_pod_security_context(UID) == {
        key: value
        for key, value in api_spelling(pods.pod_security_context(UID)).items()
        if key not in ("fsGroup", "fsGroupChangePolicy")
    }


@pytest.mark.parametrize(
    ("value", "spelled"),
    [
        ({"run_as_non_root": True, "seccomp_profile": {"type": "RuntimeDefault"}}, None),
        ([{"read_only_root_filesystem": True}, "drop_all", 3], [{"readOnlyRootFilesystem": True}, "drop_all", 3]),
        ({"a_b_c": [{"d_e": {"f": 1}}]}, {"aBC": [{"dE": {"f": 1}}]}),
    ],
)
def test_yaml_spelling_camel_cases_every_key_at_every_depth_and_no_value(value: Any, spelled: Any) -> None:
    assert pods.yaml_spelling(value) == (api_spelling(value) if spelled is None else spelled)


@pytest.mark.parametrize(
    "breach",
    [
        ("pod", "runAsNonRoot", False),
        ("pod", "runAsUser", 0),
        ("container", "allowPrivilegeEscalation", True),
        ("container", "readOnlyRootFilesystem", False),
        ("container", "capabilities", {"drop": ["NET_RAW"]}),
        ("container", "seccompProfile", {"type": "Unconfined"}),
    ],
)
def test_the_judges_can_fail(breach: tuple[str, str, Any]) -> None:
    """The same judgement refuses a pod with one setting of the restricted profile broken."""
    where, key, value = breach
    document = sdk_deployment()
    spec = document["spec"]["template"]["spec"]
    context = spec["securityContext"] if where == "pod" else spec["containers"][0]["securityContext"]
    context[key] = value
    if where == "pod" and key == "runAsNonRoot":
        del spec["containers"][0]["securityContext"]["runAsNonRoot"]
    assert judged(document) != []


# --- the security contexts themselves ------------------------------------------------------------------


def test_the_pod_runs_as_the_given_uid_and_group_and_owns_its_volumes_without_relabelling_each_start() -> None:
    context = api_spelling(pods.pod_security_context(12345))
    assert (context["runAsUser"], context["runAsGroup"], context["fsGroup"]) == (12345, 12345, 12345)
    assert context["runAsNonRoot"] is True
    # Always would chown every file of a volume at every start; only a mismatched root needs it.
    assert context["fsGroupChangePolicy"] == "OnRootMismatch"
    chart = pods.chart_pod_security_context(12345)
    assert (chart["runAsUser"], chart["runAsGroup"], chart["runAsNonRoot"]) == (12345, 12345, True)


def test_the_container_is_not_privileged_at_all() -> None:
    """privileged is B3 of the baseline profile; the pack reads a missing field as unset, so pin it false."""
    context = pods.container_security_context()
    assert context["privileged"] is False
    assert context["allow_privilege_escalation"] is False


# --- resources ------------------------------------------------------------------------------------------


def test_each_request_and_limit_comes_from_its_own_setting() -> None:
    assert pods.resource_requirements(RESOURCES) == {
        "requests": {"cpu": "250m", "memory": "512Mi"},
        "limits": {"cpu": "2", "memory": "1Gi"},
    }


# --- probes -------------------------------------------------------------------------------------------


def seconds_until_given_up(probe: k8s.core.v1.ProbeArgsDict) -> int:
    """How long kubelet keeps probing a container that stopped answering before it acts on it."""
    period, failures = probe["period_seconds"], probe["failure_threshold"]
    assert isinstance(period, int) and isinstance(failures, int)
    return period * failures


def test_liveness_is_patient_and_readiness_reacts_fast() -> None:
    liveness = pods.probe(HTTP, 8000, HOST, liveness=True)
    readiness = pods.probe(HTTP, 8000, HOST, liveness=False)
    assert (liveness["period_seconds"], liveness["timeout_seconds"], liveness["failure_threshold"]) == (20, 5, 3)
    assert (readiness["period_seconds"], readiness["timeout_seconds"], readiness["failure_threshold"]) == (10, 3, 3)
    assert seconds_until_given_up(liveness) == 60  # a restart after a minute of failures
    assert seconds_until_given_up(readiness) == 30  # out of the Service within half a minute


def test_a_slow_start_gets_five_minutes_before_liveness_counts() -> None:
    startup = pods.startup_probe(HTTP, 8000, HOST)
    assert (startup["period_seconds"], startup["failure_threshold"]) == (10, 30)
    assert seconds_until_given_up(startup) == 300
    assert startup["http_get"] == pods.probe(HTTP, 8000, HOST, liveness=True)["http_get"]
    assert startup["timeout_seconds"] == 5


def test_http_probes_ask_the_named_port_with_the_public_host_name() -> None:
    """kubelet would send the pod IP as Host, which Django's ALLOWED_HOSTS rejects with 400."""
    probe = pods.probe(HTTP, 8000, HOST, liveness=False)
    assert probe["http_get"] == {"path": "/healthz/", "port": "http", "http_headers": [{"name": "Host", "value": HOST}]}
    assert "exec_" not in probe
    without_host = pods.probe(HTTP, 8000, None, liveness=True)
    assert without_host["http_get"] == {"path": "/healthz/", "port": "http"}


def test_command_probes_run_the_command_and_may_take_twenty_seconds() -> None:
    for liveness in (True, False):
        probe = pods.probe(COMMAND, None, None, liveness=liveness)
        assert probe["exec_"] == {"command": ["celery", "inspect", "ping"]}
        assert probe["timeout_seconds"] == 20
        assert "http_get" not in probe
    assert pods.startup_probe(COMMAND, None, None)["timeout_seconds"] == 20


def test_an_http_probe_without_a_port_is_refused() -> None:
    with pytest.raises(ValueError) as refused:
        pods.probe(HTTP, None, HOST, liveness=True)
    assert str(refused.value) == "an HTTP probe needs the container's port"


# --- writable directories ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/app/.next/cache", "writable-app-next-cache"),
        ("/Var/Lib/CRM_data/", "writable-var-lib-crm-data"),
        ("/" + "a" * 60, "writable-" + "a" * 54),
        ("/" + "b" * 53 + "/c", "writable-" + "b" * 53),
    ],
)
def test_a_volume_name_is_a_dns_label_spelling_the_path(path: str, name: str) -> None:
    assert pods.volume_name(path) == name
    assert len(name) <= 63
    assert DNS_LABEL.fullmatch(name)


def test_tmp_and_every_writable_path_get_their_own_size_limited_empty_dir() -> None:
    volumes, mounts = pods.writable_directories(["/app/media-cache", "/var/run/crm"])
    assert [(mount["name"], mount["mount_path"]) for mount in mounts] == [
        ("tmp", "/tmp"),
        ("writable-app-media-cache", "/app/media-cache"),
        ("writable-var-run-crm", "/var/run/crm"),
    ]
    assert volumes == [{"name": mount["name"], "empty_dir": {"size_limit": "256Mi"}} for mount in mounts]


# --- spreading --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("strict_nodes", "on_nodes"), [(True, "DoNotSchedule"), (False, "ScheduleAnyway")])
def test_pods_spread_over_zones_at_best_and_over_nodes_strictly_in_production(
    strict_nodes: bool, on_nodes: str
) -> None:
    common = {
        "max_skew": 1,
        "label_selector": {"match_labels": LABELS},
        "match_label_keys": ["pod-template-hash"],
        "node_taints_policy": "Honor",
    }
    assert pods.topology_spread(LABELS, strict_nodes=strict_nodes) == [
        {**common, "topology_key": "topology.kubernetes.io/zone", "when_unsatisfiable": "ScheduleAnyway"},
        {**common, "topology_key": "kubernetes.io/hostname", "when_unsatisfiable": on_nodes},
    ]


DJANGO_GET_HOST = """
import json, sys
import django
from django.conf import settings

settings.configure(ALLOWED_HOSTS=[sys.argv[1]], DEBUG=False)
django.setup()
from django.core.exceptions import DisallowedHost
from django.test import RequestFactory

verdicts = {}
for host in json.loads(sys.argv[2]):
    try:
        RequestFactory().get("/ready/", HTTP_HOST=host).get_host()
        verdicts[host] = "accepted"
    except DisallowedHost:
        verdicts[host] = "refused"
print(json.dumps(verdicts))
"""


@pytest.mark.parametrize("liveness", [True, False])
def test_an_http_probe_sends_the_public_host_which_django_accepts(liveness: bool) -> None:
    """Without a Host header kubelet sends the pod's address, which Django's ALLOWED_HOSTS refuses with 400, so a
    healthy pod would fail its probes; the probe sends the public host, which Django (the real one) accepts."""
    probe: dict[str, Any] = dict(pods.probe(Probe(http_path="/ready/"), 8000, "api.crm.example.com", liveness=liveness))
    http_get = probe["http_get"]
    assert http_get["path"] == "/ready/" and http_get["port"] == "http"
    [header] = http_get["http_headers"]
    sent = {header["name"]: header["value"]}
    pod_address = "10.42.0.17:8000"
    result = subprocess.run(
        [sys.executable, "-c", DJANGO_GET_HOST, "api.crm.example.com", json.dumps([sent["Host"], pod_address])],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout) == {"api.crm.example.com": "accepted", pod_address: "refused"}

"""The Celery exporter: what the workers do, as Prometheus series, read from the broker's event stream.

Pure functions, no resources: the pod template, the queues it reports, its scrape target and its
network flows. celery-exporter (danihodovic) 0.12.2 listens for the workers' task events on the broker
and serves `celery_task_{sent,received,started,succeeded,failed,retried}_total`, `celery_worker_up` and
`celery_queue_length` on :9808 (REFERENCE.md section 2). It runs in the app namespace, beside the broker
Secret its URL is composed from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.shared import endpoints, pods
from components.shared.labels import INSTANCE, NAME
from components.shared.references import ScrapeTarget, SecretKeyRef
from stacks.monitoring import CELERY_EXPORTER_RESOURCES
from stacks.services import Resources

IMAGE = "ghcr.io/danihodovic/celery-exporter:0.12.2"
NAME_VALUE = "crm-celery-exporter"
PORT = 9808
PORT_NAME = "metrics"
UID = 10001
"""The image's user is a name (`exporter`, made by adduser), which runAsNonRoot cannot check: a numeric UID
above every host account (Checkov CKV_K8S_40). It writes nothing but /tmp."""
DEFAULT_QUEUE = "celery"
"""Celery's task_default_queue: what a worker consumes without --queues."""
BROKER_PASSWORD_VARIABLE = "REDIS_BROKER_PASSWORD"
BROKER_URL_VARIABLE = "CE_BROKER_URL"
"""The exporter's --broker-url, read from the environment (its click prefix is CE): a command line would show
the composed URL, password included, to anyone who can list the pod's processes."""
RETRY_SECONDS = 5
"""Reconnect to the broker after this long instead of exiting (its default, 0, exits on the first error)."""


def selector_labels(stack: str) -> dict[str, str]:
    """The exporter's immutable Deployment selector."""
    return {NAME: NAME_VALUE, INSTANCE: stack}


def worker_queues(worker_args: Sequence[str]) -> tuple[str, ...]:
    """The queues the worker consumes, from its command line (`-Q a,b`, `--queues=a,b`); Celery's default
    queue when it names none, so the exporter reports that queue's length even while nothing runs."""
    queues: list[str] = []
    arguments = list(worker_args)
    for index, argument in enumerate(arguments):
        following = arguments[index + 1] if index + 1 < len(arguments) else ""
        if argument in ("--queues", "-Q"):
            value = following
        elif argument.startswith("--queues="):
            value = argument.removeprefix("--queues=")
        elif argument.startswith("-Q"):
            value = argument.removeprefix("-Q")
        else:
            continue
        for queue in value.split(","):
            if queue and queue not in queues:
                queues.append(queue)
    return tuple(queues) or (DEFAULT_QUEUE,)


def scrape_target(stack: str) -> ScrapeTarget:
    return ScrapeTarget(NAME_VALUE, selector_labels(stack), PORT, PORT_NAME)


def broker_url() -> str:
    """The broker URL as a recipe the kubelet composes from the password variable defined before it.

    The broker's Service: in production it is HAProxy in front of the Sentinel-managed servers, following the
    master (docs/decisions/0002-redis-failover.md), so the plain redis:// URL needs no Sentinel support."""
    return f"redis://:$({BROKER_PASSWORD_VARIABLE})@{endpoints.REDIS_BROKER_HOST}:{endpoints.REDIS_PORT}/0"


def container(queues: Sequence[str], broker_password: SecretKeyRef) -> k8s.core.v1.ContainerArgsDict:
    """The exporter's container: restricted, read-only, sized, probed."""
    cpu_request, cpu_limit, memory_request, memory_limit = CELERY_EXPORTER_RESOURCES
    # Alive while it serves; ready while it reaches the broker (/health asks it): a lost broker is what the
    # exporter reports (celery_worker_up, queue length), not a reason to restart it.
    alive: k8s.core.v1.ProbeArgsDict = {
        "tcp_socket": {"port": PORT_NAME},
        "period_seconds": 20,
        "timeout_seconds": 5,
        "failure_threshold": 3,
    }
    return {
        "name": "celery-exporter",
        "image": IMAGE,
        "image_pull_policy": pods.IMAGE_PULL_POLICY,
        "args": [f"--queues={','.join(queues)}", f"--port={PORT}", f"--retry-interval={RETRY_SECONDS}"],
        "env": [
            {
                "name": BROKER_PASSWORD_VARIABLE,
                "value_from": {"secret_key_ref": {"name": broker_password.name, "key": broker_password.key}},
            },
            {"name": BROKER_URL_VARIABLE, "value": broker_url()},
        ],
        "ports": [{"name": PORT_NAME, "container_port": PORT, "protocol": "TCP"}],
        "resources": pods.resource_requirements(Resources(cpu_request, cpu_limit, memory_request, memory_limit)),
        "security_context": pods.container_security_context(),
        "startup_probe": {**alive, "period_seconds": 5, "failure_threshold": 24},
        "liveness_probe": alive,
        "readiness_probe": {
            "http_get": {"path": "/health", "port": PORT_NAME},
            "period_seconds": 15,
            "timeout_seconds": 10,
            "failure_threshold": 3,
        },
        "volume_mounts": [{"name": "tmp", "mount_path": "/tmp"}],
    }


def deployment_spec(
    stack: str,
    labels: Mapping[str, str],
    queues: Sequence[str],
    broker_password: SecretKeyRef,
    checksum: pulumi.Input[str],
    checksum_annotation: str,
) -> k8s.apps.v1.DeploymentSpecArgsDict:
    """One exporter (two would each count every event); replaced with Recreate, never two at once."""
    return {
        "replicas": 1,
        "selector": {"match_labels": selector_labels(stack)},
        "revision_history_limit": 5,
        "strategy": {"type": "Recreate"},
        "template": {
            # The checksum changes when the broker password rotates, so the exporter reconnects with it.
            "metadata": {"labels": dict(labels), "annotations": {checksum_annotation: checksum}},
            "spec": {
                "service_account_name": NAME_VALUE,
                "automount_service_account_token": False,
                "enable_service_links": False,
                "security_context": pods.pod_security_context(UID),
                "containers": [container(queues, broker_password)],
                "volumes": [{"name": "tmp", "empty_dir": {"size_limit": "64Mi"}}],
            },
        },
    }


def network_policy_specs(
    stack: str, broker_pods: Mapping[str, Mapping[str, str]]
) -> dict[str, k8s.networking.v1.NetworkPolicySpecArgsDict]:
    """The exporter's flows to the broker, both ends (its flow from Prometheus comes with its scrape target).

    broker_pods: name -> label selector of the pods behind the broker's Service (the server, or the HAProxy
    pods in front of the Sentinel-managed servers)."""
    exporter: k8s.meta.v1.LabelSelectorArgsDict = {"match_labels": selector_labels(stack)}
    redis: list[k8s.networking.v1.NetworkPolicyPortArgsDict] = [{"protocol": "TCP", "port": endpoints.REDIS_PORT}]
    specs: dict[str, k8s.networking.v1.NetworkPolicySpecArgsDict] = {
        "allow-celery-exporter-to-redis-broker": {
            "pod_selector": exporter,
            "policy_types": ["Egress"],
            "egress": [
                {"to": [{"pod_selector": {"match_labels": dict(pod)}} for pod in broker_pods.values()], "ports": redis}
            ],
        }
    }
    for name, pod in broker_pods.items():
        specs[f"allow-{name}-from-celery-exporter"] = {
            "pod_selector": {"match_labels": dict(pod)},
            "policy_types": ["Ingress"],
            "ingress": [{"from_": [{"pod_selector": exporter}], "ports": redis}],
        }
    return specs

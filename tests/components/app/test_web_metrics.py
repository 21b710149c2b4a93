"""Web's /metrics: Django accepts the Host header Prometheus scrapes with, and nothing more than before.

Prometheus scrapes each pod at its IP and sends `Host: <pod IP>:<port>`; Django refuses a Host outside
ALLOWED_HOSTS with 400 before any view runs. The environment the kubelet would give web's container is
assembled from the render (the ConfigMap through envFrom, then env in order, `$(VAR)` expanded from what
is defined before it), and Django itself, in a child interpreter, judges the hosts.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import pytest

from tests.conftest import RunStack

POD_IP = "10.244.3.17"
DJANGO_JUDGE = """
import json, os, sys
import django
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.test import RequestFactory

settings.configure(ALLOWED_HOSTS=os.environ["ALLOWED_HOSTS"].split(","), DEBUG=False)
django.setup()
verdicts = {}
for host in json.loads(sys.argv[1]):
    try:
        RequestFactory().get("/metrics", HTTP_HOST=host).get_host()
        verdicts[host] = "accepted"
    except DisallowedHost:
        verdicts[host] = "refused"
print(json.dumps(verdicts))
"""


def container_environment(run_stack: RunStack, stack: str, deployment: str) -> dict[str, str]:
    """What the kubelet puts in the container's environment (pod IP and secrets stood in)."""
    run = run_stack(stack)
    [container] = run.named("Deployment", deployment)["spec"]["template"]["spec"]["containers"]
    environment: dict[str, str] = {}
    for reference in container.get("envFrom", []):
        environment.update(run.named("ConfigMap", reference["configMapRef"]["name"])["data"])

    def expand(value: str) -> str:
        return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda match: environment.get(match[1], match[0]), value)

    for variable in container["env"]:
        source: Mapping[str, Any] = variable.get("valueFrom", {})
        if "fieldRef" in source:
            assert source["fieldRef"]["fieldPath"] == "status.podIP", variable["name"]
            environment[variable["name"]] = POD_IP
        elif "secretKeyRef" in source:
            environment[variable["name"]] = "secret"
        else:
            environment[variable["name"]] = expand(variable["value"])
    return environment


def judged(allowed_hosts: str, hosts: list[str]) -> dict[str, str]:
    result = subprocess.run(
        [sys.executable, "-c", DJANGO_JUDGE, json.dumps(hosts)],
        env={"ALLOWED_HOSTS": allowed_hosts, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    verdicts: dict[str, str] = json.loads(result.stdout)
    return verdicts


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_django_accepts_prometheus_at_the_pod_ip_and_still_refuses_strangers(run_stack: RunStack, stack: str) -> None:
    """With web's environment, Django accepts the public hosts and the pod's own IP with its port (how Prometheus
    addresses it), and refuses any other host."""
    environment = container_environment(run_stack, stack, "crm-web")
    domain = "crm.example.com" if stack == "production" else "staging.crm.example.com"
    hosts = [f"api.{domain}", f"app.{domain}", f"{POD_IP}:8000", "10.244.9.9:8000", "evil.example.com"]
    assert judged(environment["ALLOWED_HOSTS"], hosts) == {
        f"api.{domain}": "accepted",
        f"app.{domain}": "accepted",
        f"{POD_IP}:8000": "accepted",
        "10.244.9.9:8000": "refused",
        "evil.example.com": "refused",
    }


def test_without_the_pod_ip_django_would_refuse_every_scrape(run_stack: RunStack) -> None:
    """The ConfigMap's ALLOWED_HOSTS alone (what the worker and the migration read) refuses Prometheus: the web
    container's own value is what lets the scrape through."""
    run = run_stack("production")
    [container] = run.named("Deployment", "crm-worker")["spec"]["template"]["spec"]["containers"]
    config_map = run.named("ConfigMap", container["envFrom"][0]["configMapRef"]["name"])
    assert judged(config_map["data"]["ALLOWED_HOSTS"], [f"{POD_IP}:8000"]) == {f"{POD_IP}:8000": "refused"}

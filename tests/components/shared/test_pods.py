"""Pod security contexts: the restricted profile at pod level, in the SDK's and in Helm values' spelling."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from components.shared import pods
from stacks.services import Probe


@pytest.mark.parametrize("uid", [10001, 10999, 65532])
def test_the_pod_runs_as_its_own_user_and_group_never_root_group(uid: int) -> None:
    """The primary group is the user's own, not 0 (root's group, which owns much of an image's files and would
    let the process write them); files on volumes belong to that group too."""
    context = pods.pod_security_context(uid)
    assert context["run_as_user"] == context["run_as_group"] == context["fs_group"] == uid
    assert context["run_as_non_root"] is True
    chart = pods.chart_pod_security_context(uid)
    assert chart["runAsUser"] == chart["runAsGroup"] == uid
    assert chart["runAsNonRoot"] is True


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


def test_a_probe_without_a_host_and_a_command_probe_send_no_header() -> None:
    """An HTTP probe given no host leaves Host to kubelet, and a command probe (celery inspect ping) has no HTTP
    part at all."""
    http: dict[str, Any] = dict(pods.probe(Probe(http_path="/"), 3000, None, liveness=False))
    assert "http_headers" not in http["http_get"]
    command: dict[str, Any] = dict(pods.probe(Probe(command=("celery", "inspect", "ping")), None, None, liveness=True))
    assert command["exec_"] == {"command": ["celery", "inspect", "ping"]} and "http_get" not in command

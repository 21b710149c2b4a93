"""The Alertmanager configuration as Alertmanager reads it: amtool check-config, routes test, a real server.

amtool and the server are Debian's Alertmanager 0.25 (clusters run 0.34): the configuration uses
nothing 0.25 lacks. Routing is checked by `amtool config routes test` for every rule the seeds
and the issue state; inhibition by a real Alertmanager on 127.0.0.1, which reports for each
posted alert which alerts inhibit it.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.monitoring.alertmanager import (
    AlertmanagerConfigError,
    MailRelay,
    alertmanager_config,
)
from tests.components.monitoring.support import STACKS, announce, require_tool, stack_under_test, tool_version
from tests.support.backup_harness import free_port

CREDENTIALS = {
    "chat_webhook_url": "https://chat.invalid/hooks/T000/B000/general",
    "pager_routing_key": "0123456789abcdef0123456789abcdef",
    "database_chat_webhook_url": "https://chat.invalid/hooks/T000/B001/database",
    "smtp_password": "smtp-password-for-tests",
}
"""Stand-ins shaped like the real ones (.invalid never resolves: a real server's notifications fail fast)."""
MAIL = MailRelay(host="smtp.example.com", port=587, username="crm", sender="alertmanager@crm.example.com")


def config_for(stack: str) -> dict[str, Any]:
    under_test = stack_under_test(stack)
    receivers = under_test.monitoring.receivers
    credentials = {
        key: value
        for key, value in CREDENTIALS.items()
        if (key == "chat_webhook_url" and receivers.chat)
        or (key == "pager_routing_key" and receivers.pager)
        or (key == "database_chat_webhook_url" and receivers.database_team)
        or (key == "smtp_password" and receivers.email_to)
    }
    return alertmanager_config(under_test.monitoring, under_test.settings.environment.value, credentials, MAIL)


@pytest.fixture(scope="module")
def amtool(pytestconfig: pytest.Config) -> str:
    path = require_tool("amtool")
    announce(pytestconfig, tool_version(path, "--version"))
    return path


@pytest.fixture(scope="module")
def config_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("alertmanager")
    files = {}
    for stack in STACKS:
        path = directory / f"{stack}.yml"
        path.write_text(yaml.safe_dump(config_for(stack), sort_keys=False))
        files[stack] = path
    return files


@pytest.mark.parametrize("stack", STACKS)
def test_amtool_accepts_each_stacks_configuration(stack: str, amtool: str, config_files: dict[str, Path]) -> None:
    """`amtool check-config` parses and validates the document the stack's Secret carries."""
    result = subprocess.run(
        [amtool, "check-config", str(config_files[stack])], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


ROUTES = [
    # (config of stack, alert labels, receivers it reaches)
    ("production", "alertname=WebDown severity=critical environment=production stack=production service=web", "page"),
    ("staging", "alertname=WebDown severity=critical environment=staging stack=staging service=web", "critical"),
    # staging's alerts reaching production's Alertmanager (one cluster for both): chat, never the pager.
    ("production", "alertname=WebDown severity=critical environment=staging stack=staging service=web", "chat"),
    (
        "production",
        "alertname=WebHighLatency severity=warning environment=production stack=production service=web",
        "chat",
    ),
    (
        "production",
        "alertname=ContainerCpuOverRequest severity=info environment=production stack=production service=worker",
        "chat",
    ),
    (
        "production",
        "alertname=PostgresConnectionsHigh severity=warning environment=production stack=production service=postgres",
        "database",
    ),
    (
        "production",
        "alertname=PostgresDown severity=critical environment=production stack=production service=postgres",
        "database,page",
    ),
    (
        "production",
        "alertname=SlowQueries severity=warning environment=production team=database service=platform",
        "database",
    ),
    (
        "staging",
        "alertname=PostgresConnectionsHigh severity=warning environment=staging stack=staging service=postgres",
        "chat",
    ),
    # The cluster's own alerts (kube-prometheus-stack's rules carry no environment): the owner's policy.
    ("production", "alertname=KubeNodeNotReady severity=critical", "page"),
    (
        "production",
        "alertname=Watchdog severity=none environment=production stack=production service=platform",
        "heartbeat",
    ),
    ("staging", "alertname=Watchdog severity=none environment=staging stack=staging service=platform", "heartbeat"),
    ("dev", "alertname=WebHighLatency severity=warning environment=dev stack=dev service=web", "null"),
]


@pytest.mark.parametrize(("stack", "labels", "receivers"), ROUTES)
def test_amtool_routes_each_alert_to_its_receivers(
    stack: str, labels: str, receivers: str, amtool: str, config_files: dict[str, Path]
) -> None:
    """`amtool config routes test`: criticals page in production only, warnings go to chat, the database team
    hears database alerts, the Watchdog reaches only the heartbeat."""
    result = subprocess.run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={config_files[stack]}",
            f"--verify.receivers={receivers}",
            *labels.split(),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receivers


def test_no_receiver_of_a_non_paging_stack_can_page() -> None:
    """Staging, review and dev stacks hold no pager integration at all, whatever their labels."""
    for stack in STACKS:
        if stack_under_test(stack).monitoring.receivers.pages:
            continue
        for receiver in config_for(stack)["receivers"]:
            assert "pagerduty_configs" not in receiver, (stack, receiver["name"])


def routes(route: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield route
    for child in route.get("routes", []):
        yield from routes(child)


def test_timing_follows_the_seed() -> None:
    """Groups wait 10 s (criticals 0 s), are re-sent every 10 s, repeated every 12 h (criticals every 5 min)."""
    for stack in STACKS:
        root = config_for(stack)["route"]
        assert root["group_by"] == ["alertname", "cluster", "service"]
        assert (root["group_wait"], root["group_interval"], root["repeat_interval"]) == ("10s", "10s", "12h")
        critical = [route for route in routes(root) if 'severity="critical"' in route.get("matchers", [])]
        assert critical
        assert all((route["group_wait"], route["repeat_interval"]) == ("0s", "5m") for route in critical)


def test_missing_or_unknown_credentials_are_refused_by_name() -> None:
    """A configured receiver without its credential, or a credential of no receiver, is one clear error."""
    under_test = stack_under_test("production")
    with pytest.raises(AlertmanagerConfigError, match="credentials\\['pager_routing_key'\\] is missing"):
        alertmanager_config(
            under_test.monitoring,
            "production",
            {k: v for k, v in CREDENTIALS.items() if k != "pager_routing_key"},
            MAIL,
        )
    with pytest.raises(AlertmanagerConfigError, match="unknown keys \\['slack_token'\\]"):
        alertmanager_config(under_test.monitoring, "production", {**CREDENTIALS, "slack_token": "x"}, MAIL)
    with pytest.raises(AlertmanagerConfigError, match="no mail relay"):
        alertmanager_config(under_test.monitoring, "production", CREDENTIALS, None)


def test_a_heartbeat_url_makes_the_watchdog_reach_a_dead_mans_switch() -> None:
    """With `heartbeat_url`, the heartbeat receiver calls it; without, the heartbeat goes nowhere."""
    under_test = stack_under_test("production")
    with_switch = alertmanager_config(
        under_test.monitoring, "production", {**CREDENTIALS, "heartbeat_url": "https://hc-ping.invalid/abc"}, MAIL
    )
    heartbeat = next(receiver for receiver in with_switch["receivers"] if receiver["name"] == "heartbeat")
    assert heartbeat["webhook_configs"] == [{"url": "https://hc-ping.invalid/abc", "send_resolved": False}]
    without = next(receiver for receiver in config_for("production")["receivers"] if receiver["name"] == "heartbeat")
    assert set(without) == {"name"}


# --- inhibition, by a real Alertmanager ------------------------------------------------------------------


@pytest.fixture(scope="module")
def alertmanager(
    config_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[str]:
    """A real Alertmanager on 127.0.0.1 with production's configuration; its API's base URL."""
    binary = require_tool("prometheus-alertmanager")
    announce(pytestconfig, tool_version(binary, "--version"))
    port = free_port()
    storage = tmp_path_factory.mktemp("alertmanager-data")
    log = (storage / "alertmanager.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config_files['production']}",
            f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((storage / "alertmanager.log").read_text()) from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def alert(name: str, severity: str, service: str, stack: str = "production") -> dict[str, Any]:
    labels = {
        "alertname": name,
        "severity": severity,
        "service": service,
        "stack": stack,
        "environment": stack,
        "namespace": f"crm-{stack}",
    }
    return {"labels": labels, "annotations": {"summary": name}}


def test_a_critical_inhibits_the_warnings_of_its_service_in_its_stack(alertmanager: str) -> None:
    """Posted to a real Alertmanager: PostgresDown silences PostgreSQL's warnings and infos in production, not the
    web's warning nor staging's PostgreSQL warning; the web's warning silences the web's info."""
    alerts = [
        alert("PostgresDown", "critical", "postgres"),
        alert("PostgresConnectionsHigh", "warning", "postgres"),
        alert("ContainerMemoryOverRequest", "info", "postgres"),
        alert("WebHighLatency", "warning", "web"),
        alert("ContainerCpuOverRequest", "info", "web"),
        alert("PostgresConnectionsHigh", "warning", "postgres", stack="staging"),
    ]
    request = urllib.request.Request(
        f"{alertmanager}/api/v2/alerts", json.dumps(alerts).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    inhibited: dict[tuple[str, str, str], bool] = {}
    deadline = time.monotonic() + 20
    while len(inhibited) < len(alerts) and time.monotonic() < deadline:
        with urllib.request.urlopen(f"{alertmanager}/api/v2/alerts", timeout=10) as response:
            for found in json.load(response):
                labels = found["labels"]
                key = (labels["alertname"], labels["service"], labels["stack"])
                inhibited[key] = bool(found["status"]["inhibitedBy"])
        time.sleep(0.2)
    assert inhibited == {
        ("PostgresDown", "postgres", "production"): False,
        ("PostgresConnectionsHigh", "postgres", "production"): True,
        ("ContainerMemoryOverRequest", "postgres", "production"): True,
        ("WebHighLatency", "web", "production"): False,
        ("ContainerCpuOverRequest", "web", "production"): True,
        ("PostgresConnectionsHigh", "postgres", "staging"): False,
    }


def test_the_document_is_plain_yaml() -> None:
    """No receiver shares a list with another: the Secret's YAML has no anchors or aliases for a reader to chase."""
    for stack in STACKS:
        text = yaml.safe_dump(config_for(stack))
        assert "&id" not in text and "*id" not in text, stack

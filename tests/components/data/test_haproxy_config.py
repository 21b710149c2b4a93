"""The Redis proxies' configuration, as production renders it, accepted by a real HAProxy."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import RunStack
from tests.support.tools import require_tool


def haproxy() -> str:
    return require_tool("haproxy", package="haproxy")


def check(config: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "haproxy.cfg"
    path.write_text(config)
    # The pods set these; HAProxy expands them in quoted strings.
    env = {**os.environ, "REDISCLI_AUTH": "checked-password", "POD_NAMESPACE": "crm-production"}
    return subprocess.run([haproxy(), "-c", "-f", str(path)], capture_output=True, text=True, env=env)


def proxy_configs(run_stack: RunStack) -> dict[str, str]:
    return {
        document["metadata"]["name"]: document["data"]["haproxy.cfg"]
        for document in run_stack("production").kind("ConfigMap")
        if "haproxy.cfg" in document.get("data", {})
    }


def test_every_rendered_proxy_configuration_is_valid(run_stack: RunStack, tmp_path: Path) -> None:
    """`haproxy -c` accepts the cache's and the broker's proxy configuration exactly as rendered."""
    configs = proxy_configs(run_stack)
    assert len(configs) == 2
    for name, config in configs.items():
        result = check(config, tmp_path)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"


def test_the_check_rejects_a_broken_configuration(run_stack: RunStack, tmp_path: Path) -> None:
    """The same check fails on a configuration with an unknown keyword, so it can fail."""
    config = next(iter(proxy_configs(run_stack).values()))
    assert check(config.replace("mode tcp", "mode tcpx", 1), tmp_path).returncode != 0

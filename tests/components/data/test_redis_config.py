"""The Redis roles' configuration functions, called directly and judged by their consumers: the start script and
a real redis-server (through test_redis_server.py's Node), a real HAProxy, and the scripts' own variable names.

test_redis_server.py proves what the roles promise under load and failover; these tests pin the functions' inputs
and refusals, so `make mutation` judges redis_config.py with them.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.data import redis_config
from components.data.redis_config import RedisRole
from tests.components.data.test_redis_server import PASSWORD, Node, free_port, redis_server
from tests.support.tools import require_tool

__all__ = ["redis_server"]  # the fixture, shared with test_redis_server.py

POD_NAME_VARIABLES = {"REDIS_SELF", "REDIS_PEERS", "REDIS_MASTER_SET"}
"""What the Redis component gives each container from the pod's own names, besides script_environment()."""


# --- maxmemory ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "limit", "maxmemory"),
    [(RedisRole.CACHE, "2", 1), (RedisRole.BROKER, "2", 1), (RedisRole.CACHE, "10", 8), (RedisRole.BROKER, "10", 7)],
)
def test_maxmemory_rounds_the_roles_share_down(role: RedisRole, limit: str, maxmemory: int) -> None:
    assert redis_config.maxmemory_bytes(role, limit) == maxmemory


@pytest.mark.parametrize(
    ("role", "limit", "message"),
    [
        (RedisRole.CACHE, "0", "the cache Redis needs a positive memory limit, got '0'"),
        (RedisRole.BROKER, "0Mi", "the broker Redis needs a positive memory limit, got '0Mi'"),
        (
            RedisRole.CACHE,
            "1",
            "the cache Redis memory limit '1' leaves 80 % of it, 0 bytes, for maxmemory, which Redis reads as no limit",
        ),
        (
            RedisRole.BROKER,
            "1",
            "the broker Redis memory limit '1' leaves 70 % of it, 0 bytes, for maxmemory, "
            "which Redis reads as no limit",
        ),
    ],
)
def test_a_limit_that_leaves_no_maxmemory_is_refused(role: RedisRole, limit: str, message: str) -> None:
    """`maxmemory 0` would be no limit at all: the cache would never evict and the broker never refuse a write."""
    with pytest.raises(ValueError) as refused:
        redis_config.maxmemory_bytes(role, limit)
    assert str(refused.value) == message


# --- the scripts' environment -------------------------------------------------------------------------


def test_script_environment_names_every_variable_the_scripts_read_but_the_pods_names() -> None:
    read = {name for text in redis_config.scripts().values() for name in re.findall(r"\$\{?(REDIS_[A-Z_]+)", text)}
    assert read == set(redis_config.script_environment()) | POD_NAME_VARIABLES


class ContractNode(Node):
    """A Node whose start script gets exactly script_environment(), each production path and port swapped for
    this machine's, as Node.prepare swaps them in the configuration files."""

    def environment(self) -> dict[str, str]:
        here = {
            redis_config.CONFIG_DIR: str(self.config_dir),
            redis_config.RUNTIME_DIR: str(self.root / "runtime"),
            redis_config.SENTINEL_DIR: str(self.root / "sentinel"),
            str(redis_config.REDIS_PORT): str(self.port),
            str(redis_config.SENTINEL_PORT): str(self.sentinel_port),
        }
        contract = redis_config.script_environment()
        assert set(contract.values()) <= set(here), f"a value this test cannot place: {contract}"
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            redis_config.PASSWORD_VARIABLE: PASSWORD,
            **{name: here[value] for name, value in contract.items()},
        }


@pytest.fixture
def contract_node(redis_server: str, tmp_path: Path) -> Iterator[ContractNode]:
    single = ContractNode(tmp_path / "node", "127.0.0.1", free_port(), free_port())
    yield single
    single.stop_all()


def test_the_start_script_runs_a_password_protected_server_from_script_environment(
    contract_node: ContractNode,
) -> None:
    contract_node.prepare(RedisRole.BROKER, "64Mi")
    contract_node.start()  # start-redis.sh; waits until the server answers
    client = contract_node.client()
    try:
        assert client.call("SET", "task", "queued") == "OK"
        assert client.info("persistence")["aof_enabled"] == "1"
    finally:
        client.close()


# --- the proxy ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("names", "hosts"), [([], []), (["crm-redis-0"], []), (["a", "b"], ["a.svc"])])
def test_the_proxy_needs_one_host_per_server_name(names: list[str], hosts: list[str]) -> None:
    with pytest.raises(ValueError) as refused:
        redis_config.proxy_conf(names, hosts)
    assert str(refused.value) == "proxy_conf needs one name per server host, and at least one server"


def test_haproxy_accepts_the_proxy_and_checks_every_server(tmp_path: Path) -> None:
    names = [f"crm-redis-broker-{index}" for index in range(3)]
    hosts = [f"{name}.crm-redis-broker.${{POD_NAMESPACE}}.svc.cluster.local" for name in names]
    config = redis_config.proxy_conf(names, hosts)
    assert [line for line in config.splitlines() if line.startswith("  server ")] == [
        f'  server {name} "{host}:{redis_config.REDIS_PORT}"' for name, host in zip(names, hosts, strict=True)
    ]
    path = tmp_path / "haproxy.cfg"
    path.write_text(config, encoding="utf-8")
    # The pods set these; HAProxy expands them in quoted strings.
    env = {**os.environ, "REDISCLI_AUTH": "checked-password", "POD_NAMESPACE": "crm-production"}
    checked = subprocess.run(
        [require_tool("haproxy", package="haproxy"), "-c", "-f", str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

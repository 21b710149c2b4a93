"""Redis: both roles by name, restricted pods, no password in any input, AOF on a volume, failover in production."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.data import redis_config
from components.data.redis import (
    EXPORTER_IMAGE,
    PROXY_IMAGE,
    REDIS_IMAGE,
    Redis,
    RedisArgs,
    metrics_targets,
    network_policy_specs,
    proxy_selector,
    server_selector,
)
from components.data.redis_config import SCRIPTS_DIR, RedisRole
from components.shared import endpoints
from components.shared.references import AppSecret, SecretKeyRef
from kube.objects import pod_spec_of
from offline.mocks import unwrap_secrets
from offline.schemas import core_errors
from policies.pod_security import check_read_only_root, check_restricted
from stacks.data import RedisSettings
from stacks.profiles import DEV, PRODUCTION
from tests.support.components import Declared, declare

PLANTED = {RedisRole.CACHE: "plantedCachePassw0rd4e1c", RedisRole.BROKER: "plantedBrokerPassw0rd9b7a"}
COMPONENT_TYPE = "crm:data:Redis"
SECRET_NAMES = {RedisRole.CACHE: "crm-redis-cache", RedisRole.BROKER: "crm-redis-broker"}


Build = Callable[..., Declared[Redis]]


def _build(settings: RedisSettings, passwords: Mapping[RedisRole, str], storage_class: str | None) -> Declared[Redis]:
    def secret(role: RedisRole) -> AppSecret:
        return AppSecret(SecretKeyRef(SECRET_NAMES[role], "password"), pulumi.Output.secret(passwords[role]))

    return declare(
        lambda: Redis(
            "redis",
            RedisArgs(
                namespace="crm-test",
                stack="test",
                settings=settings,
                cache_password=secret(RedisRole.CACHE),
                broker_password=secret(RedisRole.BROKER),
                storage_class=storage_class,
                labels={"app.kubernetes.io/part-of": "crm-platform"},
            ),
        )
    )


@pytest.fixture(scope="module")
def build() -> Build:
    """Build the component under recording mocks: `build("dev" | "production", storage_class=..., passwords=...)`."""
    cache: dict[str, Declared[Redis]] = {}

    def run(
        environment: str, storage_class: str | None = None, passwords: Mapping[RedisRole, str] | None = None
    ) -> Declared[Redis]:
        settings = DEV.redis if environment == "dev" else PRODUCTION.redis
        if storage_class is not None or passwords is not None:
            return _build(settings, passwords or PLANTED, storage_class)
        if environment not in cache:
            cache[environment] = _build(settings, PLANTED, None)
        return cache[environment]

    return run


def policies(*, high_availability: bool) -> dict[str, Any]:
    """network_policy_specs as plain data (its TypedDicts admit Outputs, which these tests never hold)."""
    specs: dict[str, Any] = json.loads(json.dumps(network_policy_specs("test", high_availability=high_availability)))
    return specs


def containers(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def pod_templates(built: Declared[Redis]) -> list[tuple[str, dict[str, Any]]]:
    templates = []
    for document in built.objects:
        spec = pod_spec_of(document)
        if spec is not None:
            templates.append((f"{document['kind']}/{document['metadata']['name']}", dict(spec)))
    return templates


def env_of(container: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in container.get("env", [])}


@pytest.mark.parametrize("environment", ["dev", "production"])
def test_the_application_services_have_the_endpoint_names_on_6379(build: Build, environment: str) -> None:
    """crm-redis-cache and crm-redis-broker are ClusterIP Services on 6379, selecting servers (dev) or proxies."""
    built = build(environment)
    for role, host in ((RedisRole.CACHE, endpoints.REDIS_CACHE_HOST), (RedisRole.BROKER, endpoints.REDIS_BROKER_HOST)):
        spec = built.named("Service", host)["spec"]
        assert spec["type"] == "ClusterIP"
        assert spec["ports"] == [{"name": "redis", "port": 6379, "protocol": "TCP", "targetPort": "redis"}]
        expected = server_selector("test", role) if environment == "dev" else proxy_selector("test", role)
        assert spec["selector"] == expected
    assert endpoints.REDIS_PORT == 6379


@pytest.mark.parametrize(("environment", "storage_class"), [("dev", None), ("production", "fast-ssd")])
def test_every_object_validates_against_the_kubernetes_schema(
    build: Build, environment: str, storage_class: str | None
) -> None:
    """Every declared object passes the strict Kubernetes 1.34 schema (unknown fields are errors)."""
    built = build(environment, storage_class=storage_class)
    assert built.objects
    for document in built.objects:
        assert core_errors(document) == [], (document["kind"], document["metadata"]["name"])


@pytest.mark.parametrize("environment", ["dev", "production"])
def test_every_pod_is_restricted_with_a_read_only_root_and_no_token(build: Build, environment: str) -> None:
    """Every container meets PSS restricted, has a read-only root, resources, probes; no API token is mounted."""
    built = build(environment)
    templates = pod_templates(built)
    assert len(templates) == (2 if environment == "dev" else 4)
    for document in built.objects:
        # The policy pack's own Pod Security check (the one `pulumi up` enforces), not a copy of it.
        assert check_restricted(document) == [], document["metadata"]["name"]
        assert check_read_only_root(document) == [], document["metadata"]["name"]
    for path, spec in templates:
        assert spec["securityContext"]["runAsUser"] >= 10000, path
        assert spec["automountServiceAccountToken"] is False, path
        for container in containers(spec):
            resources = container["resources"]
            assert set(resources["requests"]) == {"cpu", "memory"} == set(resources["limits"]), path
            assert {"startupProbe", "livenessProbe", "readinessProbe"} <= set(container), (path, container["name"])
            assert "/tmp" in {mount["mountPath"] for mount in container["volumeMounts"]}, path
            assert not any(port.get("hostPort") for port in container.get("ports", [])), path


@pytest.mark.parametrize("environment", ["dev", "production"])
def test_no_password_appears_in_any_declared_input(build: Build, environment: str) -> None:
    """The planted passwords (Output secrets) appear nowhere in any input, not even inside secret wrappers."""
    built = build(environment, passwords=PLANTED)
    everything = json.dumps([unwrap_secrets(resource.inputs) for resource in built.resources])
    for password in PLANTED.values():
        assert password not in everything
        assert hashlib.sha256(password.encode()).hexdigest() not in everything


@pytest.mark.parametrize("environment", ["dev", "production"])
def test_every_container_reads_its_role_password_from_the_secret(build: Build, environment: str) -> None:
    """redis, sentinel, exporter and HAProxy take the password by secretKeyRef to crm-redis-<role>, key password."""
    for path, spec in pod_templates(build(environment)):
        role = RedisRole.BROKER if "broker" in path else RedisRole.CACHE
        for container in containers(spec):
            env = env_of(container)
            name = "REDIS_PASSWORD" if container["name"] == "exporter" else redis_config.PASSWORD_VARIABLE
            assert env[name]["valueFrom"] == {"secretKeyRef": {"name": SECRET_NAMES[role], "key": "password"}}, path
            assert all("value" not in variable for key, variable in env.items() if "PASS" in key or "AUTH" in key)


def test_the_broker_keeps_its_append_only_file_on_a_persistent_volume(build: Build) -> None:
    """The broker mounts a volumeClaimTemplate of broker_storage at /data; the cache has only an emptyDir."""
    for environment, storage_class in (("dev", None), ("production", "fast-ssd")):
        built = build(environment, storage_class=storage_class)
        settings = DEV.redis if environment == "dev" else PRODUCTION.redis
        broker = built.named("StatefulSet", "crm-redis-broker")["spec"]
        [claim] = broker["volumeClaimTemplates"]
        assert claim["metadata"]["name"] == "data"
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
        assert claim["spec"]["resources"] == {"requests": {"storage": settings.broker_storage}}
        assert claim["spec"].get("storageClassName") == storage_class
        assert broker["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
        assert "data" not in {volume["name"] for volume in broker["template"]["spec"]["volumes"]}
        redis = broker["template"]["spec"]["containers"][0]
        assert {"name": "data", "mountPath": "/data"} in redis["volumeMounts"]
        cache = built.named("StatefulSet", "crm-redis-cache")["spec"]
        assert "volumeClaimTemplates" not in cache
        data = next(volume for volume in cache["template"]["spec"]["volumes"] if volume["name"] == "data")
        assert set(data) == {"name", "emptyDir"}


@pytest.mark.parametrize("environment", ["dev", "production"])
def test_each_config_map_holds_the_exact_role_config_and_scripts(build: Build, environment: str) -> None:
    """The server ConfigMap is immutable, named after its content, with redis.conf as redis_config renders it."""
    built = build(environment)
    settings = DEV.redis if environment == "dev" else PRODUCTION.redis
    replicated = environment == "production"
    for role, memory in ((RedisRole.CACHE, settings.cache_memory), (RedisRole.BROKER, settings.broker_memory)):
        spec = built.named("StatefulSet", SECRET_NAMES[role])["spec"]["template"]["spec"]
        config_name = next(volume["configMap"]["name"] for volume in spec["volumes"] if volume["name"] == "config")
        config_map = built.named("ConfigMap", config_name)
        assert config_name.startswith(f"{SECRET_NAMES[role]}-") and config_map["immutable"] is True
        data = config_map["data"]
        assert data["redis.conf"] == redis_config.redis_conf(role, memory, replicated=replicated)
        assert ("sentinel.conf" in data) is replicated
        for script in redis_config.SCRIPT_NAMES:
            # The very file shellcheck and the real-server tests check, byte for byte.
            assert data[script] == (SCRIPTS_DIR / script).read_text(encoding="utf-8")
        redis = spec["containers"][0]
        assert redis["resources"]["requests"]["memory"] == redis["resources"]["limits"]["memory"] == memory


def test_a_rotated_password_rolls_the_pods_without_revealing_it(build: Build) -> None:
    """The pod template's checksum changes with the password and is not a bare hash of it."""

    def checksums(passwords: Mapping[RedisRole, str]) -> dict[str, str]:
        built = build("production", passwords=passwords)
        return {
            f"{document['kind']}/{document['metadata']['name']}": document["spec"]["template"]["metadata"][
                "annotations"
            ]["crm-platform/secrets-checksum"]
            for document in built.objects
            if document["kind"] in ("StatefulSet", "Deployment")
        }

    before = checksums(PLANTED)
    after = checksums({**PLANTED, RedisRole.BROKER: "anotherBrokerPassw0rd"})
    assert set(before) == set(after) and len(before) == 4
    for path in before:
        assert (before[path] != after[path]) is ("broker" in path), path
    assert hashlib.sha256(PLANTED[RedisRole.BROKER].encode()).hexdigest() not in before.values()


def test_production_runs_three_servers_per_role_with_sentinel_and_hand_over(build: Build) -> None:
    """Production: 3 pods per role, a Sentinel sidecar, the hand-over preStop hook, never two on one node."""
    built = build("production")
    for role in RedisRole:
        stateful_set = built.named("StatefulSet", SECRET_NAMES[role])["spec"]
        assert stateful_set["replicas"] == 3 and stateful_set["podManagementPolicy"] == "Parallel"
        assert stateful_set["serviceName"] == f"{SECRET_NAMES[role]}-headless"
        spec = stateful_set["template"]["spec"]
        assert [container["name"] for container in spec["containers"]] == ["redis", "sentinel", "exporter"]
        redis, sentinel, _ = spec["containers"]
        assert redis["lifecycle"]["preStop"]["exec"]["command"] == ["/bin/bash", "/etc/redis/hand-over.sh"]
        assert sentinel["command"] == ["/bin/bash", "/etc/redis/start-sentinel.sh"]
        env = env_of(redis)
        assert env["REDIS_MASTER_SET"]["value"] == SECRET_NAMES[role]
        assert env["REDIS_SELF"]["value"].startswith("$(POD_NAME).")
        assert len(env["REDIS_PEERS"]["value"].split()) == 3
        [term] = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term == {
            "labelSelector": {"matchLabels": server_selector("test", role)},
            "topologyKey": "kubernetes.io/hostname",
        }
        headless = built.named("Service", f"{SECRET_NAMES[role]}-headless")["spec"]
        assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is True
        assert {port["port"] for port in headless["ports"]} == {6379, 26379, 9121}
        config = built.named("ConfigMap", spec["volumes"][0]["configMap"]["name"])["data"]
        assert config["sentinel.conf"] == redis_config.sentinel_conf(SECRET_NAMES[role])


def test_production_proxies_send_clients_to_the_current_master(build: Build) -> None:
    """Two HAProxy pods per role on different nodes check role:master on each of the three servers."""
    built = build("production")
    for role in RedisRole:
        deployment = built.named("Deployment", f"{SECRET_NAMES[role]}-proxy")["spec"]
        assert deployment["replicas"] == 2
        spec = deployment["template"]["spec"]
        assert spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0][
            "topologyKey"
        ] == ("kubernetes.io/hostname")
        [haproxy] = spec["containers"]
        assert haproxy["image"] == PROXY_IMAGE
        assert haproxy["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        config_name = spec["volumes"][0]["configMap"]["name"]
        config = built.named("ConfigMap", config_name)["data"]["haproxy.cfg"]
        assert "tcp-check expect string role:master" in config
        assert 'tcp-check send "AUTH ${REDISCLI_AUTH}\\r\\n"' in config
        servers = re.findall(r'^  server (\S+) "(\S+)"$', config, re.MULTILINE)
        assert [name for name, _ in servers] == [f"{SECRET_NAMES[role]}-{ordinal}" for ordinal in range(3)]
        assert all(
            address.endswith(".svc.cluster.local:6379") and "${POD_NAMESPACE}" in address for _, address in servers
        )


@pytest.mark.parametrize("environment", ["dev", "production"])
def test_disruption_budgets_cover_every_set_of_more_than_one_pod(build: Build, environment: str) -> None:
    """Production has a maxUnavailable 1 PDB per server set and per proxy; single pods get none."""
    built = build(environment)
    budgets = {pdb["metadata"]["name"]: pdb["spec"] for pdb in built.kind("PodDisruptionBudget")}
    if environment == "dev":
        assert budgets == {}
        return
    expected = {}
    for role in RedisRole:
        expected[SECRET_NAMES[role]] = server_selector("test", role)
        expected[f"{SECRET_NAMES[role]}-proxy"] = proxy_selector("test", role)
    assert {name: spec["selector"]["matchLabels"] for name, spec in budgets.items()} == expected
    assert all(spec["maxUnavailable"] == 1 for spec in budgets.values())


@pytest.mark.parametrize("environment", ["dev", "production"])
def test_every_server_has_an_exporter_on_9121(build: Build, environment: str) -> None:
    """Each server pod runs redis_exporter against localhost with a port named metrics on 9121."""
    for role in RedisRole:
        spec = build(environment).named("StatefulSet", SECRET_NAMES[role])["spec"]["template"]["spec"]
        exporter = next(container for container in spec["containers"] if container["name"] == "exporter")
        assert exporter["image"] == EXPORTER_IMAGE
        assert exporter["ports"] == [{"containerPort": 9121, "name": "metrics", "protocol": "TCP"}]
        assert env_of(exporter)["REDIS_ADDR"]["value"] == "redis://localhost:6379"


def test_images_are_pinned_releases() -> None:
    """Redis is a 7.4.x patch release; the exporter and HAProxy are exact versions, never a moving tag."""
    assert re.fullmatch(r"docker\.io/library/redis:7\.4\.\d+-bookworm", REDIS_IMAGE)
    assert re.fullmatch(r"docker\.io/oliver006/redis_exporter:v\d+\.\d+\.\d+", EXPORTER_IMAGE)
    assert re.fullmatch(r"docker\.io/library/haproxy:\d+\.\d+\.\d+", PROXY_IMAGE)


@pytest.mark.parametrize("environment", ["dev", "production"])
def test_pods_carry_the_redis_network_role_and_their_own_account(build: Build, environment: str) -> None:
    """Every pod is labelled network-role redis and runs as a ServiceAccount of its own without a token."""
    built = build(environment)
    accounts = {account["metadata"]["name"]: account for account in built.kind("ServiceAccount")}
    for document in [*built.kind("StatefulSet"), *built.kind("Deployment")]:
        template = document["spec"]["template"]
        assert template["metadata"]["labels"][endpoints.NETWORK_ROLE] == endpoints.REDIS_ROLE
        assert template["spec"]["serviceAccountName"] == document["metadata"]["name"]
        assert accounts[document["metadata"]["name"]]["automountServiceAccountToken"] is False
        assert document["spec"]["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()


def test_every_child_belongs_to_the_component(build: Build) -> None:
    """One crm:data:Redis component parents every resource, and child names are stable, never indexed."""
    resources = build("production").resources
    [component] = [resource for resource in resources if resource.type == COMPONENT_TYPE]
    children = [resource for resource in resources if resource is not component]
    assert children and all(resource.parent == component.urn for resource in children)
    assert len({resource.urn for resource in children}) == len(children)
    assert not any(re.search(r"-\d+$", resource.name) for resource in children)
    assert all(resource.name.startswith(("redis-cache", "redis-broker")) for resource in children)


def test_replica_counts_other_than_one_or_three_are_refused() -> None:
    """Two servers per role cannot hold a Sentinel quorum, so the component says so instead of deploying."""
    with pytest.raises(ValueError, match="1 server per role, or 3"):
        _build(replace(PRODUCTION.redis, replicas=2), PLANTED, None)


def test_network_policies_open_exactly_the_flows_redis_needs() -> None:
    """Dev: monitoring to each exporter only; production also server-to-server and proxy-to-server, per role."""
    dev = policies(high_availability=False)
    assert dev == {}
    assert [(target.name, target.port) for target in metrics_targets("test")] == [
        ("crm-redis-cache", 9121),
        ("crm-redis-broker", 9121),
    ]
    production = policies(high_availability=True)
    assert set(production) == {
        f"allow-redis-{role}-{flow}"
        for role in ("cache", "broker")
        for flow in ("from-peers-and-proxies", "to-peers", "proxies-to-servers")
    }
    for name, spec in production.items():
        [direction] = spec["policy_types"]
        rules = spec["ingress"] if direction == "Ingress" else spec["egress"]
        for rule in rules:
            assert rule["ports"] and rule.get("from_" if direction == "Ingress" else "to"), name
    peers = production["allow-redis-broker-to-peers"]["egress"]
    assert peers == [
        {
            "to": [{"pod_selector": {"match_labels": server_selector("test", RedisRole.BROKER)}}],
            "ports": [{"protocol": "TCP", "port": 6379}, {"protocol": "TCP", "port": 26379}],
        }
    ]
    cache_target = metrics_targets("test")[0]
    assert cache_target.port == 9121 and cache_target.pod_labels == server_selector("test", RedisRole.CACHE)


def test_policy_selectors_match_the_pods_the_component_declares(build: Build) -> None:
    """Each policy's pod selector matches the labels of a pod template the component declares."""
    templates = [
        document["spec"]["template"]["metadata"]["labels"]
        for document in build("production").objects
        if document["kind"] in ("StatefulSet", "Deployment")
    ]
    for name, spec in policies(high_availability=True).items():
        selector = spec["pod_selector"]["match_labels"]
        assert any(selector.items() <= labels.items() for labels in templates), name


def test_maxmemory_is_a_share_of_the_memory_limit() -> None:
    """maxmemory is 80 % of the limit for the cache, 70 % for the broker, in bytes; a zero limit is refused."""
    assert redis_config.maxmemory_bytes(RedisRole.CACHE, "256Mi") == 214748364
    assert redis_config.maxmemory_bytes(RedisRole.BROKER, "1Gi") == 751619276
    assert "maxmemory 1717986918\n" in redis_config.redis_conf(RedisRole.CACHE, "2Gi", replicated=False)
    with pytest.raises(ValueError, match="positive memory limit"):
        redis_config.maxmemory_bytes(RedisRole.CACHE, "0")


def test_role_configs_say_what_each_role_promises() -> None:
    """Cache: allkeys-lru without RDB or AOF; broker: noeviction, AOF everysec, no RDB; both include the secrets."""
    cache = redis_config.redis_conf(RedisRole.CACHE, "256Mi", replicated=False).splitlines()
    broker = redis_config.redis_conf(RedisRole.BROKER, "256Mi", replicated=False).splitlines()
    assert {"maxmemory-policy allkeys-lru", 'save ""', "appendonly no"} <= set(cache)
    assert {"maxmemory-policy noeviction", "appendonly yes", "appendfsync everysec", 'save ""'} <= set(broker)
    for lines in (cache, broker):
        assert {"port 6379", "protected-mode yes", "dir /data", "enable-debug-command no"} <= set(lines)
        assert lines[-1] == "include /run/redis/runtime.conf"
        assert not any(line.startswith(("requirepass", "masterauth", "rename-command")) for line in lines)


@pytest.mark.parametrize("environment", ["dev", "production"])
def test_every_variable_a_script_requires_is_in_its_container(build: Build, environment: str) -> None:
    """Each script stops at once on a missing variable (`${NAME:?...}`); every such variable of the scripts a
    container runs (its command, its preStop hook and the library they source) is in that container's env."""
    required = {
        name: set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*):\?", redis_config.script_text(name)))
        for name in redis_config.SCRIPT_NAMES
    }
    library = required["sentinel-lib.sh"]
    for document in build(environment).kind("StatefulSet"):
        for container in document["spec"]["template"]["spec"]["containers"]:
            commands = [container.get("command", [])]
            commands.append(container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", []))
            scripts = {Path(part).name for command in commands for part in command if part.endswith(".sh")}
            if not scripts:
                continue
            names = {variable["name"] for variable in container.get("env", [])}
            needed = set().union(*(required[script] for script in scripts))
            if any("source" in redis_config.script_text(script) for script in scripts):
                needed |= library if environment == "production" else set()
            assert needed <= names, (container["name"], sorted(needed - names))


def test_scripts_are_strict_bash_that_parses() -> None:
    """Every script runs under set -euo pipefail (the library is sourced by them) and bash -n accepts it."""
    bash = shutil.which("bash")
    assert bash is not None
    for name, text in redis_config.scripts().items():
        if name != "sentinel-lib.sh":
            assert text.startswith("#!/bin/bash\n") and "\nset -euo pipefail\n" in text, name
        result = subprocess.run([bash, "-n"], input=text, capture_output=True, text=True, check=False)
        assert result.returncode == 0, (name, result.stderr)

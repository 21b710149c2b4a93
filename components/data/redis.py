"""Redis: the cache and broker roles, each its own servers, Service, password and exporter.

Per role (RedisRole.CACHE, RedisRole.BROKER): a StatefulSet of official `redis` servers with a
`redis_exporter` sidecar, a ConfigMap with redis.conf and the scripts (no password: it comes
from the role's Secret at start, components/data/redis_config.py), a ServiceAccount without a
token, the headless Service that gives each pod a stable name, and the Service the
application connects to, `crm-redis-cache` / `crm-redis-broker` on 6379
(components/shared/endpoints.py). The broker keeps its append-only file on a PersistentVolumeClaim
per pod; the cache keeps nothing.

One server per role (dev, staging, review): the Service selects the server itself.

Three servers per role (production), docs/decisions/0002-redis-failover.md: every pod also
runs a Sentinel; the servers are spread over three nodes (required anti-affinity). Two HAProxy
pods per role check which server answers `role:master` and carry the role's Service, so the
application keeps one plain `redis://` URL and needs no Sentinel-aware client. A master that
is stopped on purpose hands its role over first (preStop), a returning old master asks the
Sentinels before it starts, and PodDisruptionBudgets keep two of three servers (the
Sentinel quorum) and one proxy up through drains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.data import redis_config as config
from components.data.redis_config import RedisRole
from components.shared import checksums, endpoints, pods
from components.shared.labels import COMPONENT, INSTANCE, NAME, with_component
from components.shared.references import AppSecret, ScrapeTarget
from stacks.data import (
    EXPORTER_RESOURCES,
    PROXY_REPLICAS,
    PROXY_RESOURCES,
    REDIS_CPU,
    SENTINEL_RESOURCES,
    RedisSettings,
)
from stacks.services import Probe, Resources

REDIS_IMAGE = "docker.io/library/redis:7.4.11-bookworm"
"""Official image, newest 7.4 patch (docker-library official-images, 2026-08); Debian, so bash for the scripts."""
EXPORTER_IMAGE = "docker.io/oliver006/redis_exporter:v1.88.0"
PROXY_IMAGE = "docker.io/library/haproxy:3.4.3"
"""Official image of the current HAProxy LTS branch (3.4)."""

REDIS_UID = 10999
"""The image's `redis` user (999) plus 10000: above every host account (Checkov CKV_K8S_40).

Nothing needs the image's own entry: redis-server, redis-cli and the scripts look up no user
name, and every path they write is a volume the pod's fsGroup makes writable (a broker volume
written by the old UID 999 is regrouped by the kubelet on its first mount, fsGroupChangePolicy
OnRootMismatch).
"""
PROXY_UID = 10099
"""The image's `haproxy` user (99) plus 10000, for the same reason: HAProxy switches to no user
and writes no file (its working directory /var/lib/haproxy is world-readable)."""

SERVER_GRACE_SECONDS = 60
"""Room for the preStop hand-over (at most ~15 s) and the final AOF fsync."""


@dataclass(frozen=True)
class RedisArgs:
    namespace: pulumi.Input[str]
    """The app namespace."""
    stack: str
    """Stack name, the `app.kubernetes.io/instance` of every pod."""
    settings: RedisSettings
    """Memory per role, the broker's volume, servers per role (1, or 3 with failover)."""
    cache_password: AppSecret
    """Secret `crm-redis-cache`, key `password`: referenced by the pods, its value only hashed."""
    broker_password: AppSecret
    """Secret `crm-redis-broker`, key `password`: referenced by the pods, its value only hashed."""
    storage_class: str | None
    """StorageClass of the broker's volumes; None uses the cluster's default."""
    labels: Mapping[str, str]
    """Common labels of the stack."""
    cluster_domain: str = "cluster.local"
    """DNS domain of the cluster: HAProxy resolves the servers' full names (it applies no search list)."""
    waits_for: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """Resources the servers wait for (the Secrets component)."""


def server_name(role: RedisRole) -> str:
    """Name of a role's Service, StatefulSet, ServiceAccount and Sentinel master set."""
    return endpoints.REDIS_CACHE_HOST if role is RedisRole.CACHE else endpoints.REDIS_BROKER_HOST


def headless_name(role: RedisRole) -> str:
    return f"{server_name(role)}-headless"


def proxy_name(role: RedisRole) -> str:
    return f"{server_name(role)}-proxy"


def server_selector(stack: str, role: RedisRole) -> dict[str, str]:
    """The immutable selector of a role's server pods."""
    return {NAME: server_name(role), INSTANCE: stack}


def proxy_selector(stack: str, role: RedisRole) -> dict[str, str]:
    """The immutable selector of a role's HAProxy pods."""
    return {NAME: proxy_name(role), INSTANCE: stack}


def pod_hosts(role: RedisRole, replicas: int, namespace: str, cluster_domain: str) -> list[str]:
    """Full DNS names of a role's server pods in its headless Service, the first pod's first."""
    return [
        f"{server_name(role)}-{ordinal}.{headless_name(role)}.{namespace}.svc.{cluster_domain}"
        for ordinal in range(replicas)
    ]


def _tcp(*ports: int) -> list[k8s.networking.v1.NetworkPolicyPortArgsDict]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def metrics_targets(stack: str) -> list[ScrapeTarget]:
    """Each role's exporter sidecar (port `metrics`), for its PodMonitor and the Prometheus-to-metrics flow."""
    return [
        ScrapeTarget(f"crm-redis-{role}", server_selector(stack, role), config.EXPORTER_PORT, "metrics")
        for role in RedisRole
    ]


def broker_pods(stack: str, *, high_availability: bool) -> dict[str, dict[str, str]]:
    """Name -> selector of the pods behind the broker's Service, which its clients' flows must reach: the
    server, or (with failover) the HAProxy pods in front of the servers."""
    if high_availability:
        return {proxy_name(RedisRole.BROKER): proxy_selector(stack, RedisRole.BROKER)}
    return {server_name(RedisRole.BROKER): server_selector(stack, RedisRole.BROKER)}


def network_policy_specs(
    stack: str, *, high_availability: bool
) -> dict[str, k8s.networking.v1.NetworkPolicySpecArgsDict]:
    """The flows Redis needs among its own pods, besides the application's (allow-app-to-redis,
    allow-redis-from-app) and Prometheus's (metrics_targets).

    With failover: servers reach each other's Redis (replication) and Sentinel ports, and the
    proxies reach the servers. Each policy opens one direction, named after its flow; a single
    server per role needs none.
    """
    specs: dict[str, k8s.networking.v1.NetworkPolicySpecArgsDict] = {}
    if not high_availability:
        return specs
    for role in RedisRole:
        servers: k8s.meta.v1.LabelSelectorArgsDict = {"match_labels": server_selector(stack, role)}
        proxies: k8s.meta.v1.LabelSelectorArgsDict = {"match_labels": proxy_selector(stack, role)}
        specs[f"allow-redis-{role}-from-peers-and-proxies"] = {
            "pod_selector": servers,
            "policy_types": ["Ingress"],
            "ingress": [
                {"from_": [{"pod_selector": servers}], "ports": _tcp(config.REDIS_PORT, config.SENTINEL_PORT)},
                {"from_": [{"pod_selector": proxies}], "ports": _tcp(config.REDIS_PORT)},
            ],
        }
        specs[f"allow-redis-{role}-to-peers"] = {
            "pod_selector": servers,
            "policy_types": ["Egress"],
            "egress": [{"to": [{"pod_selector": servers}], "ports": _tcp(config.REDIS_PORT, config.SENTINEL_PORT)}],
        }
        specs[f"allow-redis-{role}-proxies-to-servers"] = {
            "pod_selector": proxies,
            "policy_types": ["Egress"],
            "egress": [{"to": [{"pod_selector": servers}], "ports": _tcp(config.REDIS_PORT)}],
        }
    return specs


def _secret_env(name: str, secret: AppSecret) -> k8s.core.v1.EnvVarArgsDict:
    return {"name": name, "value_from": {"secret_key_ref": {"name": secret.ref.name, "key": secret.ref.key}}}


def _field_env(name: str, field_path: str) -> k8s.core.v1.EnvVarArgsDict:
    return {"name": name, "value_from": {"field_ref": {"field_path": field_path}}}


def _redis_cli_probe(port: int, *, loading_is_alive: bool) -> Probe:
    """PING through redis-cli (REDISCLI_AUTH is in the container's environment, so no password on a command line).

    While Redis loads its AOF or a replica's full sync it answers LOADING: alive, not ready.
    """
    accepted = "^(PONG|LOADING)" if loading_is_alive else "^PONG$"
    return Probe(command=("/bin/sh", "-c", f"redis-cli -p {port} ping | grep -qE '{accepted}'"))


def _with_probes(
    container: k8s.core.v1.ContainerArgsDict,
    startup: k8s.core.v1.ProbeArgsDict,
    liveness: k8s.core.v1.ProbeArgsDict,
    readiness: k8s.core.v1.ProbeArgsDict,
) -> k8s.core.v1.ContainerArgsDict:
    container["startup_probe"] = startup
    container["liveness_probe"] = liveness
    container["readiness_probe"] = readiness
    return container


def _redis_cli_probes(port: int) -> tuple[k8s.core.v1.ProbeArgsDict, ...]:
    """(startup, liveness, readiness); startup allows 5 minutes before liveness counts."""
    alive = _redis_cli_probe(port, loading_is_alive=True)
    return (
        pods.startup_probe(alive, None, None),
        pods.probe(alive, None, None, liveness=True),
        pods.probe(_redis_cli_probe(port, loading_is_alive=False), None, None, liveness=False),
    )


def _http_probes(path: str, port: str, *, ready_only_when_healthy: bool) -> tuple[k8s.core.v1.ProbeArgsDict, ...]:
    """(startup, liveness, readiness) over HTTP; liveness only connects when a failed check is no reason to restart."""
    http: k8s.core.v1.ProbeArgsDict = {
        "http_get": {"path": path, "port": port},
        "period_seconds": 10,
        "timeout_seconds": 3,
        "failure_threshold": 3,
    }
    alive: k8s.core.v1.ProbeArgsDict = (
        {"tcp_socket": {"port": port}, "period_seconds": 20, "timeout_seconds": 5, "failure_threshold": 3}
        if ready_only_when_healthy
        else {**http, "period_seconds": 20, "timeout_seconds": 5}
    )
    return {**alive, "period_seconds": 5, "failure_threshold": 24}, alive, http


class Redis(pulumi.ComponentResource):
    """The cache and broker Redis roles: one server each, or three with Sentinel failover behind HAProxy."""

    hosts: dict[RedisRole, str]
    """Service the application connects to, per role (port 6379 in every stack)."""
    port: int
    high_availability: bool
    stateful_sets: dict[RedisRole, k8s.apps.v1.StatefulSet]
    server_selectors: dict[RedisRole, dict[str, str]]
    """Pod labels of each role's servers, for PodMonitors (exporter port `metrics`)."""

    def __init__(self, name: str, args: RedisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("crm:data:Redis", name, None, opts)
        replicas = args.settings.replicas
        if replicas not in (1, 3):
            raise ValueError(
                f"Redis runs 1 server per role, or 3 with Sentinel failover; got {replicas} "
                "(Sentinel needs a quorum of 2 out of 3)"
            )
        self._name = name
        self._args = args
        self.high_availability = replicas > 1
        self.port = config.REDIS_PORT
        self.hosts = {}
        self.stateful_sets = {}
        self.server_selectors = {}
        for role in RedisRole:
            self._role(role)
        self.register_outputs(
            {
                "hosts": {role.value: host for role, host in self.hosts.items()},
                "port": self.port,
                "high_availability": self.high_availability,
            }
        )

    # --- one role --------------------------------------------------------------------------

    def _role(self, role: RedisRole) -> None:
        args = self._args
        password = args.cache_password if role is RedisRole.CACHE else args.broker_password
        memory = args.settings.cache_memory if role is RedisRole.CACHE else args.settings.broker_memory
        labels = self._labels(role, server_selector(args.stack, role))
        child = pulumi.ResourceOptions(parent=self)

        data = {
            "redis.conf": config.redis_conf(role, memory, replicated=self.high_availability),
            **config.scripts(),
        }
        if self.high_availability:
            data["sentinel.conf"] = config.sentinel_conf(server_name(role))
        config_map = self._config_map(f"{self._name}-{role}-config", server_name(role), labels, data)

        account = k8s.core.v1.ServiceAccount(
            f"{self._name}-{role}",
            metadata={"name": server_name(role), "namespace": args.namespace, "labels": labels},
            automount_service_account_token=False,
            opts=child,
        )
        headless = k8s.core.v1.Service(
            f"{self._name}-{role}-headless",
            metadata={"name": headless_name(role), "namespace": args.namespace, "labels": labels},
            spec={
                "cluster_ip": "None",
                # Pods need their names before they are ready: replicas and Sentinels find the
                # master by name while the set starts.
                "publish_not_ready_addresses": True,
                "selector": server_selector(args.stack, role),
                "ports": self._server_ports(),
            },
            opts=child,
        )
        stateful_set = self._stateful_set(
            role, password, memory, labels, config_map.metadata["name"], [config_map, account, headless]
        )
        self.stateful_sets[role] = stateful_set
        self.server_selectors[role] = server_selector(args.stack, role)

        client_selector = server_selector(args.stack, role)
        if self.high_availability:
            self._budget(f"{self._name}-{role}", server_name(role), labels, server_selector(args.stack, role))
            self._proxy(role, password, stateful_set)
            client_selector = proxy_selector(args.stack, role)

        k8s.core.v1.Service(
            f"{self._name}-{role}-service",
            metadata={"name": server_name(role), "namespace": args.namespace, "labels": labels},
            spec={
                "type": "ClusterIP",
                "selector": client_selector,
                "ports": [{"name": "redis", "port": config.REDIS_PORT, "target_port": "redis", "protocol": "TCP"}],
            },
            opts=child,
        )
        self.hosts[role] = server_name(role)

    def _labels(self, role: RedisRole, selector: Mapping[str, str]) -> dict[str, str]:
        return {
            **with_component(self._args.labels, f"redis-{role}"),
            **selector,
            endpoints.NETWORK_ROLE: endpoints.REDIS_ROLE,
        }

    def _config_map(
        self, resource_name: str, prefix: str, labels: Mapping[str, str], data: Mapping[str, str]
    ) -> k8s.core.v1.ConfigMap:
        # Named after its content and immutable: a change is a new ConfigMap, which rolls the pods.
        return k8s.core.v1.ConfigMap(
            resource_name,
            metadata={
                "name": f"{prefix}-{checksums.config_checksum(data)[:10]}",
                "namespace": self._args.namespace,
                "labels": dict(labels),
            },
            data=dict(data),
            immutable=True,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _server_ports(self) -> list[k8s.core.v1.ServicePortArgsDict]:
        ports: list[k8s.core.v1.ServicePortArgsDict] = [
            {"name": "redis", "port": config.REDIS_PORT, "target_port": "redis", "protocol": "TCP"},
            {"name": "metrics", "port": config.EXPORTER_PORT, "target_port": "metrics", "protocol": "TCP"},
        ]
        if self.high_availability:
            ports.append(
                {"name": "sentinel", "port": config.SENTINEL_PORT, "target_port": "sentinel", "protocol": "TCP"}
            )
        return ports

    def _checksum(self, password: AppSecret, role: RedisRole) -> pulumi.Output[str]:
        """Changes when the password rotates, so the pods restart with it; keyed, so it reveals nothing."""
        return pulumi.Output.unsecret(
            password.value.apply(lambda value: checksums.secrets_checksum(value, [server_name(role)]))
        )

    # --- servers ---------------------------------------------------------------------------

    def _set_env(self, role: RedisRole, password: AppSecret) -> list[k8s.core.v1.EnvVarArgsDict]:
        env = [_secret_env(config.PASSWORD_VARIABLE, password)]
        env += [{"name": name, "value": value} for name, value in config.script_environment().items()]
        if self.high_availability:
            domain = f"{headless_name(role)}.$(POD_NAMESPACE).svc.{self._args.cluster_domain}"
            peers = " ".join(
                f"{server_name(role)}-{ordinal}.{domain}" for ordinal in range(self._args.settings.replicas)
            )
            env += [
                _field_env("POD_NAME", "metadata.name"),
                _field_env("POD_NAMESPACE", "metadata.namespace"),
                # Composed by the kubelet from the two above ($(VAR) expansion).
                {"name": "REDIS_SELF", "value": f"$(POD_NAME).{domain}"},
                {"name": "REDIS_PEERS", "value": peers},
                {"name": "REDIS_MASTER_SET", "value": server_name(role)},
            ]
        return env

    def _server_container(self, role: RedisRole, password: AppSecret, memory: str) -> k8s.core.v1.ContainerArgsDict:
        mounts: list[k8s.core.v1.VolumeMountArgsDict] = [
            {"name": "data", "mount_path": config.DATA_DIR},
            {"name": "config", "mount_path": config.CONFIG_DIR, "read_only": True},
            {"name": "runtime", "mount_path": config.RUNTIME_DIR},
            {"name": "tmp", "mount_path": "/tmp"},
        ]
        container: k8s.core.v1.ContainerArgsDict = {
            "name": "redis",
            "image": REDIS_IMAGE,
            "image_pull_policy": pods.IMAGE_PULL_POLICY,
            "command": ["/bin/bash", f"{config.CONFIG_DIR}/start-redis.sh"],
            "ports": [{"name": "redis", "container_port": config.REDIS_PORT, "protocol": "TCP"}],
            "env": self._set_env(role, password),
            # Memory request = limit: maxmemory is a share of it, and it must be there.
            "resources": pods.resource_requirements(Resources(REDIS_CPU[0], REDIS_CPU[1], memory, memory)),
            "security_context": pods.container_security_context(),
            "volume_mounts": mounts,
        }
        _with_probes(container, *_redis_cli_probes(config.REDIS_PORT))
        if self.high_availability:
            container["lifecycle"] = {
                "pre_stop": {"exec_": {"command": ["/bin/bash", f"{config.CONFIG_DIR}/hand-over.sh"]}}
            }
        return container

    def _sentinel_container(self, role: RedisRole, password: AppSecret) -> k8s.core.v1.ContainerArgsDict:
        container: k8s.core.v1.ContainerArgsDict = {
            "name": "sentinel",
            "image": REDIS_IMAGE,
            "image_pull_policy": pods.IMAGE_PULL_POLICY,
            "command": ["/bin/bash", f"{config.CONFIG_DIR}/start-sentinel.sh"],
            "ports": [{"name": "sentinel", "container_port": config.SENTINEL_PORT, "protocol": "TCP"}],
            "env": self._set_env(role, password),
            "resources": pods.resource_requirements(Resources(*SENTINEL_RESOURCES)),
            "security_context": pods.container_security_context(),
            "volume_mounts": [
                {"name": "config", "mount_path": config.CONFIG_DIR, "read_only": True},
                {"name": "sentinel", "mount_path": config.SENTINEL_DIR},
                {"name": "tmp", "mount_path": "/tmp"},
            ],
        }
        return _with_probes(container, *_redis_cli_probes(config.SENTINEL_PORT))

    def _exporter_container(self, role: RedisRole, password: AppSecret) -> k8s.core.v1.ContainerArgsDict:
        env: list[k8s.core.v1.EnvVarArgsDict] = [
            {"name": "REDIS_ADDR", "value": f"redis://localhost:{config.REDIS_PORT}"},
            _secret_env("REDIS_PASSWORD", password),
        ]
        if role is RedisRole.BROKER:
            # The length of Celery's default queue, for a backlog alert.
            env.append({"name": "REDIS_EXPORTER_CHECK_SINGLE_KEYS", "value": "db0=celery"})
        container: k8s.core.v1.ContainerArgsDict = {
            "name": "exporter",
            "image": EXPORTER_IMAGE,
            "image_pull_policy": pods.IMAGE_PULL_POLICY,
            "ports": [{"name": "metrics", "container_port": config.EXPORTER_PORT, "protocol": "TCP"}],
            "env": env,
            "resources": pods.resource_requirements(Resources(*EXPORTER_RESOURCES)),
            "security_context": pods.container_security_context(),
            "volume_mounts": [{"name": "tmp", "mount_path": "/tmp"}],
        }
        # /health answers while the exporter runs, whether or not Redis does: Redis being down
        # is what the exporter reports, not a reason to restart it.
        return _with_probes(container, *_http_probes("/health", "metrics", ready_only_when_healthy=False))

    def _stateful_set(
        self,
        role: RedisRole,
        password: AppSecret,
        memory: str,
        labels: Mapping[str, str],
        config_map_name: pulumi.Input[str],
        waits_for: Sequence[pulumi.Resource],
    ) -> k8s.apps.v1.StatefulSet:
        args = self._args
        selector = server_selector(args.stack, role)
        containers = [self._server_container(role, password, memory)]
        if self.high_availability:
            containers.append(self._sentinel_container(role, password))
        containers.append(self._exporter_container(role, password))

        volumes: list[k8s.core.v1.VolumeArgsDict] = [
            {"name": "config", "config_map": {"name": config_map_name}},
            # Memory-backed: the password's include never touches a disk.
            {"name": "runtime", "empty_dir": {"medium": "Memory", "size_limit": "1Mi"}},
            {"name": "tmp", "empty_dir": {"size_limit": "64Mi"}},
        ]
        if self.high_availability:
            volumes.append({"name": "sentinel", "empty_dir": {"medium": "Memory", "size_limit": "1Mi"}})
        if role is RedisRole.CACHE:
            # No persistence; a replica's full sync lands here before it loads, up to the memory size.
            volumes.append({"name": "data", "empty_dir": {"size_limit": memory}})

        pod_spec: k8s.core.v1.PodSpecArgsDict = {
            "service_account_name": server_name(role),
            "automount_service_account_token": False,
            "enable_service_links": False,
            "security_context": pods.pod_security_context(REDIS_UID),
            "termination_grace_period_seconds": SERVER_GRACE_SECONDS if self.high_availability else 30,
            "containers": containers,
            "volumes": volumes,
        }
        if self.high_availability:
            pod_spec["affinity"] = _required_node_anti_affinity(selector)
            pod_spec["topology_spread_constraints"] = [_zone_spread(selector)]

        spec: k8s.apps.v1.StatefulSetSpecArgsDict = {
            "service_name": headless_name(role),
            "replicas": args.settings.replicas,
            # All servers start together: a missing first pod must not hold the others back.
            "pod_management_policy": "Parallel",
            "selector": {"match_labels": selector},
            "update_strategy": {"type": "RollingUpdate"},
            "revision_history_limit": 5,
            "template": {
                "metadata": {
                    "labels": dict(labels),
                    "annotations": {checksums.SECRETS_CHECKSUM: self._checksum(password, role)},
                },
                "spec": pod_spec,
            },
        }
        if role is RedisRole.BROKER:
            claim_spec: k8s.core.v1.PersistentVolumeClaimSpecArgsDict = {
                "access_modes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": args.settings.broker_storage}},
            }
            if args.storage_class:
                claim_spec["storage_class_name"] = args.storage_class
            spec["volume_claim_templates"] = [
                {"metadata": {"name": "data", "labels": dict(labels)}, "spec": claim_spec}
            ]
            # The queues outlive the StatefulSet: deleting or scaling it keeps the volumes.
            spec["persistent_volume_claim_retention_policy"] = {"when_deleted": "Retain", "when_scaled": "Retain"}

        return k8s.apps.v1.StatefulSet(
            f"{self._name}-{role}",
            metadata={"name": server_name(role), "namespace": args.namespace, "labels": dict(labels)},
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*waits_for, *args.waits_for]),
        )

    def _budget(self, resource_name: str, name: str, labels: Mapping[str, str], selector: Mapping[str, str]) -> None:
        k8s.policy.v1.PodDisruptionBudget(
            resource_name,
            metadata={"name": name, "namespace": self._args.namespace, "labels": dict(labels)},
            spec={
                # Two of three servers keep the Sentinel quorum (and a replica) through a drain.
                "max_unavailable": 1,
                "selector": {"match_labels": dict(selector)},
                # A crash-looping pod must not block node drains.
                "unhealthy_pod_eviction_policy": "AlwaysAllow",
            },
            opts=pulumi.ResourceOptions(parent=self),
        )

    # --- proxies ---------------------------------------------------------------------------

    def _proxy(self, role: RedisRole, password: AppSecret, servers: k8s.apps.v1.StatefulSet) -> None:
        args = self._args
        selector = proxy_selector(args.stack, role)
        labels = {**self._labels(role, selector), COMPONENT: f"redis-{role}-proxy"}
        replicas = args.settings.replicas
        hosts = pod_hosts(role, replicas, "${POD_NAMESPACE}", args.cluster_domain)
        names = [f"{server_name(role)}-{ordinal}" for ordinal in range(replicas)]
        config_map = self._config_map(
            f"{self._name}-{role}-proxy-config",
            proxy_name(role),
            labels,
            {"haproxy.cfg": config.proxy_conf(names, hosts)},
        )
        account = k8s.core.v1.ServiceAccount(
            f"{self._name}-{role}-proxy",
            metadata={"name": proxy_name(role), "namespace": args.namespace, "labels": labels},
            automount_service_account_token=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        container: k8s.core.v1.ContainerArgsDict = {
            "name": "haproxy",
            "image": PROXY_IMAGE,
            "image_pull_policy": pods.IMAGE_PULL_POLICY,
            "command": ["haproxy", "-W", "-db", "-f", f"{config.PROXY_CONFIG_DIR}/haproxy.cfg"],
            "ports": [
                {"name": "redis", "container_port": config.REDIS_PORT, "protocol": "TCP"},
                {"name": "http", "container_port": config.PROXY_HEALTH_PORT, "protocol": "TCP"},
            ],
            "env": [_secret_env(config.PASSWORD_VARIABLE, password), _field_env("POD_NAMESPACE", "metadata.namespace")],
            "resources": pods.resource_requirements(Resources(*PROXY_RESOURCES)),
            "security_context": pods.container_security_context(),
            "volume_mounts": [
                {"name": "config", "mount_path": config.PROXY_CONFIG_DIR, "read_only": True},
                {"name": "tmp", "mount_path": "/tmp"},
            ],
        }
        # Ready only while a master is known; alive while HAProxy listens.
        _with_probes(container, *_http_probes(config.PROXY_HEALTH_PATH, "http", ready_only_when_healthy=True))
        pod_spec: k8s.core.v1.PodSpecArgsDict = {
            "service_account_name": proxy_name(role),
            "automount_service_account_token": False,
            "enable_service_links": False,
            "security_context": pods.pod_security_context(PROXY_UID),
            "containers": [container],
            "volumes": [
                {"name": "config", "config_map": {"name": config_map.metadata["name"]}},
                {"name": "tmp", "empty_dir": {"size_limit": "16Mi"}},
            ],
            "affinity": _required_node_anti_affinity(selector),
            "topology_spread_constraints": pods.topology_spread(selector, strict_nodes=True),
        }
        k8s.apps.v1.Deployment(
            f"{self._name}-{role}-proxy",
            metadata={"name": proxy_name(role), "namespace": args.namespace, "labels": labels},
            spec={
                "replicas": PROXY_REPLICAS,
                "selector": {"match_labels": selector},
                "revision_history_limit": 5,
                "strategy": {"type": "RollingUpdate", "rolling_update": {"max_surge": 1, "max_unavailable": 0}},
                "template": {
                    "metadata": {
                        "labels": labels,
                        "annotations": {checksums.SECRETS_CHECKSUM: self._checksum(password, role)},
                    },
                    "spec": pod_spec,
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[config_map, account, servers]),
        )
        self._budget(f"{self._name}-{role}-proxy", proxy_name(role), labels, selector)


def _required_node_anti_affinity(selector: Mapping[str, str]) -> k8s.core.v1.AffinityArgsDict:
    """Never two of these pods on one node: losing a node loses one server (or proxy), not the quorum."""
    return {
        "pod_anti_affinity": {
            "required_during_scheduling_ignored_during_execution": [
                {"label_selector": {"match_labels": dict(selector)}, "topology_key": "kubernetes.io/hostname"}
            ]
        }
    }


def _zone_spread(selector: Mapping[str, str]) -> k8s.core.v1.TopologySpreadConstraintArgsDict:
    """Across zones where the cluster has them (best effort: clusters without zones still schedule)."""
    return {
        "max_skew": 1,
        "topology_key": "topology.kubernetes.io/zone",
        "when_unsatisfiable": "ScheduleAnyway",
        "label_selector": {"match_labels": dict(selector)},
        "node_taints_policy": "Honor",
    }

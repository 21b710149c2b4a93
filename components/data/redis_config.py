"""The configuration files of the two Redis roles, as text: pure, so a real redis-server can load them.

- `redis_conf`: redis.conf of the cache role (LRU eviction at 80 % of the memory limit, no
  persistence) or the broker role (never evicts, append-only file fsynced every second).
- `sentinel_conf`: sentinel.conf of one role's Sentinels (production), with the first master
  left as a placeholder the start script fills in.
- `proxy_conf`: haproxy.cfg of the proxy that keeps the role's Service on the current master.
- `scripts()`: components/data/scripts/{start-redis,start-sentinel,hand-over,sentinel-lib}.sh,
  the start scripts (which server is master after a restart), the hand-over before a master
  stops, and what they share; `script_environment()` is what they read.

No file holds a password. redis.conf ends with `include /run/redis/runtime.conf`, which the
start script writes at start from REDISCLI_AUTH (a secretKeyRef to the role's Secret, key
`password`); Sentinel's and HAProxy's passwords come from the same variable. REDISCLI_AUTH is
also what redis-cli reads, so probes and scripts never put the password on a command line.

Dangerous commands: `rename-command` is deprecated, and an ACL that takes commands away from
the one user breaks the clients (django-redis's `cache.clear()` is FLUSHDB, Sentinel needs
REPLICAOF, CONFIG REWRITE and CLIENT KILL, the exporter CONFIG GET and INFO). So every client
keeps the default user, with one password per role and network policies limiting who
connects; what Redis 7 can switch off for everyone is switched off: DEBUG, MODULE and CONFIG
SET of protected settings (`dir`, `dbfilename`: the classic "write a file anywhere" attack).
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Final

from components.shared import endpoints
from kube.quantities import memory_bytes

REDIS_PORT: Final = endpoints.REDIS_PORT
SENTINEL_PORT: Final = 26379
EXPORTER_PORT: Final = 9121
PROXY_HEALTH_PORT: Final = 8404
PROXY_HEALTH_PATH: Final = "/healthz"

DATA_DIR: Final = "/data"
"""The working directory: a PersistentVolumeClaim (broker) or an emptyDir (cache); the root is read-only."""
CONFIG_DIR: Final = "/etc/redis"
"""Where the role's ConfigMap is mounted (read-only)."""
RUNTIME_DIR: Final = "/run/redis"
"""Memory-backed emptyDir: the server's config copy and the include holding the password."""
RUNTIME_CONFIG: Final = f"{RUNTIME_DIR}/runtime.conf"
SENTINEL_DIR: Final = "/run/sentinel"
"""Memory-backed emptyDir: Sentinel rewrites its config file as it learns the topology."""
PROXY_CONFIG_DIR: Final = "/etc/haproxy-crm"

PASSWORD_VARIABLE: Final = "REDISCLI_AUTH"
"""The role's password in every container: redis-cli reads it, the scripts and HAProxy expand it."""
MASTER_HOST_PLACEHOLDER: Final = "@MASTER_HOST@"

CACHE_MAXMEMORY_PERCENT: Final = 80
"""The cache evicts at 80 % of its memory limit: the rest is the server's own overhead
(client buffers, replication backlog, the fork of a replica's full sync)."""
BROKER_MAXMEMORY_PERCENT: Final = 70
"""The broker refuses writes at 70 % of its limit: every AOF rewrite forks, and the pages the
queues change meanwhile are copied and charged to the same container, so it keeps more
headroom than the cache. Refusing a write (an error Celery reports) beats the OOM kill
that would otherwise come, and come again after each restart as the AOF reloads."""

SENTINEL_QUORUM: Final = 2
"""Two of the three Sentinels must agree that the master is down."""
DOWN_AFTER_MILLISECONDS: Final = 5000
FAILOVER_TIMEOUT_MILLISECONDS: Final = 60000


class RedisRole(StrEnum):
    """The two Redis roles the application uses, each its own servers, Service and password."""

    CACHE = "cache"
    """Django's cache: may lose everything, must never refuse a write."""
    BROKER = "broker"
    """Celery's broker: must not lose an acknowledged task, so it never evicts."""


def maxmemory_bytes(role: RedisRole, memory_limit: str) -> int:
    """`maxmemory` of a role: its share of the container's memory limit, in bytes (rounded down)."""
    percent = CACHE_MAXMEMORY_PERCENT if role is RedisRole.CACHE else BROKER_MAXMEMORY_PERCENT
    limit = memory_bytes(memory_limit)
    if limit <= 0:
        raise ValueError(f"the {role} Redis needs a positive memory limit, got {memory_limit!r}")
    maxmemory = int((limit * percent / Decimal(100)).to_integral_value(rounding=ROUND_FLOOR))
    # `maxmemory 0` is no limit at all to Redis (redis.conf): the cache would never evict, the broker never refuse.
    if maxmemory < 1:
        raise ValueError(
            f"the {role} Redis memory limit {memory_limit!r} leaves {percent} % of it, 0 bytes, for maxmemory, "
            "which Redis reads as no limit"
        )
    return maxmemory


_COMMON = f"""\
# Network: every interface (the pod's), IPv6 where the pod has it. Protected mode stays on
# as a second lock: it refuses outside clients should the password ever be missing.
port {REDIS_PORT}
bind * -::*
protected-mode yes
tcp-keepalive 60
timeout 0

# Foreground, logging to stdout for the container runtime.
daemonize no
loglevel notice
logfile ""

# The root filesystem is read-only: {DATA_DIR} is the volume (emptyDir or PersistentVolumeClaim).
dir {DATA_DIR}

# Off for every client: DEBUG, MODULE LOAD, and CONFIG SET of protected settings (dir,
# dbfilename), which would let a client write files wherever the server can.
enable-protected-configs no
enable-debug-command no
enable-module-command no
"""

_CACHE = """\
# Cache: evict the least recently used keys of any kind when full, never refuse a write.
maxmemory {maxmemory}
maxmemory-policy allkeys-lru
maxmemory-samples 10

# No persistence: a restarted cache starts empty, which the application tolerates.
save ""
appendonly no
"""

_BROKER = """\
# Broker: a queued task must never be evicted. When full, writes fail with an OOM error
# (Celery reports it) while reads and deletes still work, so the workers can drain the queues.
maxmemory {maxmemory}
maxmemory-policy noeviction

# Durability: the append-only file, fsynced every second. A write is acknowledged after it is
# written to the kernel, so a killed server loses nothing acknowledged (unless a slow disk
# held the write back, at most 2 s); a crash of the node loses at most about the last second.
appendonly yes
appendfilename "appendonly.aof"
appenddirname "appendonlydir"
appendfsync everysec
no-appendfsync-on-rewrite no
auto-aof-rewrite-percentage 100
auto-aof-rewrite-min-size 64mb
aof-use-rdb-preamble yes
aof-load-truncated yes

# No RDB snapshots besides the AOF. Redis loads the AOF, never dump.rdb, when both exist, and
# each rewrite already starts the AOF with an RDB image. A snapshot would only add forks (and
# their copy-on-write memory) in a memory-limited container, and restoring an old snapshot of
# a queue would run finished tasks again.
save ""
"""

_REPLICATION = """\
# Replication (production): the start script and Sentinel decide which server is master.
# Replicas serve reads while they sync; a full sync streams the RDB over the socket (as soon
# as both replicas wait, else after 5 s), so the broker's volume holds only its AOF.
replica-read-only yes
replica-serve-stale-data yes
repl-diskless-sync yes
repl-diskless-sync-delay 5
repl-diskless-sync-max-replicas 2
repl-diskless-load disabled
repl-timeout 60
replica-priority 100
"""

_INCLUDE = f"""\
# Written at start by start-redis.sh: requirepass and masterauth from the role's Secret, and
# in production this server's announced name and, on a replica, replicaof. Last, so it wins.
include {RUNTIME_CONFIG}
"""


def redis_conf(role: RedisRole, memory_limit: str, *, replicated: bool) -> str:
    """redis.conf of a role; `memory_limit` is the container's limit, `replicated` adds replication."""
    role_part = _CACHE if role is RedisRole.CACHE else _BROKER
    parts = [
        f"# redis.conf of the {role} role, made by components/data/redis_config.py.\n",
        _COMMON,
        role_part.format(maxmemory=maxmemory_bytes(role, memory_limit)),
    ]
    if replicated:
        parts.append(_REPLICATION)
    parts.append(_INCLUDE)
    return "\n".join(parts)


def sentinel_conf(master_set: str) -> str:
    """sentinel.conf of one role; start-sentinel.sh fills in the first master and appends the secrets."""
    return f"""\
# sentinel.conf of {master_set}, made by components/data/redis_config.py. start-sentinel.sh copies
# it to {SENTINEL_DIR} (Sentinel rewrites its file), puts the current master in place of
# {MASTER_HOST_PLACEHOLDER}, and appends this Sentinel's name and id and the passwords.
port {SENTINEL_PORT}
bind * -::*
protected-mode yes
daemonize no
loglevel notice
logfile ""
dir {SENTINEL_DIR}

# Pods change IP addresses; their names in the headless Service do not. Both lines must
# come before the monitor line.
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel deny-scripts-reconfig yes

sentinel monitor {master_set} {MASTER_HOST_PLACEHOLDER} {REDIS_PORT} {SENTINEL_QUORUM}
sentinel down-after-milliseconds {master_set} {DOWN_AFTER_MILLISECONDS}
sentinel failover-timeout {master_set} {FAILOVER_TIMEOUT_MILLISECONDS}
sentinel parallel-syncs {master_set} 1
"""


_SERVER_DEFAULTS = (
    "check inter 1s fall 2 rise 2 resolvers cluster resolve-prefer ipv4 init-addr none on-marked-down shutdown-sessions"
)


def proxy_conf(server_names: list[str], server_hosts: list[str]) -> str:
    """haproxy.cfg that sends every client to whichever server answers `role:master`.

    `server_hosts` may use `${POD_NAMESPACE}`; HAProxy expands environment variables in
    double-quoted strings, which is also how the password (`${REDISCLI_AUTH}`) stays out of
    the ConfigMap.
    """
    if len(server_names) != len(server_hosts) or not server_names:
        raise ValueError("proxy_conf needs one name per server host, and at least one server")
    # By index, the lengths being checked equal above (zip's strict= would be a second check no input reaches).
    servers = "\n".join(
        f'  server {name} "{server_hosts[index]}:{REDIS_PORT}"' for index, name in enumerate(server_names)
    )
    return f"""\
# haproxy.cfg made by components/data/redis_config.py: clients reach the current master only.
global
  log stdout format raw local0 info
  maxconn 4096

defaults
  mode tcp
  log global
  option dontlognull
  timeout connect 3s
  timeout check 1s
  # Celery and django-redis keep pooled connections open and mostly idle.
  timeout client 12h
  timeout server 12h
  option clitcpka
  option srvtcpka

# The cluster DNS, for the servers' names in the headless Service (their IPs change).
resolvers cluster
  parse-resolv-conf
  resolve_retries 3
  timeout resolve 1s
  timeout retry 1s
  hold valid 5s
  hold nx 5s
  hold obsolete 5s

frontend redis
  bind :{REDIS_PORT}
  default_backend master

backend master
  # Only the server reporting role:master is up; `first` sends everyone to the same one
  # should two claim it for a moment during a failover.
  balance first
  option tcp-check
  tcp-check connect
  tcp-check send "AUTH ${{{PASSWORD_VARIABLE}}}\\r\\n"
  tcp-check expect string +OK
  # QUIT right behind INFO: the server closes the connection after its reply, so a replica
  # fails the check at once instead of after the check timeout.
  tcp-check send "INFO replication\\r\\nQUIT\\r\\n"
  tcp-check expect string role:master
  # A demoted master's clients are cut off at once, so they reconnect to the new one.
  default-server {_SERVER_DEFAULTS}
{servers}

# Ready only while a master is known (kubelet's readiness probe).
frontend health
  mode http
  bind :{PROXY_HEALTH_PORT}
  no log
  monitor-uri {PROXY_HEALTH_PATH}
  monitor fail if {{ nbsrv(master) lt 1 }}
"""


SCRIPTS_DIR: Final = Path(__file__).resolve().parent / "scripts"
SCRIPT_NAMES: Final = ("sentinel-lib.sh", "start-redis.sh", "start-sentinel.sh", "hand-over.sh")
"""The Redis pods' scripts (components/data/scripts/), shell as shell: the start scripts (which server is
master after a restart), the hand-over before a master stops, and the library they share. Each reads what
it needs from the environment (`script_environment`), as the backup scripts do; none holds a constant of
its own."""


@cache
def script_text(name: str) -> str:
    """One script's text, as the role's ConfigMap carries it."""
    if name not in SCRIPT_NAMES:
        raise ValueError(f"{name!r} is not one of the Redis scripts: {', '.join(SCRIPT_NAMES)}")
    return (SCRIPTS_DIR / name).read_text(encoding="utf-8")


def scripts() -> dict[str, str]:
    """ConfigMap key -> script; run with `/bin/bash <CONFIG_DIR>/<key>` (a ConfigMap file is not executable)."""
    return {name: script_text(name) for name in SCRIPT_NAMES}


def script_environment() -> dict[str, str]:
    """The variables every script reads besides the password and the pod's names: where things are mounted
    and which ports the server and its Sentinel listen on."""
    return {
        "REDIS_CONFIG_DIR": CONFIG_DIR,
        "REDIS_RUNTIME_DIR": RUNTIME_DIR,
        "REDIS_SENTINEL_DIR": SENTINEL_DIR,
        "REDIS_SERVER_PORT": str(REDIS_PORT),
        "REDIS_SENTINEL_PORT": str(SENTINEL_PORT),
    }

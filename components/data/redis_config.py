"""The configuration files of the two Redis roles, as text: pure, so a real redis-server can load them.

- `redis_conf`: redis.conf of the cache role (LRU eviction at 80 % of the memory limit, no
  persistence) or the broker role (never evicts, append-only file fsynced every second).
- `sentinel_conf`: sentinel.conf of one role's Sentinels (production), with the first master
  left as a placeholder the start script fills in.
- `proxy_conf`: haproxy.cfg of the proxy that keeps the role's Service on the current master.
- `SCRIPTS`: the start scripts (which server is master after a restart), the hand-over before
  a master stops, and what they share.

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
    return int((limit * percent / Decimal(100)).to_integral_value(rounding=ROUND_FLOOR))


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
        f"# redis.conf of the {role} role, made by components/redis_config.py.\n",
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
# sentinel.conf of {master_set}, made by components/redis_config.py. start-sentinel.sh copies
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
    servers = "\n".join(
        f'  server {name} "{host}:{REDIS_PORT}"' for name, host in zip(server_names, server_hosts, strict=True)
    )
    return f"""\
# haproxy.cfg made by components/redis_config.py: clients reach the current master only.
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


SENTINEL_LIB = f"""\
# sentinel-lib.sh: sourced by start-redis.sh, start-sentinel.sh and hand-over.sh, which set
# `set -euo pipefail`. The environment names this pod and its set:
#   REDIS_SELF        this pod's name in the headless Service
#   REDIS_PEERS       every pod's name, the first pod's first (space-separated)
#   REDIS_MASTER_SET  the name the Sentinels know the set by
redis_port=${{REDIS_SERVER_PORT:-{REDIS_PORT}}}
sentinel_port=${{REDIS_SENTINEL_PORT:-{SENTINEL_PORT}}}
: "${{REDIS_SELF:?REDIS_SELF must name this pod}}"
: "${{REDIS_PEERS:?REDIS_PEERS must list the pods of the set}}"
: "${{REDIS_MASTER_SET:?REDIS_MASTER_SET must name the Sentinel master set}}"

# Prints the master named by the first Sentinel of another pod that answers; fails when none does.
ask_sentinels() {{
  local peer reply host
  for peer in $REDIS_PEERS; do
    [ "$peer" != "$REDIS_SELF" ] || continue
    reply=$(timeout 3 redis-cli -h "$peer" -p "$sentinel_port" --raw \\
      SENTINEL get-master-addr-by-name "$REDIS_MASTER_SET" 2>/dev/null) || continue
    host=${{reply%%$'\\n'*}}
    # An error (NOAUTH, LOADING) or an empty reply (no master known yet) is no answer.
    if [[ $host =~ ^[A-Za-z0-9.-]+$ ]]; then
      printf '%s\\n' "$host"
      return 0
    fi
  done
  return 1
}}

# The master to start with: what the Sentinels say (they may have failed over while this pod
# was away), else, when none answers because the whole set is starting, the first pod.
current_master() {{
  ask_sentinels || printf '%s\\n' "${{REDIS_PEERS%% *}}"
}}

# This server's role (master, slave), or nothing when it does not answer.
own_role() {{
  local reply
  reply=$(timeout 3 redis-cli -p "$redis_port" --raw ROLE 2>/dev/null) || return 0
  printf '%s\\n' "${{reply%%$'\\n'*}}"
}}
"""

START_REDIS = f"""\
#!/bin/bash
# start-redis.sh: starts one Redis server of a role. Writes the password (and, with Sentinel,
# this server's name and whom it replicates) into the file redis.conf includes, then becomes
# redis-server. A returning old master asks the Sentinels first, so it comes back as a
# replica of the server they promoted instead of as a second master.
set -euo pipefail

config_dir=${{REDIS_CONFIG_DIR:-{CONFIG_DIR}}}
runtime_dir=${{REDIS_RUNTIME_DIR:-{RUNTIME_DIR}}}
: "${{{PASSWORD_VARIABLE}:?{PASSWORD_VARIABLE} must hold the role password (secretKeyRef, key password)}}"

umask 077  # the runtime files hold the password
# A copy Redis may rewrite (Sentinel sends CONFIG REWRITE); the ConfigMap is read-only.
cp "$config_dir/redis.conf" "$runtime_dir/redis.conf"
{{
  printf 'requirepass "%s"\\n' "${PASSWORD_VARIABLE}"
  printf 'masterauth "%s"\\n' "${PASSWORD_VARIABLE}"
}} >"$runtime_dir/runtime.conf"

if [ -n "${{REDIS_PEERS:-}}" ]; then
  # shellcheck source=/dev/null
  source "$config_dir/sentinel-lib.sh"
  master=$(current_master)
  printf 'replica-announce-ip "%s"\\n' "$REDIS_SELF" >>"$runtime_dir/runtime.conf"
  if [ "$master" = "$REDIS_SELF" ]; then
    echo "start-redis: starting as the master of $REDIS_MASTER_SET" >&2
  else
    echo "start-redis: starting as a replica of $master" >&2
    printf 'replicaof "%s" %s\\n' "$master" "$redis_port" >>"$runtime_dir/runtime.conf"
  fi
fi

exec redis-server "$runtime_dir/redis.conf"
"""

START_SENTINEL = f"""\
#!/bin/bash
# start-sentinel.sh: starts the Sentinel of one pod, monitoring the master the other
# Sentinels name (or the first pod, when none answers).
set -euo pipefail

config_dir=${{REDIS_CONFIG_DIR:-{CONFIG_DIR}}}
sentinel_dir=${{REDIS_SENTINEL_DIR:-{SENTINEL_DIR}}}
: "${{{PASSWORD_VARIABLE}:?{PASSWORD_VARIABLE} must hold the role password (secretKeyRef, key password)}}"
# shellcheck source=/dev/null
source "$config_dir/sentinel-lib.sh"

master=$(current_master)
# Sentinel refuses a monitor line whose host does not resolve: wait for the pod's DNS record.
attempt=0
until getent hosts "$master" >/dev/null; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 60 ]; then
    echo "start-sentinel: $master does not resolve after 120 s" >&2
    exit 1
  fi
  sleep 2
done

umask 077  # the file holds the password
sed "s/{MASTER_HOST_PLACEHOLDER}/$master/" "$config_dir/sentinel.conf" >"$sentinel_dir/sentinel.conf"
# A stable id per pod: a restarted Sentinel is the same voter, not one more stale entry.
sentinel_id=$(printf '%s' "$REDIS_SELF" | sha1sum)
{{
  printf 'sentinel announce-ip "%s"\\n' "$REDIS_SELF"
  printf 'sentinel myid %s\\n' "${{sentinel_id:0:40}}"
  printf 'sentinel auth-pass %s "%s"\\n' "$REDIS_MASTER_SET" "${PASSWORD_VARIABLE}"
  printf 'requirepass "%s"\\n' "${PASSWORD_VARIABLE}"
  printf 'sentinel sentinel-pass "%s"\\n' "${PASSWORD_VARIABLE}"
}} >>"$sentinel_dir/sentinel.conf"
echo "start-sentinel: monitoring $REDIS_MASTER_SET at $master" >&2

exec redis-server "$sentinel_dir/sentinel.conf" --sentinel
"""

HAND_OVER = f"""\
#!/bin/bash
# hand-over.sh: the preStop hook of a Redis server with Sentinel. A master about to stop
# hands its role over first, so a rolling update or a node drain loses no acknowledged write
# and switches masters in about two seconds instead of {DOWN_AFTER_MILLISECONDS} ms of silence and a failover:
#   1. pause writes (they wait instead of landing on a master that is about to stop),
#   2. wait until every replica has acknowledged the master's last write; if one has not
#      (down, or still in its first sync), stop here and leave it to the Sentinels, which
#      might otherwise promote a replica that lacks data,
#   3. ask another pod's Sentinel to fail over, and wait until it names the new master,
#   4. become that master's replica at once (Sentinel would take 10 s), so the proxies drop
#      this server, then unpause: the waiting writes fail as READONLY and the clients
#      reconnect through the proxy to the new master.
# It never holds the shutdown for long: any failure unpauses and lets the pod stop.
set -euo pipefail

config_dir=${{REDIS_CONFIG_DIR:-{CONFIG_DIR}}}
: "${{{PASSWORD_VARIABLE}:?{PASSWORD_VARIABLE} must hold the role password (secretKeyRef, key password)}}"
# shellcheck source=/dev/null
source "$config_dir/sentinel-lib.sh"

local_cli() {{
  timeout 5 redis-cli -p "$redis_port" --raw "$@" >/dev/null 2>&1 || true
}}

replicas=$(($(wc -w <<<"$REDIS_PEERS") - 1))

# True when every replica is online at the master's replication offset (writes are paused,
# so the offset stands still; replicas acknowledge every second).
replicas_caught_up() {{
  local info offset line caught=0
  info=$(timeout 3 redis-cli -p "$redis_port" --raw INFO replication 2>/dev/null) || return 1
  offset=$(sed -n 's/^master_repl_offset:\\([0-9]*\\).*/\\1/p' <<<"$info")
  [ -n "$offset" ] || return 1
  while IFS= read -r line; do
    if [[ $line =~ ^slave[0-9]+:.*state=online,offset=([0-9]+), ]] && [ "${{BASH_REMATCH[1]}}" = "$offset" ]; then
      caught=$((caught + 1))
    fi
  done <<<"$info"
  [ "$caught" -eq "$replicas" ]
}}

[ "$(own_role)" = master ] || exit 0
local_cli CLIENT PAUSE 15000 WRITE
trap 'local_cli CLIENT UNPAUSE' EXIT

attempt=0
until replicas_caught_up; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 15 ]; then
    echo "hand-over: not every replica has every write; leaving the failover to the Sentinels" >&2
    exit 0
  fi
  sleep 0.2
done

new_master=""
for peer in $REDIS_PEERS; do
  [ "$peer" != "$REDIS_SELF" ] || continue
  reply=$(timeout 3 redis-cli -h "$peer" -p "$sentinel_port" --raw \\
    SENTINEL FAILOVER "$REDIS_MASTER_SET" 2>/dev/null) || continue
  [ "$reply" = OK ] || continue
  echo "hand-over: the Sentinel at $peer is failing $REDIS_MASTER_SET over" >&2
  for _ in $(seq 1 20); do
    new_master=$(ask_sentinels) || new_master=""
    [ -z "$new_master" ] || [ "$new_master" = "$REDIS_SELF" ] || break
    new_master=""
    sleep 0.5
  done
  break
done
if [ -z "$new_master" ]; then
  echo "hand-over: no Sentinel promoted a replica; stopping as master" >&2
  exit 0
fi
local_cli REPLICAOF "$new_master" "$redis_port"
echo "hand-over: now a replica of $new_master" >&2
"""

SCRIPTS: Final = {
    "sentinel-lib.sh": SENTINEL_LIB,
    "start-redis.sh": START_REDIS,
    "start-sentinel.sh": START_SENTINEL,
    "hand-over.sh": HAND_OVER,
}
"""ConfigMap key -> script; run with `/bin/bash <CONFIG_DIR>/<key>` (a ConfigMap file is not executable)."""

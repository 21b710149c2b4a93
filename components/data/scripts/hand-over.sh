#!/bin/bash
# hand-over.sh: the preStop hook of a Redis server with Sentinel. A master about to stop
# hands its role over first, so a rolling update or a node drain loses no acknowledged write
# and switches masters in about two seconds instead of the Sentinels' down-after silence and a failover:
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

config_dir=${REDIS_CONFIG_DIR:?REDIS_CONFIG_DIR must name the mounted ConfigMap}
: "${REDISCLI_AUTH:?REDISCLI_AUTH must hold the role password (secretKeyRef, key password)}"
# shellcheck source=sentinel-lib.sh
source "$config_dir/sentinel-lib.sh"

local_cli() {
  timeout 5 redis-cli -p "$redis_port" --raw "$@" >/dev/null 2>&1 || true
}

replicas=$(($(wc -w <<<"$REDIS_PEERS") - 1))

# True when every replica is online at the master's replication offset (writes are paused,
# so the offset stands still; replicas acknowledge every second).
replicas_caught_up() {
  local info offset line caught=0
  info=$(timeout 3 redis-cli -p "$redis_port" --raw INFO replication 2>/dev/null) || return 1
  offset=$(sed -n 's/^master_repl_offset:\([0-9]*\).*/\1/p' <<<"$info")
  [ -n "$offset" ] || return 1
  while IFS= read -r line; do
    if [[ $line =~ ^slave[0-9]+:.*state=online,offset=([0-9]+), ]] && [ "${BASH_REMATCH[1]}" = "$offset" ]; then
      caught=$((caught + 1))
    fi
  done <<<"$info"
  [ "$caught" -eq "$replicas" ]
}

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
  reply=$(timeout 3 redis-cli -h "$peer" -p "$sentinel_port" --raw \
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

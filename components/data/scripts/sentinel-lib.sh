#!/bin/bash
# sentinel-lib.sh: sourced by start-redis.sh, start-sentinel.sh and hand-over.sh, which set
# `set -euo pipefail`; the variables and functions it defines are theirs. The environment names
# this pod and its set:
#   REDIS_SELF        this pod's name in the headless Service
#   REDIS_PEERS       every pod's name, the first pod's first (space-separated)
#   REDIS_MASTER_SET  the name the Sentinels know the set by
# shellcheck disable=SC2034 # used by the scripts that source this file
redis_port=${REDIS_SERVER_PORT:?REDIS_SERVER_PORT must name the Redis port}
# shellcheck disable=SC2034 # used by the scripts that source this file
sentinel_port=${REDIS_SENTINEL_PORT:?REDIS_SENTINEL_PORT must name the Sentinel port}
: "${REDIS_SELF:?REDIS_SELF must name this pod}"
: "${REDIS_PEERS:?REDIS_PEERS must list the pods of the set}"
: "${REDIS_MASTER_SET:?REDIS_MASTER_SET must name the Sentinel master set}"

# Prints the master named by the first Sentinel of another pod that answers; fails when none does.
ask_sentinels() {
  local peer reply host
  for peer in $REDIS_PEERS; do
    [ "$peer" != "$REDIS_SELF" ] || continue
    reply=$(timeout 3 redis-cli -h "$peer" -p "$sentinel_port" --raw \
      SENTINEL get-master-addr-by-name "$REDIS_MASTER_SET" 2>/dev/null) || continue
    host=${reply%%$'\n'*}
    # An error (NOAUTH, LOADING) or an empty reply (no master known yet) is no answer.
    if [[ $host =~ ^[A-Za-z0-9.-]+$ ]]; then
      printf '%s\n' "$host"
      return 0
    fi
  done
  return 1
}

# The master to start with: what the Sentinels say (they may have failed over while this pod
# was away), else, when none answers because the whole set is starting, the first pod.
current_master() {
  ask_sentinels || printf '%s\n' "${REDIS_PEERS%% *}"
}

# This server's role (master, slave), or nothing when it does not answer.
own_role() {
  local reply
  reply=$(timeout 3 redis-cli -p "$redis_port" --raw ROLE 2>/dev/null) || return 0
  printf '%s\n' "${reply%%$'\n'*}"
}

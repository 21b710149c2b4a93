#!/bin/bash
# start-redis.sh: starts one Redis server of a role. Writes the password (and, with Sentinel,
# this server's name and whom it replicates) into the file redis.conf includes, then becomes
# redis-server. A returning old master asks the Sentinels first, so it comes back as a
# replica of the server they promoted instead of as a second master.
set -euo pipefail

config_dir=${REDIS_CONFIG_DIR:?REDIS_CONFIG_DIR must name the mounted ConfigMap}
runtime_dir=${REDIS_RUNTIME_DIR:?REDIS_RUNTIME_DIR must name the writable runtime directory}
: "${REDISCLI_AUTH:?REDISCLI_AUTH must hold the role password (secretKeyRef, key password)}"

umask 077  # the runtime files hold the password
# A copy Redis may rewrite (Sentinel sends CONFIG REWRITE); the ConfigMap is read-only.
cp "$config_dir/redis.conf" "$runtime_dir/redis.conf"
{
  printf 'requirepass "%s"\n' "$REDISCLI_AUTH"
  printf 'masterauth "%s"\n' "$REDISCLI_AUTH"
} >"$runtime_dir/runtime.conf"

if [ -n "${REDIS_PEERS:-}" ]; then
  # shellcheck source=sentinel-lib.sh
  source "$config_dir/sentinel-lib.sh"
  master=$(current_master)
  printf 'replica-announce-ip "%s"\n' "$REDIS_SELF" >>"$runtime_dir/runtime.conf"
  if [ "$master" = "$REDIS_SELF" ]; then
    echo "start-redis: starting as the master of $REDIS_MASTER_SET" >&2
  else
    echo "start-redis: starting as a replica of $master" >&2
    printf 'replicaof "%s" %s\n' "$master" "$redis_port" >>"$runtime_dir/runtime.conf"
  fi
fi

exec redis-server "$runtime_dir/redis.conf"

#!/bin/bash
# start-sentinel.sh: starts the Sentinel of one pod, monitoring the master the other
# Sentinels name (or the first pod, when none answers).
set -euo pipefail

config_dir=${REDIS_CONFIG_DIR:?REDIS_CONFIG_DIR must name the mounted ConfigMap}
sentinel_dir=${REDIS_SENTINEL_DIR:?REDIS_SENTINEL_DIR must name the writable Sentinel directory}
: "${REDISCLI_AUTH:?REDISCLI_AUTH must hold the role password (secretKeyRef, key password)}"
# shellcheck source=sentinel-lib.sh
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
sed "s/@MASTER_HOST@/$master/" "$config_dir/sentinel.conf" >"$sentinel_dir/sentinel.conf"
# A stable id per pod: a restarted Sentinel is the same voter, not one more stale entry.
sentinel_id=$(printf '%s' "$REDIS_SELF" | sha1sum)
{
  printf 'sentinel announce-ip "%s"\n' "$REDIS_SELF"
  printf 'sentinel myid %s\n' "${sentinel_id:0:40}"
  printf 'sentinel auth-pass %s "%s"\n' "$REDIS_MASTER_SET" "$REDISCLI_AUTH"
  printf 'requirepass "%s"\n' "$REDISCLI_AUTH"
  printf 'sentinel sentinel-pass "%s"\n' "$REDISCLI_AUTH"
} >>"$sentinel_dir/sentinel.conf"
echo "start-sentinel: monitoring $REDIS_MASTER_SET at $master" >&2

exec redis-server "$sentinel_dir/sentinel.conf" --sentinel

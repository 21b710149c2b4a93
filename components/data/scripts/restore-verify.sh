#!/usr/bin/env bash
# restore-verify.sh: prove the fetched backup restores. Check the dump against its manifest,
# restore it into a throwaway PostgreSQL cluster, check the tables, report rows and checksums.
#
# Runs in the main container of the restore-verification CronJob pod (official `postgres:16`
# image: bash, coreutils, initdb, pg_ctl, psql, pg_restore; no aws CLI), after restore-fetch.sh.
# It must run as a non-root uid (PostgreSQL refuses root). The pod's uid (10999) has no passwd entry in
# the image, and initdb needs one: initdb alone runs with nss_wrapper preloaded, reading a passwd and a
# group file of this script's on the scratch volume (the root filesystem is read-only), as the image's
# own entrypoint does for an arbitrary uid. Nothing else here looks up a user name.
#
#   1. configuration  the environment, RESTORE_MINIMUM_ROWS parsed
#   2. read-manifest  $BACKUP_WORK_DIR/manifest.json (written by backup-upload.sh, fetched by restore-fetch.sh)
#   3. check-size     the dump's size equals the manifest's size_bytes (catches truncated downloads)
#   4. check-sha256   the dump's sha256 equals the manifest's sha256 (catches corruption)
#   5. initdb         a new cluster in $RESTORE_CLUSTER_DIR/data: --username=postgres, trust on the unix
#                     socket only (--auth-host=reject, listen_addresses=''), durability off (throwaway)
#   6. start          pg_ctl start; the socket lives in $RESTORE_CLUSTER_DIR/socket (no TCP at all)
#   7. restore        CREATE DATABASE <manifest database>; pg_restore --no-owner --no-privileges --exit-on-error
#   8. report         one line per user table: "restore-verify: table <schema.table> rows=<n> checksum=<md5>"
#   9. minimum-rows   every table in RESTORE_MINIMUM_ROWS exists and has at least its row count
#  10. stop           pg_ctl stop (also on every failure, from the exit trap)
# Any failure exits 1 with "restore-verify: FAILED at <step>: <what and why>" on stderr.
#
# The content checksum of a table (the SQL below, which the tests also run on the source database):
# md5 of the concatenation of md5(row::text) of every row, the row hashes sorted bytewise
# (COLLATE "C"), with the session pinned to TimeZone UTC, DateStyle ISO, IntervalStyle postgres,
# extra_float_digits 1 and bytea_output hex, so that neither row order, locale nor session
# settings change it; equal checksums mean equal multisets of rows. An empty table gives md5('').
#
# Environment (names: components/data/backup_contract.py):
#   BACKUP_WORK_DIR       required  the emptyDir holding manifest.json and the dump (read only is fine)
#   RESTORE_CLUSTER_DIR   required  an emptyDir for the throwaway cluster (writable; several times
#                                   the dump's size: data, WAL, socket, server log)
#   RESTORE_MINIMUM_ROWS  required  "table=count,schema.table=count": fewest rows each must hold;
#                                   a table without a schema is in public
#   RESTORE_JOBS          optional  pg_restore --jobs, 1 when unset (match the container's CPUs)
#   RESTORE_NSS_WRAPPER_LIBRARY  optional  nss_wrapper's libnss_wrapper.so, used only when the uid has no
#                                passwd entry; unset: the first of {/usr,}/lib{/*,}/libnss_wrapper.so, the
#                                image entrypoint's search (the bookworm image: /usr/lib/x86_64-linux-gnu/)
# The libpq variables (PGHOST, PGUSER, PGPASSWORD, ...) are ignored and reset to the throwaway cluster.
set -euo pipefail

readonly SCRIPT=restore-verify
# The shared library: fail, require, one_line, read_manifest_field, aws_call, and the exit trap.
# shellcheck source=backup-common.sh
# shellcheck source=backup-common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/backup-common.sh"
server_started=
data_dir=

# Stop the throwaway server on every exit (the library's exit trap calls this).
cleanup() {
  if [ -n "$server_started" ]; then
    pg_ctl --pgdata="$data_dir" --mode=immediate --wait stop >/dev/null 2>&1 || true
  fi
}

# The last lines of a log, on one line, for a failure message.
log_tail() {
  tail -n "${2:-5}" -- "$1" 2>/dev/null | tr '\n' ' ' | sed 's/  */ /g; s/^ //; s/ $//'
}

# The per-table report. components/data/backup_contract.py reads this text (between <<'SQL' and SQL)
# so the tests compute the source side with exactly the same statement.
table_report_sql=$(
  cat <<'SQL'
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';
SET extra_float_digits = 1;
SET bytea_output = 'hex';
SELECT format('%I.%I', n.nspname, c.relname) AS table_name,
       (xpath('/row/row_count/text()', report))[1]::text::bigint AS row_count,
       (xpath('/row/checksum/text()', report))[1]::text AS checksum
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
CROSS JOIN LATERAL query_to_xml(
  format(
    'SELECT count(*) AS row_count, '
    'md5(coalesce(string_agg(row_hash, %L ORDER BY row_hash COLLATE "C"), %L)) AS checksum '
    'FROM (SELECT md5(t::text) AS row_hash FROM %I.%I AS t) AS hashed',
    '', '', n.nspname, c.relname),
  false, true, '') AS report
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'
ORDER BY 1;
SQL
)

require BACKUP_WORK_DIR "the work directory restore-fetch.sh downloaded the backup to"
require RESTORE_CLUSTER_DIR "an empty, writable directory for the throwaway PostgreSQL cluster"
require RESTORE_MINIMUM_ROWS "the tables to check, as table=count,table2=count"
jobs=${RESTORE_JOBS:-1}
[[ $jobs =~ ^[1-9][0-9]?$ ]] || fail "RESTORE_JOBS '$jobs' is not a number of parallel jobs from 1 to 99"
[[ -d $RESTORE_CLUSTER_DIR && -w $RESTORE_CLUSTER_DIR ]] ||
  fail "RESTORE_CLUSTER_DIR $RESTORE_CLUSTER_DIR is not a writable directory (is the scratch volume mounted?)"
[[ $RESTORE_CLUSTER_DIR != *\'* ]] || fail "RESTORE_CLUSTER_DIR $RESTORE_CLUSTER_DIR contains a quote"
export TMPDIR="$RESTORE_CLUSTER_DIR"
[ "$(id -u)" -ne 0 ] ||
  fail "PostgreSQL refuses to run as root: run this container as a non-root user (securityContext.runAsUser)"

declare -a minimum_tables=() minimum_counts=()
readonly item_pattern='^([a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?)=([0-9]+)$'
remaining="$RESTORE_MINIMUM_ROWS,"
while [ -n "$remaining" ]; do
  item=${remaining%%,*}
  remaining=${remaining#*,}
  item=${item//[[:space:]]/}
  [ -n "$item" ] || continue
  [[ $item =~ $item_pattern ]] ||
    fail "RESTORE_MINIMUM_ROWS item '$item' is not table=count (lower-case table name, optional schema., whole number)"
  table=${BASH_REMATCH[1]}
  [[ $table == *.* ]] || table="public.$table"
  minimum_tables+=("$table")
  minimum_counts+=("$((10#${BASH_REMATCH[3]}))")
done
[ "${#minimum_tables[@]}" -gt 0 ] || fail "RESTORE_MINIMUM_ROWS names no table"

# initdb looks up the uid's user name; the pod's uid has no passwd entry in the image. Give it one for
# initdb only, the way the image's entrypoint does (docker-library/postgres, docker_init_database_dir):
# nss_wrapper preloaded, reading passwd and group files that name the uid `postgres`.
declare -a with_user_name=()
if ! id -un >/dev/null 2>&1; then
  uid=$(id -u) gid=$(id -g)
  if [ -n "${RESTORE_NSS_WRAPPER_LIBRARY:-}" ]; then
    nss_wrapper_candidates=("$RESTORE_NSS_WRAPPER_LIBRARY")
  else
    nss_wrapper_candidates=({/usr,}/lib{/*,}/libnss_wrapper.so)
  fi
  nss_wrapper=
  for candidate in "${nss_wrapper_candidates[@]}"; do
    if [ -s "$candidate" ]; then
      nss_wrapper=$candidate
      break
    fi
  done
  [ -n "$nss_wrapper" ] ||
    fail "uid $uid has no passwd entry, which initdb needs, and there is no nss_wrapper library to give it one at ${nss_wrapper_candidates[*]} (the postgres image ships it, package libnss-wrapper; RESTORE_NSS_WRAPPER_LIBRARY names another path)"
  printf 'postgres:x:%s:%s:PostgreSQL:%s:/bin/false\n' "$uid" "$gid" "$RESTORE_CLUSTER_DIR" >"$RESTORE_CLUSTER_DIR/nss-passwd"
  printf 'postgres:x:%s:\n' "$gid" >"$RESTORE_CLUSTER_DIR/nss-group"
  with_user_name=(env "LD_PRELOAD=$nss_wrapper" "NSS_WRAPPER_PASSWD=$RESTORE_CLUSTER_DIR/nss-passwd"
    "NSS_WRAPPER_GROUP=$RESTORE_CLUSTER_DIR/nss-group")
  "${with_user_name[@]}" id -un >/dev/null 2>"$RESTORE_CLUSTER_DIR/nss-wrapper.err" ||
    fail "uid $uid has no passwd entry, and preloading $nss_wrapper did not give it one: $(one_line "$RESTORE_CLUSTER_DIR/nss-wrapper.err") (is it nss_wrapper's libnss_wrapper.so?)"
fi

step=read-manifest
readonly manifest_path="$BACKUP_WORK_DIR/manifest.json"
[ -f "$manifest_path" ] || fail "no manifest.json in $BACKUP_WORK_DIR: restore-fetch.sh did not finish"
backup_id='' database='' dump_file='' size_bytes='' sha256=''
read_manifest_field backup_id backup_id
read_manifest_field database database
read_manifest_field dump_file dump_file
read_manifest_field size_bytes size_bytes
read_manifest_field sha256 sha256
[[ $database =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || fail "manifest database '$database' is not a plain name"
[[ $dump_file =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || fail "manifest dump_file '$dump_file' is not a plain file name"
readonly dump_path="$BACKUP_WORK_DIR/$dump_file"
[ -f "$dump_path" ] || fail "the manifest names $dump_file but $dump_path does not exist"

step=check-size
actual_size=$(stat -c %s -- "$dump_path")
if [ "$actual_size" -lt "$size_bytes" ]; then
  fail "dump $dump_file of backup $backup_id is $actual_size bytes but the manifest says $size_bytes: the dump is truncated"
elif [ "$actual_size" -gt "$size_bytes" ]; then
  fail "dump $dump_file of backup $backup_id is $actual_size bytes but the manifest says $size_bytes: the dump is not the one the manifest describes"
fi

step=check-sha256
actual_sha256=$(sha256sum -- "$dump_path")
actual_sha256=${actual_sha256%% *}
[ "$actual_sha256" = "$sha256" ] ||
  fail "sha256 of dump $dump_file of backup $backup_id is $actual_sha256 but the manifest says $sha256: the dump is corrupted"

step=initdb
data_dir="$RESTORE_CLUSTER_DIR/data"
readonly socket_dir="$RESTORE_CLUSTER_DIR/socket"
readonly log_file="$RESTORE_CLUSTER_DIR/postgres.log"
readonly errors="$RESTORE_CLUSTER_DIR/restore-verify.err"
# Unix socket paths are limited to 107 bytes, the socket file name takes 14 of them.
[ "${#socket_dir}" -le 90 ] || fail "RESTORE_CLUSTER_DIR $RESTORE_CLUSTER_DIR is too long for a unix socket path; use a shorter mount path"
# A restarted container finds the previous attempt's cluster on the same emptyDir: start clean.
rm -rf -- "$data_dir" "$socket_dir"
mkdir -m 700 -- "$data_dir" "$socket_dir"
"${with_user_name[@]}" initdb --pgdata="$data_dir" --username=postgres --auth-local=trust --auth-host=reject \
  --encoding=UTF8 --locale=C --no-sync >"$log_file" 2>&1 ||
  fail "initdb of the throwaway cluster failed: $(log_tail "$log_file")"
# A throwaway cluster: no TCP, no durability, no background work competing with the restore.
cat >>"$data_dir/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$socket_dir'
port = 5432
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
max_wal_size = '2GB'
checkpoint_timeout = '30min'
autovacuum = off
maintenance_work_mem = '128MB'
max_parallel_workers_per_gather = 0
max_parallel_maintenance_workers = 0
CONF

step=start
export PGHOST="$socket_dir" PGPORT=5432 PGUSER=postgres PGDATABASE=postgres
unset PGHOSTADDR PGPASSWORD PGPASSFILE PGSERVICE PGSERVICEFILE PGOPTIONS PGSSLMODE PGTARGETSESSIONATTRS
pg_ctl --pgdata="$data_dir" --log="$log_file" --wait --timeout=120 start >"$errors" 2>&1 ||
  fail "pg_ctl start of the throwaway cluster failed: $(one_line "$errors") $(log_tail "$log_file")"
server_started=1

step=restore
psql --no-psqlrc --quiet --set=ON_ERROR_STOP=1 --command="CREATE DATABASE \"$database\"" >"$errors" 2>&1 ||
  fail "CREATE DATABASE \"$database\" failed: $(one_line "$errors")"
pg_restore --no-owner --no-privileges --exit-on-error --jobs="$jobs" --dbname="$database" -- "$dump_path" \
  >"$errors" 2>&1 || fail "pg_restore of backup $backup_id into a fresh database failed: $(log_tail "$errors" 10)"

step=report
report=$(psql --no-psqlrc --quiet --tuples-only --no-align --field-separator='|' --set=ON_ERROR_STOP=1 \
  --dbname="$database" --command="$table_report_sql" 2>"$errors") ||
  fail "the row count and checksum query failed: $(one_line "$errors")"
declare -A rows_by_table=()
total_rows=0
while IFS='|' read -r table rows checksum; do
  [ -n "$table" ] || continue
  rows_by_table[$table]=$rows
  total_rows=$((total_rows + rows))
  printf '%s: table %s rows=%s checksum=%s\n' "$SCRIPT" "$table" "$rows" "$checksum"
done <<<"$report"
[ "${#rows_by_table[@]}" -gt 0 ] || fail "backup $backup_id restored no user tables"

step='minimum-rows'
problems=()
for index in "${!minimum_tables[@]}"; do
  table=${minimum_tables[$index]}
  minimum=${minimum_counts[$index]}
  if [ -z "${rows_by_table[$table]+set}" ]; then
    problems+=("table $table does not exist in the restored database")
  elif [ "${rows_by_table[$table]}" -lt "$minimum" ]; then
    problems+=("table $table has ${rows_by_table[$table]} rows, below its minimum of $minimum")
  fi
done
if [ "${#problems[@]}" -gt 0 ]; then
  joined=$(printf '%s; ' "${problems[@]}")
  fail "RESTORE_MINIMUM_ROWS not met: ${joined%; }"
fi

step=stop
pg_ctl --pgdata="$data_dir" --mode=fast --wait stop >"$errors" 2>&1 ||
  fail "pg_ctl stop of the throwaway cluster failed: $(one_line "$errors")"
server_started=

printf '%s: backup %s of database "%s" verified: %s bytes, sha256 matches, %s tables, %s rows, minimums met\n' \
  "$SCRIPT" "$backup_id" "$database" "$size_bytes" "${#rows_by_table[@]}" "$total_rows"

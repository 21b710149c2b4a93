#!/usr/bin/env bash
# backup-dump.sh: take a logical backup of one PostgreSQL database into the shared work directory.
#
# Runs in the `dump` container, one of the two main containers of the logical backup pod (official
# `postgres:16` image: bash, coreutils, psql and pg_dump; no aws CLI). The `upload` container
# (backup-upload.sh) runs at the same time and ships the dump to the store while pg_dump is still
# writing it. pg_dump never waits for the upload: it writes a plain file, so a slow store cannot
# stall it, and the upload follows that file until dump-complete.json says it is finished. The
# upload also takes the dump's sha256 as it streams it, and writes the manifest: every byte is
# read once here (by pg_dump's own write) and once there.
#
# Files on the work emptyDir:
#   plan.json           written before pg_dump starts: what the upload container needs to begin
#                       (backup_id, database, database_size_bytes)
#   <database>.dump     created empty before plan.json, then written by pg_dump as it runs
#   dump-complete.json  written only after pg_dump succeeded: the dump is finished, its size, and what
#                       the manifest says about the server (the upload adds the sha256)
#   dump.failed         this script's failure line, if it fails (the upload then stops and names it)
#   upload.failed       backup-upload.sh's failure line, if it fails: this script then stops pg_dump
#                       instead of finishing a dump nobody will store
# All JSON here is one key per line, which is how the scripts read it without jq or python. The pod
# never restarts a container (restartPolicy Never; the Job retries with a new pod and a new emptyDir),
# so neither script ever finds the files of an earlier attempt.
#
# 1. connect       asks the server for its version, its size, and how many user tables the database holds
# 2. check-tables  refuses a database without user tables: its backup would restore to nothing
# 3. plan          plan.json (temporary name, then renamed); backup_id is the UTC start, YYYYmmddTHHMMSSZ
# 4. pg_dump       pg_dump --format=custom to its standard output, redirected into <database>.dump
#                  (written to a stream, the archive has no table of data offsets; pg_restore then
#                  finds each table's data by skipping over the blocks before it, which is how it
#                  reads it in order anyway)
# 5. complete      dump-complete.json (temporary name, then renamed): {"backup_id", "database",
#                  "size_bytes", "server_version", "pg_dump_version", "user_tables", "created_at",
#                  "completed_at"} (UTC ISO-8601)
# Any failure exits 1 with "backup-dump: FAILED at <step>: <what and why>" on stderr and in dump.failed.
#
# Environment (names: components/backup_scripts.py):
#   PGHOST             required  server host name (or unix socket directory) of the live database
#   PGPORT             optional  server port, 5432 when unset
#   PGUSER             required  role that dumps; needs SELECT on every table (libpq)
#   PGPASSWORD         optional  its password, from a Secret (libpq; a PGPASSFILE works too)
#   PGDATABASE         required  the database to dump; also names the dump file and object key,
#                                so letters, digits, '_', '.', '-' only
#   PGCONNECT_TIMEOUT  optional  seconds libpq waits for a connection, 10 when unset
#   BACKUP_WORK_DIR    required  the emptyDir shared with the upload container (writable)
set -euo pipefail

readonly SCRIPT=backup-dump
# The shared library: fail, require, one_line, json_string, read_manifest_field, and the exit trap.
# shellcheck source=backup-common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/backup-common.sh"

require BACKUP_WORK_DIR "the shared work directory (emptyDir) the dump is written to"
[[ -d $BACKUP_WORK_DIR && -w $BACKUP_WORK_DIR ]] ||
  fail "BACKUP_WORK_DIR $BACKUP_WORK_DIR is not a writable directory (is the work volume mounted?)"
# From here on a failure is also written where the upload container looks for it.
failure_marker="$BACKUP_WORK_DIR/dump.failed"
require PGHOST "the host of the database to back up"
require PGUSER "the role that takes the backup"
require PGDATABASE "the database to back up"
export PGPORT="${PGPORT:-5432}"
export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-10}"
[[ $PGDATABASE =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] ||
  fail "PGDATABASE '$PGDATABASE' is not a plain name (letters, digits, '_', '.', '-'); it names the dump file and object key"
# A read-only root filesystem has no writable /tmp: keep every temporary file on the work volume.
export TMPDIR="$BACKUP_WORK_DIR"

readonly dump_path="$BACKUP_WORK_DIR/$PGDATABASE.dump"
readonly plan_path="$BACKUP_WORK_DIR/plan.json"
readonly complete_path="$BACKUP_WORK_DIR/dump-complete.json"
readonly upload_failed="$BACKUP_WORK_DIR/upload.failed"
readonly errors="$BACKUP_WORK_DIR/.backup-dump.err"
readonly server="database \"$PGDATABASE\" at $PGHOST:$PGPORT as \"$PGUSER\""
watcher=

# Stop pg_dump (process $1) as soon as the upload container reports a failure: its dump would never be stored.
stop_when_upload_fails() {
  until [ -e "$upload_failed" ]; do
    sleep 0.5
  done
  kill -TERM "$1" 2>/dev/null || true
}

cleanup() {
  if [ -n "$watcher" ]; then
    kill "$watcher" 2>/dev/null || true
  fi
}

step=connect
readonly probe="SELECT current_setting('server_version'), pg_database_size(current_database()), count(*)
FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'"
probe_status=0
answer=$(psql --no-psqlrc --no-password --tuples-only --no-align --field-separator='|' \
  --set=ON_ERROR_STOP=1 --command="$probe" 2>"$errors") || probe_status=$?
if [ "$probe_status" -eq 2 ]; then
  fail "cannot connect to $server: $(one_line "$errors")"
elif [ "$probe_status" -ne 0 ]; then
  fail "connected to $server but could not list its tables: $(one_line "$errors")"
fi
IFS='|' read -r server_version database_size user_tables <<<"$answer"

step=check-tables
[ "$user_tables" -gt 0 ] ||
  fail "database \"$PGDATABASE\" at $PGHOST:$PGPORT has no user tables; refusing to store a backup that would restore to nothing (wrong PGDATABASE, or migrations not run yet?)"

step=plan
started=$(date -u +%s)
backup_id=$(date -u -d "@$started" +%Y%m%dT%H%M%SZ)
created_at=$(date -u -d "@$started" +%Y-%m-%dT%H:%M:%SZ)
pg_dump_version=$(pg_dump --version)
# The dump file exists before the plan does, so the upload container can open it as soon as it reads the plan.
: >"$dump_path"
write_json "$plan_path" backup_id "$(json_string "$backup_id")" database "$(json_string "$PGDATABASE")" \
  database_size_bytes "$database_size"

step=pg_dump
status=0
pg_dump --format=custom --no-password >"$dump_path" 2>"$errors" &
readonly pg_dump_pid=$!
stop_when_upload_fails "$pg_dump_pid" >/dev/null 2>&1 &
watcher=$!
wait "$pg_dump_pid" || status=$?
kill "$watcher" 2>/dev/null || true
watcher=
if [ "$status" -ne 0 ] && [ -e "$upload_failed" ]; then
  fail "stopped pg_dump of $server because the upload failed: $(one_line "$upload_failed")"
elif [ "$status" -ne 0 ]; then
  fail "pg_dump of $server failed: $(one_line "$errors")"
fi
if [ -s "$errors" ]; then
  printf '%s: pg_dump said: %s\n' "$SCRIPT" "$(one_line "$errors")" >&2
fi
size_bytes=$(stat -c %s -- "$dump_path")

step=complete
write_json "$complete_path" backup_id "$(json_string "$backup_id")" database "$(json_string "$PGDATABASE")" \
  size_bytes "$size_bytes" server_version "$(json_string "$server_version")" \
  pg_dump_version "$(json_string "$pg_dump_version")" user_tables "$user_tables" \
  created_at "$(json_string "$created_at")" completed_at "$(json_string "$(date -u +%Y-%m-%dT%H:%M:%SZ)")"
rm -f -- "$errors"

printf '%s: backup %s of database "%s": %s.dump (%s bytes, %s user tables) for the upload container\n' \
  "$SCRIPT" "$backup_id" "$PGDATABASE" "$PGDATABASE" "$size_bytes" "$user_tables"

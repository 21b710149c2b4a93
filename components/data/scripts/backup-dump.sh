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
#   dump.alive          a heartbeat while pg_dump runs (a counter, twice a second), so the upload can
#                       tell a dump that waits for locks from a dump container that was killed
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
# 4. pg_dump       pg_dump --format=custom to its standard output, a pipe into <database>.dump
#                  (written to a stream, the archive has no table of data offsets and is never
#                  rewritten in place; pg_restore then finds each table's data by skipping over the
#                  blocks before it, which is how it reads it in order anyway)
# 5. complete      dump-complete.json (temporary name, then renamed): {"backup_id", "database",
#                  "size_bytes", "server_version", "pg_dump_version", "user_tables", "created_at",
#                  "completed_at"} (UTC ISO-8601)
# Any failure exits 1 with "backup-dump: FAILED at <step>: <what and why>" on stderr and in dump.failed.
#
# Environment (names: components/data/backup_contract.py):
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
# The shared library: fail, require, require_work_dir, one_line, json_string, write_json, and the exit trap.
# shellcheck source=backup-common.sh
# shellcheck source=backup-common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/backup-common.sh"

require_work_dir "the shared work directory (emptyDir) the dump is written to"
# From here on a failure is also written where the upload container looks for it.
failure_marker="$BACKUP_WORK_DIR/dump.failed"
require PGHOST "the host of the database to back up"
require PGUSER "the role that takes the backup"
require PGDATABASE "the database to back up"
export PGPORT="${PGPORT:-5432}"
export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-10}"
[[ $PGDATABASE =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] ||
  fail "PGDATABASE '$PGDATABASE' is not a plain name (letters, digits, '_', '.', '-'); it names the dump file and object key"

readonly dump_path="$BACKUP_WORK_DIR/$PGDATABASE.dump"
readonly plan_path="$BACKUP_WORK_DIR/plan.json"
readonly complete_path="$BACKUP_WORK_DIR/dump-complete.json"
readonly upload_failed="$BACKUP_WORK_DIR/upload.failed"
readonly heartbeat_path="$BACKUP_WORK_DIR/dump.alive"
readonly errors="$BACKUP_WORK_DIR/.backup-dump.err"
readonly copy_errors="$BACKUP_WORK_DIR/.backup-dump.copy.err"
readonly pid_path="$BACKUP_WORK_DIR/.backup-dump.pid"
readonly server="database \"$PGDATABASE\" at $PGHOST:$PGPORT as \"$PGUSER\""
watcher=

# While pg_dump runs: write a heartbeat (a counter, twice a second) that tells the upload container this one
# is alive even while pg_dump writes nothing (it writes no byte before it holds a lock on every table), and
# stop pg_dump as soon as the upload container reports a failure: its dump would never be stored.
watch_pg_dump() {
  local beats=0
  until [ -e "$upload_failed" ]; do
    beats=$((beats + 1))
    printf '%s\n' "$beats" >"$heartbeat_path"
    sleep 0.5
  done
  # pg_dump may be starting this very moment; the script stops this loop once pg_dump has ended.
  until [ -s "$pid_path" ]; do
    sleep 0.1
  done
  kill -TERM "$(<"$pid_path")" 2>/dev/null || true
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
[ ! -e "$upload_failed" ] || fail "not starting pg_dump of $server: the upload failed: $(one_line "$upload_failed")"
status=0
watch_pg_dump >/dev/null 2>&1 &
watcher=$!
# Through `cat` into the file: pg_dump's standard output is then a pipe, which it cannot seek, so it writes the
# archive once, front to back. (Given a seekable file it would go back at the end and rewrite its header with
# data offsets, under the upload container's feet.) pg_dump runs in the background of its pipeline stage only
# so that the watcher knows its process id; `wait` on the pipeline gives its pipefail status.
{
  pg_dump --format=custom --no-password 2>"$errors" &
  printf '%s\n' "$!" >"$pid_path"
  wait "$!"
} | cat >"$dump_path" 2>"$copy_errors" &
wait "$!" || status=$?
kill "$watcher" 2>/dev/null || true
watcher=
if [ "$status" -ne 0 ] && [ -e "$upload_failed" ]; then
  cause=$(one_line "$upload_failed")
  if [ -s "$errors" ]; then
    cause+=" (pg_dump: $(one_line "$errors"))"
  fi
  fail "stopped pg_dump of $server because the upload failed: $cause"
elif [ "$status" -ne 0 ]; then
  cause=$(one_line "$errors")
  # If the copy into the file stopped first, pg_dump only says it could not write to the pipe: add why.
  if [ -s "$copy_errors" ]; then
    cause+="; writing $dump_path: $(one_line "$copy_errors") (is the work volume full?)"
  fi
  fail "pg_dump of $server failed: $cause"
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
rm -f -- "$errors" "$copy_errors" "$pid_path"

printf '%s: backup %s of database "%s": %s.dump (%s bytes, %s user tables) for the upload container\n' \
  "$SCRIPT" "$backup_id" "$PGDATABASE" "$PGDATABASE" "$size_bytes" "$user_tables"

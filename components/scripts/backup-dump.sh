#!/usr/bin/env bash
# backup-dump.sh: take a logical backup of one PostgreSQL database into the shared work directory.
#
# Runs in the init container of the logical backup CronJob pod (official `postgres:16` image:
# bash, coreutils, psql and pg_dump; no aws CLI). backup-upload.sh then ships the result.
#
# 1. connect    asks the server for its version and how many user tables the database holds
# 2. check-tables  refuses a database without user tables: its backup would restore to nothing
# 3. pg_dump    pg_dump --format=custom to its standard output, through `tee` into
#               $BACKUP_WORK_DIR/<database>.dump and through `sha256sum`: size and sha256 come from
#               the same single pass that writes the file, which is never read back. (Written to a
#               pipe, the archive has no table of data offsets; pg_restore then finds each table's
#               data by skipping over the blocks before it, which is how it reads it in order anyway.)
# 4. manifest   $BACKUP_WORK_DIR/manifest.json, written last (temporary name, then renamed), so
#               the upload step never sees a manifest without its finished dump:
#               {"manifest_version", "backup_id" (UTC start, YYYYmmddTHHMMSSZ), "database",
#                "dump_file", "format": "custom", "size_bytes", "sha256", "server_version",
#                "pg_dump_version", "user_tables", "created_at", "completed_at"} (UTC ISO-8601),
#               one key per line, which is how the other scripts read it without jq or python.
# Any failure exits 1 with "backup-dump: FAILED at <step>: <what and why>" on stderr.
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
# The shared library: fail, require, one_line, read_manifest_field, aws_call, and the exit trap.
# shellcheck source=backup-common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/backup-common.sh"

# Replace what would break a JSON string: backslash, double quote, control characters.
json_string() {
  local value=$1
  value=${value//\\/\\\\}
  value=${value//\"/\\\"}
  value=${value//[$'\t\n\r']/ }
  printf '"%s"' "$value"
}

require PGHOST "the host of the database to back up"
require PGUSER "the role that takes the backup"
require PGDATABASE "the database to back up"
require BACKUP_WORK_DIR "the shared work directory (emptyDir) the dump is written to"
export PGPORT="${PGPORT:-5432}"
export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-10}"
[[ $PGDATABASE =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] ||
  fail "PGDATABASE '$PGDATABASE' is not a plain name (letters, digits, '_', '.', '-'); it names the dump file and object key"
[[ -d $BACKUP_WORK_DIR && -w $BACKUP_WORK_DIR ]] ||
  fail "BACKUP_WORK_DIR $BACKUP_WORK_DIR is not a writable directory (is the work volume mounted?)"
# A read-only root filesystem has no writable /tmp: keep every temporary file on the work volume.
export TMPDIR="$BACKUP_WORK_DIR"

readonly dump_file="$PGDATABASE.dump"
readonly dump_path="$BACKUP_WORK_DIR/$dump_file"
readonly manifest_path="$BACKUP_WORK_DIR/manifest.json"
readonly errors="$BACKUP_WORK_DIR/.backup-dump.err"
readonly tee_errors="$BACKUP_WORK_DIR/.backup-dump.tee.err"
readonly checksum_path="$BACKUP_WORK_DIR/.backup-dump.sha256"
readonly server="database \"$PGDATABASE\" at $PGHOST:$PGPORT as \"$PGUSER\""
# A restarted container finds the previous attempt's files on the same emptyDir: start clean.
rm -f -- "$manifest_path" "$manifest_path.partial" "$dump_path" "$dump_path.partial" "$errors" "$tee_errors" \
  "$checksum_path"

step=connect
readonly probe="SELECT current_setting('server_version'), count(*)
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
server_version=${answer%|*}
user_tables=${answer##*|}

step=check-tables
[ "$user_tables" -gt 0 ] ||
  fail "database \"$PGDATABASE\" at $PGHOST:$PGPORT has no user tables; refusing to store a backup that would restore to nothing (wrong PGDATABASE, or migrations not run yet?)"

step=pg_dump
started=$(date -u +%s)
backup_id=$(date -u -d "@$started" +%Y%m%dT%H%M%SZ)
created_at=$(date -u -d "@$started" +%Y-%m-%dT%H:%M:%SZ)
pg_dump_version=$(pg_dump --version)
# One pass: pg_dump | tee <file> | sha256sum. pipefail alone would not say which of the three
# failed, so their statuses are read from PIPESTATUS and the first failure is named.
status=(0 0 0)
pg_dump --format=custom --no-password 2>"$errors" |
  tee -- "$dump_path.partial" 2>"$tee_errors" |
  sha256sum >"$checksum_path" || status=("${PIPESTATUS[@]}")
if [ "${status[0]}" -ne 0 ]; then
  cause=$(one_line "$errors")
  # If tee stopped first, pg_dump only says it could not write to the pipe: add tee's reason.
  if [ -s "$tee_errors" ]; then
    cause+="; $(one_line "$tee_errors")"
  fi
  fail "pg_dump of $server failed: $cause"
elif [ "${status[1]}" -ne 0 ]; then
  fail "writing the dump to $dump_path.partial failed (is the work volume full?): $(one_line "$tee_errors")"
elif [ "${status[2]}" -ne 0 ]; then
  fail "sha256sum of the dump failed (exit status ${status[2]})"
fi
if [ -s "$errors" ]; then
  printf '%s: pg_dump said: %s\n' "$SCRIPT" "$(one_line "$errors")" >&2
fi
read -r sha256 _ <"$checksum_path"
[[ $sha256 =~ ^[0-9a-f]{64}$ ]] || fail "sha256sum printed '$sha256', not a sha256"
size_bytes=$(stat -c %s -- "$dump_path.partial")
mv -f -- "$dump_path.partial" "$dump_path"

step=manifest
completed_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
{
  printf '{\n'
  printf '  "manifest_version": 1,\n'
  printf '  "backup_id": %s,\n' "$(json_string "$backup_id")"
  printf '  "database": %s,\n' "$(json_string "$PGDATABASE")"
  printf '  "dump_file": %s,\n' "$(json_string "$dump_file")"
  printf '  "format": "custom",\n'
  printf '  "size_bytes": %s,\n' "$size_bytes"
  printf '  "sha256": %s,\n' "$(json_string "$sha256")"
  printf '  "server_version": %s,\n' "$(json_string "$server_version")"
  printf '  "pg_dump_version": %s,\n' "$(json_string "$pg_dump_version")"
  printf '  "user_tables": %s,\n' "$user_tables"
  printf '  "created_at": %s,\n' "$(json_string "$created_at")"
  printf '  "completed_at": %s\n' "$(json_string "$completed_at")"
  printf '}\n'
} >"$manifest_path.partial"
mv -f -- "$manifest_path.partial" "$manifest_path"
rm -f -- "$errors" "$tee_errors" "$checksum_path"

printf '%s: backup %s of database "%s": %s (%s bytes, %s user tables, sha256 %s)\n' \
  "$SCRIPT" "$backup_id" "$PGDATABASE" "$dump_file" "$size_bytes" "$user_tables" "$sha256"

#!/usr/bin/env bash
# restore-fetch.sh: find the newest complete backup in the store and download its manifest and
# dump into the work directory, for restore-verify.sh.
#
# Runs in the init container of the restore-verification CronJob pod (official `amazon/aws-cli`
# image: bash, coreutils, the aws CLI; no python, no jq).
#
# A backup is complete when <prefix>/<backup_id>/manifest.json exists (backup-upload.sh writes it
# last); backup ids are UTC timestamps (YYYYmmddTHHMMSSZ), so the newest is the greatest.
#   1. configuration      the environment
#   2. find-manifest      list <prefix>/ and pick the newest <prefix>/<backup_id>/manifest.json
#   3. download-manifest  to $BACKUP_WORK_DIR/manifest.json; its backup_id must match the key's
#   4. download-dump      the file the manifest names, to $BACKUP_WORK_DIR/<dump_file>
# Size and sha256 are checked by restore-verify.sh, in the container that uses the dump.
# Any failure exits 1 with "restore-fetch: FAILED at <step>: <what and why>" on stderr.
#
# Environment (names: components/data/backup_contract.py):
#   BACKUP_STORE        required  "s3" or "directory"
#   BACKUP_WORK_DIR     required  the emptyDir shared with the verify container (writable)
#   BACKUP_PREFIX       required  key prefix / subdirectory of every backup, e.g. crm/production
#   BACKUP_BUCKET       s3        the bucket's name
#   AWS_REGION          s3        the bucket's region (read by the aws CLI)
#   AWS_ENDPOINT_URL    optional  s3: another endpoint (tests: moto); read by the aws CLI itself
#   BACKUP_DIRECTORY    directory the mounted store (a PersistentVolumeClaim in dev)
# Credentials come the aws CLI's usual way (IRSA: AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE).
set -euo pipefail

readonly SCRIPT=restore-fetch
# The shared library: fail, require, require_store, one_line, read_manifest_field, aws_call, the exit trap.
# shellcheck source=backup-common.sh
# shellcheck source=backup-common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/backup-common.sh"

readonly backup_id_pattern='^[0-9]{8}T[0-9]{6}Z$'

require_store "the shared work directory the backup is downloaded to"
readonly errors="$BACKUP_WORK_DIR/.restore-fetch.err"
readonly manifest_path="$BACKUP_WORK_DIR/manifest.json"
# A restarted container finds the previous attempt's files on the same emptyDir: start clean.
rm -f -- "$manifest_path"

# Keep the greatest backup id among candidate manifest keys/paths "<base>/<id>/manifest.json".
newest_id=
consider() {
  local base=$1 candidate=$2 id
  id=${candidate#"$base"/}
  id=${id%/manifest.json}
  if [[ $candidate == "$base/$id/manifest.json" && $id =~ $backup_id_pattern && $id > $newest_id ]]; then
    newest_id=$id
  fi
}

fetch_s3() {
  local url="s3://$BACKUP_BUCKET" key dump_key
  step=find-manifest
  # Full listing (the CLI follows the pages), keys only; JSON or python are not available here.
  aws_call "cannot list $url/$prefix/" s3api list-objects-v2 --bucket "$BACKUP_BUCKET" --prefix "$prefix/" \
    --query "(Contents || \`[]\`)[?ends_with(Key, '/manifest.json')].Key" --output text
  set -f
  # shellcheck disable=SC2086 # keys are split on whitespace on purpose; globbing is off
  for key in $aws_output; do
    consider "$prefix" "$key"
  done
  set +f
  [ -n "$newest_id" ] ||
    fail "no backup found: no $prefix/<backup_id>/manifest.json in S3 at $url (has the backup CronJob completed once?)"
  manifest_source="$url/$prefix/$newest_id/manifest.json"

  step=download-manifest
  aws_call "download of the manifest $manifest_source failed" s3 cp "$manifest_source" "$manifest_path" --only-show-errors --no-progress
  check_manifest

  step=download-dump
  dump_key="$prefix/$newest_id/$dump_file"
  aws_call "download of the dump $url/$dump_key failed" s3 cp "$url/$dump_key" "$BACKUP_WORK_DIR/$dump_file" \
    --only-show-errors --no-progress
}

fetch_directory() {
  local store="$BACKUP_DIRECTORY/$prefix" candidate source
  step=find-manifest
  [[ -d $BACKUP_DIRECTORY ]] ||
    fail "BACKUP_DIRECTORY $BACKUP_DIRECTORY is not a directory (is the backup volume mounted?)"
  for candidate in "$store"/*/manifest.json; do
    if [ -f "$candidate" ]; then
      consider "$store" "$candidate"
    fi
  done
  [ -n "$newest_id" ] ||
    fail "no backup found: no $prefix/<backup_id>/manifest.json in the store directory $BACKUP_DIRECTORY (has the backup CronJob completed once?)"
  manifest_source="$store/$newest_id/manifest.json"

  step=download-manifest
  cp -- "$manifest_source" "$manifest_path.partial" 2>"$errors" ||
    fail "copy of the manifest $manifest_source failed: $(one_line "$errors")"
  mv -f -- "$manifest_path.partial" "$manifest_path"
  check_manifest

  step=download-dump
  source="$store/$newest_id/$dump_file"
  cp -- "$source" "$BACKUP_WORK_DIR/$dump_file.partial" 2>"$errors" || fail "copy of the dump $source failed: $(one_line "$errors")"
  mv -f -- "$BACKUP_WORK_DIR/$dump_file.partial" "$BACKUP_WORK_DIR/$dump_file"
}

check_manifest() {
  local manifest_id
  read_manifest_field manifest_id backup_id
  read_manifest_field dump_file dump_file
  [ "$manifest_id" = "$newest_id" ] ||
    fail "$manifest_source says backup_id $manifest_id, not $newest_id: the manifest was copied to the wrong place"
  [[ $dump_file =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] ||
    fail "$manifest_source names dump_file '$dump_file', which is not a plain file name"
}

manifest_source=
dump_file=
if [ "$BACKUP_STORE" = s3 ]; then
  fetch_s3
else
  fetch_directory
fi
rm -f -- "$errors"
printf '%s: fetched backup %s from %s: manifest.json and %s into %s\n' \
  "$SCRIPT" "$newest_id" "${manifest_source%/manifest.json}/" "$dump_file" "$BACKUP_WORK_DIR"

#!/usr/bin/env bash
# Set by the sourcing script: SCRIPT, errors, manifest_path; aws_output is read by it.
# shellcheck disable=SC2154,SC2034
# backup-common.sh: what the four backup scripts share, sourced by each of them from the same
# directory (the scripts ConfigMap), so it runs in both the `postgres` and the `amazon/aws-cli`
# images: bash and coreutils only; aws_call is used by the aws-cli containers alone.
#
# Not run on its own. The sourcing script sets SCRIPT (its name in messages) first and may
# define `cleanup`, which runs on every exit before the failure message. Provides:
#   fail <message>            "<SCRIPT>: FAILED at <step>: <message>" on stderr, exit 1
#   require <VAR> <meaning>   fail unless the variable is set and not empty
#   one_line <file>           the file's text on one line, for messages
#   json_string <text>        the text as a JSON string
#   write_json <file> <key> <value>...  a JSON object, one key per line, written under a temporary name
#   read_manifest_field <var> <field>   a string or number field of $manifest_path
#   aws_call <what> <args...> run the aws CLI into $aws_output; a failure names its likely cause
#   require_work_dir <meaning>  BACKUP_WORK_DIR is set and a writable directory; TMPDIR points there
#   require_store <work dir meaning>   check the backup store's settings (BACKUP_STORE and the
#                             variables of that store, BACKUP_PREFIX, BACKUP_WORK_DIR), set `prefix`
#                             (BACKUP_PREFIX without outer slashes), TMPDIR and AWS_PAGER
#   wait_seconds_setting      BACKUP_WAIT_SECONDS (600 when unset) into `wait_seconds`
#   await <file> <what> <partner failed>   wait for a file the other container writes, at most
#                             `wait_seconds`; fail with the other container's message if it failed
# and the globals `step` (the current step, named in every failure), `errors` (set by the
# script: where captured stderr goes) and `failure_marker`: where a script whose pod runs two
# containers at once (the logical backup) also writes its failure, for the other one to name.
set -euo pipefail

step=configuration
reported=
failure_marker=

# The failure line on stderr and, where the script has a partner container, in its failure marker
# (written under a temporary name first, so the partner never reads half a line).
report_failure() {
  local line="$SCRIPT: FAILED at $step: $*"
  printf '%s\n' "$line" >&2
  if [ -n "$failure_marker" ]; then
    { printf '%s\n' "$line" >"$failure_marker.partial" && mv -f -- "$failure_marker.partial" "$failure_marker"; } ||
      true
  fi
}

fail() {
  reported=1
  report_failure "$@"
  exit 1
}

on_exit() {
  local status=$?
  if declare -F cleanup >/dev/null; then
    cleanup
  fi
  if [ "$status" -ne 0 ] && [ -z "$reported" ]; then
    report_failure "unexpected error (exit status $status)"
  fi
}
trap on_exit EXIT
# The kubelet's SIGTERM (the Job's deadline, an eviction, a deletion) is a failure like any other: named,
# and written where the other container of the pod looks for it.
on_signal() {
  fail "stopped by SIGTERM or SIGINT (the Job's activeDeadlineSeconds, an eviction or a deletion)"
}
trap on_signal TERM INT

require() {
  [ -n "${!1:-}" ] || fail "environment variable $1 is not set: $2"
}

one_line() {
  tr '\n' ' ' <"$1" | sed 's/  */ /g; s/^ //; s/ $//'
}

# Replace what would break a JSON string: backslash, double quote, control characters.
json_string() {
  local value=$1
  value=${value//\\/\\\\}
  value=${value//\"/\\\"}
  value=${value//[$'\t\n\r']/ }
  printf '"%s"' "$value"
}

# Write $1 as JSON, one key per line, from `key value` pairs (values already JSON: json_string for
# strings), under a temporary name first: a reader never sees half a file.
write_json() {
  local target=$1 key value separator=''
  shift
  {
    printf '{'
    while [ "$#" -gt 0 ]; do
      key=$1 value=$2
      shift 2
      printf '%s\n  "%s": %s' "$separator" "$key" "$value"
      separator=,
    done
    printf '\n}\n'
  } >"$target.partial"
  mv -f -- "$target.partial" "$target"
}

# Set variable $1 to a string or number field $2 of a JSON file these scripts wrote (write_json, one key
# per line): the manifest, or the file named by $3 (plan.json, dump-complete.json).
read_manifest_field() {
  local value file=${3:-$manifest_path}
  value=$(sed -n -e "s/^  \"$2\": \"\(.*\)\",\{0,1\}\$/\1/p" -e "s/^  \"$2\": \([0-9][0-9]*\),\{0,1\}\$/\1/p" "$file")
  [ -n "$value" ] || fail "${3:-manifest ${manifest_source:-$manifest_path}} has no \"$2\" field (not written by these scripts?)"
  printf -v "$1" '%s' "$value"
}

# BACKUP_WAIT_SECONDS: how long one container of the backup pod waits for the other at a hand-over.
wait_seconds_setting() {
  wait_seconds=${BACKUP_WAIT_SECONDS:-600}
  [[ $wait_seconds =~ ^[1-9][0-9]{0,5}$ ]] ||
    fail "BACKUP_WAIT_SECONDS '$wait_seconds' is not a whole number of seconds from 1 to 999999"
}

# Wait for the file $1 (described by $2) that the partner container writes; fail at once, naming the
# partner's own failure line, if its failure marker $3 appears instead, and after $wait_seconds.
await() {
  local file=$1 what=$2 partner_failed=$3 polls=0
  until [ -e "$file" ]; do
    if [ -e "$partner_failed" ]; then
      fail "$(one_line "$partner_failed")"
    fi
    polls=$((polls + 1))
    [ "$polls" -le $((wait_seconds * 10)) ] ||
      fail "no $what after ${wait_seconds} s (BACKUP_WAIT_SECONDS); did the other container start?"
    sleep 0.1
  done
}

# Name the likely cause of an aws CLI failure before its own words.
describe_aws_error() {
  local text
  text=$(one_line "$errors")
  case $text in
    *"Could not connect to the endpoint URL"* | *"Connect timeout on endpoint URL"* | *"Read timeout on endpoint URL"* | *"Connection was closed"* | *"SSL validation failed"*)
      printf 'cannot reach the S3 endpoint %s: %s' "${AWS_ENDPOINT_URL:-of region ${AWS_REGION:-?}}" "$text" ;;
    *NoSuchBucket* | *"HeadBucket operation: Not Found"*)
      printf 'bucket %s does not exist: %s' "$BACKUP_BUCKET" "$text" ;;
    *AccessDenied* | *Forbidden* | *"(403)"*)
      printf 'access denied (check the IAM role, the bucket policy and the KMS key policy): %s' "$text" ;;
    *PreconditionFailed* | *ConditionalRequestConflict*)
      printf 'the object was written meanwhile, and S3 refused to overwrite it (conditional write, If-None-Match: *): %s' "$text" ;;
    *"Unable to locate credentials"*)
      printf 'no AWS credentials (is the service account annotated with the IAM role?): %s' "$text" ;;
    *) printf '%s' "$text" ;;
  esac
}

# Run the aws CLI; its standard output lands in $aws_output, a failure ends the script.
aws_output=
aws_call() {
  local what=$1
  shift
  aws_output=$(aws "$@" 2>"$errors") || fail "$what: $(describe_aws_error)"
}

# The work emptyDir, which a script writes to; also its TMPDIR (a read-only root filesystem has no writable /tmp).
require_work_dir() {
  require BACKUP_WORK_DIR "$1"
  [[ -d $BACKUP_WORK_DIR && -w $BACKUP_WORK_DIR ]] ||
    fail "BACKUP_WORK_DIR $BACKUP_WORK_DIR is not a writable directory (is the work volume mounted?)"
  export TMPDIR="$BACKUP_WORK_DIR"
}

# The store's settings, as backup-upload.sh and restore-fetch.sh (the aws-cli containers) read them.
require_store() {
  require BACKUP_STORE "s3 or directory"
  require_work_dir "$1"
  require BACKUP_PREFIX "the key prefix of every backup, e.g. crm/production"
  case $BACKUP_STORE in
    s3)
      require BACKUP_BUCKET "the name of the backup bucket"
      require AWS_REGION "the region of the backup bucket"
      ;;
    directory)
      require BACKUP_DIRECTORY "the mounted directory backups are kept in"
      ;;
    *) fail "BACKUP_STORE '$BACKUP_STORE' is not one of: s3, directory" ;;
  esac
  prefix=${BACKUP_PREFIX#/}
  prefix=${prefix%/}
  [[ $prefix =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*$ ]] ||
    fail "BACKUP_PREFIX '$BACKUP_PREFIX' is not a plain path (segments of letters, digits, '_', '.', '-', starting with a letter or digit)"
  # aws CLI v2 pipes output through a pager unless told not to.
  export AWS_PAGER=""
}

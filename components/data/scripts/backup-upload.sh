#!/usr/bin/env bash
# backup-upload.sh: store the dump backup-dump.sh is writing in the work directory, while pg_dump
# still runs, then its manifest: <prefix>/<backup_id>/<database>.<run>.dump and
# <prefix>/<backup_id>/manifest.json, <run> a random token of this run.
#
# Runs in the `upload` container, one of the two main containers of the logical backup pod (official
# `amazon/aws-cli` image: bash, coreutils, the aws CLI; no python, no jq), at the same time as the
# `dump` container; the files the two exchange on the work emptyDir are described in backup-dump.sh.
# Streaming keeps a backup close to the speed of pg_dump alone: the store receives the dump as it is
# written, so once pg_dump ends only the last part, one check and the manifest remain.
#
# The manifest goes LAST and only after the stored dump has been checked, so a run without a
# manifest never looks complete; readers (restore-fetch.sh) only trust manifests. A failed dump
# leaves at most a dump object without a manifest (the bucket's lifecycle rule expires it). The
# run token in the dump's name means no run can overwrite another's dump, and the manifest is a
# conditional write, so nothing complete is ever overwritten. Nothing is ever deleted: the store's
# IAM role cannot delete. In S3 that takes four aws CLI calls (each one starts the CLI anew):
# list-objects-v2 and s3 cp while pg_dump runs, head-object and put-object after it.
#   1. configuration   the environment
#   2. wait-for-dump   the dump container's plan.json (backup_id, database, database size), at most
#                      BACKUP_WAIT_SECONDS; fails with the dump's own failure line if it failed first
#   3. check-bucket    (s3) the endpoint answers, the bucket exists and can be listed: before the stream,
#                      because the aws CLI reports a refused `s3 cp -` only at the end of its input
#      check-run       (s3) this backup_id has no manifest yet (same list call)
#      check-directory (directory) the store directory is mounted and writable, and this backup_id
#                      has no manifest yet
#   4. upload-dump     the dump file, followed as it grows until dump-complete.json appears, through
#                      sha256sum into s3: `s3 cp -` (multipart, 8 MB parts; --expected-size is the
#                      database's size, so streams above 50 GB get larger parts) with SSE-KMS; S3
#                      checks each part's CRC32 (--checksum-algorithm) / directory: a file under a
#                      temporary name. Fails with the dump's failure line if the dump fails, and if for
#                      BACKUP_WAIT_SECONDS neither the file grows nor the dump's heartbeat changes
#   5. verify-dump     every byte of the finished dump was streamed (the bytes read equal its size in
#                      dump-complete.json); the stored object has that size (s3: one head-object,
#                      which also shows aws:kms encryption) / directory: then renamed to its final name
#   6. manifest        manifest.json: dump-complete.json's fields, the stored dump_file, the format and
#                      the sha256 of the stream: {"manifest_version", "backup_id", "database",
#                      "dump_file", "format": "custom", "size_bytes", "sha256", "server_version",
#                      "pg_dump_version", "user_tables", "created_at", "completed_at"}
#   7. upload-manifest s3: put-object with SSE-KMS, a SHA256 checksum that S3 checks against the
#                      bytes it receives, and If-None-Match: * (a conditional write: S3 refuses it if
#                      the manifest exists, e.g. from another run of the same second) / directory:
#                      copied under a temporary name
#   8. verify-manifest s3: the put's own response says aws:kms and gives the SHA256 S3 checked, which
#                      must be the local manifest's (no head-object needed) / directory: the stored
#                      size equals the local file's
# Any failure exits 1 with "backup-upload: FAILED at <step>: <what and why>" on stderr and in
# upload.failed, which makes the dump container stop pg_dump.
#
# Environment (names: components/data/backup_contract.py):
#   BACKUP_STORE        required  "s3" or "directory"
#   BACKUP_WORK_DIR     required  the emptyDir shared with the dump container (plan, dump, manifest)
#   BACKUP_WAIT_SECONDS optional  seconds to wait for the dump container's plan, and for its dump to
#                                 grow; 600 when unset
#   BACKUP_PREFIX       required  key prefix / subdirectory of every backup, e.g. crm/production
#   BACKUP_BUCKET       s3        the bucket's name
#   AWS_REGION          s3        the bucket's region (read by the aws CLI)
#   BACKUP_KMS_KEY_ID   optional  s3: KMS key id/ARN for SSE-KMS; unset uses the bucket's default key
#   AWS_ENDPOINT_URL    optional  s3: another endpoint (tests: moto); read by the aws CLI itself
#   BACKUP_DIRECTORY    directory the mounted store (a PersistentVolumeClaim in dev)
# Credentials come the aws CLI's usual way (IRSA: AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE).
set -euo pipefail

readonly SCRIPT=backup-upload
# The shared library: fail, require, require_store, await, one_line, json_string, write_json,
# read_manifest_field, aws_call, the exit trap.
# shellcheck source=backup-common.sh
# shellcheck source=backup-common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/backup-common.sh"

# From here on a failure is also written where the dump container looks for it (a misconfigured store
# should stop pg_dump too), as soon as the work directory is there to write it in.
if [[ -d ${BACKUP_WORK_DIR:-} && -w $BACKUP_WORK_DIR ]]; then
  failure_marker="$BACKUP_WORK_DIR/upload.failed"
fi
require_store "the shared work directory backup-dump.sh writes to"
wait_seconds_setting
readonly errors="$BACKUP_WORK_DIR/.backup-upload.err"
readonly plan_path="$BACKUP_WORK_DIR/plan.json"
readonly complete_path="$BACKUP_WORK_DIR/dump-complete.json"
readonly manifest_path="$BACKUP_WORK_DIR/manifest.json"
readonly dump_failed="$BACKUP_WORK_DIR/dump.failed"
readonly heartbeat_path="$BACKUP_WORK_DIR/dump.alive"
readonly hash_pipe="$BACKUP_WORK_DIR/.backup-upload.stream"
readonly streamed_sum="$BACKUP_WORK_DIR/.backup-upload.sha256"
readonly streamed_count="$BACKUP_WORK_DIR/.backup-upload.bytes"
readonly store_ended="$BACKUP_WORK_DIR/.backup-upload.stored"
readonly follow_status="$BACKUP_WORK_DIR/.backup-upload.follow.status"
readonly tee_status="$BACKUP_WORK_DIR/.backup-upload.tee.status"

step=wait-for-dump
await "$plan_path" "plan.json from the dump container" "$dump_failed"
backup_id='' database='' database_size=''
read_manifest_field backup_id backup_id "$plan_path"
read_manifest_field database database "$plan_path"
read_manifest_field database_size database_size_bytes "$plan_path"
[[ $backup_id =~ ^[0-9]{8}T[0-9]{6}Z$ ]] || fail "plan backup_id '$backup_id' is not YYYYmmddTHHMMSSZ"
[[ $database =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || fail "plan database '$database' is not a plain name"
readonly dump_path="$BACKUP_WORK_DIR/$database.dump"
# The stored name carries a token of this run: no other run can overwrite this dump, whatever its timing.
run_token=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
readonly dump_file="$database.$run_token.dump"
readonly run_prefix="$prefix/$backup_id"
readonly dump_key="$run_prefix/$dump_file"
readonly manifest_key="$run_prefix/manifest.json"
# Set by stream_dump and check_stream.
streamed_sha256='' size_bytes='' store_failure=''

# Write the dump file to standard output as backup-dump.sh writes it, and end when dump-complete.json
# says it is finished; then write how many bytes were read to $streamed_count. Exit status 2: the dump
# failed (dump.failed); 3: for $wait_seconds s the file did not grow and the dump container's heartbeat
# did not change (it was killed); 4: the store stopped reading (it failed: the caller names its error);
# 1: the file could not be read.
follow_dump() {
  local complete position=0 last_position=0 beat='' last_beat='' idle_since=$SECONDS
  exec 3<"$dump_path"
  while :; do
    # Look for the end BEFORE copying: if the dump was complete already, this copy reads it to its very end.
    complete=
    if [ -e "$complete_path" ]; then
      complete=1
    fi
    cat <&3 || return 1
    # How far the copies have read: the descriptor's offset, from /proc without starting a process.
    position=$(fd_position 3)
    if [ -n "$complete" ]; then
      printf '%s\n' "$position" >"$streamed_count"
      return 0
    elif [ -e "$dump_failed" ]; then
      return 2
    elif [ -e "$store_ended" ]; then
      # Writing would tell as much (SIGPIPE), but only once pg_dump writes again.
      return 4
    fi
    { read -r beat <"$heartbeat_path"; } 2>/dev/null || beat=''
    if [ "$position" != "$last_position" ] || [ "$beat" != "$last_beat" ]; then
      last_position=$position last_beat=$beat idle_since=$SECONDS
    elif [ $((SECONDS - idle_since)) -gt "$wait_seconds" ]; then
      return 3
    fi
    sleep 0.2
  done
}

# The exit status a pipeline stage wrote to the file $1; 255 if it wrote none (it was killed).
stage_status() {
  local value=''
  { read -r value <"$1"; } 2>/dev/null || true
  printf '%s' "${value:-255}"
}

# Run the store command ($@) on standard input; when it ends, write its exit status to $store_ended, which
# also tells follow_dump to stop.
store_stream() {
  local status=0
  "$@" || status=$?
  printf '%s\n' "$status" >"$store_ended"
  return "$status"
}

# The offset of this shell's file descriptor $1 (Linux /proc, read with a builtin).
fd_position() {
  local field value
  while read -r field value; do
    if [ "$field" = pos: ]; then
      printf '%s' "$value"
      return 0
    fi
  done <"/proc/$BASHPID/fdinfo/$1"
  return 1
}

# follow_dump | tee (into sha256sum) | the store ($@: the command that stores standard input). Fails naming
# the first stage that failed; sets streamed_sha256, the sha256 of every byte the store was given. The
# pipeline runs in the background and the script waits for it: bash runs a trap (SIGTERM from the kubelet)
# only between commands, and `wait` is the one that a signal interrupts.
stream_dump() {
  local sum_pid follow=0 tee=0 store=0 sum=0
  rm -f -- "$hash_pipe" "$streamed_sum" "$streamed_count" "$store_ended" "$follow_status" "$tee_status"
  mkfifo -- "$hash_pipe"
  sha256sum <"$hash_pipe" >"$streamed_sum" &
  sum_pid=$!
  {
    follow_dump 2>"$errors.follow" || follow=$?
    printf '%s\n' "$follow" >"$follow_status"
  } | {
    tee -- "$hash_pipe" 2>"$errors.tee" || tee=$?
    printf '%s\n' "$tee" >"$tee_status"
  } | store_stream "$@" 2>"$errors" &
  wait "$!" || true
  follow=$(stage_status "$follow_status") tee=$(stage_status "$tee_status") store=$(stage_status "$store_ended")
  # A tee that failed may never have opened the hash pipe, and sha256sum would wait for it for ever.
  if [ "$tee" -ne 0 ]; then
    kill "$sum_pid" 2>/dev/null || true
  fi
  wait "$sum_pid" || sum=$?
  rm -f -- "$hash_pipe" "$store_ended" "$follow_status" "$tee_status"
  # The first cause first: a failed or stalled dump, then a read error, then tee (sha256sum), then the store.
  # A stage after a failed one sees end of stream; a stage before it, a broken pipe (cat, tee: 141, silent).
  case $follow in
    2) fail "$(one_line "$dump_failed")" ;;
    3) fail "the dump container has stopped: for ${wait_seconds} s (BACKUP_WAIT_SECONDS) $dump_path did not grow and its heartbeat did not change, and it neither finished nor failed (was it killed? see its status)" ;;
  esac
  if [ "$follow" -ne 0 ] && [ -s "$errors.follow" ]; then
    fail "reading $dump_path failed: $(one_line "$errors.follow")"
  fi
  [ "$tee" -eq 0 ] || [ "$tee" -eq 141 ] || fail "passing the dump to sha256sum failed: $(one_line "$errors.tee")"
  # describe_aws_error names the likely cause of an aws CLI failure; other words pass through it as they are.
  [ "$store" -eq 0 ] || fail "$store_failure: $(describe_aws_error)"
  [ "$follow" -ne 4 ] || fail "$store_failure: it stopped reading before the dump was complete"
  # Here tee can only have died of SIGPIPE (141): a reader went away before the end, yet said nothing.
  [ "$tee" -eq 0 ] ||
    fail "the stream broke off: tee exited with status $tee (SIGPIPE), so the store or sha256sum stopped reading before the end of the dump (sha256sum exit status $sum)"
  [ "$follow" -eq 0 ] || fail "reading $dump_path failed (exit status $follow)"
  [ "$sum" -eq 0 ] || fail "sha256sum of the stream failed (exit status $sum)"
  read -r streamed_sha256 _ <"$streamed_sum"
  [[ $streamed_sha256 =~ ^[0-9a-f]{64}$ ]] || fail "sha256sum printed '$streamed_sha256', not a sha256"
  rm -f -- "$errors.follow" "$errors.tee" "$streamed_sum"
}

# After the stream: the dump is complete, and every byte of it was streamed.
check_stream() {
  local complete_id streamed
  read_manifest_field complete_id backup_id "$complete_path"
  read_manifest_field size_bytes size_bytes "$complete_path"
  [ "$complete_id" = "$backup_id" ] ||
    fail "dump-complete.json is of backup $complete_id, but the plan said $backup_id"
  streamed=$(<"$streamed_count")
  [ "$streamed" = "$size_bytes" ] ||
    fail "$streamed bytes of $dump_path were streamed, but the finished dump is $size_bytes bytes: it changed while it was read"
}

# manifest.json: what the dump container recorded, plus what only this side knows.
write_manifest() {
  local field recorded
  local -a fields=(manifest_version 1 backup_id "$(json_string "$backup_id")" database "$(json_string "$database")"
    dump_file "$(json_string "$dump_file")" format '"custom"' size_bytes "$size_bytes"
    sha256 "$(json_string "$streamed_sha256")")
  for field in server_version pg_dump_version user_tables created_at completed_at; do
    read_manifest_field recorded "$field" "$complete_path"
    if [[ $recorded =~ ^[0-9]+$ ]]; then
      fields+=("$field" "$recorded")
    else
      fields+=("$field" "$(json_string "$recorded")")
    fi
  done
  write_json "$manifest_path" "${fields[@]}"
}

upload_s3() {
  local url="s3://$BACKUP_BUCKET" stored encryption stored_sha256 manifest_sha256
  # `s3 cp` and `s3api put-object` spell the same SSE-KMS request differently.
  local -a cp_encryption=(--sse aws:kms) put_encryption=(--server-side-encryption aws:kms)
  if [ -n "${BACKUP_KMS_KEY_ID:-}" ]; then
    cp_encryption+=(--sse-kms-key-id "$BACKUP_KMS_KEY_ID")
    put_encryption+=(--ssekms-key-id "$BACKUP_KMS_KEY_ID")
  fi

  step=check-bucket
  # Before streaming: an endpoint that does not answer, a missing bucket or refused credentials fail here, at
  # once (and stop pg_dump), where the aws CLI would report them from `s3 cp -` only at the end of the stream.
  # shellcheck disable=SC2016 # the backquotes are a JMESPath literal, not a command substitution
  aws_call "cannot list $url/$run_prefix/" s3api list-objects-v2 --bucket "$BACKUP_BUCKET" \
    --prefix "$manifest_key" --query 'length(Contents || `[]`)' --output text

  step=check-run
  [ "$aws_output" = 0 ] || fail "backup $backup_id is already complete in S3 at $url/$manifest_key; refusing to overwrite it"

  step=upload-dump
  store_failure="upload of the dump to $url/$dump_key failed"
  stream_dump aws s3 cp - "$url/$dump_key" --expected-size "$database_size" "${cp_encryption[@]}" \
    --checksum-algorithm CRC32 --content-type application/octet-stream --only-show-errors --no-progress

  step=verify-dump
  check_stream
  aws_call "cannot read back $url/$dump_key" s3api head-object --bucket "$BACKUP_BUCKET" --key "$dump_key" \
    --query '[ContentLength, ServerSideEncryption]' --output text
  read -r stored encryption <<<"$aws_output"
  [ "$stored" = "$size_bytes" ] ||
    fail "$url/$dump_key is $stored bytes in S3 but the dump is $size_bytes bytes"
  [ "$encryption" = aws:kms ] ||
    fail "the dump $url/$dump_key is stored with encryption '$encryption', not aws:kms"

  step=manifest
  write_manifest

  step=upload-manifest
  # If-None-Match: * makes S3 refuse the write if the manifest exists (describe_aws_error names it).
  aws_call "upload of $manifest_path to $url/$manifest_key failed" s3api put-object --bucket "$BACKUP_BUCKET" \
    --key "$manifest_key" --body "$manifest_path" --if-none-match '*' "${put_encryption[@]}" \
    --checksum-algorithm SHA256 --content-type application/json \
    --query '[ServerSideEncryption, ChecksumSHA256]' --output text

  step=verify-manifest
  read -r encryption stored_sha256 <<<"$aws_output"
  [ "$encryption" = aws:kms ] ||
    fail "the manifest $url/$manifest_key is stored with encryption '$encryption', not aws:kms"
  manifest_sha256=$(base64_sha256 "$manifest_path")
  [ "$stored_sha256" = "$manifest_sha256" ] ||
    fail "S3 stored $url/$manifest_key with SHA256 '$stored_sha256', not the local manifest's $manifest_sha256"
  location="$url/$run_prefix/"
}

# A file's SHA256 as S3 reports it: base64 of the binary digest (coreutils and bash only: no xxd, no openssl).
base64_sha256() {
  local hex escapes='' index
  hex=$(sha256sum -- "$1")
  hex=${hex%% *}
  for ((index = 0; index < ${#hex}; index += 2)); do
    escapes+="\\x${hex:index:2}"
  done
  # shellcheck disable=SC2059 # the format is the digest spelled as \xHH escapes, on purpose
  printf "$escapes" | base64
}

# Copy under a temporary name, then rename: a reader never sees half a file under the final name.
copy_into_store() {
  local source=$1 target=$2
  cp -- "$source" "$target.partial" 2>"$errors" || fail "copy of $source to $target failed: $(one_line "$errors")"
  mv -f -- "$target.partial" "$target" 2>"$errors" || fail "rename to $target failed: $(one_line "$errors")"
}

verify_stored_file() {
  local target=$1 expected=$2 stored
  stored=$(stat -c %s -- "$target")
  [ "$stored" = "$expected" ] || fail "$target is $stored bytes in the store but $expected bytes were copied"
}

upload_directory() {
  local run_dir="$BACKUP_DIRECTORY/$run_prefix"

  step=check-directory
  [[ -d $BACKUP_DIRECTORY && -w $BACKUP_DIRECTORY ]] ||
    fail "BACKUP_DIRECTORY $BACKUP_DIRECTORY is not a writable directory (is the backup volume mounted?)"
  [ ! -e "$run_dir/manifest.json" ] ||
    fail "backup $backup_id is already complete in the store directory at $run_dir/manifest.json; refusing to overwrite it"
  mkdir -p -- "$run_dir" 2>"$errors" || fail "cannot create $run_dir: $(one_line "$errors")"

  step=upload-dump
  store_failure="writing the dump to $run_dir/$dump_file.partial failed"
  stream_dump write_file "$run_dir/$dump_file.partial"

  step=verify-dump
  check_stream
  verify_stored_file "$run_dir/$dump_file.partial" "$size_bytes"
  mv -f -- "$run_dir/$dump_file.partial" "$run_dir/$dump_file" 2>"$errors" ||
    fail "rename of the dump to $run_dir/$dump_file failed: $(one_line "$errors")"

  step=manifest
  write_manifest

  step=upload-manifest
  # A manifest that appeared meanwhile (another run of the same second) is not replaced.
  [ ! -e "$run_dir/manifest.json" ] ||
    fail "a manifest of backup $backup_id appeared at $run_dir/manifest.json meanwhile (another run of the same second?); refusing to overwrite it"
  copy_into_store "$manifest_path" "$run_dir/manifest.json"

  step=verify-manifest
  verify_stored_file "$run_dir/manifest.json" "$(stat -c %s -- "$manifest_path")"
  location="$run_dir/"
}

# Standard input into the file $1 (the directory store's end of stream_dump).
write_file() {
  cat >"$1"
}

location=
if [ "$BACKUP_STORE" = s3 ]; then
  upload_s3
else
  upload_directory
fi
rm -f -- "$errors"
printf '%s: backup %s complete at %s (%s %s bytes, sha256 %s; manifest.json)\n' \
  "$SCRIPT" "$backup_id" "$location" "$dump_file" "$size_bytes" "$streamed_sha256"

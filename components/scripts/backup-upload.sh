#!/usr/bin/env bash
# backup-upload.sh: ship the dump and manifest that backup-dump.sh left in the work directory
# to the backup store, as <prefix>/<backup_id>/<database>.dump and <prefix>/<backup_id>/manifest.json.
#
# Runs in the main container of the logical backup CronJob pod (official `amazon/aws-cli`
# image: bash, coreutils, the aws CLI; no python, no jq), after the dump init container.
#
# The manifest goes LAST and only after the stored dump has been checked, so a run without a
# manifest never looks complete; readers (restore-fetch.sh) only trust manifests. Nothing is
# ever deleted: the store's IAM role cannot delete. In S3 that takes four aws CLI calls (each
# one starts the CLI anew, the fixed cost of an upload): list-objects-v2, s3 cp, head-object,
# put-object.
#   1. configuration   the environment, and the manifest written by backup-dump.sh
#   2. check-dump      the local dump has the size the manifest records
#   3. check-bucket    (s3) the endpoint answers and the bucket exists and can be listed
#      check-directory (directory) the store directory is mounted and writable
#   4. check-run       this backup_id has no manifest yet, so neither the dump nor the manifest of
#                      a complete backup is ever overwritten (same list call as check-bucket)
#   5. upload-dump     s3: `s3 cp` (multipart above 8 MB) with SSE-KMS; S3 checks each part's
#                      CRC32 (--checksum-algorithm) / directory: copied under a temporary name
#   6. verify-dump     the stored size equals size_bytes; in S3 also (one head-object) the object
#                      is aws:kms-encrypted and carries this dump's sha256 in its metadata
#   7. upload-manifest s3: put-object with SSE-KMS, a SHA256 checksum that S3 checks against the
#                      bytes it receives, and If-None-Match: * (a conditional write: S3 refuses it
#                      if the manifest appeared since check-run, e.g. another run of the same second)
#                      / directory: copied under a temporary name
#   8. verify-manifest s3: the put's own response says aws:kms and gives the SHA256 S3 checked, which
#                      must be the local manifest's (no head-object needed) / directory: the stored
#                      size equals the local file's
# Any failure exits 1 with "backup-upload: FAILED at <step>: <what and why>" on stderr.
#
# Environment (names: components/backup_scripts.py):
#   BACKUP_STORE        required  "s3" or "directory"
#   BACKUP_WORK_DIR     required  the emptyDir shared with the dump container (dump + manifest)
#   BACKUP_PREFIX       required  key prefix / subdirectory of every backup, e.g. crm/production
#   BACKUP_BUCKET       s3        the bucket's name
#   AWS_REGION          s3        the bucket's region (read by the aws CLI)
#   BACKUP_KMS_KEY_ID   optional  s3: KMS key id/ARN for SSE-KMS; unset uses the bucket's default key
#   AWS_ENDPOINT_URL    optional  s3: another endpoint (tests: moto); read by the aws CLI itself
#   BACKUP_DIRECTORY    directory the mounted store (a PersistentVolumeClaim in dev)
# Credentials come the aws CLI's usual way (IRSA: AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE).
set -euo pipefail

readonly SCRIPT=backup-upload
# The shared library: fail, require, require_store, one_line, read_manifest_field, aws_call, the exit trap.
# shellcheck source=backup-common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/backup-common.sh"

require_store "the shared work directory backup-dump.sh wrote to"
readonly errors="$BACKUP_WORK_DIR/.backup-upload.err"
readonly manifest_path="$BACKUP_WORK_DIR/manifest.json"
[ -f "$manifest_path" ] ||
  fail "no manifest.json in $BACKUP_WORK_DIR: backup-dump.sh did not finish, so there is nothing complete to upload"
backup_id='' dump_file='' size_bytes='' sha256=''
read_manifest_field backup_id backup_id
read_manifest_field dump_file dump_file
read_manifest_field size_bytes size_bytes
read_manifest_field sha256 sha256
[[ $backup_id =~ ^[0-9]{8}T[0-9]{6}Z$ ]] || fail "manifest backup_id '$backup_id' is not YYYYmmddTHHMMSSZ"
[[ $dump_file =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || fail "manifest dump_file '$dump_file' is not a plain file name"
readonly dump_path="$BACKUP_WORK_DIR/$dump_file"
readonly run_prefix="$prefix/$backup_id"
readonly dump_key="$run_prefix/$dump_file"
readonly manifest_key="$run_prefix/manifest.json"
manifest_size=$(stat -c %s -- "$manifest_path")

step=check-dump
[ -f "$dump_path" ] || fail "the manifest names $dump_file but $dump_path does not exist"
local_size=$(stat -c %s -- "$dump_path")
[ "$local_size" = "$size_bytes" ] ||
  fail "local dump $dump_path is $local_size bytes but the manifest says $size_bytes: the dump in the work directory is incomplete"

upload_s3() {
  local url="s3://$BACKUP_BUCKET" stored encryption stored_sha256
  # `s3 cp` and `s3api put-object` spell the same SSE-KMS request differently.
  local -a cp_encryption=(--sse aws:kms) put_encryption=(--server-side-encryption aws:kms)
  if [ -n "${BACKUP_KMS_KEY_ID:-}" ]; then
    cp_encryption+=(--sse-kms-key-id "$BACKUP_KMS_KEY_ID")
    put_encryption+=(--ssekms-key-id "$BACKUP_KMS_KEY_ID")
  fi

  step=check-bucket
  # shellcheck disable=SC2016 # the backquotes are a JMESPath literal, not a command substitution
  aws_call "cannot list $url/$run_prefix/" s3api list-objects-v2 --bucket "$BACKUP_BUCKET" \
    --prefix "$manifest_key" --query 'length(Contents || `[]`)' --output text

  step=check-run
  [ "$aws_output" = 0 ] || fail "backup $backup_id is already complete at $url/$manifest_key; refusing to overwrite it"

  step=upload-dump
  aws_call "upload of $dump_path to $url/$dump_key failed" s3 cp "$dump_path" "$url/$dump_key" \
    "${cp_encryption[@]}" --checksum-algorithm CRC32 --content-type application/octet-stream \
    --metadata "sha256=$sha256" --only-show-errors --no-progress

  step=verify-dump
  aws_call "cannot read back $url/$dump_key" s3api head-object --bucket "$BACKUP_BUCKET" --key "$dump_key" \
    --query '[ContentLength, ServerSideEncryption, Metadata.sha256]' --output text
  read -r stored encryption stored_sha256 <<<"$aws_output"
  [ "$stored" = "$size_bytes" ] ||
    fail "$url/$dump_key is $stored bytes in S3 but $size_bytes bytes were uploaded"
  [ "$encryption" = aws:kms ] ||
    fail "$url/$dump_key is stored with encryption '$encryption', not aws:kms"
  [ "$stored_sha256" = "$sha256" ] ||
    fail "$url/$dump_key carries sha256 '$stored_sha256' in its metadata, not this dump's $sha256 (did another run replace it?)"

  step=upload-manifest
  # If-None-Match: * makes S3 refuse the write if the manifest exists by now (describe_aws_error names it).
  aws_call "upload of $manifest_path to $url/$manifest_key failed" s3api put-object --bucket "$BACKUP_BUCKET" \
    --key "$manifest_key" --body "$manifest_path" --if-none-match '*' "${put_encryption[@]}" \
    --checksum-algorithm SHA256 --content-type application/json \
    --query '[ServerSideEncryption, ChecksumSHA256]' --output text

  step=verify-manifest
  read -r encryption stored_sha256 <<<"$aws_output"
  [ "$encryption" = aws:kms ] ||
    fail "$url/$manifest_key is stored with encryption '$encryption', not aws:kms"
  local manifest_sha256
  manifest_sha256=$(base64_sha256 "$manifest_path")
  [ "$stored_sha256" = "$manifest_sha256" ] ||
    fail "S3 stored $url/$manifest_key with SHA256 '$stored_sha256', not the local manifest's $manifest_sha256"
  location="$url/$run_prefix/"
}

# A file's SHA256 as S3 reports it: base64 of the binary digest (coreutils and bash only: no xxd, no openssl).
base64_sha256() {
  local hex
  hex=$(sha256sum -- "$1")
  hex=${hex%% *}
  # shellcheck disable=SC2059 # the format is the digest spelled as \xHH escapes, on purpose
  printf "$(sed 's/../\\x&/g' <<<"$hex")" | base64
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

  step=check-run
  [ ! -e "$run_dir/manifest.json" ] ||
    fail "backup $backup_id is already complete at $run_dir/manifest.json; refusing to overwrite it"
  mkdir -p -- "$run_dir" 2>"$errors" || fail "cannot create $run_dir: $(one_line "$errors")"

  step=upload-dump
  copy_into_store "$dump_path" "$run_dir/$dump_file"

  step=verify-dump
  verify_stored_file "$run_dir/$dump_file" "$size_bytes"

  step=upload-manifest
  copy_into_store "$manifest_path" "$run_dir/manifest.json"

  step=verify-manifest
  verify_stored_file "$run_dir/manifest.json" "$manifest_size"
  location="$run_dir/"
}

location=
if [ "$BACKUP_STORE" = s3 ]; then
  upload_s3
else
  upload_directory
fi
rm -f -- "$errors"
printf '%s: backup %s complete at %s (%s %s bytes, sha256 %s; manifest.json)\n' \
  "$SCRIPT" "$backup_id" "$location" "$dump_file" "$size_bytes" "$sha256"

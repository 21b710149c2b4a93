#!/usr/bin/env bash
# Has a stack drifted from its state? `pulumi preview --refresh --expect-no-changes` reads every
# resource from the cloud and the cluster and compares it with what the program declares.
#
#   scripts/delivery/drift.sh <stack> <directory>
#
# With the Pulumi CLI 3.227.0 or newer (.pulumi-version pins it), that preview exits 7 when it
# finds changes and another non-zero status on an error. Writes <directory>/state ("drift" or
# "clean") and <directory>/report.txt (the preview's output), which the workflow's next job turns
# into an issue (drift-issue.sh). Exit status: 0 drift or none, both recorded; 1 an error: the
# preview's last lines on stderr and no state written, so the run fails and no issue opens.
# Outputs (GITHUB_OUTPUT): drift=true|false.
set -euo pipefail
script="drift"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh"

stack=${1:-}
directory=${2:-}
require_stack_name "$stack"
[ -n "$directory" ] || fail "usage: drift.sh <stack> <directory>"
here=$(cd "$(dirname "$0")/../.." && pwd)
"$here/scripts/check-pulumi-version.sh"
mkdir -p "$directory"
report="$directory/report.txt"
rm -f "$directory/state"

status=0
(cd "$here" && pulumi preview --stack "$stack" --refresh --expect-no-changes --diff \
  --suppress-outputs --non-interactive --color never) >"$report" 2>&1 || status=$?
case "$status" in
  0)
    echo clean >"$directory/state"
    set_output drift false
    echo "$script: $stack matches its state"
    ;;
  7)
    echo drift >"$directory/state"
    set_output drift true
    notice "$stack has drifted from its state; the diff goes to the drift issue"
    ;;
  *)
    tail -n 20 "$report" >&2
    fail "the drift check of $stack failed (pulumi preview exited $status): an error, not drift"
    ;;
esac

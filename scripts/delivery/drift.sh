#!/usr/bin/env bash
# Has a stack drifted from its state? `pulumi preview --refresh --expect-no-changes` reads every
# resource from the cloud and the cluster and compares the program's wishes with what is there.
#
#   scripts/delivery/drift.sh <stack> <report file>
#
# With the Pulumi CLI 3.227.0 or newer (.pulumi-version pins it), that preview exits 7 when it
# finds changes and another non-zero status on an error. Exit status: 0 no drift; 7 drift, its
# diff in the report file; anything else is an error (the last lines of the preview on stderr),
# which the workflow fails on without opening an issue. Outputs (GITHUB_OUTPUT): drift=true|false.
set -euo pipefail
script="drift"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh"

stack=${1:-}
report=${2:-}
require_stack_name "$stack"
[ -n "$report" ] || fail "usage: drift.sh <stack> <report file>"
here=$(cd "$(dirname "$0")/../.." && pwd)
"$here/scripts/check-pulumi-version.sh"

status=0
(cd "$here" && pulumi preview --stack "$stack" --refresh --expect-no-changes --diff \
  --suppress-outputs --non-interactive --color never) >"$report" 2>&1 || status=$?
case "$status" in
  0)
    set_output drift false
    echo "$script: $stack matches its state"
    ;;
  7)
    set_output drift true
    notice "$stack has drifted; the diff is in $report"
    exit 7
    ;;
  *)
    tail -n 20 "$report" >&2
    fail "the drift check of $stack failed (pulumi preview exited $status): an error, not drift"
    ;;
esac

#!/usr/bin/env bash
# Deploy the checked-out commit to a stack, smoke-test it, and roll back to the last good commit
# when the smoke test fails.
#
#   scripts/delivery/deploy.sh <stack> deploy      # the deploy workflow, after a push to main
#   scripts/delivery/deploy.sh <stack> rollback    # re-apply an older commit on purpose
#
# The last commit whose deploy passed its smoke test is the tag deployed/<stack> (moved by the
# workflow's next job once this one succeeds; the checkout fetches every tag).
#   deploy:   refuses a commit that does not contain deployed/<stack> (a re-run of an old run, or
#             a deploy queued behind a newer one, would otherwise put an older release back);
#             `make up`; the smoke test (smoke-test.sh); on a failed smoke test, the tagged commit
#             is checked out in a temporary worktree and applied again with `make up`, smoke-tested,
#             and the run fails loudly either way. A failed `make up` is not rolled back: Pulumi
#             stopped at the failing resource, the migration Job gates the new pods, and what
#             failed is in the log; the workflow's rollback mode re-applies the tag on purpose.
#   rollback: no ancestry check; `make up` and the smoke test of the commit checked out.
# Outputs (GITHUB_OUTPUT): commit, the commit now deployed and smoke-tested.
set -euo pipefail
script="deploy"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh"

stack=${1:-}
mode=${2:-}
require_stack_name "$stack"
case "$mode" in
  deploy | rollback) ;;
  *) fail "mode '$mode' is not deploy or rollback" ;;
esac
here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"
# `pulumi up` asks before it changes anything unless told not to; CI has nobody to answer.
export PULUMI_SKIP_CONFIRMATIONS=true

tag="deployed/$stack"
commit=$(git rev-parse HEAD)
last_good=$(git rev-parse --quiet --verify "refs/tags/$tag^{commit}" || true)

if [ "$mode" = deploy ] && [ -n "$last_good" ] && ! git merge-base --is-ancestor "$last_good" "$commit"; then
  fail "refusing to deploy $commit to $stack: it does not contain $tag ($last_good), the last good deploy, so it would put an older release back. Deploy main's tip, or run the Deploy workflow with mode rollback and this ref to go back on purpose."
fi

echo "$script: $mode $commit to $stack (last good: ${last_good:-none})"
if ! make --no-print-directory up STACK="$stack"; then
  fail "pulumi up of $stack at $commit failed; nothing was rolled back (the log above says which resource failed). ${last_good:+To re-apply the last good commit $last_good, run the Deploy workflow with mode rollback.}"
fi

if "$here/scripts/delivery/smoke-test.sh" --stack "$stack"; then
  set_output commit "$commit"
  notice "$stack now runs $commit and passed its smoke test"
  exit 0
fi

if [ "$mode" = rollback ]; then
  fail "SMOKE TEST FAILED after rolling $stack back to $commit: the stack needs a person now"
fi
if [ -z "$last_good" ] || [ "$last_good" = "$commit" ]; then
  fail "SMOKE TEST FAILED for $commit on $stack, and there is no earlier good commit ($tag) to roll back to: the stack needs a person now"
fi

echo "$script: the smoke test of $commit failed; re-applying $tag ($last_good)" >&2
worktree="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/rollback-$stack-$last_good"
git worktree add --detach --quiet "$worktree" "$last_good"
trap 'git worktree remove --force "$worktree" || true' EXIT
# The same requirements need no second virtualenv.
if cmp -s requirements.txt "$worktree/requirements.txt" && cmp -s constraints.txt "$worktree/constraints.txt"; then
  ln -s "$here/venv" "$worktree/venv"
fi
rolled_back=failed
if PULUMI_VERSION_FILE="$here/.pulumi-version" make --no-print-directory -C "$worktree" up STACK="$stack" &&
  "$here/scripts/delivery/smoke-test.sh" --stack "$stack"; then
  rolled_back=passed
fi
if [ "$rolled_back" = passed ]; then
  fail "ROLLED BACK $stack: the smoke test of $commit failed, so $tag ($last_good) was applied again and passed its smoke test. Fix forward with a new commit."
fi
fail "SMOKE TEST FAILED for $commit on $stack AND the rollback to $tag ($last_good) failed: the stack needs a person now"

#!/usr/bin/env bash
# Which commit the Deploy workflow applies, and how (run in a checkout with every branch and tag).
#
#   EVENT=push PUSHED=<sha> scripts/delivery/resolve-commit.sh
#   EVENT=workflow_dispatch STACK=<stack> MODE=deploy|rollback REF=<ref or ""> scripts/delivery/resolve-commit.sh
#
# A push deploys the pushed commit. A manual deploy takes REF, or main's tip when it is empty; a
# manual rollback takes REF, or the tag deployed/<stack> (the last commit that passed) when empty.
# A branch name is looked for on origin too. Outputs (GITHUB_OUTPUT): commit, the full SHA; mode.
set -euo pipefail
script="resolve-commit"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh"

event=${EVENT:-}
case "$event" in
  push)
    commit=${PUSHED:-}
    [[ "$commit" =~ ^[0-9a-f]{40}$ ]] || fail "PUSHED '$commit' is not a full commit SHA"
    set_output commit "$commit"
    set_output mode deploy
    exit 0
    ;;
  workflow_dispatch) ;;
  *) fail "event '$event' is not push or workflow_dispatch" ;;
esac

stack=${STACK:-}
mode=${MODE:-}
ref=${REF:-}
case "$stack" in
  staging | production) ;;
  *) fail "stack '$stack' is not staging or production" ;;
esac
case "$mode" in
  deploy) default_ref=origin/main ;;
  rollback) default_ref="refs/tags/deployed/$stack" ;;
  *) fail "mode '$mode' is not deploy or rollback" ;;
esac
wanted=${ref:-$default_ref}
commit=""
for candidate in "$wanted" "origin/$wanted"; do
  if commit=$(git rev-parse --quiet --verify --end-of-options "$candidate^{commit}"); then
    break
  fi
  commit=""
done
if [ -z "$commit" ]; then
  if [ -z "$ref" ] && [ "$mode" = rollback ]; then
    fail "there is no tag deployed/$stack yet: no deploy of $stack has passed, so there is nothing to roll back to"
  fi
  fail "'$wanted' names no commit here: give a commit SHA, a tag or a branch of this repository"
fi
echo "$script: $mode $stack to $commit ($wanted)"
set_output commit "$commit"
set_output mode "$mode"

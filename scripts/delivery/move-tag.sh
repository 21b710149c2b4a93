#!/usr/bin/env bash
# Point the tag deployed/<stack> at a commit that passed its deploy and smoke test, through the
# GitHub API (no git credentials on the runner: every checkout sets persist-credentials false).
#
#   GH_TOKEN=... GITHUB_REPOSITORY=owner/name scripts/delivery/move-tag.sh <stack> <commit>
#
# Needs `contents: write` on the job's token; nothing else. A tag ruleset that restricts who may
# update deployed/* must let GitHub Actions do it (docs/delivery.md).
set -euo pipefail
script="move-tag"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh"

stack=${1:-}
commit=${2:-}
require_stack_name "$stack"
[[ "$commit" =~ ^[0-9a-f]{40}$ ]] || fail "'$commit' is not a full commit SHA"
repository=${GITHUB_REPOSITORY:-}
[[ "$repository" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || fail "GITHUB_REPOSITORY '$repository' is not owner/name"
tag="deployed/$stack"

if gh api "repos/$repository/git/ref/tags/$tag" --silent 2>/dev/null; then
  gh api --method PATCH "repos/$repository/git/refs/tags/$tag" -f sha="$commit" -F force=true --silent
else
  gh api --method POST "repos/$repository/git/refs" -f ref="refs/tags/$tag" -f sha="$commit" --silent
fi
notice "$tag -> $commit"

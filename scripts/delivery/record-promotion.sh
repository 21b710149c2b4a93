#!/usr/bin/env bash
# Commit what a promotion applied to the branch, so the stack file in git describes what runs:
# appImage = the promoted image, candidateImage "", candidateTrafficPercent 0 (set_stack_config.py
# changes only those lines), committed through the GitHub contents API as github-actions[bot];
# then the tag deployed/<stack> moves to that commit.
#
#   GH_TOKEN=... GITHUB_REPOSITORY=owner/name scripts/delivery/record-promotion.sh <stack> <image> <branch>
#
# The commit is made on top of the branch's tip; the API refuses it (409) when the stack file
# changed there since the checked-out commit, and so does this script: a person merges the two.
# A push with the job's GITHUB_TOKEN starts no workflow, so this commit does not deploy again
# (it describes what the promotion already applied). Needs `contents: write`; a branch ruleset
# on main must let GitHub Actions push (docs/delivery.md).
set -euo pipefail
script="record-promotion"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh"

stack=${1:-}
image=${2:-}
branch=${3:-}
require_stack_name "$stack"
[[ "$image" =~ ^[a-z0-9][a-z0-9._/:@-]*$ ]] || fail "'$image' is not an image reference"
[[ "$branch" =~ ^[A-Za-z0-9._/-]+$ ]] || fail "'$branch' is not a branch name"
repository=${GITHUB_REPOSITORY:-}
[[ "$repository" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || fail "GITHUB_REPOSITORY '$repository' is not owner/name"
here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"
file="Pulumi.$stack.yaml"
[ -f "$file" ] || fail "$file does not exist: only stacks with a committed file can be recorded"

blob=$(git rev-parse "HEAD:$file")
"${PYTHON:-python3}" scripts/delivery/set_stack_config.py "$file" \
  "appImage=$image" "candidateImage=" "candidateTrafficPercent=0"
if git diff --quiet -- "$file"; then
  notice "$file already says $image is the release; nothing to commit"
  exit 0
fi
git diff -- "$file"
payload=$(jq -n --arg message "$stack: promote $image (candidate -> release)" \
  --arg content "$(base64 -w0 <"$file")" --arg sha "$blob" --arg branch "$branch" \
  '{message: $message, content: $content, sha: $sha, branch: $branch}')
if ! response=$(gh api --method PUT "repos/$repository/contents/$file" --input - <<<"$payload" 2>&1); then
  fail "$stack runs $image, but committing $file to $branch failed ($(tail -n 1 <<<"$response")): set appImage to $image, candidateImage to \"\" and candidateTrafficPercent to 0 in $file by hand, or the next deploy puts the old release back"
fi
commit=$(jq -r '.commit.sha' <<<"$response")
set_output commit "$commit"
notice "committed $file to $branch as $commit"
"$here/scripts/delivery/move-tag.sh" "$stack" "$commit"

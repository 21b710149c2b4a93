#!/usr/bin/env bash
# Post a pull-request comment once and edit it afterwards: the comment is the one written by
# github-actions[bot] whose first line is the marker.
#
#   GH_TOKEN=... GITHUB_REPOSITORY=owner/name scripts/delivery/sticky-comment.sh <pr number> <marker> <body file>
#
# The body file must start with the marker line (the render diff's reports do:
# <!-- crm-platform:render-diff -->). Needs `pull-requests: write`; it runs in a job of its own
# that runs none of the pull request's code.
set -euo pipefail
script="sticky-comment"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh"

pull_request=${1:-}
marker=${2:-}
body=${3:-}
[[ "$pull_request" =~ ^[1-9][0-9]*$ ]] || fail "'$pull_request' is not a pull request number"
[[ "$marker" =~ ^\<!--\ [a-z0-9:-]+\ --\>$ ]] || fail "'$marker' is not a marker such as <!-- crm-platform:render-diff -->"
[ -f "$body" ] || fail "no comment body at '$body'"
[ "$(head -n 1 "$body")" = "$marker" ] || fail "$body does not start with the marker line $marker"
repository=${GITHUB_REPOSITORY:-}
[[ "$repository" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || fail "GITHUB_REPOSITORY '$repository' is not owner/name"

# Each comment as "<id> <author> <first line of the body>", over every page.
existing=$(gh api --paginate "repos/$repository/issues/$pull_request/comments" \
  --jq '.[] | "\(.id) \(.user.login) \(.body | split("\n") | .[0])"' |
  awk -v marker="$marker" '$2 == "github-actions[bot]" && $0 == $1 " " $2 " " marker { print $1; exit }')

payload=$(jq -n --rawfile body "$body" '{body: $body}')
if [ -n "$existing" ]; then
  gh api --method PATCH "repos/$repository/issues/comments/$existing" --input - <<<"$payload" --silent
  echo "$script: edited comment $existing on #$pull_request"
else
  gh api --method POST "repos/$repository/issues/$pull_request/comments" --input - <<<"$payload" --silent
  echo "$script: commented on #$pull_request"
fi

#!/usr/bin/env bash
# Keep one issue per drifted stack: open it, or update the open one, with the drift's diff; close
# it when the stack matches its state again.
#
#   GH_TOKEN=... GITHUB_REPOSITORY=owner/name scripts/delivery/drift-issue.sh <stack> drift <report file>
#   GH_TOKEN=... GITHUB_REPOSITORY=owner/name scripts/delivery/drift-issue.sh <stack> clean
#
# The issue is found by its label (drift) and its exact title, "Drift detected in stack <stack>";
# the body is the diff (capped below GitHub's 65,536-character limit) and a link to the run. Needs
# `issues: write` and nothing else: it runs in a job of its own, apart from the cloud credentials.
set -euo pipefail
script="drift-issue"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh"

stack=${1:-}
state=${2:-}
report=${3:-}
require_stack_name "$stack"
repository=${GITHUB_REPOSITORY:-}
[[ "$repository" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || fail "GITHUB_REPOSITORY '$repository' is not owner/name"
run_url="${GITHUB_SERVER_URL:-https://github.com}/$repository/actions/runs/${GITHUB_RUN_ID:-0}"
title="Drift detected in stack $stack"
label=drift
body_limit=60000

existing=$(gh issue list --repo "$repository" --label "$label" --state open --limit 100 \
  --json number,title --jq ".[] | select(.title == \"$title\") | .number" | head -n 1)

case "$state" in
  clean)
    if [ -n "$existing" ]; then
      gh issue close "$existing" --repo "$repository" --comment "No drift in $stack as of $run_url."
      notice "closed #$existing: $stack matches its state again"
    fi
    exit 0
    ;;
  drift) [ -f "$report" ] || fail "no drift report at '$report'" ;;
  *) fail "state '$state' is not drift or clean" ;;
esac

body=$(mktemp)
{
  echo "\`pulumi preview --refresh --expect-no-changes\` of stack \`$stack\` found changes: what runs differs from"
  echo "what the stack's state and program say. Found by [the drift check]($run_url)."
  echo
  echo "Either apply the stack again (the Deploy workflow) to put back what the program declares, or change"
  echo "the program to accept what changed. This issue is updated by every run that still finds drift and"
  echo "closed by the first that finds none."
  echo
  echo '<details><summary>pulumi preview</summary>'
  echo
  echo '````text'
  head -c "$body_limit" "$report"
  [ "$(wc -c <"$report")" -le "$body_limit" ] || printf '\n[... cut at %s characters: the whole output is in the run log]\n' "$body_limit"
  echo '````'
  echo
  echo '</details>'
} >"$body"

gh label create "$label" --repo "$repository" --color d93f0b \
  --description "A stack differs from its Pulumi state (drift workflow)" --force >/dev/null
if [ -n "$existing" ]; then
  gh issue edit "$existing" --repo "$repository" --body-file "$body" >/dev/null
  notice "updated #$existing: $title"
else
  gh issue create --repo "$repository" --title "$title" --label "$label" --body-file "$body" >/dev/null
  notice "opened an issue: $title"
fi

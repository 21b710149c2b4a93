#!/usr/bin/env bash
# Destroy every review stack whose pull request is closed (merged or not): the safety net for a
# close event whose workflow run failed or never ran.
#
#   GH_TOKEN=... GITHUB_REPOSITORY=owner/name scripts/delivery/review-sweep.sh
#
# Lists the backend's pr-<number> stacks (Pulumi CLI logged in), asks GitHub for each pull
# request's state (`pull-requests: read`), and runs review-stack.sh down for the closed ones.
# A stack whose pull request cannot be found is left alone and named. Exit status: 0 when every
# closed pull request's stack is gone; 1 when one could not be destroyed (the others still are).
set -euo pipefail
script="review-sweep"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh"

repository=${GITHUB_REPOSITORY:-}
[[ "$repository" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || fail "GITHUB_REPOSITORY '$repository' is not owner/name"
mapfile -t stacks < <(pulumi stack ls --json | jq -r '.[].name | split("/") | last | select(test("^pr-[1-9][0-9]{0,6}$"))')
failed=()
for stack in "${stacks[@]}"; do
  number=${stack#pr-}
  if ! state=$(gh pr view "$number" --repo "$repository" --json state --jq .state 2>/dev/null); then
    echo "$script: $stack: no pull request #$number in $repository; left alone" >&2
    continue
  fi
  if [ "$state" = OPEN ]; then
    echo "$script: $stack: #$number is open; kept"
    continue
  fi
  echo "$script: $stack: #$number is ${state,,}; destroying"
  "$(dirname "$0")/review-stack.sh" down "$number" || failed+=("$stack")
done
[ "${#failed[@]}" -eq 0 ] || fail "could not destroy ${failed[*]}: see the log above"
echo "$script: ${#stacks[@]} review stacks looked at"

#!/usr/bin/env bash
# GET every smoke target of a stack until each answers 200, or fail at the deadline.
#
#   scripts/delivery/smoke-test.sh --stack staging     # the stack output smokeTargets (Pulumi CLI, logged in)
#   scripts/delivery/smoke-test.sh URL...              # these URLs
#
# smokeTargets is the stack's list of HTTPS URLs (the API host's readiness path, the frontend's
# root when there is one). A new release takes a while to be served everywhere (pods rolling,
# certificates, DNS), so each target is retried until it answers 200 or the deadline passes; the
# deadline is shared by all targets. Redirects are not followed: a readiness path answers 200 itself.
#
# Settings (environment): SMOKE_DEADLINE_SECONDS (default 300), SMOKE_INTERVAL_SECONDS between
# tries (default 10), SMOKE_REQUEST_TIMEOUT_SECONDS per request (default 10).
# Exit status: 0 every target answered 200; 1 one did not by the deadline, or there is nothing to test.
set -euo pipefail
script="smoke-test"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh"

deadline_seconds=${SMOKE_DEADLINE_SECONDS:-300}
interval_seconds=${SMOKE_INTERVAL_SECONDS:-10}
request_timeout_seconds=${SMOKE_REQUEST_TIMEOUT_SECONDS:-10}
for setting in deadline_seconds interval_seconds request_timeout_seconds; do
  [[ "${!setting}" =~ ^[0-9]+$ ]] || fail "$setting '${!setting}' is not a whole number of seconds"
done

targets=()
if [ "${1:-}" = "--stack" ]; then
  stack=${2:-}
  require_stack_name "$stack"
  if ! output=$(pulumi stack output smokeTargets --stack "$stack" --json 2>&1); then
    fail "cannot read the smokeTargets output of stack $stack: $(tail -n 1 <<<"$output")"
  fi
  # Checked first: a process substitution's failure would not reach mapfile.
  jq -e 'type == "array" and all(.[]; type == "string")' <<<"$output" >/dev/null 2>&1 ||
    fail "the smokeTargets output of stack $stack is not a list of URLs"
  mapfile -t targets < <(jq -r '.[]' <<<"$output")
else
  targets=("$@")
fi
[ "${#targets[@]}" -gt 0 ] || fail "nothing to test: no smoke targets${stack:+ in the outputs of stack $stack}"
for target in "${targets[@]}"; do
  [[ "$target" =~ ^https?://[^[:space:]]+$ ]] || fail "smoke target '$target' is not an http(s) URL"
done

deadline=$((SECONDS + deadline_seconds))
for target in "${targets[@]}"; do
  attempt=0
  while :; do
    attempt=$((attempt + 1))
    status=$(curl --silent --output /dev/null --write-out '%{http_code}' --proto '=http,https' \
      --max-time "$request_timeout_seconds" "$target") || true
    if [ "$status" = "200" ]; then
      echo "$script: $target answered 200 (attempt $attempt)"
      break
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      fail "$target did not answer 200 within ${deadline_seconds}s: last answer ${status:-none} after $attempt attempts"
    fi
    sleep "$interval_seconds"
  done
done
echo "$script: all ${#targets[@]} smoke targets answered 200"

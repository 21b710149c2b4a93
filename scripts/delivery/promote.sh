#!/usr/bin/env bash
# Promote a stack's candidate release: step its share of the traffic through 5, 20, 50 and 100 %,
# each step its own `pulumi up`, with a smoke test and a 5xx comparison against the stable release
# after each; on any failure set the share back to 0, `up`, and stop.
#
#   scripts/delivery/promote.sh production
#
# Needs: the Pulumi CLI logged in to the stack's backend, the stack's kube context (kube-access.sh),
# kubectl, curl, jq and ./venv (make program-venv). The candidate is the stack's candidateImage
# (deployed at candidateTrafficPercent 0 by an ordinary deploy first). Each step waits
# PROMOTION_STEP_SECONDS (default 600), then checks that window: smoke-test.sh, and
# canary-5xx-check.sh against the stack's Prometheus (kube-prometheus-stack in monitoringNamespace,
# reached by `kubectl port-forward`), whose stable baseline at the 100 % step is the window before
# the promotion began. After the last step the candidate becomes the release: appImage is set to it,
# candidateImage to "" and candidateTrafficPercent to 0, one more `up` and smoke test; if that smoke
# test fails, the committed stack file (the old release, candidate at 0 %) is applied again.
#
# Every change is `pulumi config set` on this runner's copy of Pulumi.<stack>.yaml: the steps are
# transient. The final file is the job's output; the workflow commits the three settings to the
# branch with set_stack_config.py, so git keeps describing what runs (docs/delivery.md).
# Settings (environment): PROMOTION_STEPS (default "5 20 50 100"), PROMOTION_STEP_SECONDS,
# PROMOTION_WINDOW_SECONDS (the 5xx comparison's window; default the step's seconds),
# PROMETHEUS_LOCAL_PORT (default 19090), and canary-5xx-check.sh's CANARY_TOLERANCE and
# CANARY_MIN_REQUESTS.
# Outputs (GITHUB_OUTPUT): image, the image promoted.
set -euo pipefail
script="promote"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh"

stack=${1:-}
require_stack_name "$stack"
here=$(cd "$(dirname "$0")/../.." && pwd)
scripts="$here/scripts/delivery"
cd "$here"
export PULUMI_SKIP_CONFIRMATIONS=true

steps=${PROMOTION_STEPS:-5 20 50 100}
step_seconds=${PROMOTION_STEP_SECONDS:-600}
window_seconds=${PROMOTION_WINDOW_SECONDS:-$step_seconds}
local_port=${PROMETHEUS_LOCAL_PORT:-19090}
[[ "$step_seconds" =~ ^[1-9][0-9]*$ ]] || fail "PROMOTION_STEP_SECONDS '$step_seconds' is not a positive number of seconds"
[[ "$window_seconds" =~ ^[1-9][0-9]*$ ]] || fail "PROMOTION_WINDOW_SECONDS '$window_seconds' is not a positive number of seconds"
[[ "$local_port" =~ ^[1-9][0-9]{0,4}$ ]] || fail "PROMETHEUS_LOCAL_PORT '$local_port' is not a port"
previous=0
for share in $steps; do
  if ! [[ "$share" =~ ^[1-9][0-9]*$ ]] || [ "$share" -gt 100 ] || [ "$share" -le "$previous" ]; then
    fail "PROMOTION_STEPS '$steps' must rise from above 0 to 100 (each a whole percentage)"
  fi
  previous=$share
done
[ "$previous" -eq 100 ] || fail "PROMOTION_STEPS '$steps' must end at 100"

candidate=$("$scripts/stack-setting.sh" "$stack" candidateImage)
[ -n "$candidate" ] ||
  fail "stack $stack has no candidate: set candidateImage in Pulumi.$stack.yaml (share 0) and deploy it before promoting"
context=$("$scripts/stack-setting.sh" "$stack" kubeContext)
app_namespace=$(pulumi stack output appNamespace --stack "$stack")
monitoring_namespace=$(pulumi stack output monitoringNamespace --stack "$stack")

port_forward_log=$(mktemp)
kubectl --context "$context" --namespace "$monitoring_namespace" port-forward \
  svc/kube-prometheus-stack-prometheus "$local_port:9090" >"$port_forward_log" 2>&1 &
port_forward=$!
trap 'kill "$port_forward" 2>/dev/null || true' EXIT
export PROMETHEUS_URL="http://127.0.0.1:$local_port"
for _ in $(seq 60); do
  curl --silent --fail --max-time 2 --output /dev/null "$PROMETHEUS_URL/-/ready" && break
  kill -0 "$port_forward" 2>/dev/null || fail "kubectl port-forward to Prometheus in $monitoring_namespace stopped: $(tail -n 1 "$port_forward_log")"
  sleep 1
done
curl --silent --fail --max-time 2 --output /dev/null "$PROMETHEUS_URL/-/ready" ||
  fail "Prometheus in $monitoring_namespace is not ready through the port-forward after 60 s"

# Chained with &&: errexit does not apply inside a function called as a condition.
set_share() {
  pulumi config set candidateTrafficPercent "$1" --stack "$stack" &&
    make --no-print-directory up STACK="$stack"
}

# Stop here: the candidate's share back to 0, applied, and the run failed with the reason.
stop() {
  local reason=$1
  echo "$script: $reason; setting the candidate's share back to 0" >&2
  if set_share 0; then
    fail "promotion of $candidate on $stack stopped: $reason. The candidate's share is back to 0 %."
  fi
  fail "promotion of $candidate on $stack stopped: $reason. Setting the share back to 0 ALSO FAILED: the stack needs a person now."
}

started=$SECONDS
for share in $steps; do
  echo "$script: $stack: candidate $candidate at $share %"
  set_share "$share" || stop "pulumi up at $share % failed"
  sleep "$step_seconds"
  "$scripts/smoke-test.sh" --stack "$stack" || stop "the smoke test at $share % failed"
  status=0
  CANARY_NAMESPACE="$app_namespace" CANARY_WINDOW="${window_seconds}s" \
    CANARY_BASELINE_OFFSET="$((SECONDS - started))s" "$scripts/canary-5xx-check.sh" || status=$?
  case "$status" in
    0) ;;
    1) stop "the candidate's 5xx ratio at $share % is above the stable release's" ;;
    *) stop "the candidate's 5xx ratio at $share % could not be judged" ;;
  esac
done

echo "$script: $stack: $candidate becomes the release"
pulumi config set appImage "$candidate" --stack "$stack"
pulumi config set candidateImage "" --stack "$stack"
pulumi config set candidateTrafficPercent 0 --stack "$stack"
if make --no-print-directory up STACK="$stack" && "$scripts/smoke-test.sh" --stack "$stack"; then
  set_output image "$candidate"
  notice "$stack promoted $candidate: it is the release now (appImage); commit the stack file to keep it so"
  exit 0
fi
git checkout -- "Pulumi.$stack.yaml"
if make --no-print-directory up STACK="$stack"; then
  fail "promoting $candidate on $stack failed at the last step; the committed stack file (the old release, candidate at 0 %) was applied again"
fi
fail "promoting $candidate on $stack failed at the last step AND re-applying the committed stack file failed: the stack needs a person now"

#!/usr/bin/env bash
# Is the candidate's 5xx ratio above the stable release's? Asked of Prometheus, between promotion steps.
#
#   PROMETHEUS_URL=http://127.0.0.1:9090 CANARY_NAMESPACE=crm-production CANARY_WINDOW=600s \
#     scripts/delivery/canary-5xx-check.sh
#
# The series are django-prometheus's responses by status
# (django_http_responses_total_by_status_view_method_total, REFERENCE.md "Monitoring facts") of
# the app namespace; the candidate's pods carry crm-platform/release=candidate and the stable
# ones crm-platform/release=stable, which the ServiceMonitor turns into a `release` label. Over
# the step's window, the ratio of 5xx responses to all responses is compared in PromQL:
#   candidate ratio > bool (stable ratio + CANARY_TOLERANCE)    1: worse, 0: not worse
# When the stable pods served nothing in the window (the 100 % step), the stable ratio is the
# one of the same window CANARY_BASELINE_OFFSET earlier (before the promotion began), if given.
#
# Settings (environment):
#   PROMETHEUS_URL            required; the promotion port-forwards the stack's Prometheus
#   CANARY_NAMESPACE          required; the app namespace (stack output appNamespace)
#   CANARY_WINDOW             the step's window, a PromQL duration (default 600s)
#   CANARY_TOLERANCE          how far above the stable ratio still passes (default 0: not above it)
#   CANARY_MIN_REQUESTS       fewest candidate responses in the window to judge at all (default 20)
#   CANARY_BASELINE_OFFSET    a PromQL duration; see above (default: none, no fallback)
#   CANARY_EVALUATION_TIME    evaluate at this Unix time instead of now (tests)
# Exit status: 0 the candidate is not worse; 1 it is worse; 2 it cannot be judged (too little
# candidate traffic, no stable figure, Prometheus unreachable or a bad setting). One line says which.
set -euo pipefail
script="canary-5xx-check"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh"

metric=django_http_responses_total_by_status_view_method_total

undecided() {
  if [ "${GITHUB_ACTIONS:-}" = "true" ]; then
    printf '::error title=%s::%s\n' "$script" "$*" >&2
  else
    printf '%s: %s\n' "$script" "$*" >&2
  fi
  exit 2
}

prometheus=${PROMETHEUS_URL:-}
namespace=${CANARY_NAMESPACE:-}
window=${CANARY_WINDOW:-600s}
tolerance=${CANARY_TOLERANCE:-0}
min_requests=${CANARY_MIN_REQUESTS:-20}
baseline_offset=${CANARY_BASELINE_OFFSET:-}
evaluation_time=${CANARY_EVALUATION_TIME:-}

[ -n "$prometheus" ] || undecided "PROMETHEUS_URL is not set: port-forward the stack's Prometheus first"
[[ "$namespace" =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || undecided "CANARY_NAMESPACE '$namespace' is not a namespace name"
duration='^[0-9]+[smhd]$'
[[ "$window" =~ $duration ]] || undecided "CANARY_WINDOW '$window' is not a duration such as 600s or 10m"
[ -z "$baseline_offset" ] || [[ "$baseline_offset" =~ $duration ]] ||
  undecided "CANARY_BASELINE_OFFSET '$baseline_offset' is not a duration such as 1800s"
[[ "$tolerance" =~ ^[0-9]+(\.[0-9]+)?$ ]] || undecided "CANARY_TOLERANCE '$tolerance' is not a ratio such as 0 or 0.01"
[[ "$min_requests" =~ ^[0-9]+$ ]] || undecided "CANARY_MIN_REQUESTS '$min_requests' is not a whole number"
[ -z "$evaluation_time" ] || [[ "$evaluation_time" =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
  undecided "CANARY_EVALUATION_TIME '$evaluation_time' is not a Unix time"

# The 5xx ratio of one release over the window (ending `offset` ago when given): empty when it
# served nothing, so "no traffic" never reads as "no errors".
ratio() {
  local release=$1 offset=${2:-}
  local selector="namespace=\"$namespace\",release=\"$release\""
  local range="[$window]${offset:+ offset $offset}"
  printf '(sum(rate(%s{%s,status=~"5.."}%s)) or vector(0)) / (sum(rate(%s{%s}%s)) > 0)' \
    "$metric" "$selector" "$range" "$metric" "$selector" "$range"
}

candidate_ratio=$(ratio candidate)
stable_ratio="($(ratio stable))"
if [ -n "$baseline_offset" ]; then
  stable_ratio="($(ratio stable) or $(ratio stable "$baseline_offset"))"
fi
candidate_requests="sum(increase($metric{namespace=\"$namespace\",release=\"candidate\"}[$window]))"
verdict="($candidate_ratio) > bool ($stable_ratio + $tolerance)"

# The first value of an instant query's result; empty when the result is empty.
query() {
  local response
  local arguments=(--silent --show-error --fail --max-time 30 --data-urlencode "query=$1")
  [ -z "$evaluation_time" ] || arguments+=(--data-urlencode "time=$evaluation_time")
  if ! response=$(curl "${arguments[@]}" "$prometheus/api/v1/query" 2>&1); then
    undecided "Prometheus at $prometheus did not answer: $response"
  fi
  if [ "$(jq -r '.status' <<<"$response")" != "success" ]; then
    undecided "Prometheus refused the query: $(jq -r '.error // "no error given"' <<<"$response")"
  fi
  jq -r '.data.result[0].value[1] // empty' <<<"$response"
}

requests=$(query "$candidate_requests")
if [ -z "$requests" ] || ! awk -v have="$requests" -v need="$min_requests" 'BEGIN { exit !(have >= need) }'; then
  undecided "too little candidate traffic to judge: ${requests:-no} responses in $window in $namespace, at least $min_requests needed"
fi
candidate=$(query "$candidate_ratio")
stable=$(query "$stable_ratio")
[ -n "$stable" ] || undecided "no stable 5xx ratio to compare with: the stable pods served nothing in $window${baseline_offset:+ now or $baseline_offset earlier}"
result=$(query "$verdict")
summary="candidate 5xx ratio $candidate over $window ($requests responses), stable $stable, tolerance $tolerance"
case "$result" in
  0) echo "$script: $summary: the candidate is not worse" ;;
  1) fail "$summary: the candidate is worse" ;;
  *) undecided "$summary: Prometheus gave no verdict ('$result')" ;;
esac

#!/usr/bin/env bash
# Give this runner access to a stack's cluster under the kube context the stack names.
#
#   EKS_CLUSTER_NAME=crm-staging AWS_REGION=eu-west-1 scripts/delivery/kube-access.sh staging
#
# The Kubernetes provider of every stack uses the context its config names (kubeContext); this
# writes that context into ~/.kube/config with `aws eks update-kubeconfig --alias`, from the
# AWS credentials the job obtained by OIDC (aws-actions/configure-aws-credentials). The IAM role
# is mapped to a Kubernetes group by an EKS access entry (docs/delivery.md), so the token the
# context uses carries no long-lived secret.
set -euo pipefail
script="kube-access"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh"

stack=${1:-}
require_stack_name "$stack"
cluster=${EKS_CLUSTER_NAME:-}
region=${AWS_REGION:-}
[ -n "$cluster" ] || fail "EKS_CLUSTER_NAME is not set: set the variable in the job's GitHub environment"
[ -n "$region" ] || fail "AWS_REGION is not set: set the variable in the job's GitHub environment"
context=$("$(dirname "$0")/stack-setting.sh" "$stack" kubeContext)
[ -n "$context" ] || fail "stack $stack names no kubeContext"
aws eks update-kubeconfig --name "$cluster" --region "$region" --alias "$context" >/dev/null
echo "$script: kube context $context -> EKS cluster $cluster ($region)"

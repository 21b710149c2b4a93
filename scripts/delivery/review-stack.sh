#!/usr/bin/env bash
# Bring a pull request's review stack pr-<number> up (or update it), or destroy and remove it.
#
#   scripts/delivery/review-stack.sh up <number>      # staging's config, its own namespaces; prints the URL
#   scripts/delivery/review-stack.sh down <number>    # pulumi destroy, then pulumi stack rm
#
# Needs the Pulumi CLI logged in to the backend, PULUMI_CONFIG_PASSPHRASE (staging's and the review
# stacks' passphrase: `pulumi config cp` decrypts staging's secrets and encrypts them for pr-<n>),
# and staging's cluster context (kube-access.sh). Pulumi.pr-<n>.yaml is not committed (.gitignore):
# on every run it is rebuilt, `pulumi config refresh` first (the last deployment's config, which
# holds the stack's encryption salt), then `pulumi config cp --stack staging` over it, so each
# push deploys the pull request's code with staging's current config. The stack settings refuse to
# share staging's namespaces or add-ons (README "Review stacks").
# Outputs (GITHUB_OUTPUT): url (up), the first host of the stack over HTTPS.
set -euo pipefail
script="review-stack"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh"

action=${1:-}
number=${2:-}
[[ "$number" =~ ^[1-9][0-9]{0,6}$ ]] || fail "'$number' is not a pull request number"
stack="pr-$number"
here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"
export PULUMI_SKIP_CONFIRMATIONS=true

stack_exists() {
  pulumi stack ls --json | jq -e --arg stack "$stack" 'any(.[]; .name == $stack or (.name | endswith("/" + $stack)))' >/dev/null
}

# The stack file from the last deployment (its salt and config); false when there is none.
restore_stack_file() {
  pulumi config refresh --stack "$stack" --force >/dev/null 2>&1
}

case "$action" in
  up)
    if stack_exists; then
      if ! restore_stack_file; then
        # Made but never deployed (its first up failed before any checkpoint): nothing to keep.
        pulumi stack rm "$stack" --yes --force
        pulumi stack init "$stack" --secrets-provider passphrase
      fi
    else
      pulumi stack init "$stack" --secrets-provider passphrase
    fi
    pulumi config cp --stack staging --dest "$stack"
    make --no-print-directory up STACK="$stack"
    host=$(pulumi stack output hosts --stack "$stack" --json | jq -r '.[0] // empty')
    [ -n "$host" ] || fail "$stack is up but exports no hosts"
    set_output url "https://$host/"
    notice "$stack is up at https://$host/"
    ;;
  down)
    if ! stack_exists; then
      notice "$stack does not exist; nothing to destroy"
      exit 0
    fi
    restore_stack_file || pulumi config cp --stack staging --dest "$stack"
    pulumi destroy --stack "$stack" --yes --non-interactive
    pulumi stack rm "$stack" --yes
    notice "$stack destroyed and removed"
    ;;
  *) fail "action '$action' is not up or down" ;;
esac
